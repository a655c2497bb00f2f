// The P-256 keys a process verifies with again and again (the JWT authorities of its trust
// bundles), each with its precomputed table (p256_precomputed_key.h).
//
// Tables are built only when a caller that knows a key will verify many signatures asks for one
// (Prepare: the agent, for the JWT authorities of every bundle it takes, on its sync thread).
// Verification only looks tables up (Find), so nothing a token carries can make the process build
// a table or push one out. A key is found by its key object: a PublicKey never changes, and its
// copies share one object. Reading the point out of an object costs about 3 µs, a tenth of a
// verification with the table, so Find never does; Prepare registers each object it is given,
// holding a reference so that the address cannot be reused by another key while registered.
// Bounded: at most `capacity` keys, the least recently used forgotten first.
#ifndef WARD_CORE_PRECOMPUTED_KEY_CACHE_H_
#define WARD_CORE_PRECOMPUTED_KEY_CACHE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/bytes.h"
#include "core/keys.h"
#include "core/openssl_ptr.h"
#include "core/p256_precomputed_key.h"

namespace ward {

class PrecomputedKeyCache {
 public:
  static constexpr size_t kDefaultCapacity = 16;  // about 150 KB per key with its table

  explicit PrecomputedKeyCache(size_t capacity = kDefaultCapacity);

  // The one JwsVerify uses.
  static PrecomputedKeyCache& Process();

  // The table of `key` if `key` (this object or a copy of it) was prepared and its table is
  // built; null otherwise (verify the plain way).
  std::shared_ptr<const P256PrecomputedKey> Find(const PublicKey& key);

  // Builds the table of a P-256 `key` on the calling thread (about 18 ms) unless the key has one,
  // and registers this key object for Find. Does nothing for other keys. True when this call
  // built a table.
  bool Prepare(const PublicKey& key);

  size_t built() const;  // how many remembered keys have their table
  size_t capacity() const { return capacity_; }

 private:
  static constexpr size_t kKeyObjectsPerEntry = 4;

  struct Entry {
    Bytes point;                             // uncompressed or compressed SEC1, as the key gives it
    std::vector<ossl::PkeyPtr> key_objects;  // registered by Prepare, oldest first
    uint64_t last_use = 0;
    bool building = false;
    bool failed = false;  // building failed once: not tried again
    std::shared_ptr<const P256PrecomputedKey> table;
  };

  Entry* FindLocked(ByteView point);
  Entry* FindLocked(const EVP_PKEY* key);
  Entry& InsertLocked(ByteView point);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // a handful: a linear scan is cheaper than hashing
  uint64_t clock_ = 0;
};

}  // namespace ward

#endif  // WARD_CORE_PRECOMPUTED_KEY_CACHE_H_

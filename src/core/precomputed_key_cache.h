// The P-256 keys a process verifies with again and again (the JWT authorities of its trust
// bundles), each with its precomputed table (p256_precomputed_key.h).
//
// A key's table is built on the key's second use, by the thread that makes it, outside the lock;
// other threads verify the plain way meanwhile. A key used once (a CLI check) never pays the
// 18 ms. Bounded: at most `capacity` keys are remembered, tables included, and the least recently
// used is forgotten first. Keys reach the cache only from trust bundles, never from the
// signatures being checked, so a caller cannot make it build tables at will.
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
  static constexpr size_t kDefaultCapacity = 8;  // about 150 KB per key with its table

  explicit PrecomputedKeyCache(size_t capacity = kDefaultCapacity);

  // The one JwsVerify uses.
  static PrecomputedKeyCache& Process();

  // The table for a P-256 `key` if it is built, building it now if this is the key's second
  // use; null otherwise (verify the plain way), and for any other kind of key.
  std::shared_ptr<const P256PrecomputedKey> Find(const PublicKey& key);
  // The same for the key at `point` (uncompressed SEC1).
  std::shared_ptr<const P256PrecomputedKey> Find(ByteView point);
  // Builds the table for a P-256 `key` now, unless it is built: for a caller that knows the key
  // will verify many signatures (an agent given a new JWT authority), so that no verification
  // waits for the build. Does nothing for other keys.
  void Prepare(const PublicKey& key);

  size_t built() const;  // how many remembered keys have their table

 private:
  // Reading a key's point out of its EVP_PKEY costs about 3 µs, a tenth of a verification with
  // the table, so each entry remembers the key objects it was found for (copies of a PublicKey
  // share one). Holding a reference keeps a remembered address from being reused by another key.
  static constexpr size_t kKeyObjectsPerEntry = 4;

  struct Entry {
    Bytes point;
    std::vector<ossl::PkeyPtr> key_objects;  // oldest first
    uint64_t uses = 0;
    uint64_t last_use = 0;
    bool building = false;
    bool failed = false;  // building it failed once: not tried again
    std::shared_ptr<const P256PrecomputedKey> table;
  };

  Entry* FindLocked(ByteView point);
  Entry* FindLocked(const EVP_PKEY* key);
  // Counts a use of `e`; true when the caller is to build its table.
  bool UseLocked(Entry& e);
  // Find(key), with the table built on the first use when `build_on_first_use`.
  std::shared_ptr<const P256PrecomputedKey> Lookup(const PublicKey& key, bool build_on_first_use);
  std::shared_ptr<const P256PrecomputedKey> Build(ByteView point);
  Entry& InsertLocked(ByteView point);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // a handful: a linear scan beats hashing 65 bytes
  uint64_t clock_ = 0;
};

}  // namespace ward

#endif  // WARD_CORE_PRECOMPUTED_KEY_CACHE_H_

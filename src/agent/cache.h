// What an agent knows: the entries the server authorized for it, the trust bundles, and the
// X.509-SVIDs it holds for those entries. Thread-safe; every change that a Workload API stream
// could see bumps `version()` and wakes the watchers.
//
// SVIDs are stored compactly (DER chain and PKCS#8 key as byte strings, no parsed objects) and
// the number held is bounded: with more authorized entries than `capacity`, SVIDs are signed on
// demand and the least recently used are dropped.
#ifndef WARD_AGENT_CACHE_H_
#define WARD_AGENT_CACHE_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/bundle.h"
#include "core/bytes.h"
#include "core/spiffe_id.h"
#include "store/types.h"

namespace ward::agent {

struct CachedSvid {
  std::string spiffe_id;
  Bytes chain_der;      // concatenated DER, leaf first
  SecureBytes key_der;  // PKCS#8, unencrypted
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  int64_t renew_at = 0;  // half-life minus jitter
  std::string authority;
  int64_t entry_revision = 0;
};

// An SVID as a stream sends it: shared so a snapshot costs no copy of the bytes.
using SvidRef = std::shared_ptr<const CachedSvid>;

// Bundles of federated trust domains, by name; std::less<> so a lookup by string_view allocates
// nothing.
using FederatedBundles = std::map<std::string, std::shared_ptr<const TrustBundle>, std::less<>>;

struct BundleSnapshot {
  std::shared_ptr<const TrustBundle> own;
  FederatedBundles federated;
};

class AgentCache {
 public:
  AgentCache(TrustDomain trust_domain, size_t capacity);

  const TrustDomain& trust_domain() const { return trust_domain_; }

  // Sync results. A full sync replaces the entry set; an incremental one upserts and deletes.
  void ApplyEntries(bool full, std::vector<store::RegistrationEntry> upserted,
                    const std::vector<std::string>& deleted);
  void SetBundle(TrustBundle bundle);
  void SetFederatedBundles(std::map<std::string, TrustBundle> bundles);
  // SVIDs signed by a tainted authority are renewed at once.
  void SetTaintedAuthorities(std::set<std::string> x509_ids);

  // Entries whose selectors all appear in `selectors` (sorted), in SPIFFE ID order.
  std::vector<store::RegistrationEntry> Matching(
      const std::vector<store::Selector>& selectors) const;
  std::optional<store::RegistrationEntry> Entry(const std::string& entry_id) const;
  size_t entry_count() const;

  // The SVID held for an entry, if it is current (not expired, not for an older revision of the
  // entry). Marks it recently used.
  SvidRef Svid(const std::string& entry_id, int64_t now);
  void PutSvid(const std::string& entry_id, CachedSvid svid);
  // True when the held SVID needs no renewal: for `revision`, before its renewal time, and not
  // signed by a tainted authority.
  bool Fresh(const std::string& entry_id, int64_t revision, int64_t now) const;
  size_t svid_count() const;
  // Entries whose SVID is missing (when pre-issuing), due for renewal, stale or tainted; at most
  // `limit`.
  std::vector<store::RegistrationEntry> Due(int64_t now, size_t limit) const;

  BundleSnapshot Bundles() const;

  uint64_t version() const;
  // Blocks until version() != `seen` or `deadline`; returns the current version.
  uint64_t WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) const;
  // Wakes every waiter and makes them see a new version (shutdown, re-check of callers).
  void Poke();

 private:
  void BumpLocked();
  void DropSvidLocked(const std::string& entry_id);
  bool PreIssueLocked() const { return entries_.size() <= capacity_; }

  const TrustDomain trust_domain_;
  const size_t capacity_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  uint64_t version_ = 1;
  std::map<std::string, store::RegistrationEntry> entries_;  // by entry ID
  // SVIDs, with an LRU list used only when there are more entries than `capacity_`.
  struct Slot {
    SvidRef svid;
    std::list<std::string>::iterator lru;
  };
  std::unordered_map<std::string, Slot> svids_;
  std::list<std::string> lru_;  // most recently used first
  std::set<std::string> tainted_;
  std::shared_ptr<const TrustBundle> bundle_;
  FederatedBundles federated_;
};

}  // namespace ward::agent

#endif  // WARD_AGENT_CACHE_H_

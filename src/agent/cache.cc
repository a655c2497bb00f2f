#include "agent/cache.h"

#include <algorithm>

#include "agent/workload_attestor.h"
#include "core/clock.h"

namespace ward::agent {

AgentCache::AgentCache(TrustDomain trust_domain, size_t capacity)
    : trust_domain_(std::move(trust_domain)), capacity_(capacity == 0 ? 1 : capacity) {}

void AgentCache::BumpLocked() {
  ++version_;
  changed_.notify_all();
}

void AgentCache::DropSvidLocked(const std::string& entry_id) {
  const auto it = svids_.find(entry_id);
  if (it == svids_.end()) return;
  lru_.erase(it->second.lru);
  svids_.erase(it);
}

void AgentCache::ApplyEntries(bool full, std::vector<store::RegistrationEntry> upserted,
                              const std::vector<std::string>& deleted) {
  std::lock_guard<std::mutex> lock(mu_);
  bool changed = false;
  if (full) {
    std::set<std::string> keep;
    for (const auto& e : upserted) keep.insert(e.id);
    for (auto it = entries_.begin(); it != entries_.end();) {
      if (!keep.count(it->first)) {
        DropSvidLocked(it->first);
        it = entries_.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
  }
  for (auto& e : upserted) {
    std::sort(e.selectors.begin(), e.selectors.end());
    auto it = entries_.find(e.id);
    if (it != entries_.end() && it->second.revision == e.revision) continue;
    // A changed entry (new SPIFFE ID, TTL or DNS names) needs a new SVID; keep serving the old
    // one only if the identity is unchanged, until the new one arrives.
    if (it != entries_.end() && it->second.spiffe_id != e.spiffe_id) DropSvidLocked(e.id);
    if (it != entries_.end()) {
      it->second = std::move(e);
    } else {
      std::string id = e.id;
      entries_.emplace(std::move(id), std::move(e));
    }
    changed = true;
  }
  for (const auto& id : deleted) {
    if (entries_.erase(id) > 0) {
      DropSvidLocked(id);
      changed = true;
    }
  }
  if (changed) BumpLocked();
}

void AgentCache::SetBundle(TrustBundle bundle) {
  std::lock_guard<std::mutex> lock(mu_);
  bundle_ = std::make_shared<const TrustBundle>(std::move(bundle));
  BumpLocked();
}

void AgentCache::SetFederatedBundles(std::map<std::string, TrustBundle> bundles) {
  std::lock_guard<std::mutex> lock(mu_);
  FederatedBundles next;
  bool same = bundles.size() == federated_.size();
  for (auto& [td, b] : bundles) {
    const auto it = federated_.find(td);
    if (it == federated_.end() || it->second->sequence() != b.sequence() ||
        it->second->ToSpiffeJson() != b.ToSpiffeJson()) {
      same = false;
    }
    next[td] = std::make_shared<const TrustBundle>(std::move(b));
  }
  if (same) return;
  federated_ = std::move(next);
  BumpLocked();
}

void AgentCache::SetTaintedAuthorities(std::set<std::string> x509_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  if (x509_ids == tainted_) return;
  tainted_ = std::move(x509_ids);
  BumpLocked();
}

std::vector<store::RegistrationEntry> AgentCache::Matching(
    const std::vector<store::Selector>& selectors) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<store::RegistrationEntry> out;
  const int64_t now = UnixNow();
  for (const auto& [id, e] : entries_) {
    if (e.expires_at != 0 && e.expires_at <= now) continue;  // expiry bumps no revision
    if (SelectorsMatch(e.selectors, selectors)) out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.spiffe_id.str() != b.spiffe_id.str() ? a.spiffe_id.str() < b.spiffe_id.str()
                                                  : a.id < b.id;
  });
  return out;
}

std::optional<store::RegistrationEntry> AgentCache::Entry(const std::string& entry_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(entry_id);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

size_t AgentCache::entry_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

SvidRef AgentCache::Svid(const std::string& entry_id, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = svids_.find(entry_id);
  if (it == svids_.end()) return nullptr;
  const auto entry = entries_.find(entry_id);
  if (entry == entries_.end() || it->second.svid->expires_at <= now ||
      it->second.svid->spiffe_id != entry->second.spiffe_id.str()) {
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.svid;
}

void AgentCache::PutSvid(const std::string& entry_id, CachedSvid svid) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto entry = entries_.find(entry_id);
  // Withdrawn, or given another SPIFFE ID, while it was being signed.
  if (entry == entries_.end() || entry->second.spiffe_id.str() != svid.spiffe_id) return;
  DropSvidLocked(entry_id);
  lru_.push_front(entry_id);
  svids_[entry_id] = Slot{std::make_shared<const CachedSvid>(std::move(svid)), lru_.begin()};
  while (svids_.size() > capacity_) DropSvidLocked(lru_.back());
  BumpLocked();
}

bool AgentCache::Fresh(const std::string& entry_id, int64_t revision, int64_t now) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = svids_.find(entry_id);
  if (it == svids_.end()) return false;
  const CachedSvid& s = *it->second.svid;
  return s.entry_revision == revision && now < s.renew_at && !tainted_.count(s.authority);
}

size_t AgentCache::svid_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return svids_.size();
}

std::vector<store::RegistrationEntry> AgentCache::Due(int64_t now, size_t limit) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<store::RegistrationEntry> out;
  const bool pre_issue = PreIssueLocked();
  for (const auto& [id, e] : entries_) {
    if (out.size() >= limit) break;
    if (e.expires_at != 0 && e.expires_at <= now) continue;
    const auto it = svids_.find(id);
    if (it == svids_.end()) {
      if (pre_issue) out.push_back(e);
      continue;
    }
    const CachedSvid& s = *it->second.svid;
    if (now >= s.renew_at || s.entry_revision != e.revision || tainted_.count(s.authority)) {
      out.push_back(e);
    }
  }
  return out;
}

BundleSnapshot AgentCache::Bundles() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {bundle_, federated_};
}

uint64_t AgentCache::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

uint64_t AgentCache::WaitForChange(uint64_t seen,
                                   std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return version_ != seen; });
  return version_;
}

void AgentCache::Poke() {
  std::lock_guard<std::mutex> lock(mu_);
  BumpLocked();
}

}  // namespace ward::agent

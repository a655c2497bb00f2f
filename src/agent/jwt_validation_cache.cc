#include "agent/jwt_validation_cache.h"

#include <algorithm>

#include "core/digest.h"

namespace ward::agent {

JwtValidationCache::Digest JwtValidationCache::Hash(std::string_view token) {
  return Sha256(AsBytes(token));
}

std::optional<ValidatedJwtSvid> JwtValidationCache::Find(const Digest& digest,
                                                         std::string_view audience,
                                                         const CurrentBundle& current,
                                                         int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = index_.find(digest);
  if (it == index_.end()) return std::nullopt;
  const Entry& e = *it->second;
  if (now >= e.validated.expires_at ||
      e.verified_by != current(e.validated.id.trust_domain_name())) {
    // Expired, or the bundle changed (a key may have been removed): validate afresh.
    lru_.erase(it->second);
    index_.erase(it);
    return std::nullopt;
  }
  const auto& names = e.validated.audience;
  if (std::find(names.begin(), names.end(), audience) == names.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return e.validated;
}

void JwtValidationCache::Insert(const Digest& digest, ValidatedJwtSvid validated,
                                std::shared_ptr<const TrustBundle> verified_by) {
  if (capacity_ == 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (const auto it = index_.find(digest); it != index_.end()) {
    lru_.erase(it->second);
    index_.erase(it);
  }
  lru_.push_front({digest, std::move(validated), std::move(verified_by)});
  index_.emplace(digest, lru_.begin());
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back().digest);
    lru_.pop_back();
  }
}

size_t JwtValidationCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lru_.size();
}

}  // namespace ward::agent

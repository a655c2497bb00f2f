#include "server/rate_limiter.h"

#include <algorithm>

namespace ward::server {

bool RateLimiter::Allow(const std::string& key, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (buckets_.size() >= prune_at_) {
    std::erase_if(buckets_, [&](const auto& entry) {
      const double idle = std::chrono::duration<double>(now - entry.second.last).count();
      return entry.second.tokens + idle * rate_ >= burst_;
    });
    // Doubling keeps pruning at amortized O(1) a call however many buckets stay.
    prune_at_ = std::max(kMinPruneSize, 2 * buckets_.size());
  }
  auto [it, inserted] = buckets_.try_emplace(key, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!inserted && now > b.last) {
    const double elapsed = std::chrono::duration<double>(now - b.last).count();
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.last = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

size_t RateLimiter::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return buckets_.size();
}

}  // namespace ward::server

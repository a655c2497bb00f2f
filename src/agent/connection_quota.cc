#include "agent/connection_quota.h"

#include <mutex>
#include <string>
#include <unordered_map>

namespace ward::agent {

struct ConnectionQuota::State {
  explicit State(size_t limit) : per_uid(limit) {}
  const size_t per_uid;
  std::mutex mu;
  std::unordered_map<uid_t, size_t> open;
};

ConnectionQuota::ConnectionQuota(size_t per_uid) : state_(std::make_shared<State>(per_uid)) {}

Result<std::shared_ptr<void>> ConnectionQuota::Acquire(uid_t uid) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    size_t& n = state_->open[uid];
    if (n >= state_->per_uid) {
      return ResourceExhausted("uid " + std::to_string(uid) + " already holds " +
                               std::to_string(n) + " Workload API connections");
    }
    ++n;
  }
  // The deleter gives the slot back; it holds the state, so the quota may go first.
  return std::shared_ptr<void>(static_cast<void*>(nullptr), [state = state_, uid](void*) {
    std::lock_guard<std::mutex> lock(state->mu);
    const auto it = state->open.find(uid);
    if (it != state->open.end() && --it->second == 0) state->open.erase(it);
  });
}

size_t ConnectionQuota::open(uid_t uid) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  const auto it = state_->open.find(uid);
  return it == state_->open.end() ? 0 : it->second;
}

}  // namespace ward::agent

#include "server/sync_hub.h"

#include <vector>

namespace ward::server {

SyncHub::SyncHub() : thread_([this] { Loop(); }) {}

SyncHub::~SyncHub() { Close(); }

void SyncHub::Close() {
  std::list<Waiter> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    dropped.swap(waiters_);
  }
  cv_.notify_all();
  thread_.join();
  // Parked calls are dropped, not woken. Dropping one releases its connection's completion
  // handler, which posts to the server's event loop: Close() must run while that loop exists.
  dropped.clear();
}

uint64_t SyncHub::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

void SyncHub::Bump() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++version_;
  }
  cv_.notify_all();
}

void SyncHub::Wait(uint64_t seen, Clock::time_point deadline, std::function<void()> wake) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;  // closed: `wake` is dropped (outside the lock) as the call returns
    waiters_.push_back({seen, deadline, std::move(wake)});
  }
  cv_.notify_all();
}

size_t SyncHub::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiters_.size();
}

void SyncHub::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const auto now = Clock::now();
    std::vector<std::function<void()>> due;
    auto next = now + std::chrono::seconds(1);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->seen != version_ || it->deadline <= now) {
        due.push_back(std::move(it->wake));
        it = waiters_.erase(it);
      } else {
        next = std::min(next, it->deadline);
        ++it;
      }
    }
    if (!due.empty()) {
      lock.unlock();
      for (auto& wake : due) wake();
      lock.lock();
      continue;
    }
    cv_.wait_until(lock, next);
  }
}

}  // namespace ward::server

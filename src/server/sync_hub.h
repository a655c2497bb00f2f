// Wakes agents that long-poll for changes. A change (entry write, bundle rotation, authority
// taint) bumps a version; every waiter parked on an older version is woken, at the latest when
// its deadline passes. Wake-ups run on the hub's own thread, never on the writer's.
#ifndef WARD_SERVER_SYNC_HUB_H_
#define WARD_SERVER_SYNC_HUB_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

namespace ward::server {

class SyncHub {
 public:
  using Clock = std::chrono::steady_clock;
  SyncHub();
  ~SyncHub();
  SyncHub(const SyncHub&) = delete;
  SyncHub& operator=(const SyncHub&) = delete;

  uint64_t version() const;
  // Signals that something agents sync has changed.
  void Bump();
  // Calls `wake` once the version moves past `seen`, or at `deadline`, whichever is first.
  void Wait(uint64_t seen, Clock::time_point deadline, std::function<void()> wake);
  size_t waiting() const;
  // Stops the hub and drops every parked call; later Wait() calls are dropped at once. Call it
  // before the HTTP server that owns the parked connections is destroyed.
  void Close();

 private:
  struct Waiter {
    uint64_t seen;
    Clock::time_point deadline;
    std::function<void()> wake;
  };
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t version_ = 0;
  std::list<Waiter> waiters_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace ward::server

#endif  // WARD_SERVER_SYNC_HUB_H_

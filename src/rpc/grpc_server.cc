#include "rpc/grpc_server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/unique_fd.h"

namespace ward::rpc {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Output is taken from HTTP/2 in slices of about this size, so one busy stream cannot make a
// connection's buffer grow without bound while its client is slow to read.
constexpr size_t kWriteSlice = 64 * 1024;
// Connections open at once. Each costs its client a process's file descriptor too, but the socket
// is open to every local user.
constexpr size_t kMaxConnections = 4096;
// How long accepting pauses when the process is out of file descriptors or at the cap: the
// listening socket stays readable, so retrying at once would spin.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);

// The tasks other threads hand the loop, and the eventfd that wakes it for them.
class TaskQueue final : public ConnectionLoop {
 public:
  explicit TaskQueue(UniqueFd event_fd) : event_fd_(std::move(event_fd)) {}

  bool InLoopThread() const override { return std::this_thread::get_id() == loop_thread_; }
  void Post(std::function<void()> task) override {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      wake = tasks_.empty();
      tasks_.push_back(std::move(task));
    }
    if (wake) {
      const uint64_t one = 1;
      // A full counter still leaves the eventfd readable, which is all the loop needs.
      [[maybe_unused]] const ssize_t n = ::write(event_fd_.get(), &one, sizeof one);
    }
  }
  void NeedsFlush(const std::shared_ptr<H2Connection>& connection) override {
    if (connection->flush_scheduled) return;
    connection->flush_scheduled = true;
    flush_.push_back(connection);
  }

  void SetLoopThread(std::thread::id id) { loop_thread_ = id; }
  int event_fd() const { return event_fd_.get(); }
  std::vector<std::function<void()>> Take() {
    uint64_t count = 0;
    [[maybe_unused]] const ssize_t n = ::read(event_fd_.get(), &count, sizeof count);
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(tasks_, {});
  }
  std::vector<std::shared_ptr<H2Connection>> TakeFlushes() { return std::exchange(flush_, {}); }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    tasks_.clear();
  }

 private:
  UniqueFd event_fd_;
  std::thread::id loop_thread_;
  std::mutex mu_;
  std::vector<std::function<void()>> tasks_;
  bool closed_ = false;
  std::vector<std::shared_ptr<H2Connection>> flush_;  // the loop thread's alone
};

struct Socket {
  UniqueFd fd;
  std::shared_ptr<H2Connection> h2;
  std::string out;  // bytes taken from HTTP/2 not yet written
  size_t written = 0;
  // Waiting for the socket to take `out`: registered for EPOLLOUT instead of EPOLLIN. A client
  // that does not read its answers is not read from either, so it cannot make the server queue
  // answers without bound.
  bool blocked = false;
  bool heard = false;  // the client has sent something
};

class ServerImpl final : public GrpcServer {
 public:
  ServerImpl(UniqueFd listen_fd, UniqueFd epoll_fd, std::shared_ptr<TaskQueue> tasks,
             GrpcServerOptions options)
      : listen_fd_(std::move(listen_fd)),
        epoll_fd_(std::move(epoll_fd)),
        tasks_(std::move(tasks)),
        options_(std::move(options)) {}
  ~ServerImpl() override { Shutdown(std::chrono::milliseconds(0)); }

  Status Begin() {
    if (!Watch(listen_fd_.get(), EPOLLIN) || !Watch(tasks_->event_fd(), EPOLLIN)) {
      return Internal(std::string("epoll_ctl: ") + std::strerror(errno));
    }
    thread_ = std::thread([this] { Loop(); });
    return OkStatus();
  }

  void Shutdown(std::chrono::milliseconds grace) override {
    if (shut_.exchange(true)) return;
    tasks_->Post([this, grace] { StartDraining(grace); });
    if (thread_.joinable()) thread_.join();
  }

 private:
  bool Watch(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
  }

  void Loop() {
    tasks_->SetLoopThread(std::this_thread::get_id());
    std::vector<uint8_t> buf(kReadChunk);
    epoll_event events[64];
    while (!Finished()) {
      const int n = ::epoll_wait(epoll_fd_.get(), events, 64, TimeoutMs());
      if (n < 0 && errno != EINTR) break;
      if (accept_paused_ && std::chrono::steady_clock::now() >= accept_resume_at_) ResumeAccept();
      CloseSilent();
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listen_fd_.get()) {
          AcceptAll();
        } else if (fd == tasks_->event_fd()) {
          for (auto& task : tasks_->Take()) task();
        } else {
          OnSocket(fd, events[i].events, buf);
        }
      }
      for (auto& conn : tasks_->TakeFlushes()) {
        conn->flush_scheduled = false;
        Flush(conn.get());
      }
    }
    tasks_->Close();
    sockets_.clear();  // closes every connection; their calls become done()
  }

  int TimeoutMs() const {
    std::optional<std::chrono::steady_clock::time_point> wake;
    if (draining_) wake = drain_deadline_;
    if (accept_paused_ && (!wake || accept_resume_at_ < *wake)) wake = accept_resume_at_;
    if (!silent_.empty() && (!wake || silent_.front().deadline < *wake)) {
      wake = silent_.front().deadline;
    }
    if (!wake) return -1;
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(*wake - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  }

  // Draining ends at the deadline, or once every answer has been written and every call that
  // was under way when GOAWAY went out has ended.
  bool Finished() const {
    if (!draining_) return false;
    if (std::chrono::steady_clock::now() >= drain_deadline_) return true;
    for (const auto& [fd, s] : sockets_) {
      if (s.written < s.out.size() || s.h2->open_streams() > 0) return false;
    }
    return true;
  }

  void StartDraining(std::chrono::milliseconds grace) {
    draining_ = true;
    drain_deadline_ = std::chrono::steady_clock::now() + grace;
    if (!accept_paused_) ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
    accept_paused_ = false;
    listen_fd_.Reset();
    for (auto& [fd, s] : sockets_) {
      s.h2->GoAway();
      tasks_->NeedsFlush(s.h2);
    }
  }

  // Closes the connections whose first-bytes deadline has passed with nothing heard. Deadlines
  // come in accept order, so only the front of the queue is ever due.
  void CloseSilent() {
    const auto now = std::chrono::steady_clock::now();
    while (!silent_.empty() && silent_.front().deadline <= now) {
      const Accepted a = silent_.front();
      silent_.pop_front();
      const auto it = sockets_.find(a.fd);
      if (it != sockets_.end() && it->second.h2.get() == a.h2 && !it->second.heard) Close(it);
    }
  }

  void PauseAccept() {
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
    accept_paused_ = true;
    accept_resume_at_ = std::chrono::steady_clock::now() + kAcceptPause;
  }
  void ResumeAccept() {
    accept_paused_ = false;
    if (listen_fd_.valid()) Watch(listen_fd_.get(), EPOLLIN);
  }

  void AcceptAll() {
    for (;;) {
      if (sockets_.size() >= kMaxConnections) return PauseAccept();
      UniqueFd fd(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (!fd.valid()) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          PauseAccept();
        }
        return;  // EAGAIN
      }
      auto peer =
          options_.admit ? options_.admit(fd.get()) : Result<std::shared_ptr<void>>(nullptr);
      if (!peer.ok()) continue;
      auto h2 = H2Connection::Make(options_.methods, tasks_, std::move(peer).value());
      if (!h2.ok()) continue;
      const int raw = fd.get();
      if (!Watch(raw, EPOLLIN)) continue;
      Socket& s = sockets_[raw];
      s.fd = std::move(fd);
      s.h2 = std::move(h2).value();
      s.h2->socket_fd = raw;
      silent_.push_back(
          {std::chrono::steady_clock::now() + options_.first_bytes_timeout, raw, s.h2.get()});
      Flush(s.h2.get());  // the server's SETTINGS
    }
  }

  void OnSocket(int fd, uint32_t events, std::vector<uint8_t>& buf) {
    const auto it = sockets_.find(fd);
    if (it == sockets_.end()) return;
    Socket& s = it->second;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return Close(it);
      if (n > 0) s.heard = true;
      if (n > 0 && !s.h2->Receive(buf.data(), static_cast<size_t>(n))) return Close(it);
    }
    Flush(s.h2.get());
  }

  // Writes what HTTP/2 has to send on `h2`'s socket, as far as the socket takes it.
  void Flush(H2Connection* h2) {
    // The fd may have been closed and reused since the flush was asked for.
    const auto it = sockets_.find(h2->socket_fd);
    if (it == sockets_.end() || it->second.h2.get() != h2) return;
    FlushSocket(it);
  }

  void FlushSocket(std::unordered_map<int, Socket>::iterator it) {
    Socket& s = it->second;
    for (;;) {
      if (s.written == s.out.size()) {
        s.out.clear();
        s.written = 0;
        if (!s.h2->Produce(&s.out, kWriteSlice)) return Close(it);
        if (s.out.empty()) break;
      }
      const ssize_t n =
          ::send(s.fd.get(), s.out.data() + s.written, s.out.size() - s.written, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) break;
        return Close(it);
      }
      s.written += static_cast<size_t>(n);
    }
    const bool pending = s.written < s.out.size();
    if (pending != s.blocked) {
      epoll_event ev{};
      ev.events = pending ? EPOLLOUT : EPOLLIN;
      ev.data.fd = it->first;
      ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, it->first, &ev);
      s.blocked = pending;
    }
    if (!pending && !s.h2->Alive()) Close(it);
  }

  void Close(std::unordered_map<int, Socket>::iterator it) {
    ::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, it->first, nullptr);
    sockets_.erase(it);
  }

  UniqueFd listen_fd_;
  UniqueFd epoll_fd_;
  const std::shared_ptr<TaskQueue> tasks_;
  const GrpcServerOptions options_;
  std::unordered_map<int, Socket> sockets_;  // the loop thread's alone
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool accept_paused_ = false;
  std::chrono::steady_clock::time_point accept_resume_at_;
  // Connections not yet heard from, by deadline (the pointer only tells a reused fd apart).
  struct Accepted {
    std::chrono::steady_clock::time_point deadline;
    int fd;
    const H2Connection* h2;
  };
  std::deque<Accepted> silent_;
  std::atomic<bool> shut_{false};
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<GrpcServer>> GrpcServer::Start(UniqueFd listen, GrpcServerOptions options) {
  const int flags = ::fcntl(listen.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listen.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Internal(std::string("cannot make the listening socket non-blocking: ") +
                    std::strerror(errno));
  }
  UniqueFd epoll_fd(::epoll_create1(EPOLL_CLOEXEC));
  UniqueFd event_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_fd.valid() || !event_fd.valid()) {
    return Internal(std::string("cannot create the event loop: ") + std::strerror(errno));
  }
  auto server = std::make_unique<ServerImpl>(std::move(listen), std::move(epoll_fd),
                                             std::make_shared<TaskQueue>(std::move(event_fd)),
                                             std::move(options));
  WARD_RETURN_IF_ERROR(server->Begin());
  return std::unique_ptr<GrpcServer>(std::move(server));
}

}  // namespace ward::rpc

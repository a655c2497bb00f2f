// rpc::GrpcServer on a real Unix socket: the loop, accept and admission, answers from other
// threads through the eventfd, and the drain on shutdown. The client is nghttp2's.
#include "rpc/grpc_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "h2_client.h"
#include "rpc/grpc_wire.h"

namespace ward::rpc {
namespace {

using std::chrono::milliseconds;

std::string Framed(const std::string& message) {
  std::string out;
  AppendGrpcMessage(message, &out);
  return out;
}

class TempSocketPath {
 public:
  TempSocketPath() {
    char dir[] = "/tmp/ward-rpc-test.XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/s.sock";
  }
  ~TempSocketPath() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

UniqueFd Listen(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd.get(), 16) != 0) {
    return UniqueFd();
  }
  return fd;
}

// nghttp2's client session on a connected socket.
class SocketClient : public testing::H2ClientSession {
 public:
  explicit SocketClient(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  bool connected() const { return connected_; }
  // Reads without sending until the server closes the connection; false at the timeout.
  bool WaitForClose(milliseconds timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    while (::poll(&p, 1, static_cast<int>(timeout.count())) > 0) {
      char buf[4096];
      if (::read(fd_.get(), buf, sizeof buf) <= 0) return true;
    }
    return false;
  }
  bool eof() const { return eof_; }

  // Sends what the session has and reads what comes until `done()` or the timeout.
  bool RunUntil(const std::function<bool()>& done, milliseconds timeout = milliseconds(5000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline || eof_) return done();
      const std::string out = TakeOutput();
      if (!out.empty() && ::send(fd_.get(), out.data(), out.size(), MSG_NOSIGNAL) < 0) {
        eof_ = true;  // the server has closed the connection (EPIPE, ECONNRESET)
        continue;
      }
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        char buf[16384];
        const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
        if (n <= 0) {
          eof_ = true;
          continue;
        }
        Feed(std::string(buf, static_cast<size_t>(n)));
      }
    }
    return true;
  }

 private:
  UniqueFd fd_;
  bool connected_ = false;
  bool eof_ = false;
};

TEST(GrpcServerTest, AnswersOnTheLoopAndFromOtherThreads) {
  TempSocketPath sock;
  std::vector<std::thread> repliers;
  std::mutex mu;
  GrpcServerOptions options;
  std::atomic<int> admitted{0};
  options.admit = [&admitted](int fd) -> Result<std::shared_ptr<void>> {
    ++admitted;
    return std::shared_ptr<void>(std::make_shared<int>(fd));
  };
  options.methods.handlers["/T/Echo"] = [](const std::shared_ptr<ServerCall>& call) {
    call->Reply(call->peer() ? "echo:" + std::string(call->message()) : "no peer");
  };
  options.methods.handlers["/T/Later"] = [&](const std::shared_ptr<ServerCall>& call) {
    std::lock_guard<std::mutex> lock(mu);
    repliers.emplace_back([call] {
      std::this_thread::sleep_for(milliseconds(20));
      call->WriteLatest("first");
      std::this_thread::sleep_for(milliseconds(20));
      call->WriteLatest("second");
      call->Finish({GrpcCode::kPermissionDenied, "gone"});
    });
  };
  auto server = GrpcServer::Start(Listen(sock.path()), std::move(options));
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  SocketClient client(sock.path());
  ASSERT_TRUE(client.connected());
  std::vector<int32_t> echo, later;
  for (int i = 0; i < 3; ++i) {
    echo.push_back(client.Request("/T/Echo", Framed(std::to_string(i))));
    later.push_back(client.Request("/T/Later", Framed("")));
  }
  ASSERT_TRUE(client.RunUntil([&] {
    for (const int32_t id : echo)
      if (!client.responses[id].closed) return false;
    for (const int32_t id : later)
      if (!client.responses[id].closed) return false;
    return true;
  }));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(client.responses[echo[i]].data, Framed("echo:" + std::to_string(i)));
    EXPECT_EQ(client.responses[echo[i]].GrpcStatus(), "0");
    const auto& r = client.responses[later[i]];
    EXPECT_EQ(r.data, Framed("first") + Framed("second"));
    EXPECT_EQ(r.GrpcStatus(), "7");
    EXPECT_EQ(r.GrpcMessage(), "gone");
  }
  EXPECT_EQ(admitted.load(), 1);
  (*server)->Shutdown(milliseconds(500));
  for (auto& t : repliers) t.join();
}

TEST(GrpcServerTest, ARefusedConnectionIsClosedUnread) {
  TempSocketPath sock;
  GrpcServerOptions options;
  options.admit = [](int) -> Result<std::shared_ptr<void>> {
    return PermissionDenied("not this one");
  };
  bool called = false;
  options.methods.handlers["/T/Echo"] = [&called](const std::shared_ptr<ServerCall>& call) {
    called = true;
    call->Reply("");
  };
  auto server = GrpcServer::Start(Listen(sock.path()), std::move(options));
  ASSERT_TRUE(server.ok());
  SocketClient client(sock.path());
  ASSERT_TRUE(client.connected());
  client.Request("/T/Echo", Framed("x"));
  client.RunUntil([&] { return client.eof(); });
  EXPECT_TRUE(client.eof());
  EXPECT_FALSE(called);
  (*server)->Shutdown(milliseconds(0));
}

TEST(GrpcServerTest, AConnectionThatStaysSilentIsClosed) {
  TempSocketPath sock;
  GrpcServerOptions options;
  options.first_bytes_timeout = milliseconds(100);
  options.methods.handlers["/T/Echo"] = [](const std::shared_ptr<ServerCall>& call) {
    call->Reply(call->message());
  };
  auto server = GrpcServer::Start(Listen(sock.path()), std::move(options));
  ASSERT_TRUE(server.ok());
  SocketClient silent(sock.path());
  SocketClient talking(sock.path());
  ASSERT_TRUE(silent.connected());
  ASSERT_TRUE(talking.connected());
  const int32_t id = talking.Request("/T/Echo", Framed("x"));
  ASSERT_TRUE(talking.RunUntil([&] { return talking.responses[id].closed; }));
  // The silent one never sends a byte, not even the HTTP/2 preface.
  EXPECT_TRUE(silent.WaitForClose(milliseconds(5000)));
  // The one that spoke is still served after the deadline.
  std::this_thread::sleep_for(milliseconds(200));
  const int32_t again = talking.Request("/T/Echo", Framed("y"));
  ASSERT_TRUE(talking.RunUntil([&] { return talking.responses[again].closed; }));
  EXPECT_EQ(talking.responses[again].data, Framed("y"));
  (*server)->Shutdown(milliseconds(0));
}

// A server whose one method holds its calls, with one call from a client held.
class HeldCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GrpcServerOptions options;
    options.methods.handlers["/T/Hold"] = [this](const std::shared_ptr<ServerCall>& call) {
      held_promise_.set_value(call);
    };
    auto started = GrpcServer::Start(Listen(sock_.path()), std::move(options));
    ASSERT_TRUE(started.ok());
    server_ = std::move(started).value();
    client_ = std::make_unique<SocketClient>(sock_.path());
    ASSERT_TRUE(client_->connected());
    id_ = client_->Request("/T/Hold", Framed(""));
    auto held = held_promise_.get_future();
    ASSERT_TRUE(client_->RunUntil(
        [&] { return held.wait_for(milliseconds(0)) == std::future_status::ready; }));
    held_ = held.get();
  }

  TempSocketPath sock_;
  std::promise<std::shared_ptr<ServerCall>> held_promise_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<SocketClient> client_;
  int32_t id_ = 0;
  std::shared_ptr<ServerCall> held_;
};

TEST_F(HeldCallTest, ShutdownSaysGoAwayAndWaitsForCallsUnderWay) {
  const auto start = std::chrono::steady_clock::now();
  std::thread stopper([this] { server_->Shutdown(milliseconds(20000)); });
  // EXPECT, not ASSERT, from here on: the stopper must be joined whatever happens.
  EXPECT_TRUE(client_->RunUntil([&] { return client_->goaway; }));
  EXPECT_FALSE(held_->done());
  // The call under way still gets its answer through, and then the server is done.
  held_->Reply("late but delivered");
  EXPECT_TRUE(client_->RunUntil([&] { return client_->responses[id_].closed; }));
  EXPECT_EQ(client_->responses[id_].data, Framed("late but delivered"));
  EXPECT_EQ(client_->responses[id_].GrpcStatus(), "0");
  stopper.join();
  // Not a speed check: the drain ended when the last call did, not at its 20 s deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(15000));
  EXPECT_TRUE(held_->done());
  held_->Reply("after the server");  // nobody is there: no crash
}

TEST_F(HeldCallTest, ShutdownEndsCallsNeverAnswered) {
  server_->Shutdown(milliseconds(200));
  EXPECT_TRUE(held_->done());
  EXPECT_TRUE(client_->RunUntil([&] { return client_->eof(); }));
}

}  // namespace
}  // namespace ward::rpc

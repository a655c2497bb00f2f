// A gRPC server for a local stream socket (the agent's Workload API), on one event-loop thread:
// HTTP/2 from nghttp2 (H2Connection), sockets and epoll here. It exists because grpc++'s server
// cost the agent 25-55 µs of CPU per unary call, more than the validation it carried
// (docs/performance.md); this one costs about a third of that.
#ifndef WARD_RPC_GRPC_SERVER_H_
#define WARD_RPC_GRPC_SERVER_H_

#include <chrono>
#include <functional>
#include <memory>

#include "core/status.h"
#include "core/unique_fd.h"
#include "rpc/h2_connection.h"

namespace ward::rpc {

struct GrpcServerOptions {
  MethodTable methods;
  // Runs on the loop thread for each accepted connection before any of its bytes is read; what
  // it returns is the peer() of the connection's calls, and an error closes the connection.
  std::function<Result<std::shared_ptr<void>>(int fd)> admit;
  // A connection that has sent nothing this long after it was accepted is closed, so clients
  // that connect and stay silent cannot hold the server's connections.
  std::chrono::milliseconds first_bytes_timeout{10000};
};

class GrpcServer {
 public:
  // Serves the listening socket `listen_fd` until Shutdown().
  static Result<std::unique_ptr<GrpcServer>> Start(UniqueFd listen_fd, GrpcServerOptions options);
  virtual ~GrpcServer() = default;
  // Stops accepting, tells every client GOAWAY, and waits up to `grace` for the calls under way
  // to end and their answers to be written; then closes every connection (open calls become
  // done()) and joins the loop thread. Idempotent.
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace ward::rpc

#endif  // WARD_RPC_GRPC_SERVER_H_

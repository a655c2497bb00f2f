// One HTTP/2 connection of a gRPC server, without I/O: bytes from the client go in through
// Receive(), bytes for the client come out of Produce(). nghttp2 does the HTTP/2 framing, HPACK
// and flow control; this class turns its streams into ServerCalls and their answers back into
// HEADERS, DATA and trailers. Everything but the calls' own methods runs on the loop thread.
#ifndef WARD_RPC_H2_CONNECTION_H_
#define WARD_RPC_H2_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/status.h"
#include "rpc/server_call.h"

struct nghttp2_session;

namespace ward::rpc {

class H2Connection;

// The thread a connection lives on, as the connection and its calls need it.
class ConnectionLoop {
 public:
  virtual ~ConnectionLoop() = default;
  virtual bool InLoopThread() const = 0;
  // Runs `task` on the loop thread soon; dropped once the loop has stopped.
  virtual void Post(std::function<void()> task) = 0;
  // On the loop thread: `connection` has output to write.
  virtual void NeedsFlush(const std::shared_ptr<H2Connection>& connection) = 0;
};

using Handler = std::function<void(const std::shared_ptr<ServerCall>& call)>;

struct MethodTable {
  // By :path ("/package.Service/Method"). A handler runs on the loop thread: it must answer at
  // once or hand the call to another thread.
  std::unordered_map<std::string, Handler> handlers;
  // A larger request message is refused with RESOURCE_EXHAUSTED before it is all buffered.
  size_t max_request_bytes = 64 * 1024;
};

class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  // `methods` and `loop` must outlive the connection's use; `peer` becomes every call's peer().
  static Result<std::shared_ptr<H2Connection>> Make(const MethodTable& methods,
                                                    std::shared_ptr<ConnectionLoop> loop,
                                                    std::shared_ptr<void> peer);
  ~H2Connection();  // every call still open is marked closed
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Bytes the client sent. False when the connection must be closed (a protocol error).
  bool Receive(const uint8_t* data, size_t size);
  // Appends what is ready to send to `out` until it holds about `limit` bytes. False on a
  // fatal error.
  bool Produce(std::string* out, size_t limit);
  // False once HTTP/2 has nothing more to read or write (both sides said goodbye, or an error).
  bool Alive() const;
  // Graceful close: GOAWAY; streams already open may finish.
  void GoAway();
  size_t open_streams() const { return streams_.size(); }

  // The loop's own bookkeeping: set while the connection is on its flush list, and the socket
  // it serves.
  bool flush_scheduled = false;
  int socket_fd = -1;

 private:
  // A request stream, from its HEADERS until HTTP/2 closes it.
  struct Stream {
    std::string method;  // :method
    std::string path;
    std::string content_type;
    std::string encoding;  // grpc-encoding
    Metadata metadata;
    std::string body;
    size_t header_bytes = 0;
    bool oversize = false;
    bool dispatched = false;
    bool response_started = false;
    std::shared_ptr<ServerCall> call;
  };
  struct Callbacks;
  H2Connection(const MethodTable& methods, std::shared_ptr<ConnectionLoop> loop,
               std::shared_ptr<void> peer)
      : methods_(methods), loop_(std::move(loop)), peer_(std::move(peer)) {}

  void Dispatch(int32_t stream_id, Stream& stream);
  void Reject(int32_t stream_id, Stream& stream, const GrpcStatus& status);
  void RespondHttp(int32_t stream_id, Stream& stream, const char* status);
  // Hands a call's new output (its first message, a later one, or its end) to HTTP/2.
  void Pump(int32_t stream_id);
  void CloseCall(Stream& stream);

  const MethodTable& methods_;
  const std::shared_ptr<ConnectionLoop> loop_;
  const std::shared_ptr<void> peer_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::unique_ptr<Stream>> streams_;
};

}  // namespace ward::rpc

#endif  // WARD_RPC_H2_CONNECTION_H_

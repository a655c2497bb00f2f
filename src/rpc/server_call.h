// One gRPC call on the server, as its handler sees it: the request, and a thread-safe way to
// answer. Made by H2Connection when a request has fully arrived; the handler may answer at once
// (on the connection's loop thread) or later from any thread.
#ifndef WARD_RPC_SERVER_CALL_H_
#define WARD_RPC_SERVER_CALL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rpc/grpc_wire.h"

namespace ward::rpc {

// Request metadata: the custom headers, names lowercased as HTTP/2 carries them, in arrival order
// (a name may repeat).
using Metadata = std::vector<std::pair<std::string, std::string>>;

class ServerCall {
 public:
  ServerCall(std::string method, Metadata metadata, std::string body, size_t message_offset,
             std::shared_ptr<void> peer)
      : method_(std::move(method)),
        metadata_(std::move(metadata)),
        body_(std::move(body)),
        message_offset_(message_offset),
        peer_(std::move(peer)) {}
  ServerCall(const ServerCall&) = delete;
  ServerCall& operator=(const ServerCall&) = delete;

  const std::string& method() const { return method_; }  // the :path, "/package.Service/Method"
  const Metadata& metadata() const { return metadata_; }
  // The request message's serialized bytes.
  std::string_view message() const { return std::string_view(body_).substr(message_offset_); }
  // What the server's admission hook returned for this call's connection.
  const std::shared_ptr<void>& peer() const { return peer_; }

  // Thread-safe from here on.

  // Queues `message` for a server stream. Streams here carry state, not events: a message not yet
  // handed to HTTP/2 (the client reads slowly, or the writes came in quick succession) is
  // replaced by the newer one, so a stalled client holds at most two messages in memory.
  void WriteLatest(std::string_view message);
  // Ends the call with `status` after what was written. Only the first call counts.
  void Finish(GrpcStatus status);
  // A unary call's answer: its one message and OK.
  void Reply(std::string_view message);

  // True once the call has been finished, cancelled by the client, or its connection is gone:
  // nothing written afterwards reaches the client.
  bool done() const;

 private:
  friend class H2Connection;

  // The response side, read by the connection on its loop thread under mu_.
  struct Outbound {
    std::string sending;  // framed bytes partly handed to HTTP/2
    size_t sent = 0;      // how much of `sending` has been
    std::string next;     // the latest framed message, not yet started
    std::optional<GrpcStatus> finish;
    bool wake_pending = false;
    bool closed = false;  // the stream is gone (ended, reset or the connection closed)
  };
  // Records a message (replacing one not yet started) and/or the end, then wakes the loop.
  void Submit(std::optional<std::string_view> message, std::optional<GrpcStatus> finish);
  // Called (outside mu_) when the connection has work to do for this call.
  void Wake();

  const std::string method_;
  const Metadata metadata_;
  const std::string body_;
  const size_t message_offset_;
  const std::shared_ptr<void> peer_;

  mutable std::mutex mu_;
  Outbound out_;
  // Set by the connection before the handler runs; asks the loop to push this call's output.
  std::function<void()> waker_;
};

}  // namespace ward::rpc

#endif  // WARD_RPC_SERVER_CALL_H_

#include "rpc/server_call.h"

#include <utility>

namespace ward::rpc {

void ServerCall::WriteLatest(std::string_view message) { Submit(message, std::nullopt); }

void ServerCall::Finish(GrpcStatus status) { Submit(std::nullopt, std::move(status)); }

void ServerCall::Reply(std::string_view message) { Submit(message, GrpcStatus{}); }

void ServerCall::Submit(std::optional<std::string_view> message, std::optional<GrpcStatus> finish) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (out_.closed || out_.finish) return;
    if (message) {
      out_.next.clear();
      AppendGrpcMessage(*message, &out_.next);
    }
    if (finish) out_.finish = std::move(finish);
    // One wake until the loop has looked: it takes everything submitted by then.
    if (std::exchange(out_.wake_pending, true)) return;
  }
  Wake();
}

bool ServerCall::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_.closed || out_.finish.has_value();
}

void ServerCall::Wake() {
  if (waker_) waker_();
}

}  // namespace ward::rpc

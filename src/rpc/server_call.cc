#include "rpc/server_call.h"

namespace ward::rpc {

void ServerCall::WriteLatest(std::string_view message) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (out_.closed || out_.finish) return;
    out_.next.clear();
    AppendGrpcMessage(message, &out_.next);
    out_.wrote_any = true;
    wake = !out_.wake_pending;
    out_.wake_pending = true;
  }
  if (wake) Wake();
}

void ServerCall::Finish(GrpcStatus status) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (out_.closed || out_.finish) return;
    out_.finish = std::move(status);
    wake = !out_.wake_pending;
    out_.wake_pending = true;
  }
  if (wake) Wake();
}

void ServerCall::Reply(std::string_view message) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (out_.closed || out_.finish) return;
    out_.next.clear();
    AppendGrpcMessage(message, &out_.next);
    out_.wrote_any = true;
    out_.finish = GrpcStatus{};
    wake = !out_.wake_pending;
    out_.wake_pending = true;
  }
  if (wake) Wake();
}

bool ServerCall::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return out_.closed || out_.finish.has_value();
}

void ServerCall::Wake() {
  if (waker_) waker_();
}

}  // namespace ward::rpc

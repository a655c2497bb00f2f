#include "rpc/h2_connection.h"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

namespace ward::rpc {
namespace {

// Headers a request may carry in all: far above what any gRPC client sends for the Workload API,
// and small enough that a hostile one cannot make the server hold much.
constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr uint32_t kMaxConcurrentStreams = 100;
// The bucket never holds more than the burst: with a burst of 1000 and a rate of 5000,
// `ward bench fetch` (about 1,700 resets a second per connection) still lost connections.
constexpr uint64_t kResetBurst = 10000;
constexpr uint64_t kResetsPerSecond = 10000;

std::string_view View(const uint8_t* p, size_t n) {
  return std::string_view(reinterpret_cast<const char*>(p), n);
}

nghttp2_nv Header(std::string_view name, std::string_view value) {
  // nghttp2 copies names and values when a frame is submitted (no NO_COPY flags).
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

constexpr std::string_view kGrpcContentType = "application/grpc";

// grpc-status and grpc-message, for trailers or a Trailers-Only response. Owns the text the
// header fields point at.
class StatusFields {
 public:
  explicit StatusFields(const GrpcStatus& status)
      : code_(std::to_string(static_cast<int>(status.code))),
        message_(PercentEncodeGrpcMessage(status.message)) {}
  void AppendTo(std::vector<nghttp2_nv>* nv) const {
    nv->push_back(Header("grpc-status", code_));
    if (!message_.empty()) nv->push_back(Header("grpc-message", message_));
  }

 private:
  std::string code_;
  std::string message_;
};

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* p) const { nghttp2_session_callbacks_del(p); }
};
struct OptionDeleter {
  void operator()(nghttp2_option* p) const { nghttp2_option_del(p); }
};
struct SessionSetup {
  std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks;
  std::unique_ptr<nghttp2_option, OptionDeleter> option;
};

}  // namespace

// nghttp2's C callbacks; `user_data` is the connection.
struct H2Connection::Callbacks {
  static H2Connection& Self(void* user_data) { return *static_cast<H2Connection*>(user_data); }

  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    Self(user_data).streams_[frame->hd.stream_id] = std::make_unique<Stream>();
    return 0;
  }

  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name_p,
                      size_t name_len, const uint8_t* value_p, size_t value_len, uint8_t,
                      void* user_data) {
    auto& self = Self(user_data);
    const auto it = self.streams_.find(frame->hd.stream_id);
    if (it == self.streams_.end() || it->second->dispatched) return 0;
    Stream& s = *it->second;
    // As HPACK counts a header list's size (RFC 7541 §4.1): 32 bytes of overhead per field.
    s.header_bytes += name_len + value_len + 32;
    if (s.header_bytes > kMaxHeaderBytes) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    const std::string_view name = View(name_p, name_len);
    const std::string_view value = View(value_p, value_len);
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers carry nothing we use
    if (name == ":path") {
      s.path = value;
    } else if (name == ":method") {
      s.method = value;
    } else if (name == "content-type") {
      s.content_type = value;
    } else if (name == "grpc-encoding") {
      s.encoding = value;
    } else if (!name.empty() && name[0] != ':' && name.rfind("grpc-", 0) != 0 && name != "te") {
      s.metadata.emplace_back(name, value);
    }
    return 0;
  }

  static int OnDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user_data) {
    auto& self = Self(user_data);
    const auto it = self.streams_.find(stream_id);
    if (it == self.streams_.end() || it->second->dispatched) return 0;
    Stream& s = *it->second;
    if (s.oversize) return 0;
    if (s.body.size() + len > self.methods_.max_request_bytes + kGrpcPrefixBytes) {
      s.oversize = true;  // answered when the request ends; nothing more is kept
      std::string().swap(s.body);
      return 0;
    }
    s.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    auto& self = Self(user_data);
    const auto it = self.streams_.find(frame->hd.stream_id);
    if (it == self.streams_.end() || it->second->dispatched) return 0;
    self.Dispatch(frame->hd.stream_id, *it->second);
    return 0;
  }

  static int OnStreamClose(nghttp2_session*, int32_t stream_id, uint32_t, void* user_data) {
    auto& self = Self(user_data);
    const auto it = self.streams_.find(stream_id);
    if (it == self.streams_.end()) return 0;
    self.CloseCall(*it->second);
    self.streams_.erase(it);
    return 0;
  }

  // Copies the call's framed output into a DATA frame; defers while there is none yet, and
  // ends with the trailers once the call is finished and everything has gone.
  static ssize_t ReadData(nghttp2_session* session, int32_t stream_id, uint8_t* buf, size_t len,
                          uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto* call = static_cast<ServerCall*>(source->ptr);
    std::optional<GrpcStatus> trailers;
    size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(call->mu_);
      auto& o = call->out_;
      if (o.sent == o.sending.size()) {
        o.sending.clear();
        o.sent = 0;
        o.sending.swap(o.next);
      }
      n = std::min(len, o.sending.size() - o.sent);
      std::memcpy(buf, o.sending.data() + o.sent, n);
      o.sent += n;
      if (o.sent == o.sending.size() && o.next.empty()) {
        if (!o.finish) {
          if (n == 0) return NGHTTP2_ERR_DEFERRED;
        } else {
          trailers = *o.finish;
        }
      }
    }
    if (trailers) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const StatusFields fields(*trailers);
      std::vector<nghttp2_nv> nv;
      fields.AppendTo(&nv);
      if (nghttp2_submit_trailer(session, stream_id, nv.data(), nv.size()) != 0) {
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
      }
    }
    return static_cast<ssize_t>(n);
  }

  // The callbacks above and the options, the same for every connection: made once.
  static const SessionSetup& Setup() {
    static const SessionSetup setup = [] {
      SessionSetup made;
      nghttp2_session_callbacks* callbacks = nullptr;
      nghttp2_option* option = nullptr;
      if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0) {
        nghttp2_session_callbacks_del(callbacks);  // accepts null
        return made;                               // out of memory: Make() reports it
      }
      made.callbacks.reset(callbacks);
      made.option.reset(option);
      nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks,
                                                              &Callbacks::OnBeginHeaders);
      nghttp2_session_callbacks_set_on_header_callback(callbacks, &Callbacks::OnHeader);
      nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &Callbacks::OnDataChunk);
      nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &Callbacks::OnFrameRecv);
      nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &Callbacks::OnStreamClose);
      // What this server holds at most for one connection's HPACK table and unanswered settings.
      nghttp2_option_set_max_deflate_dynamic_table_size(option, 4096);
      nghttp2_option_set_max_settings(option, 32);
      // nghttp2 tears a connection down after 1000 stream resets, then 33 a second (its defence
      // against "rapid reset", CVE-2023-44487). A client that reads one message of a stream and
      // cancels it, as go-spiffe's one-shot fetches do, resets every stream it opens, so a busy
      // workload would lose its connection. A reset stream costs this server little: work queued
      // for it is skipped once the call is done(), the queue is bounded (the service's), and the
      // loop stops reading a connection whose client does not read its answers. So the rate is
      // raised, not removed.
      nghttp2_option_set_stream_reset_rate_limit(option, kResetBurst, kResetsPerSecond);
      return made;
    }();
    return setup;
  }
};

Result<std::shared_ptr<H2Connection>> H2Connection::Make(const MethodTable& methods,
                                                         std::shared_ptr<ConnectionLoop> loop,
                                                         std::shared_ptr<void> peer) {
  const SessionSetup& setup = Callbacks::Setup();
  if (!setup.callbacks) return Internal("cannot set up HTTP/2: out of memory");
  std::shared_ptr<H2Connection> conn(
      new H2Connection(methods, std::move(loop), std::move(peer)));  // private constructor
  if (nghttp2_session_server_new2(&conn->session_, setup.callbacks.get(), conn.get(),
                                  setup.option.get()) != 0) {
    return Internal("cannot start an HTTP/2 session");
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<uint32_t>(kMaxHeaderBytes)},
  };
  if (nghttp2_submit_settings(conn->session_, NGHTTP2_FLAG_NONE, settings,
                              sizeof settings / sizeof settings[0]) != 0) {
    return Internal("cannot queue the HTTP/2 settings");
  }
  return conn;
}

H2Connection::~H2Connection() {
  for (auto& [id, stream] : streams_) CloseCall(*stream);
  if (session_ != nullptr) nghttp2_session_del(session_);
}

bool H2Connection::Receive(const uint8_t* data, size_t size) {
  return nghttp2_session_mem_recv(session_, data, size) >= 0;
}

bool H2Connection::Produce(std::string* out, size_t limit) {
  while (out->size() < limit) {
    const uint8_t* data = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    if (n < 0) return false;
    if (n == 0) break;
    out->append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return true;
}

bool H2Connection::Alive() const {
  return nghttp2_session_want_read(session_) != 0 || nghttp2_session_want_write(session_) != 0;
}

void H2Connection::GoAway() {
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

void H2Connection::Dispatch(int32_t stream_id, Stream& s) {
  s.dispatched = true;
  if (s.method != "POST") return RespondHttp(stream_id, s, "405");
  // "application/grpc" or "application/grpc+proto" and the like.
  const std::string_view type = s.content_type;
  if (type.substr(0, kGrpcContentType.size()) != kGrpcContentType ||
      (type.size() > kGrpcContentType.size() && type[kGrpcContentType.size()] != '+' &&
       type[kGrpcContentType.size()] != ';')) {
    return RespondHttp(stream_id, s, "415");
  }
  if (s.oversize) {
    return Reject(
        stream_id, s,
        {GrpcCode::kResourceExhausted,
         "request message larger than " + std::to_string(methods_.max_request_bytes) + " bytes"});
  }
  if (!s.encoding.empty() && s.encoding != "identity") {
    return Reject(stream_id, s,
                  {GrpcCode::kUnimplemented, "grpc-encoding " + s.encoding + " is not accepted"});
  }
  const auto handler = methods_.handlers.find(s.path);
  if (handler == methods_.handlers.end()) {
    // The path is echoed only in part: a client's 16 KiB of it need not come back.
    constexpr size_t kEchoed = 128;
    return Reject(stream_id, s,
                  {GrpcCode::kUnimplemented, "unknown method " + s.path.substr(0, kEchoed) +
                                                 (s.path.size() > kEchoed ? "..." : "")});
  }
  std::string_view message;
  const GrpcStatus framing = ReadSingleGrpcMessage(s.body, &message);
  if (!framing.ok()) return Reject(stream_id, s, framing);
  const size_t offset = static_cast<size_t>(message.data() - s.body.data());
  s.call = std::make_shared<ServerCall>(std::move(s.path), std::move(s.metadata), std::move(s.body),
                                        offset, peer_);
  s.call->waker_ = [weak = weak_from_this(), weak_loop = std::weak_ptr<ConnectionLoop>(loop_),
                    stream_id] {
    // A call may be answered after its server is gone; a connection is only reached from its loop.
    const auto loop = weak_loop.lock();
    if (!loop) return;
    if (loop->InLoopThread()) {
      if (auto conn = weak.lock()) conn->Pump(stream_id);
      return;
    }
    loop->Post([weak, stream_id] {
      if (auto conn = weak.lock()) conn->Pump(stream_id);
    });
  };
  // A copy: the handler may answer at once, and the answer may end the stream.
  const std::shared_ptr<ServerCall> call = s.call;
  handler->second(call);
}

void H2Connection::Reject(int32_t stream_id, Stream& s, const GrpcStatus& status) {
  s.call = std::make_shared<ServerCall>(std::string(), Metadata(), std::string(), 0, nullptr);
  s.call->Finish(status);  // no waker yet: nothing happens but the state change
  Pump(stream_id);
}

void H2Connection::RespondHttp(int32_t stream_id, Stream& s, const char* status) {
  s.response_started = true;
  const nghttp2_nv nv[] = {Header(":status", status)};
  nghttp2_submit_response(session_, stream_id, nv, 1, nullptr);
  loop_->NeedsFlush(shared_from_this());
}

void H2Connection::Pump(int32_t stream_id) {
  const auto it = streams_.find(stream_id);
  if (it == streams_.end() || !it->second->call) return;
  Stream& s = *it->second;
  ServerCall& call = *s.call;
  std::optional<GrpcStatus> trailers_only;
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(call.mu_);
    call.out_.wake_pending = false;
    if (!s.response_started) {
      s.response_started = true;
      // Before the response starts nothing has left `next`, so an empty one means no message.
      if (call.out_.next.empty() && call.out_.finish) {
        trailers_only = call.out_.finish;
      } else {
        start = true;
      }
    }
  }
  if (trailers_only) {
    // No message: the status goes in the response headers, which end the stream
    // ("Trailers-Only" in the gRPC protocol).
    const StatusFields fields(*trailers_only);
    std::vector<nghttp2_nv> nv = {Header(":status", "200"),
                                  Header("content-type", kGrpcContentType)};
    fields.AppendTo(&nv);
    nghttp2_submit_response(session_, stream_id, nv.data(), nv.size(), nullptr);
  } else if (start) {
    const nghttp2_nv nv[] = {Header(":status", "200"), Header("content-type", kGrpcContentType)};
    nghttp2_data_provider provider{};
    provider.source.ptr = &call;  // alive while the stream is: streams_ holds it
    provider.read_callback = &Callbacks::ReadData;
    nghttp2_submit_response(session_, stream_id, nv, 2, &provider);
  } else {
    nghttp2_session_resume_data(session_, stream_id);  // an error only if it was not deferred
  }
  loop_->NeedsFlush(shared_from_this());
}

void H2Connection::CloseCall(Stream& s) {
  if (!s.call) return;
  std::lock_guard<std::mutex> lock(s.call->mu_);
  s.call->out_.closed = true;
}

}  // namespace ward::rpc

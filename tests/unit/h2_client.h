// A test's HTTP/2 client: nghttp2's client session, wired either straight to an
// rpc::H2Connection (H2Client, bytes moved by Exchange()) or to a socket by the test.
#ifndef WARD_TESTS_UNIT_H2_CLIENT_H_
#define WARD_TESTS_UNIT_H2_CLIENT_H_

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "rpc/h2_connection.h"
#include "rpc_test_loop.h"

namespace ward::rpc::testing {

struct Response {
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;
  std::string data;
  bool closed = false;
  uint32_t error_code = 0;

  std::string Header(const std::string& name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return "";
  }
  // grpc-status from the trailers, or from the headers of a Trailers-Only response.
  std::string GrpcStatus() const {
    for (const auto& [n, v] : trailers) {
      if (n == "grpc-status") return v;
    }
    return Header("grpc-status");
  }
  std::string GrpcMessage() const {
    for (const auto& [n, v] : trailers) {
      if (n == "grpc-message") return v;
    }
    return Header("grpc-message");
  }
};

// nghttp2's client session, without a transport: requests in, bytes out through TakeOutput(),
// the server's bytes in through Feed(), what arrived in `responses`.
class H2ClientSession {
 public:
  H2ClientSession() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &OnHeader);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, &OnData);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &OnClose);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &OnFrame);
    nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~H2ClientSession() { nghttp2_session_del(session_); }
  H2ClientSession(const H2ClientSession&) = delete;
  H2ClientSession& operator=(const H2ClientSession&) = delete;

  // Starts a request; `body` goes out as its DATA, ending the stream.
  int32_t Request(const std::string& path, const std::string& body,
                  std::vector<std::pair<std::string, std::string>> extra = {},
                  const std::string& method = "POST",
                  const std::string& content_type = "application/grpc") {
    std::vector<std::pair<std::string, std::string>> h = {{":method", method},
                                                          {":scheme", "http"},
                                                          {":path", path},
                                                          {":authority", "localhost"},
                                                          {"content-type", content_type},
                                                          {"te", "trailers"}};
    h.insert(h.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h) {
      nv.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                    n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    bodies_.push_back({body, 0});
    nghttp2_data_provider provider{};
    provider.source.ptr = &bodies_.back();
    provider.read_callback = &ReadBody;
    return nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(), &provider, nullptr);
  }
  void Cancel(int32_t id) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  // What the client has to send; empty when nothing.
  std::string TakeOutput() {
    std::string out;
    const uint8_t* data = nullptr;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }
  void Feed(const std::string& bytes) {
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                             bytes.size());
  }

  std::map<int32_t, Response> responses;
  bool goaway = false;

 private:
  struct Body {
    std::string bytes;
    size_t off;
  };
  static H2ClientSession& Self(void* ud) { return *static_cast<H2ClientSession*>(ud); }
  static ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                          nghttp2_data_source* source, void*) {
    auto* b = static_cast<Body*>(source->ptr);
    const size_t n = std::min(len, b->bytes.size() - b->off);
    std::memcpy(buf, b->bytes.data() + b->off, n);
    b->off += n;
    if (b->off == b->bytes.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* ud) {
    auto& r = Self(ud).responses[frame->hd.stream_id];
    auto& list =
        r.headers.empty() || frame->headers.cat == NGHTTP2_HCAT_RESPONSE ? r.headers : r.trailers;
    list.emplace_back(std::string(reinterpret_cast<const char*>(name), namelen),
                      std::string(reinterpret_cast<const char*>(value), valuelen));
    return 0;
  }
  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* ud) {
    Self(ud).responses[id].data.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int OnClose(nghttp2_session*, int32_t id, uint32_t error_code, void* ud) {
    auto& r = Self(ud).responses[id];
    r.closed = true;
    r.error_code = error_code;
    return 0;
  }
  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* ud) {
    if (frame->hd.type == NGHTTP2_GOAWAY) Self(ud).goaway = true;
    return 0;
  }

  nghttp2_session* session_ = nullptr;
  std::list<Body> bodies_;
};

// A client wired straight to an H2Connection.
class H2Client : public H2ClientSession {
 public:
  explicit H2Client(std::shared_ptr<H2Connection> server) : server_(std::move(server)) {}

  // Bytes as a client would send them, without nghttp2's checks (for malformed input).
  bool SendRaw(const std::string& bytes) {
    return server_->Receive(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  // Moves bytes both ways until neither side has any to send. False if the server refused.
  bool Exchange(TestLoop* loop = nullptr) {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      const std::string sent = TakeOutput();
      if (!sent.empty()) {
        moved = true;
        if (!SendRaw(sent)) return false;
      }
      if (loop != nullptr && !loop->posted.empty()) {
        loop->RunPosted();
        moved = true;
      }
      std::string out;
      if (!server_->Produce(&out, 1 << 20)) return false;
      if (!out.empty()) {
        moved = true;
        Feed(out);
      }
      if (!moved) return true;
    }
    return true;
  }

 private:
  std::shared_ptr<H2Connection> server_;
};

}  // namespace ward::rpc::testing

#endif  // WARD_TESTS_UNIT_H2_CLIENT_H_

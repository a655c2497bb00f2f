// The gRPC server's request side: bytes a client sends on an HTTP/2 connection (nghttp2 frames
// them; rpc::H2Connection collects headers, bodies and dispatches), and the message framing on
// its own. Invariants: a call reaches a handler only with a method it serves and a body that is
// exactly one framed message within the size limit; answers from another thread, after a cancel
// or after the connection is gone never crash; every refusal of a body names a reason.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "rpc/grpc_wire.h"
#include "rpc/h2_connection.h"
#include "rpc_test_loop.h"

namespace {

using ward::rpc::GrpcCode;
using ward::rpc::H2Connection;
using ward::rpc::ServerCall;

constexpr size_t kMaxRequest = 256;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view message;
  const auto framing = ward::rpc::ReadSingleGrpcMessage(input, &message);
  if (framing.ok()) {
    FUZZ_CHECK(message.size() + ward::rpc::kGrpcPrefixBytes == input.size());
  } else {
    FUZZ_CHECK(!framing.message.empty());
  }
  const std::string encoded = ward::rpc::PercentEncodeGrpcMessage(input);
  for (const char c : encoded) FUZZ_CHECK(c >= 0x20 && c <= 0x7e);

  ward::rpc::MethodTable methods;
  methods.max_request_bytes = kMaxRequest;
  std::vector<std::shared_ptr<ServerCall>> held;
  methods.handlers["/F/Unary"] = [](const std::shared_ptr<ServerCall>& call) {
    FUZZ_CHECK(call->message().size() <= kMaxRequest);
    call->Reply(call->message());
  };
  methods.handlers["/F/Fail"] = [](const std::shared_ptr<ServerCall>& call) {
    call->Finish({GrpcCode::kInvalidArgument, std::string(call->message())});
  };
  methods.handlers["/F/Stream"] = [&held](const std::shared_ptr<ServerCall>& call) {
    FUZZ_CHECK(call->message().size() <= kMaxRequest);
    held.push_back(call);
  };
  auto loop = std::make_shared<ward::rpc::testing::TestLoop>();
  auto conn = H2Connection::Make(methods, loop, nullptr);
  FUZZ_CHECK(conn.ok());
  std::shared_ptr<H2Connection> c = std::move(conn).value();
  // In slices, as reads from a socket would come: the first byte picks the slice size.
  const size_t slice = size == 0 ? 1 : 1 + data[0] % 64;
  std::string out;
  bool alive = true;
  for (size_t off = 0; off < size && alive; off += slice) {
    alive = c->Receive(data + off, std::min(slice, size - off));
    if (alive) alive = c->Produce(&out, 1 << 20);
    // Streams answered from "another thread": their wakes go through the loop.
    loop->in_loop = false;
    for (auto& call : held) call->WriteLatest("state");
    loop->in_loop = true;
    loop->RunPosted();
    if (alive) alive = c->Produce(&out, 1 << 20);
  }
  for (auto& call : held) call->Finish({});
  loop->RunPosted();
  if (alive) c->Produce(&out, 1 << 20);
  c.reset();
  for (auto& call : held) {
    FUZZ_CHECK(call->done());
    call->WriteLatest("after the connection");
  }
  return 0;
}

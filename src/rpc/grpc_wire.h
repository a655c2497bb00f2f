// The parts of gRPC's HTTP/2 protocol (PROTOCOL-HTTP2.md in grpc/grpc) that sit above HTTP/2:
// status codes, the length-prefixed message framing and the grpc-message encoding.
#ifndef WARD_RPC_GRPC_WIRE_H_
#define WARD_RPC_GRPC_WIRE_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace ward::rpc {

// gRPC status codes, by their wire values.
enum class GrpcCode : int {
  kOk = 0,
  kCancelled = 1,
  kUnknown = 2,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kPermissionDenied = 7,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kOutOfRange = 11,
  kUnimplemented = 12,
  kInternal = 13,
  kUnavailable = 14,
  kDataLoss = 15,
  kUnauthenticated = 16,
};

struct GrpcStatus {
  GrpcCode code = GrpcCode::kOk;
  std::string message;
  bool ok() const { return code == GrpcCode::kOk; }
};

// Bytes of the prefix before each message: a compressed flag and a big-endian length.
inline constexpr size_t kGrpcPrefixBytes = 5;

// Appends `message`, framed (uncompressed), to `out`.
void AppendGrpcMessage(std::string_view message, std::string* out);

// The one message of a request body: unary and server-streaming methods take exactly one.
// Sets `message` to view into `body`. A compressed message is refused (this server offers only
// the identity encoding, so none can be named), as are a truncated frame, a missing message and
// a second one.
GrpcStatus ReadSingleGrpcMessage(std::string_view body, std::string_view* message);

// grpc-message's value: the status message percent-encoded (every byte outside printable ASCII,
// and '%' itself), as the protocol requires of a header that may carry any UTF-8.
std::string PercentEncodeGrpcMessage(std::string_view message);

}  // namespace ward::rpc

#endif  // WARD_RPC_GRPC_WIRE_H_

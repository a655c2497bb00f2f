#include "rpc/grpc_wire.h"

#include <cstdint>

namespace ward::rpc {

void AppendGrpcMessage(std::string_view message, std::string* out) {
  const auto n = static_cast<uint32_t>(message.size());
  const char prefix[kGrpcPrefixBytes] = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                                         static_cast<char>(n >> 8), static_cast<char>(n)};
  out->reserve(out->size() + kGrpcPrefixBytes + message.size());
  out->append(prefix, kGrpcPrefixBytes);
  out->append(message);
}

GrpcStatus ReadSingleGrpcMessage(std::string_view body, std::string_view* message) {
  if (body.empty()) return {GrpcCode::kInternal, "the request carries no message"};
  if (body.size() < kGrpcPrefixBytes) return {GrpcCode::kInternal, "truncated message prefix"};
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  // The server accepts only the identity encoding (any other grpc-encoding is refused before
  // this), so a compressed message names no encoding it could be in: a protocol error.
  if (p[0] == 1) return {GrpcCode::kInternal, "compressed message without a grpc-encoding"};
  if (p[0] != 0) return {GrpcCode::kInternal, "invalid message flags"};
  const uint64_t n = (uint64_t{p[1]} << 24) | (uint64_t{p[2]} << 16) | (uint64_t{p[3]} << 8) | p[4];
  const std::string_view rest = body.substr(kGrpcPrefixBytes);
  if (n > rest.size()) return {GrpcCode::kInternal, "truncated message"};
  if (n < rest.size()) return {GrpcCode::kUnimplemented, "this method takes one request message"};
  *message = rest;
  return {};
}

std::string PercentEncodeGrpcMessage(std::string_view message) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(message.size());
  for (const char c : message) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b <= 0x7e && b != '%') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xf]);
    }
  }
  return out;
}

}  // namespace ward::rpc

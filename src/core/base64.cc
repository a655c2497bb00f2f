#include "core/base64.h"

#include <array>

namespace ward {
namespace {

constexpr char kStd[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<int8_t, 256> MakeDecodeTable(const char* alphabet) {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr auto kStdDecode = MakeDecodeTable(kStd);
constexpr auto kUrlDecode = MakeDecodeTable(kUrl);

std::string Encode(ByteView data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const size_t rem = data.size() - i;
  if (rem == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rem == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

Result<Bytes> Decode(std::string_view text, const std::array<int8_t, 256>& table, bool padded,
                     const char* name) {
  if (padded) {
    if (text.size() % 4 != 0) {
      return InvalidArgument(std::string(name) + ": length is not a multiple of 4");
    }
    size_t pads = 0;
    while (pads < 2 && pads < text.size() && text[text.size() - 1 - pads] == '=') ++pads;
    text.remove_suffix(pads);
  }
  if (text.size() % 4 == 1) return InvalidArgument(std::string(name) + ": truncated input");
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const int8_t v = table[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      return InvalidArgument(std::string(name) + ": invalid character at offset " +
                             std::to_string(i));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    return InvalidArgument(std::string(name) + ": non-zero trailing bits");
  }
  return out;
}

}  // namespace

std::string Base64UrlEncode(ByteView data) { return Encode(data, kUrl, false); }
Result<Bytes> Base64UrlDecode(std::string_view text) {
  return Decode(text, kUrlDecode, false, "invalid base64url");
}
std::string Base64Encode(ByteView data) { return Encode(data, kStd, true); }
Result<Bytes> Base64Decode(std::string_view text) {
  return Decode(text, kStdDecode, true, "invalid base64");
}

}  // namespace ward

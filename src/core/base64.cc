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

// Appends in place: the output size is known, so the characters are written straight into it.
void EncodeTo(ByteView data, const char* alphabet, bool pad, std::string* out) {
  const size_t full = data.size() / 3;
  const size_t rem = data.size() - 3 * full;
  const size_t tail = rem == 0 ? 0 : (pad ? 4 : rem + 1);
  const size_t at = out->size();
  out->resize(at + 4 * full + tail);
  char* o = out->data() + at;
  const uint8_t* in = data.data();
  for (size_t i = 0; i < full; ++i, in += 3, o += 4) {
    const uint32_t v = (uint32_t{in[0]} << 16) | (uint32_t{in[1]} << 8) | in[2];
    o[0] = alphabet[(v >> 18) & 63];
    o[1] = alphabet[(v >> 12) & 63];
    o[2] = alphabet[(v >> 6) & 63];
    o[3] = alphabet[v & 63];
  }
  if (rem == 0) return;
  const uint32_t v = (uint32_t{in[0]} << 16) | (rem == 2 ? uint32_t{in[1]} << 8 : 0);
  o[0] = alphabet[(v >> 18) & 63];
  o[1] = alphabet[(v >> 12) & 63];
  if (rem == 2) o[2] = alphabet[(v >> 6) & 63];
  if (pad) {
    if (rem == 1) o[2] = '=';
    o[3] = '=';
  }
}

std::string Encode(ByteView data, const char* alphabet, bool pad) {
  std::string out;
  EncodeTo(data, alphabet, pad, &out);
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
void AppendBase64Url(ByteView data, std::string* out) { EncodeTo(data, kUrl, false, out); }
Result<Bytes> Base64UrlDecode(std::string_view text) {
  return Decode(text, kUrlDecode, false, "invalid base64url");
}
std::string Base64Encode(ByteView data) { return Encode(data, kStd, true); }
void AppendBase64(ByteView data, std::string* out) { EncodeTo(data, kStd, true, out); }
Result<Bytes> Base64Decode(std::string_view text) {
  return Decode(text, kStdDecode, true, "invalid base64");
}

}  // namespace ward

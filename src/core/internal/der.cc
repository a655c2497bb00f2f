#include "core/internal/der.h"

#include <algorithm>
#include <ctime>

namespace ward::der {

namespace {

void AppendLength(Bytes& out, size_t len) {
  if (len < 0x80) {
    out.push_back(static_cast<uint8_t>(len));
    return;
  }
  uint8_t buf[sizeof(size_t)];
  int n = 0;
  for (size_t v = len; v != 0; v >>= 8) buf[n++] = static_cast<uint8_t>(v & 0xff);
  out.push_back(static_cast<uint8_t>(0x80 | n));
  while (n > 0) out.push_back(buf[--n]);
}

void AppendDigits(Bytes& out, int value, int width) {
  char buf[8];
  for (int i = width - 1; i >= 0; --i) {
    buf[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
  out.insert(out.end(), buf, buf + width);
}

}  // namespace

void Append(Bytes& out, ByteView encoded) { out.insert(out.end(), encoded.begin(), encoded.end()); }

void AppendTlv(Bytes& out, uint8_t tag, ByteView content) {
  out.push_back(tag);
  AppendLength(out, content.size());
  out.insert(out.end(), content.begin(), content.end());
}

Bytes Tlv(uint8_t tag, ByteView content) {
  Bytes out;
  out.reserve(content.size() + 6);
  AppendTlv(out, tag, content);
  return out;
}

void AppendUnsignedInteger(Bytes& out, ByteView magnitude) {
  size_t start = 0;
  while (start + 1 < magnitude.size() && magnitude[start] == 0) ++start;
  Bytes content;
  content.reserve(magnitude.size() - start + 1);
  if (magnitude.empty() || (magnitude[start] & 0x80) != 0) content.push_back(0);
  content.insert(content.end(), magnitude.begin() + static_cast<ptrdiff_t>(start), magnitude.end());
  AppendTlv(out, kInteger, content);
}

void AppendTime(Bytes& out, int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  const int year = tm.tm_year + 1900;
  Bytes text;
  const bool utc_time = year >= 1950 && year < 2050;
  if (utc_time) {
    AppendDigits(text, year % 100, 2);
  } else {
    AppendDigits(text, year, 4);
  }
  AppendDigits(text, tm.tm_mon + 1, 2);
  AppendDigits(text, tm.tm_mday, 2);
  AppendDigits(text, tm.tm_hour, 2);
  AppendDigits(text, tm.tm_min, 2);
  AppendDigits(text, tm.tm_sec, 2);
  text.push_back('Z');
  AppendTlv(out, utc_time ? kUtcTime : kGeneralizedTime, text);
}

Result<Bytes> EcdsaRawToDer(ByteView raw) {
  if (raw.empty() || raw.size() % 2 != 0) {
    return InvalidArgument("ECDSA signature must have two equal halves, got " +
                           std::to_string(raw.size()) + " bytes");
  }
  const size_t half = raw.size() / 2;
  Bytes body;
  body.reserve(raw.size() + 6);
  AppendUnsignedInteger(body, raw.first(half));
  AppendUnsignedInteger(body, raw.subspan(half));
  return Tlv(kSequence, body);
}

Result<Bytes> EcdsaDerToRaw(ByteView der, size_t n) {
  WARD_ASSIGN_OR_RETURN(Element seq, Read(der));
  if (seq.tag != kSequence || !der.empty()) {
    return InvalidArgument("ECDSA signature is not one DER SEQUENCE");
  }
  Bytes raw(2 * n);
  ByteView body = seq.content;
  for (size_t half = 0; half < 2; ++half) {
    WARD_ASSIGN_OR_RETURN(Element v, Read(body));
    if (v.tag != kInteger || v.content.empty() || (v.content[0] & 0x80) != 0) {
      return InvalidArgument("ECDSA signature value is not a non-negative INTEGER");
    }
    // DER: the shortest encoding, so a leading zero only where the next byte's top bit is set.
    if (v.content.size() > 1 && v.content[0] == 0 && (v.content[1] & 0x80) == 0) {
      return InvalidArgument("ECDSA signature value is not minimally encoded");
    }
    ByteView magnitude = v.content;
    if (magnitude.size() > 1 && magnitude[0] == 0) magnitude = magnitude.subspan(1);  // sign byte
    if (magnitude.size() > n) return InvalidArgument("ECDSA signature value is too large");
    std::copy(magnitude.begin(), magnitude.end(), raw.begin() + (half + 1) * n - magnitude.size());
  }
  if (!body.empty()) return InvalidArgument("ECDSA signature has trailing data");
  return raw;
}

Result<Element> Read(ByteView& in) {
  if (in.size() < 2) return InvalidArgument("DER element truncated");
  Element e;
  e.tag = in[0];
  if ((e.tag & 0x1f) == 0x1f) return InvalidArgument("DER multi-byte tags are not supported");
  size_t pos = 2;
  size_t len = in[1];
  if (len & 0x80) {
    const size_t n = len & 0x7f;
    if (n == 0 || n > 4) return InvalidArgument("DER length form not allowed");
    if (in.size() < 2 + n) return InvalidArgument("DER length truncated");
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | in[2 + i];
    if (len < 0x80 || (n > 1 && in[2] == 0)) return InvalidArgument("DER length not minimal");
    pos += n;
  }
  if (in.size() - pos < len) return InvalidArgument("DER element longer than its input");
  e.content = in.subspan(pos, len);
  in = in.subspan(pos + len);
  return e;
}

}  // namespace ward::der

// Strict base64 codecs: decoding rejects padding where the alphabet forbids it, stray characters,
// whitespace and non-zero trailing bits, so one value has exactly one encoding.
#ifndef WARD_CORE_BASE64_H_
#define WARD_CORE_BASE64_H_

#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/status.h"

namespace ward {

// RFC 4648 §5 alphabet without padding (JOSE).
std::string Base64UrlEncode(ByteView data);
void AppendBase64Url(ByteView data, std::string* out);
Result<Bytes> Base64UrlDecode(std::string_view text);

// RFC 4648 §4 alphabet with padding (JWK "x5c").
std::string Base64Encode(ByteView data);
void AppendBase64(ByteView data, std::string* out);
Result<Bytes> Base64Decode(std::string_view text);

}  // namespace ward

#endif  // WARD_CORE_BASE64_H_

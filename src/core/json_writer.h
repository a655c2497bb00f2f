// Writing JSON text by hand, for documents of a fixed shape on hot paths (JWT claims, the
// agent API's signing responses), where building them through nlohmann/json would cost more
// than the rest of the operation.
#ifndef WARD_CORE_JSON_WRITER_H_
#define WARD_CORE_JSON_WRITER_H_

#include <string>
#include <string_view>

namespace ward {

// What to do with bytes that are not valid UTF-8 (overlong forms, surrogates and code points past
// U+10FFFF included), which JSON text must not contain.
enum class InvalidUtf8 {
  kRefuse,   // return false, leaving `out` unspecified
  kReplace,  // write U+FFFD for each byte that does not start a valid sequence
};

// Appends `value` as a JSON string (RFC 8259 §7): quotes, with '"', '\' and control characters
// escaped. Returns false only when `value` is not valid UTF-8 and `invalid` is kRefuse.
bool AppendJsonString(std::string_view value, std::string* out,
                      InvalidUtf8 invalid = InvalidUtf8::kRefuse);

}  // namespace ward

#endif  // WARD_CORE_JSON_WRITER_H_

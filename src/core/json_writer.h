// Writing JSON text by hand, for documents of a fixed shape on hot paths (JWT claims, the
// agent API's signing responses), where building them through nlohmann/json would cost more
// than the rest of the operation.
#ifndef WARD_CORE_JSON_WRITER_H_
#define WARD_CORE_JSON_WRITER_H_

#include <string>
#include <string_view>

namespace ward {

// Appends `value` as a JSON string (RFC 8259 §7): quotes, with '"', '\' and control characters
// escaped. Returns false, leaving `out` unspecified, if `value` is not valid UTF-8 (overlong
// forms, surrogates and code points past U+10FFFF included), which JSON text must be.
bool AppendJsonString(std::string_view value, std::string* out);

}  // namespace ward

#endif  // WARD_CORE_JSON_WRITER_H_

// Internal to the core library: writing JSON text by hand where a document's shape is fixed and
// building it through nlohmann/json would cost more than the rest of the operation (JWT claims).
#ifndef WARD_CORE_INTERNAL_JSON_WRITER_H_
#define WARD_CORE_INTERNAL_JSON_WRITER_H_

#include <string>
#include <string_view>

namespace ward::internal {

// Appends `value` as a JSON string (RFC 8259 §7): quotes, with '"', '\' and control characters
// escaped. Returns false, leaving `out` unspecified, if `value` is not valid UTF-8 (overlong
// forms, surrogates and code points past U+10FFFF included), which JSON text must be.
bool AppendJsonString(std::string_view value, std::string* out);

}  // namespace ward::internal

#endif  // WARD_CORE_INTERNAL_JSON_WRITER_H_

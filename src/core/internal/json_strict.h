// Internal to the core library (nlohmann/json stays out of public headers): a JSON parser that
// bounds input size and nesting and refuses duplicate object keys, which nlohmann's default parser
// silently resolves to the last value.
#ifndef WARD_CORE_INTERNAL_JSON_STRICT_H_
#define WARD_CORE_INTERNAL_JSON_STRICT_H_

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"

namespace ward::internal {

inline constexpr size_t kMaxJsonDepth = 32;

// `what` names the document in error messages ("SPIFFE bundle", "JWT header", ...).
Result<nlohmann::json> ParseJsonStrict(std::string_view text, size_t max_bytes,
                                       std::string_view what);

}  // namespace ward::internal

#endif  // WARD_CORE_INTERNAL_JSON_STRICT_H_

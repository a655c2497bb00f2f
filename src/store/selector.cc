#include "store/types.h"

namespace ward::store {

Result<Selector> Selector::Parse(std::string_view text) {
  if (text.size() > 512) return InvalidArgument("selector is longer than 512 bytes");
  for (char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return InvalidArgument("selector contains a control character");
    }
  }
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return InvalidArgument("selector \"" + std::string(text.substr(0, 64)) +
                           "\" must look like type:value (e.g. unix:uid:1000)");
  }
  const std::string_view type = text.substr(0, colon);
  for (char c : type) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) {
      return InvalidArgument("selector type \"" + std::string(type.substr(0, 64)) +
                             "\" may use only lower-case letters, digits, '_' and '-'");
    }
  }
  return Selector{std::string(type), std::string(text.substr(colon + 1))};
}

}  // namespace ward::store

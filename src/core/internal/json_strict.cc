#include "core/internal/json_strict.h"

#include <set>
#include <string>
#include <vector>

namespace ward::internal {
namespace {

// The first key that repeats within one object of `text`, which must parse (and, having been
// parsed once within the depth limit, does).
std::string FirstDuplicateKey(std::string_view text) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end && !open_objects.empty()) {
      open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty() && duplicate.empty() &&
               !open_objects.back().insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  [[maybe_unused]] const auto doc = nlohmann::json::parse(
      text.begin(), text.end(), callback, /*allow_exceptions=*/false, /*ignore_comments=*/false);
  return duplicate;
}

}  // namespace

Result<nlohmann::json> ParseJsonStrict(std::string_view text, size_t max_bytes,
                                       std::string_view what) {
  const std::string name(what);
  if (text.size() > max_bytes) {
    return InvalidArgument(name + " is " + std::to_string(text.size()) +
                           " bytes long; the limit is " + std::to_string(max_bytes));
  }
  // nlohmann skips a UTF-8 byte order mark; RFC 8259 §8.1 forbids sending one and Go's parser
  // (go-spiffe, SPIRE) refuses it, so Ward does too.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return InvalidArgument(name + " starts with a byte order mark");
  }
  // nlohmann keeps the last of duplicate members, so an object that ends up with fewer members
  // than the keys read for it had a duplicate. Counting is cheap; naming the duplicate for the
  // message takes a second pass, made only then.
  std::vector<size_t> keys_read;  // per open object
  bool duplicate = false;
  bool too_deep = false;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (static_cast<size_t>(depth) > kMaxJsonDepth) too_deep = true;
    switch (event) {
      case Event::object_start:
        keys_read.push_back(0);
        break;
      case Event::key:
        if (!keys_read.empty()) ++keys_read.back();
        break;
      case Event::object_end:
        if (!keys_read.empty()) {
          if (parsed.size() != keys_read.back()) duplicate = true;
          keys_read.pop_back();
        }
        break;
      default:
        break;
    }
    return true;
  };
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                                /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(name + " is not valid JSON: " + e.what());
  }
  if (too_deep) {
    return InvalidArgument(name + " nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  if (duplicate) {
    return InvalidArgument(name + " has a duplicate key \"" +
                           FirstDuplicateKey(text).substr(0, 256) + "\"");
  }
  return doc;
}

}  // namespace ward::internal

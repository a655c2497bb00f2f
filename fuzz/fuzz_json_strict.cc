// The strict JSON parser against nlohmann's own, used as the oracle. Invariants: the strict parser
// accepts exactly what nlohmann accepts minus duplicate keys, nesting beyond kMaxJsonDepth and a
// byte order mark, and then builds the same document.
#include <string>
#include <string_view>
#include <vector>

#include "core/internal/json_strict.h"
#include "fuzz_check.h"

namespace {

struct Oracle {
  bool parses = false;
  bool duplicate = false;
  bool too_deep = false;
  nlohmann::json doc;
};

// nlohmann keeps the last of duplicate members, so an object left with fewer members than keys
// read had one; its callback's depth is the number of enclosing containers.
Oracle Judge(std::string_view text) {
  Oracle out;
  std::vector<size_t> keys_read;
  auto callback = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) &&
        static_cast<size_t>(depth) >= ward::internal::kMaxJsonDepth) {
      out.too_deep = true;
    }
    if (event == Event::object_start) keys_read.push_back(0);
    if (event == Event::key && !keys_read.empty()) ++keys_read.back();
    if (event == Event::object_end && !keys_read.empty()) {
      if (parsed.size() != keys_read.back()) out.duplicate = true;
      keys_read.pop_back();
    }
    return true;
  };
  out.doc = nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false,
                                  /*ignore_comments=*/false);
  out.parses = !out.doc.is_discarded();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr size_t kMaxBytes = 4096;
  const auto strict = ward::internal::ParseJsonStrict(text, kMaxBytes, "doc");
  const bool bom = text.substr(0, 3) == "\xEF\xBB\xBF";
  if (size > kMaxBytes || bom) {
    FUZZ_CHECK(!strict.ok());
    return 0;
  }
  const Oracle oracle = Judge(text);
  const bool expected = oracle.parses && !oracle.duplicate && !oracle.too_deep;
  FUZZ_CHECK(strict.ok() == expected);
  if (strict.ok()) {
    FUZZ_CHECK(*strict == oracle.doc);
    FUZZ_CHECK(strict->dump() == oracle.doc.dump());
  } else {
    FUZZ_CHECK(!strict.status().message().empty());
  }
  return 0;
}

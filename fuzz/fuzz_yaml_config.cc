// Configuration files on arbitrary bytes. Invariants: never a crash or exception; an accepted file
// yields well-formed setting names, each with at least one value unless it is an empty list.
#include <string_view>

#include "config/yaml_config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (std::string_view section : {"server", "agent"}) {
    auto settings = ward::config::ParseConfig(text, section);
    if (!settings.ok()) {
      FUZZ_CHECK(!settings.status().message().empty());
      continue;
    }
    for (const auto& s : *settings) {
      FUZZ_CHECK(!s.name.empty() && s.name.size() <= 64);
      for (char c : s.name)
        FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
      FUZZ_CHECK(s.is_list || s.values.size() == 1);
    }
  }
  return 0;
}

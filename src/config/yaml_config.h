// Configuration files (YAML, as the seeds write configuration). A file is a mapping of settings
// named like the command's flags in snake_case (`trust_domain: example.org` for
// `--trust-domain`), either at the top level or under a section per component (`server:`,
// `agent:`), so one file can configure both. Values are scalars, or lists of scalars for
// repeatable flags. The parser only checks shape; which settings exist is the command's business.
#ifndef WARD_CONFIG_YAML_CONFIG_H_
#define WARD_CONFIG_YAML_CONFIG_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace ward::config {

inline constexpr size_t kMaxConfigBytes = 1024 * 1024;

struct Setting {
  std::string name;                 // as written: lower case, digits and '_'
  std::vector<std::string> values;  // one for a scalar
  bool is_list = false;
};

// The settings for `section` ("server", "agent"). Refuses malformed YAML, anything but a mapping,
// a mix of sections and plain settings, duplicate or malformed names, null or nested values,
// aliases, and nesting deeper than a configuration needs.
Result<std::vector<Setting>> ParseConfig(std::string_view yaml, std::string_view section);

// Reads `path` (at most kMaxConfigBytes) and parses it.
Result<std::vector<Setting>> LoadConfigFile(const std::string& path, std::string_view section);

}  // namespace ward::config

#endif  // WARD_CONFIG_YAML_CONFIG_H_

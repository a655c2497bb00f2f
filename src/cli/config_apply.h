// Fills a command's flags from a YAML configuration file (config/yaml_config.h). A flag given on
// the command line wins over the file; a setting no flag matches is an error, not a silent no-op.
#ifndef WARD_CLI_CONFIG_APPLY_H_
#define WARD_CLI_CONFIG_APPLY_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace CLI {
class App;
}

namespace ward::cli {

// `section` is the file section this command reads ("server" or "agent"). Must run in the
// command's callback, after the command line has been parsed.
Status ApplyConfigFile(CLI::App& command, const std::string& path, std::string_view section);

}  // namespace ward::cli

#endif  // WARD_CLI_CONFIG_APPLY_H_

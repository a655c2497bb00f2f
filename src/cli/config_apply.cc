#include "cli/config_apply.h"

#include <CLI/CLI.hpp>

#include "config/yaml_config.h"

namespace ward::cli {

Status ApplyConfigFile(CLI::App& command, const std::string& path, std::string_view section) {
  WARD_ASSIGN_OR_RETURN(std::vector<config::Setting> settings,
                        config::LoadConfigFile(path, section));
  for (const auto& setting : settings) {
    std::string flag = "--" + setting.name;
    for (char& c : flag) {
      if (c == '_') c = '-';
    }
    CLI::Option* option = flag == "--config" ? nullptr : command.get_option_no_throw(flag);
    if (option == nullptr) {
      return InvalidArgument(path + ": unknown setting \"" + setting.name + "\" for " +
                             std::string(section) + " (settings are the " + command.get_name() +
                             " flags in snake_case; see --help)");
    }
    if (option->count() > 0) continue;  // the command line wins
    const bool repeatable = option->get_items_expected_max() > 1;
    if (setting.is_list && !repeatable) {
      return InvalidArgument(path + ": setting \"" + setting.name +
                             "\" takes one value, not a list");
    }
    try {
      option->add_result(setting.values);
      option->run_callback();
    } catch (const CLI::Error& e) {
      return InvalidArgument(path + ": setting \"" + setting.name + "\": " + e.what());
    }
  }
  return OkStatus();
}

}  // namespace ward::cli

#include "cli/audit_commands.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "audit/audit_log.h"
#include "cli/cli_io.h"

namespace ward::cli {

void RegisterAuditCommands(CLI::App& app, int* exit_code) {
  CLI::App* audit = app.add_subcommand("audit", "audit log tools")->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  CLI::App* verify = audit->add_subcommand("verify", "check the hash chain of an audit log");
  verify->add_option("FILE", *path, "audit log (JSON lines)")->required();
  verify->callback([=] {
    auto report = audit::VerifyAuditFile(*path);
    if (!report.ok()) {
      *exit_code = Fail(kExitUsage, report.status().message());
      return;
    }
    if (!report->intact) {
      *exit_code = Fail(kExitInvalid, "audit log " + *path + " is broken at record " +
                                          std::to_string(report->first_broken_line) + ": " +
                                          report->reason + " (" + std::to_string(report->records) +
                                          " records before it are intact)");
      return;
    }
    std::cout << "audit log intact: " << report->records << " records\n";
    *exit_code = kExitOk;
  });
}

}  // namespace ward::cli

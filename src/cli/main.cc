// The single `ward` binary: every subcommand of DESIGN.md's CLI contract hangs off this App.
#include <CLI/CLI.hpp>

#include "cli/agent_commands.h"
#include "cli/audit_commands.h"
#include "cli/bench_commands.h"
#include "cli/cli_io.h"
#include "cli/server_commands.h"
#include "cli/verify_commands.h"

int main(int argc, char** argv) {
  CLI::App app("Ward: workload identity (SPIFFE) and access platform", "ward");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ward ") + WARD_VERSION);
  int exit_code = ward::cli::kExitOk;
  ward::cli::RegisterVerifyCommands(app, &exit_code);
  ward::cli::RegisterAuditCommands(app, &exit_code);
  ward::cli::RegisterServerCommands(app, &exit_code);
  app.add_subcommand("agent", "the Ward agent; admin verbs on attested agents")
      ->require_subcommand(1);
  ward::cli::RegisterAdminCommands(app, &exit_code);
  ward::cli::RegisterAgentCommands(app, &exit_code);
  ward::cli::RegisterBenchCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? ward::cli::kExitOk : ward::cli::kExitUsage;
  }
  return exit_code;
}

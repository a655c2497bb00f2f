// `ward bench`: load generators against a running server or agent (docs/performance.md).
// issue (X.509-SVIDs over the agent API), jwt-validate and fetch (the Workload API), agents
// (many simulated agents syncing). Each prints one JSON object on stdout.
#ifndef WARD_CLI_BENCH_COMMANDS_H_
#define WARD_CLI_BENCH_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace ward::cli {

void RegisterBenchCommands(CLI::App& app, int* exit_code);

}  // namespace ward::cli

#endif  // WARD_CLI_BENCH_COMMANDS_H_

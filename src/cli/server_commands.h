// `ward server run` and the admin verbs that talk to a running server over its admin socket.
#ifndef WARD_CLI_SERVER_COMMANDS_H_
#define WARD_CLI_SERVER_COMMANDS_H_

namespace CLI {
class App;
}

namespace ward::cli {

void RegisterServerCommands(CLI::App& app, int* exit_code);
// Adds to subcommands that RegisterVerifyCommands created ("x509", "jwt"), so call it after.
void RegisterAdminCommands(CLI::App& app, int* exit_code);

}  // namespace ward::cli

#endif  // WARD_CLI_SERVER_COMMANDS_H_

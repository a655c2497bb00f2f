// The offline verification verbs: `ward id check`, `ward x509 verify`, `ward jwt verify`.
#ifndef WARD_CLI_VERIFY_COMMANDS_H_
#define WARD_CLI_VERIFY_COMMANDS_H_

namespace CLI {
class App;
}

namespace ward::cli {

// Registers the verbs on `app`; each sets `*exit_code` when it runs.
void RegisterVerifyCommands(CLI::App& app, int* exit_code);

}  // namespace ward::cli

#endif  // WARD_CLI_VERIFY_COMMANDS_H_

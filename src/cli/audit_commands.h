// `ward audit verify FILE`: checks the hash chain of an audit log.
#ifndef WARD_CLI_AUDIT_COMMANDS_H_
#define WARD_CLI_AUDIT_COMMANDS_H_

namespace CLI {
class App;
}

namespace ward::cli {

void RegisterAuditCommands(CLI::App& app, int* exit_code);

}  // namespace ward::cli

#endif  // WARD_CLI_AUDIT_COMMANDS_H_

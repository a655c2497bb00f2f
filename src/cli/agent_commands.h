// `ward agent run` and the Workload API client verbs (`ward api fetch|validate|watch`).
#ifndef WARD_CLI_AGENT_COMMANDS_H_
#define WARD_CLI_AGENT_COMMANDS_H_

namespace CLI {
class App;
}

namespace ward::cli {

// `agent` must already exist on `app` (the admin verbs share it).
void RegisterAgentCommands(CLI::App& app, int* exit_code);

}  // namespace ward::cli

#endif  // WARD_CLI_AGENT_COMMANDS_H_

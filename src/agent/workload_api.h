// The SPIFFE Workload API (reference/spiffe.md §5-§6) on a Unix socket. The socket is accepted
// here, not by gRPC, so each connection's caller is taken from the kernel (SO_PEERCRED, plus a
// pidfd) before the connection is handed to gRPC; every RPC then attests that process.
#ifndef WARD_AGENT_WORKLOAD_API_H_
#define WARD_AGENT_WORKLOAD_API_H_

#include <memory>
#include <string>

#include "agent/identity_provider.h"
#include "agent/workload_attestor.h"
#include "core/status.h"
#include "telemetry/log.h"

namespace ward::agent {

class WorkloadApiServer {
 public:
  // Listens on `socket_path` (replacing a stale socket; mode 0666, as every local user must be
  // able to reach the API) and serves until Shutdown().
  static Result<std::unique_ptr<WorkloadApiServer>> Start(const std::string& socket_path,
                                                          IdentityProvider& provider,
                                                          telemetry::Logger& log);
  virtual ~WorkloadApiServer() = default;
  // Ends every stream and stops accepting. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace ward::agent

#endif  // WARD_AGENT_WORKLOAD_API_H_

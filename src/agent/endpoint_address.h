// Workload API endpoint addresses (SPIFFE_Workload_Endpoint.md, SPIFFE_ENDPOINT_SOCKET) turned into
// gRPC targets. Kept apart from the gRPC client so it can be fuzzed on its own.
#ifndef WARD_AGENT_ENDPOINT_ADDRESS_H_
#define WARD_AGENT_ENDPOINT_ADDRESS_H_

#include <string>
#include <string_view>

#include "core/status.h"

namespace ward::agent {

// An endpoint address as a gRPC target: `unix:///abs/path` -> "unix:/abs/path", `tcp://IP:port`
// -> "ipv4:IP:port" / "ipv6:[IP]:port". Refuses everything else the standard refuses (an
// authority on unix, a host name, a missing port, a path, query or fragment on tcp, other
// schemes). A bare absolute path is taken as a Unix socket (a convenience for --socket).
Result<std::string> EndpointTarget(std::string_view address);

}  // namespace ward::agent

#endif  // WARD_AGENT_ENDPOINT_ADDRESS_H_

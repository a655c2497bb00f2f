// `ward agent run`: attests the node to the server, keeps the entries authorized for it in sync
// (long poll), holds and rotates X.509-SVIDs for them, and serves the SPIFFE Workload API.
#ifndef WARD_AGENT_AGENT_H_
#define WARD_AGENT_AGENT_H_

#include <cstddef>
#include <string>

#include "core/bundle.h"
#include "core/status.h"

namespace ward::agent {

struct AgentConfig {
  std::string server_address = "127.0.0.1";
  int server_port = 8081;
  std::string trust_domain = "example.org";
  std::string
      trust_bundle;  // bootstrap bundle (PEM or SPIFFE JSON), to first authenticate the server
  std::string join_token;
  std::string x509pop_cert;  // node certificate chain (PEM) and key for x509pop attestation
  std::string x509pop_key;
  std::string data_dir = "ward-agent";  // created 0711: private files 0600, public/ 0755
  std::string socket;                   // default <data-dir>/public/api.sock
  std::string log_level = "info";
  size_t svid_cache_size = 10000;  // pre-issue SVIDs while there are at most this many entries
  size_t jwt_validation_cache_size = 10000;  // validated JWT-SVIDs remembered (0: none)
  int sync_wait_seconds = 30;
};

// Runs until SIGINT/SIGTERM; returns the exit code (1 when it could not start or was banned).
int RunAgent(const AgentConfig& config);

// A bootstrap bundle file: SPIFFE JSON or PEM certificates.
Result<TrustBundle> LoadBundleFile(const TrustDomain& td, const std::string& path);

}  // namespace ward::agent

#endif  // WARD_AGENT_AGENT_H_

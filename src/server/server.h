// `ward server run`: the control plane process. Wires the datastore, key manager, CA, audit log,
// admin API and metrics together and runs until SIGINT/SIGTERM.
#ifndef WARD_SERVER_SERVER_H_
#define WARD_SERVER_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>

namespace ward::server {

struct ServerConfig {
  std::string trust_domain = "example.org";
  std::string data_dir = "ward-data";
  std::string admin_socket;                        // default <data_dir>/admin.sock
  std::string metrics_address = "127.0.0.1:9090";  // empty: no metrics listener
  std::string bind_address = "127.0.0.1";          // agent API (TLS 1.3)
  int port = 8081;                                 // 0 picks one (named in the start log)
  std::string x509pop_ca;                          // PEM roots for x509pop attestation
  int64_t agent_svid_ttl = 3600;
  double agent_rate_limit = 100;  // agent API requests per second per agent (burst: twice)
  // Federation bundle endpoint (SPIFFE_Federation.md): off unless a port is given.
  std::string federation_bind_address = "127.0.0.1";
  int federation_port = -1;
  std::string federation_profile = "https_spiffe";  // or https_web with the files below
  std::string federation_cert;                      // https_web: PEM chain
  std::string federation_key;                       // https_web: PEM key
  int64_t bundle_refresh_hint = 300;
  std::string audit_log = "-";  // "-" is stdout
  std::string log_level = "info";
  std::string key_manager = "disk";  // memory | disk | pkcs11
  std::string kek_file;              // disk: KEK file; else $WARD_KEK; else generated
  std::string pkcs11_module;         // pkcs11: the token's PKCS#11 library
  std::string pkcs11_token;          // pkcs11: token label
  std::string pkcs11_pin_file;       // pkcs11: PIN file (0600); else $WARD_PKCS11_PIN
  // Intermediate mode: Ward's CA certificates are signed by this upstream CA (ca/upstream.h).
  std::string upstream_ca_cert;
  std::string upstream_ca_key;
  std::string upstream_bundle;
  std::string key_type = "ec-p256";
  std::set<uid_t> admin_uids;
  std::set<std::string> admin_spiffe_ids;  // may call the admin API over mTLS (agent API port)
  // Rotation (DESIGN.md defaults); shortened only for tests.
  int64_t x509_ca_rotation = 12 * 3600;
  int64_t key_rotation = 24 * 3600;
  int64_t rotation_grace = 3600;
  int64_t max_x509_svid_ttl = 3600;
  int64_t max_jwt_svid_ttl = 900;
};

// Runs the server; returns the process exit code (0 after a clean shutdown, 1 when it could not
// start, with the reason logged).
int RunServer(const ServerConfig& config);

}  // namespace ward::server

#endif  // WARD_SERVER_SERVER_H_

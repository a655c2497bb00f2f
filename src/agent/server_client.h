// The agent's side of the server's agent API (docs/api.md): attestation, renewal, sync, SVID
// signing, JWT minting and bundles, over HTTPS with TLS 1.3. The server must present the X.509-SVID
// spiffe://<td>/ward/server, checked against the bundle the agent currently trusts.
#ifndef WARD_AGENT_SERVER_CLIENT_H_
#define WARD_AGENT_SERVER_CLIENT_H_

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/bundle.h"
#include "core/certificate.h"
#include "core/keys.h"
#include "core/spiffe_id.h"
#include "core/status.h"
#include "store/types.h"

namespace ward::net {
class HttpsConnection;
class RequestCanceller;
}  // namespace ward::net

namespace ward::agent {

// The agent's own X.509-SVID and key.
struct AgentIdentity {
  SpiffeId id;
  std::vector<Certificate> chain;
  std::shared_ptr<const PrivateKey> key;
  int64_t expires_at = 0;
};

struct AttestResult {
  AgentIdentity identity;
  TrustBundle bundle;
};

struct SyncReply {
  int64_t revision = 0;
  bool full = false;
  std::vector<store::RegistrationEntry> entries;
  std::vector<std::string> deleted;
  uint64_t bundle_sequence = 0;
  std::optional<TrustBundle> bundle;
  std::set<std::string> tainted_x509;
  std::set<std::string> tainted_jwt;
  std::string tainted_digest;  // echoed in the next sync so a new taint answers it at once
};

struct SvidRequest {
  std::string entry_id;
  Bytes csr_der;
};

struct SignedSvid {
  std::string entry_id;
  Status status;  // per entry: the server may refuse one and sign the rest
  std::string spiffe_id;
  Bytes chain_der;  // concatenated DER, leaf first
  int64_t expires_at = 0;
  std::string authority;
};

struct MintedJwt {
  std::string token;
  int64_t expires_at = 0;
};

class ServerClient {
 public:
  ServerClient(std::string address, int port, TrustDomain trust_domain);
  ~ServerClient();

  // Aborts the call in flight (a long poll) and every later one: for shutdown.
  void Cancel();

  // The bundle used to authenticate the server (replaced as the trust domain's bundle rotates).
  void SetTrust(std::shared_ptr<const TrustBundle> bundle);

  Result<AttestResult> AttestJoinToken(const std::string& token,
                                       std::shared_ptr<const PrivateKey> key);
  Result<AttestResult> AttestX509Pop(const std::vector<Certificate>& node_chain,
                                     std::shared_ptr<const PrivateKey> node_key,
                                     std::shared_ptr<const PrivateKey> key);
  Result<AgentIdentity> Renew(const AgentIdentity& current, std::shared_ptr<const PrivateKey> key);
  // Long poll: waits up to `wait_seconds` on the server for a change past `revision`; a negative
  // revision asks for the full state at once.
  Result<SyncReply> Sync(const AgentIdentity& me, int64_t revision, uint64_t bundle_sequence,
                         const std::string& tainted_digest, int wait_seconds);
  Result<std::vector<SignedSvid>> SignSvids(const AgentIdentity& me,
                                            const std::vector<SvidRequest>& requests);
  Result<MintedJwt> MintJwt(const AgentIdentity& me, const std::string& spiffe_id,
                            const std::vector<std::string>& audience);
  // Federated bundles the server holds, by trust domain name.
  Result<std::map<std::string, TrustBundle>> FederatedBundles(const AgentIdentity& me);

 private:
  Result<std::string> Call(const std::string& method, const std::string& path,
                           const std::string& body, const AgentIdentity* me,
                           const std::vector<Certificate>* node_chain,
                           std::shared_ptr<const PrivateKey> node_key, int timeout_seconds);
  // Sends the request and keeps the connection for reuse when it can.
  Result<std::string> Exchange(std::unique_ptr<net::HttpsConnection> connection,
                               const std::string& method, const std::string& path,
                               const std::string& body, const std::string& serial,
                               std::shared_ptr<const TrustBundle> trust);
  Result<AttestResult> ParseAttest(const std::string& body, std::shared_ptr<const PrivateKey> key);

  const std::string address_;
  const int port_;
  const TrustDomain trust_domain_;
  std::mutex mu_;
  std::shared_ptr<const TrustBundle> trust_;
  std::shared_ptr<net::RequestCanceller> canceller_;
  // Kept-alive connections not in use, with the agent SVID serial and trust bundle they were
  // opened with; a renewal or a bundle rotation retires them, and so does idling longer than the
  // server keeps an idle connection (kMaxIdle), so a POST is not sent on one it has closed.
  struct IdleConnection {
    std::string serial;
    std::shared_ptr<const TrustBundle> trust;
    std::unique_ptr<net::HttpsConnection> connection;
    std::chrono::steady_clock::time_point idle_since;
  };
  static constexpr std::chrono::seconds kMaxIdle{20};
  std::vector<IdleConnection> idle_;  // guarded by mu_
};

}  // namespace ward::agent

#endif  // WARD_AGENT_SERVER_CLIENT_H_

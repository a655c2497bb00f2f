// The agent API, served over TLS 1.3 (see tls_context.h). Attestation runs with server
// authentication only; every other call needs mTLS with the agent's current SVID. An agent may
// only obtain SVIDs for the entries authorized for it (the entries whose parent is the agent, or,
// transitively, one of those entries' IDs). Every decision is audited; refusals as access.denied.
#ifndef WARD_SERVER_AGENT_API_H_
#define WARD_SERVER_AGENT_API_H_

#include <openssl/types.h>

#include <memory>
#include <mutex>
#include <string>

#include "audit/audit_log.h"
#include "ca/authority.h"
#include "server/entry_index.h"
#include "server/http_server.h"
#include "server/rate_limiter.h"
#include "server/sync_hub.h"
#include "store/datastore.h"
#include "telemetry/metrics.h"

namespace ward::server {

struct AgentApiConfig {
  int64_t agent_svid_ttl = 3600;
  int max_sync_wait_seconds = 30;
  size_t max_csrs_per_call = 500;
  double rate_per_second = 100;  // per agent
  double burst = 200;
};

struct AgentDeps {
  TrustDomain trust_domain;
  store::DataStore& store;
  ca::CertificateAuthority& ca;
  audit::AuditLog& audit;
  telemetry::Registry& metrics;
  SyncHub& hub;
  EntryIndex& entries;                  // loaded; caught up here after every hub bump
  X509_STORE* x509pop_roots = nullptr;  // null: x509pop attestation disabled
  // Requests under /v1/admin/ from a caller with a valid X.509-SVID are handed to the admin API
  // (which authorizes and audits them) with the /v1/admin prefix removed.
  HttpHandler admin_handler;
  AgentApiConfig config;
};

class AgentApi {
 public:
  explicit AgentApi(AgentDeps deps);
  ~AgentApi();
  void Handle(const Peer& peer, HttpRequest request, HttpReply reply);

 private:
  struct Call;
  // The SPIFFE ID of the peer's client chain, verified against the current bundle. A connection
  // presents one chain for its whole life, so the answer is kept with the connection
  // (Peer::verification) until the bundle changes or a certificate of the chain expires.
  Result<SpiffeId> VerifiedClient(const Peer& peer);

  AgentDeps deps_;
  telemetry::Counter& requests_;
  telemetry::Counter& issued_;
  telemetry::Histogram& signing_;
  RateLimiter rate_limiter_;  // by agent ID
};

}  // namespace ward::server

#endif  // WARD_SERVER_AGENT_API_H_

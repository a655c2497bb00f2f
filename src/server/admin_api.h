// The admin API: JSON over HTTP, served on the admin Unix socket. Default deny: only the
// server's own uid and configured admin uids may call it. Every decision is audited before the
// operation runs (access.granted / access.denied), every change afterwards (admin.change), and
// every credential issued (identity.issued); when an audit record cannot be written the call
// fails with 503.
#ifndef WARD_SERVER_ADMIN_API_H_
#define WARD_SERVER_ADMIN_API_H_

#include <sys/types.h>

#include <functional>
#include <set>

#include "audit/audit_log.h"
#include "ca/authority.h"
#include "server/entry_rules.h"
#include "server/http_server.h"
#include "server/sync_hub.h"
#include "store/datastore.h"
#include "telemetry/metrics.h"

namespace ward::server {

struct AdminDeps {
  TrustDomain trust_domain;
  store::DataStore& store;
  ca::CertificateAuthority& ca;
  audit::AuditLog& audit;
  telemetry::Registry& metrics;
  std::set<uid_t> admin_uids;  // besides the server's own uid
  EntryLimits limits;
  SyncHub* hub = nullptr;                      // bumped after every change agents sync
  std::function<void()> on_federation_change;  // e.g. poll relationships now
  // Over mTLS (forwarded by the agent API listener): these SPIFFE IDs, and the IDs of entries
  // registered with the admin flag, may call the admin API.
  std::set<std::string> admin_spiffe_ids;
};

class AdminApi {
 public:
  explicit AdminApi(AdminDeps deps);
  HttpResponse Handle(const Peer& peer, const HttpRequest& request);

 private:
  bool Authorized(const Peer& peer);

 public:
 private:
  struct Routes;
  AdminDeps deps_;
  telemetry::Counter& requests_;
  telemetry::Counter& issued_;
  telemetry::Histogram& signing_;
};

}  // namespace ward::server

#endif  // WARD_SERVER_ADMIN_API_H_

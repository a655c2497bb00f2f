// What a registration entry must satisfy before it is stored.
#ifndef WARD_SERVER_ENTRY_RULES_H_
#define WARD_SERVER_ENTRY_RULES_H_

#include "core/spiffe_id.h"
#include "core/status.h"
#include "store/types.h"

namespace ward::server {

struct EntryLimits {
  int64_t max_x509_svid_ttl = 3600;
  int64_t max_jwt_svid_ttl = 900;
};

inline constexpr size_t kMaxSelectors = 64;
inline constexpr size_t kMaxDnsNames = 32;
inline constexpr size_t kMaxFederatesWith = 32;

// The entry's SPIFFE ID must be a workload ID (non-root) in `td`; the parent may be any valid ID
// in `td`. Selectors are required, except for an alias entry whose parent is an agent
// ("/ward/agent/..."), which names the agent itself.
Status ValidateEntry(const store::RegistrationEntry& entry, const TrustDomain& td,
                     const EntryLimits& limits);

// The path agents' IDs live under: spiffe://<td>/ward/agent/<method>/<id>.
inline constexpr std::string_view kAgentPathPrefix = "/ward/agent/";

}  // namespace ward::server

#endif  // WARD_SERVER_ENTRY_RULES_H_

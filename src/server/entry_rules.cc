#include "server/entry_rules.h"

#include <set>

namespace ward::server {

Status ValidateEntry(const store::RegistrationEntry& e, const TrustDomain& td,
                     const EntryLimits& limits) {
  if (!e.spiffe_id.MemberOf(td)) {
    return InvalidArgument("SPIFFE ID " + e.spiffe_id.str() + " is not in trust domain " +
                           td.name());
  }
  if (e.spiffe_id.IsRoot()) {
    return InvalidArgument("SPIFFE ID " + e.spiffe_id.str() +
                           " names the trust domain itself; an entry needs a path");
  }
  if (e.spiffe_id.path().starts_with(kAgentPathPrefix)) {
    return InvalidArgument("SPIFFE IDs under " + std::string(kAgentPathPrefix) +
                           " are reserved for agents");
  }
  if (!e.parent_id.MemberOf(td)) {
    return InvalidArgument("parent ID " + e.parent_id.str() + " is not in trust domain " +
                           td.name());
  }
  const bool agent_alias = e.parent_id.path().starts_with(kAgentPathPrefix);
  if (e.selectors.empty() && !agent_alias) {
    return InvalidArgument("an entry needs at least one selector (e.g. unix:uid:1000)");
  }
  if (e.selectors.size() > kMaxSelectors) {
    return InvalidArgument("an entry may have at most " + std::to_string(kMaxSelectors) +
                           " selectors");
  }
  std::set<store::Selector> unique(e.selectors.begin(), e.selectors.end());
  if (unique.size() != e.selectors.size()) return InvalidArgument("selectors repeat");
  if (e.x509_svid_ttl < 60 || e.x509_svid_ttl > limits.max_x509_svid_ttl) {
    return InvalidArgument("x509_svid_ttl must be between 60 and " +
                           std::to_string(limits.max_x509_svid_ttl) + " seconds");
  }
  if (e.jwt_svid_ttl < 30 || e.jwt_svid_ttl > limits.max_jwt_svid_ttl) {
    return InvalidArgument("jwt_svid_ttl must be between 30 and " +
                           std::to_string(limits.max_jwt_svid_ttl) + " seconds");
  }
  if (e.dns_names.size() > kMaxDnsNames) return InvalidArgument("too many DNS names");
  for (const auto& dns : e.dns_names) {
    bool ok = !dns.empty() && dns.size() <= 253;
    for (char c : dns) {
      ok = ok &&
           ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '*');
    }
    if (!ok) return InvalidArgument("invalid DNS name \"" + dns.substr(0, 64) + "\" (lower case)");
  }
  if (e.federates_with.size() > kMaxFederatesWith)
    return InvalidArgument("too many federated trust domains");
  for (const auto& f : e.federates_with) {
    auto ftd = TrustDomain::Parse(f);
    if (!ftd.ok()) return ftd.status().WithContext("federates_with");
    if (*ftd == td) return InvalidArgument("an entry cannot federate with its own trust domain");
  }
  if (e.expires_at < 0) return InvalidArgument("expires_at must not be negative");
  return OkStatus();
}

}  // namespace ward::server

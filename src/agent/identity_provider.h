// What the Workload API asks of the agent, free of gRPC: the identities and bundles for a set
// of workload selectors. Implemented by the agent runtime (agent.h).
#ifndef WARD_AGENT_IDENTITY_PROVIDER_H_
#define WARD_AGENT_IDENTITY_PROVIDER_H_

#include <string>
#include <vector>

#include "agent/cache.h"
#include "core/jwt_svid.h"
#include "core/status.h"
#include "store/types.h"

namespace ward::agent {

struct X509Identity {
  SvidRef svid;
  std::vector<std::string> federates_with;  // trust domain names
};

struct JwtIdentity {
  std::string spiffe_id;
  std::string token;
};

class IdentityProvider {
 public:
  virtual ~IdentityProvider() = default;
  // The X.509-SVIDs for the entries `selectors` match, signing any that are missing. Empty when
  // nothing matches.
  virtual Result<std::vector<X509Identity>> X509Identities(
      const std::vector<store::Selector>& selectors) = 0;
  // JWT-SVIDs for the matching entries (only `spiffe_id` when it is not empty), reused from the
  // cache until half their lifetime has passed.
  virtual Result<std::vector<JwtIdentity>> JwtIdentities(
      const std::vector<store::Selector>& selectors, const std::string& spiffe_id,
      const std::vector<std::string>& audience) = 0;
  // Trust domains (names) the matching entries federate with.
  virtual std::vector<std::string> FederatesWith(const std::vector<store::Selector>& selectors) = 0;
  virtual BundleSnapshot Bundles() = 0;
  // Validates a JWT-SVID against the bundle of its own trust domain (federated ones included).
  virtual Result<ValidatedJwtSvid> ValidateJwt(const std::string& token,
                                               const std::string& audience) = 0;
  virtual AgentCache& cache() = 0;
};

}  // namespace ward::agent

#endif  // WARD_AGENT_IDENTITY_PROVIDER_H_

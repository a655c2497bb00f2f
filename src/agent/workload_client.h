// A Workload API client (for `ward api` and the benchmarks), and the SPIFFE_ENDPOINT_SOCKET
// address rules of SPIFFE_Workload_Endpoint.md. Every call sends the `workload.spiffe.io: true`
// header.
#ifndef WARD_AGENT_WORKLOAD_CLIENT_H_
#define WARD_AGENT_WORKLOAD_CLIENT_H_

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/endpoint_address.h"
#include "core/bytes.h"
#include "core/status.h"

namespace ward::agent {

struct FetchedX509Svid {
  std::string spiffe_id;
  Bytes chain_der;
  SecureBytes key_der;
  Bytes bundle_der;
  std::string hint;
};

struct FetchedX509Context {
  std::vector<FetchedX509Svid> svids;
  std::map<std::string, Bytes> federated_bundles;  // key: spiffe://<td>
};

struct FetchedJwtSvid {
  std::string spiffe_id;
  std::string token;
};

struct ValidatedToken {
  std::string spiffe_id;
  std::string claims_json;
};

class WorkloadClient {
 public:
  // `address` as for EndpointTarget (endpoint_address.h). Does not connect until the first call.
  static Result<std::unique_ptr<WorkloadClient>> Create(std::string_view address);
  virtual ~WorkloadClient() = default;

  // The first message of FetchX509SVID (then the stream is closed).
  virtual Result<FetchedX509Context> FetchX509(std::chrono::milliseconds timeout) = 0;
  // Every message of FetchX509SVID until `on_update` returns false or the stream ends.
  virtual Status WatchX509(const std::function<bool(const FetchedX509Context&)>& on_update) = 0;
  virtual Result<std::map<std::string, Bytes>> FetchX509Bundles(
      std::chrono::milliseconds timeout) = 0;
  virtual Result<std::vector<FetchedJwtSvid>> FetchJwt(const std::vector<std::string>& audience,
                                                       const std::string& spiffe_id,
                                                       std::chrono::milliseconds timeout) = 0;
  // JWKS documents by trust domain ID.
  virtual Result<std::map<std::string, std::string>> FetchJwtBundles(
      std::chrono::milliseconds timeout) = 0;
  virtual Result<ValidatedToken> ValidateJwt(const std::string& token, const std::string& audience,
                                             std::chrono::milliseconds timeout) = 0;
};

}  // namespace ward::agent

#endif  // WARD_AGENT_WORKLOAD_CLIENT_H_

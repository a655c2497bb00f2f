// SPIFFE federation (SPIFFE_Federation.md): the client side. For every configured relationship
// it fetches the other trust domain's bundle from its bundle endpoint, at the bundle's refresh
// hint (5 minutes when absent), and stores it by trust domain. https_web endpoints are checked
// by host name against the relationship's roots (or the system's); https_spiffe endpoints must
// present an X.509-SVID for the configured SPIFFE ID, checked against the latest stored bundle of
// the endpoint's trust domain (the operator supplies the first one). Redirects are not followed.
#ifndef WARD_SERVER_FEDERATION_H_
#define WARD_SERVER_FEDERATION_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "core/bundle.h"
#include "store/datastore.h"
#include "telemetry/log.h"

namespace ward::server {

inline constexpr int64_t kDefaultFederationRefreshSeconds = 300;

// Fetches and checks one relationship's bundle.
Result<TrustBundle> FetchFederatedBundle(const store::FederationRelationship& relationship,
                                         store::DataStore& store, int64_t now);

class FederationClient {
 public:
  // `on_change` runs after a federated bundle was stored.
  FederationClient(store::DataStore& store, telemetry::Logger& log,
                   std::function<void()> on_change);
  ~FederationClient();
  // Makes the next loop iteration poll every relationship now (after a relationship changes).
  void PollNow();

 private:
  void Loop();
  void PollDue(int64_t now);

  store::DataStore& store_;
  telemetry::Logger& log_;
  std::function<void()> on_change_;
  std::map<std::string, int64_t> next_poll_;  // trust domain -> unix time
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool poll_now_ = false;
  std::thread thread_;
};

}  // namespace ward::server

#endif  // WARD_SERVER_FEDERATION_H_

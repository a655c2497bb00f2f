#include "server/federation.h"

#include <chrono>

#include "core/x509_svid.h"
#include "net/https_client.h"
#include "server/api_util.h"

namespace ward::server {

Result<TrustBundle> FetchFederatedBundle(const store::FederationRelationship& rel,
                                         store::DataStore& store, int64_t now) {
  WARD_ASSIGN_OR_RETURN(TrustDomain td, TrustDomain::Parse(rel.trust_domain));
  WARD_ASSIGN_OR_RETURN(net::HttpsUrl url, net::HttpsUrl::Parse(rel.url));
  net::HttpsOptions options;
  options.timeout = std::chrono::seconds(10);
  if (rel.profile == "https_web") {
    if (!rel.ca_pem.empty()) {
      WARD_ASSIGN_OR_RETURN(options.roots, ParsePemCertificates(rel.ca_pem));
    }
  } else if (rel.profile == "https_spiffe") {
    WARD_ASSIGN_OR_RETURN(SpiffeId endpoint_id, SpiffeId::Parse(rel.endpoint_spiffe_id));
    // The endpoint's trust domain bundle: for a self-serving endpoint that is the bundle this
    // relationship maintains (seeded by the operator), otherwise whatever is held for it.
    auto stored = store.GetBundle(std::string(endpoint_id.trust_domain_name()));
    if (!stored.ok()) {
      return FailedPrecondition("no bundle for " + std::string(endpoint_id.trust_domain_name()) +
                                " to authenticate the endpoint " + endpoint_id.str() +
                                "; set one with `ward bundle set`");
    }
    WARD_ASSIGN_OR_RETURN(
        TrustBundle endpoint_bundle,
        TrustBundle::ParseSpiffeJson(endpoint_id.trust_domain(), stored->spiffe_json));
    options.verify_chain = [endpoint_id, endpoint_bundle,
                            now](const std::vector<Certificate>& chain) {
      BundleSet set;
      set.Put(endpoint_bundle);
      WARD_ASSIGN_OR_RETURN(VerifiedX509Svid svid, VerifyX509Svid(chain, set, now));
      if (svid.id != endpoint_id) {
        return PermissionDenied("endpoint presented " + svid.id.str() + ", expected " +
                                endpoint_id.str());
      }
      return OkStatus();
    };
  } else {
    return InvalidArgument("federation profile must be https_web or https_spiffe");
  }
  WARD_ASSIGN_OR_RETURN(net::HttpsReply reply,
                        net::HttpsRequest(url, "GET", url.path, "", options));
  if (reply.status != 200) {
    return Status(StatusCode::kUnavailable,
                  "bundle endpoint " + rel.url + " answered HTTP " + std::to_string(reply.status));
  }
  return TrustBundle::ParseSpiffeJson(td, reply.body);
}

FederationClient::FederationClient(store::DataStore& store, telemetry::Logger& log,
                                   std::function<void()> on_change)
    : store_(store), log_(log), on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { Loop(); });
}

FederationClient::~FederationClient() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FederationClient::PollNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poll_now_ = true;
  }
  cv_.notify_all();
}

void FederationClient::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (poll_now_) {
      next_poll_.clear();
      poll_now_ = false;
    }
    lock.unlock();
    PollDue(UnixNow());
    lock.lock();
    cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_ || poll_now_; });
  }
}

void FederationClient::PollDue(int64_t now) {
  auto relationships = store_.ListFederations();
  if (!relationships.ok()) {
    log_.Warn("cannot list federation relationships",
              {{"error", relationships.status().message()}});
    return;
  }
  std::map<std::string, int64_t> next;
  for (const auto& rel : *relationships) {
    const auto it = next_poll_.find(rel.trust_domain);
    if (it != next_poll_.end() && it->second > now) {
      next[rel.trust_domain] = it->second;
      continue;
    }
    auto fetched = FetchFederatedBundle(rel, store_, now);
    if (!fetched.ok()) {
      // Retried at the next interval, not aggressively (SPIFFE_Federation.md §6).
      log_.Warn("federated bundle fetch failed", {{"trust_domain", rel.trust_domain},
                                                  {"url", rel.url},
                                                  {"error", fetched.status().message()}});
      next[rel.trust_domain] = now + kDefaultFederationRefreshSeconds / 10;
      continue;
    }
    const int64_t hint = fetched->refresh_hint_seconds().value_or(kDefaultFederationRefreshSeconds);
    next[rel.trust_domain] = now + std::clamp<int64_t>(hint, 1, 24 * 3600);
    auto stored = store_.GetBundle(rel.trust_domain);
    const uint64_t sequence = fetched->sequence().value_or(0);
    if (stored.ok() && fetched->sequence() && stored->sequence > sequence) {
      log_.Warn("ignoring an older federated bundle",
                {{"trust_domain", rel.trust_domain}, {"sequence", std::to_string(sequence)}});
      continue;
    }
    if (stored.ok() && stored->spiffe_json == fetched->ToSpiffeJson()) continue;
    const Status put = store_.PutBundle({rel.trust_domain, fetched->ToSpiffeJson(), sequence});
    if (!put.ok()) {
      log_.Error("cannot store federated bundle",
                 {{"trust_domain", rel.trust_domain}, {"error", put.message()}});
      continue;
    }
    log_.Info("federated bundle updated",
              {{"trust_domain", rel.trust_domain}, {"sequence", std::to_string(sequence)}});
    on_change_();
  }
  next_poll_ = std::move(next);
}

}  // namespace ward::server

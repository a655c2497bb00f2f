// A DataStore decorator that times every call into a Prometheus histogram
// (ward_datastore_duration_seconds{op}), so the store itself stays free of telemetry.
#ifndef WARD_SERVER_INSTRUMENTED_STORE_H_
#define WARD_SERVER_INSTRUMENTED_STORE_H_

#include <chrono>
#include <type_traits>

#include "store/datastore.h"
#include "telemetry/metrics.h"

namespace ward::server {

class InstrumentedStore final : public store::DataStore {
 public:
  InstrumentedStore(store::DataStore& inner, telemetry::Registry& metrics)
      : inner_(inner),
        latency_(metrics.AddHistogram("ward_datastore_duration_seconds",
                                      "Datastore call latency by operation.", {"op"},
                                      telemetry::LatencyBuckets())) {}

  Result<store::RegistrationEntry> CreateEntry(store::RegistrationEntry e) override {
    return Timed("create_entry", [&] { return inner_.CreateEntry(std::move(e)); });
  }
  std::vector<Result<store::RegistrationEntry>> CreateEntries(
      std::vector<store::RegistrationEntry> entries) override {
    return Timed("create_entries", [&] { return inner_.CreateEntries(std::move(entries)); });
  }
  Result<store::RegistrationEntry> UpdateEntry(store::RegistrationEntry e) override {
    return Timed("update_entry", [&] { return inner_.UpdateEntry(std::move(e)); });
  }
  Status DeleteEntry(const std::string& id) override {
    return Timed("delete_entry", [&] { return inner_.DeleteEntry(id); });
  }
  Result<store::RegistrationEntry> GetEntry(const std::string& id) override {
    return Timed("get_entry", [&] { return inner_.GetEntry(id); });
  }
  Result<store::EntryPage> ListEntries(const std::string& page_token, int page_size,
                                       const std::optional<std::string>& spiffe_id,
                                       const std::optional<std::string>& parent_id) override {
    return Timed("list_entries",
                 [&] { return inner_.ListEntries(page_token, page_size, spiffe_id, parent_id); });
  }
  Result<int64_t> ScanEntries(const std::function<void(store::RegistrationEntry)>& visit) override {
    return Timed("scan_entries", [&] { return inner_.ScanEntries(visit); });
  }
  Result<int64_t> CountEntries() override {
    return Timed("count_entries", [&] { return inner_.CountEntries(); });
  }
  Result<store::EntryChanges> EntryChangesSince(int64_t revision) override {
    return Timed("entry_changes", [&] { return inner_.EntryChangesSince(revision); });
  }
  Result<int64_t> CurrentRevision() override {
    return Timed("current_revision", [&] { return inner_.CurrentRevision(); });
  }
  Status UpsertAgent(const store::AttestedAgent& a) override {
    return Timed("upsert_agent", [&] { return inner_.UpsertAgent(a); });
  }
  Result<store::AttestedAgent> GetAgent(const std::string& id) override {
    return Timed("get_agent", [&] { return inner_.GetAgent(id); });
  }
  Result<std::vector<store::AttestedAgent>> ListAgents() override {
    return Timed("list_agents", [&] { return inner_.ListAgents(); });
  }
  Status SetAgentBanned(const std::string& id, bool banned) override {
    return Timed("ban_agent", [&] { return inner_.SetAgentBanned(id, banned); });
  }
  Status DeleteAgent(const std::string& id) override {
    return Timed("delete_agent", [&] { return inner_.DeleteAgent(id); });
  }
  Result<int64_t> CountAgents() override {
    return Timed("count_agents", [&] { return inner_.CountAgents(); });
  }
  Status CreateJoinToken(const store::JoinToken& t) override {
    return Timed("create_join_token", [&] { return inner_.CreateJoinToken(t); });
  }
  Result<store::JoinToken> ConsumeJoinToken(const std::string& t, int64_t now) override {
    return Timed("consume_join_token", [&] { return inner_.ConsumeJoinToken(t, now); });
  }
  Status PutBundle(const store::StoredBundle& b) override {
    return Timed("put_bundle", [&] { return inner_.PutBundle(b); });
  }
  Result<store::StoredBundle> GetBundle(const std::string& td) override {
    return Timed("get_bundle", [&] { return inner_.GetBundle(td); });
  }
  Result<std::vector<store::StoredBundle>> ListBundles() override {
    return Timed("list_bundles", [&] { return inner_.ListBundles(); });
  }
  Status DeleteBundle(const std::string& td) override {
    return Timed("delete_bundle", [&] { return inner_.DeleteBundle(td); });
  }
  Status PutFederation(const store::FederationRelationship& f) override {
    return Timed("put_federation", [&] { return inner_.PutFederation(f); });
  }
  Result<std::vector<store::FederationRelationship>> ListFederations() override {
    return Timed("list_federations", [&] { return inner_.ListFederations(); });
  }
  Status DeleteFederation(const std::string& td) override {
    return Timed("delete_federation", [&] { return inner_.DeleteFederation(td); });
  }
  Status SaveCaJournal(const std::string& j) override {
    return Timed("save_ca_journal", [&] { return inner_.SaveCaJournal(j); });
  }
  Result<std::optional<std::string>> LoadCaJournal() override {
    return Timed("load_ca_journal", [&] { return inner_.LoadCaJournal(); });
  }
  Status Ping() override {
    return Timed("ping", [&] { return inner_.Ping(); });
  }

 private:
  template <typename Fn>
  std::invoke_result_t<Fn&> Timed(const char* op, Fn&& fn) {
    const auto start = std::chrono::steady_clock::now();
    auto result = fn();
    latency_.Observe(
        {op}, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return result;
  }

  store::DataStore& inner_;
  telemetry::Histogram& latency_;
};

}  // namespace ward::server

#endif  // WARD_SERVER_INSTRUMENTED_STORE_H_

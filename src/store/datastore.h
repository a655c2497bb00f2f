// The persistence interface of the control plane. SQLite implements it (embedded default);
// PostgreSQL will for HA. Every method that returns OK has made its write durable.
#ifndef WARD_STORE_DATASTORE_H_
#define WARD_STORE_DATASTORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/types.h"

namespace ward::store {

class DataStore {
 public:
  virtual ~DataStore() = default;

  // Entries. Creating an entry that already exists (same SPIFFE ID, parent and selectors) fails
  // with kAlreadyExists. Every write bumps the global revision.
  virtual Result<RegistrationEntry> CreateEntry(RegistrationEntry entry) = 0;
  // Creates several entries, each succeeding or failing on its own, durably written together
  // (one transaction where the store has them). Results are in the order given.
  virtual std::vector<Result<RegistrationEntry>> CreateEntries(
      std::vector<RegistrationEntry> entries) {
    std::vector<Result<RegistrationEntry>> out;
    for (auto& e : entries) out.push_back(CreateEntry(std::move(e)));
    return out;
  }
  virtual Result<RegistrationEntry> UpdateEntry(RegistrationEntry entry) = 0;
  virtual Status DeleteEntry(const std::string& id) = 0;
  virtual Result<RegistrationEntry> GetEntry(const std::string& id) = 0;
  // Entries ordered by ID, optionally only those with `spiffe_id` / `parent_id`.
  virtual Result<EntryPage> ListEntries(const std::string& page_token, int page_size,
                                        const std::optional<std::string>& spiffe_id,
                                        const std::optional<std::string>& parent_id) = 0;
  virtual Result<int64_t> CountEntries() = 0;
  // Every entry, in no particular order, from one consistent snapshot; returns the revision of
  // that snapshot. For loading an in-memory copy at start-up.
  virtual Result<int64_t> ScanEntries(const std::function<void(RegistrationEntry)>& visit) = 0;
  // Everything that changed after `revision`, for incremental sync: entries created or updated,
  // and withdrawals (an entry deleted, or moved to another parent, named with the parent it left
  // so each agent hears only about its own).
  virtual Result<EntryChanges> EntryChangesSince(int64_t revision) = 0;
  virtual Result<int64_t> CurrentRevision() = 0;

  // Agents.
  virtual Status UpsertAgent(const AttestedAgent& agent) = 0;
  virtual Result<AttestedAgent> GetAgent(const std::string& spiffe_id) = 0;
  virtual Result<std::vector<AttestedAgent>> ListAgents() = 0;
  virtual Status SetAgentBanned(const std::string& spiffe_id, bool banned) = 0;
  virtual Status DeleteAgent(const std::string& spiffe_id) = 0;
  virtual Result<int64_t> CountAgents() = 0;

  // Join tokens: single use. Consume returns the token's record and deletes it atomically, or
  // kNotFound for an unknown, used or expired token.
  virtual Status CreateJoinToken(const JoinToken& token) = 0;
  virtual Result<JoinToken> ConsumeJoinToken(const std::string& token, int64_t now) = 0;

  // Bundles, own and federated, by trust domain name.
  virtual Status PutBundle(const StoredBundle& bundle) = 0;
  virtual Result<StoredBundle> GetBundle(const std::string& trust_domain) = 0;
  virtual Result<std::vector<StoredBundle>> ListBundles() = 0;
  virtual Status DeleteBundle(const std::string& trust_domain) = 0;

  // Federation relationships, by trust domain name.
  virtual Status PutFederation(const FederationRelationship& relationship) = 0;
  virtual Result<std::vector<FederationRelationship>> ListFederations() = 0;
  virtual Status DeleteFederation(const std::string& trust_domain) = 0;

  // The CA journal: an opaque document the CA rewrites on every key or certificate change.
  virtual Status SaveCaJournal(const std::string& journal) = 0;
  virtual Result<std::optional<std::string>> LoadCaJournal() = 0;

  // Cheap liveness check for /readyz.
  virtual Status Ping() = 0;
};

}  // namespace ward::store

#endif  // WARD_STORE_DATASTORE_H_

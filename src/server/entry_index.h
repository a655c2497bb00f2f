// An in-memory mirror of the registration entries, for the agent API's hot paths: which entries an
// agent is authorized for, whether one entry is, and what changed since a revision. Loaded once at
// startup, then caught up from the datastore's change feed (EntryChangesSince) after writes, so
// sync and signing never scan SQLite. Readers work on a View: one consistent revision, under a
// shared lock that catching up waits for.
//
// The authorization rule (also stated in agent_api.h): an agent may obtain SVIDs for the entries
// whose parent is the agent, and transitively for the entries whose parent is the SPIFFE ID of one
// of those, to a depth of 8 (so a parent cycle ends). Entries past their expires_at are left out.
#ifndef WARD_SERVER_ENTRY_INDEX_H_
#define WARD_SERVER_ENTRY_INDEX_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "store/datastore.h"

namespace ward::server {

using EntryPtr = std::shared_ptr<const store::RegistrationEntry>;

// What changed after some revision: entries as they are now, and withdrawals (deleted, or moved
// to another parent) named with the parent they left.
struct IndexedChanges {
  std::vector<EntryPtr> upserted;
  std::vector<store::EntryWithdrawal> withdrawn;
};

class EntryIndex {
 public:
  // `change_log_limit`: how many recent changes are kept to answer incremental syncs from memory;
  // an agent further behind gets a full sync.
  explicit EntryIndex(store::DataStore& store, size_t change_log_limit = 200000);
  EntryIndex(const EntryIndex&) = delete;
  EntryIndex& operator=(const EntryIndex&) = delete;

  // Reads every entry from one snapshot of the datastore; later writes arrive by CatchUp.
  Status Load();
  // Applies the datastore's changes since the index's revision. `hint` is a counter the caller
  // bumps after writes (the sync hub's version): an unchanged hint skips the datastore round trip.
  Status CatchUp(uint64_t hint);
  size_t size() const;

  class View;
  View Read() const;

 private:
  friend class View;
  struct ChangeSet {
    int64_t revision;  // the revision this set ends at
    std::vector<std::string> upserted_ids;
    std::vector<store::EntryWithdrawal> withdrawn;
  };
  void Remove(const std::string& id);
  void Insert(EntryPtr entry);              // replaces an entry with the same ID
  void InsertNew(EntryPtr entry);           // one whose ID is not in the index
  void Apply(store::EntryChanges changes);  // and records them in the change log

  store::DataStore& store_;
  const size_t change_log_limit_;
  std::mutex catch_up_mu_;  // one catch-up at a time
  uint64_t caught_up_hint_ = 0;
  bool loaded_ = false;

  mutable std::shared_mutex mu_;  // guards everything below
  int64_t revision_ = 0;
  std::unordered_map<std::string_view, EntryPtr> by_id_;  // keys view the entry's own id
  std::unordered_multimap<std::string_view, EntryPtr> by_spiffe_id_;  // likewise
  std::unordered_map<std::string, std::vector<EntryPtr>> children_;   // by parent ID
  std::deque<ChangeSet> log_;
  size_t log_changes_ = 0;
  int64_t log_floor_ = 0;  // ChangesSince answers for revisions at or after this one
};

class EntryIndex::View {
 public:
  int64_t revision() const { return index_->revision_; }

  // Every entry authorized for the agent, each once.
  std::vector<EntryPtr> AuthorizedFor(const std::string& agent_id, int64_t now) const;
  // Entries directly under `parent`, expired or not.
  const std::vector<EntryPtr>& Children(const std::string& parent) const;
  // Changes after `revision`, or nothing when the change log does not reach back that far (or
  // the revision is ahead of the index: the datastore was replaced).
  std::optional<IndexedChanges> ChangesSince(int64_t revision) const;

  // Checks entries one at a time by walking up their parents; memoized for the life of the walk,
  // so a batch of checks for one agent costs a few lookups each.
  class Walk {
   public:
    Walk(const View& view, std::string agent_id, int64_t now);
    // The entry if it exists, has not expired and is authorized for the agent; null otherwise.
    EntryPtr ById(const std::string& entry_id);
    // An authorized, unexpired entry with this SPIFFE ID; null if there is none.
    EntryPtr BySpiffeId(const std::string& spiffe_id);

   private:
    bool Served(const std::string& parent, int depth);
    const View& view_;
    const std::string agent_id_;
    const int64_t now_;
    std::map<std::pair<std::string, int>, bool> memo_;
  };

 private:
  friend class EntryIndex;
  explicit View(const EntryIndex& index) : lock_(index.mu_), index_(&index) {}
  std::shared_lock<std::shared_mutex> lock_;
  const EntryIndex* index_;
};

}  // namespace ward::server

#endif  // WARD_SERVER_ENTRY_INDEX_H_

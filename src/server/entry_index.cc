#include "server/entry_index.h"

#include <condition_variable>
#include <deque>
#include <set>
#include <thread>
#include <unordered_set>

namespace ward::server {
namespace {

constexpr int kMaxDepth = 8;

bool Expired(const store::RegistrationEntry& e, int64_t now) {
  return e.expires_at != 0 && e.expires_at <= now;
}

}  // namespace

EntryIndex::EntryIndex(store::DataStore& store, size_t change_log_limit)
    : store_(store), change_log_limit_(change_log_limit) {}

Status EntryIndex::Load() {
  std::lock_guard<std::mutex> catch_up(catch_up_mu_);
  std::unique_lock<std::shared_mutex> lock(mu_);
  by_id_.clear();
  by_spiffe_id_.clear();
  children_.clear();
  log_.clear();
  log_changes_ = 0;
  if (auto count = store_.CountEntries(); count.ok()) {
    by_id_.reserve(static_cast<size_t>(*count));
    by_spiffe_id_.reserve(static_cast<size_t>(*count));
  }
  // Two stages on two threads: this one reads and decodes rows, the other indexes them, handed
  // over in batches.
  constexpr size_t kBatch = 4096;
  std::mutex queue_mu;
  std::condition_variable queue_cv;
  std::deque<std::vector<EntryPtr>> queue;
  bool done = false;
  std::thread indexer([&] {
    for (;;) {
      std::vector<EntryPtr> batch;
      {
        std::unique_lock<std::mutex> q(queue_mu);
        queue_cv.wait(q, [&] { return done || !queue.empty(); });
        if (queue.empty()) return;
        batch = std::move(queue.front());
        queue.pop_front();
      }
      for (auto& e : batch) InsertNew(std::move(e));  // IDs are unique
    }
  });
  std::vector<EntryPtr> batch;
  batch.reserve(kBatch);
  const auto hand_over = [&] {
    {
      std::lock_guard<std::mutex> q(queue_mu);
      queue.push_back(std::move(batch));
    }
    queue_cv.notify_one();
    batch = {};
    batch.reserve(kBatch);
  };
  auto revision = store_.ScanEntries([&](store::RegistrationEntry e) {
    batch.push_back(std::make_shared<const store::RegistrationEntry>(std::move(e)));
    if (batch.size() == kBatch) hand_over();
  });
  if (!batch.empty()) hand_over();
  {
    std::lock_guard<std::mutex> q(queue_mu);
    done = true;
  }
  queue_cv.notify_one();
  indexer.join();
  WARD_RETURN_IF_ERROR(revision.status());
  revision_ = *revision;
  log_floor_ = revision_;
  loaded_ = true;
  return OkStatus();
}

Status EntryIndex::CatchUp(uint64_t hint) {
  std::lock_guard<std::mutex> catch_up(catch_up_mu_);
  if (!loaded_) return FailedPrecondition("the entry index is not loaded");
  if (hint != 0 && hint == caught_up_hint_) return OkStatus();
  int64_t current;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    current = revision_;
  }
  WARD_ASSIGN_OR_RETURN(const int64_t stored, store_.CurrentRevision());
  if (stored != current) {
    // Read outside the exclusive lock: syncs go on answering from the previous revision.
    WARD_ASSIGN_OR_RETURN(store::EntryChanges changes, store_.EntryChangesSince(current));
    std::unique_lock<std::shared_mutex> lock(mu_);
    Apply(std::move(changes));
  }
  caught_up_hint_ = hint;
  return OkStatus();
}

size_t EntryIndex::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return by_id_.size();
}

EntryIndex::View EntryIndex::Read() const { return View(*this); }

void EntryIndex::Remove(const std::string& id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  const EntryPtr entry = it->second;  // keeps the viewed key strings alive until the end
  by_id_.erase(it);
  const auto [first, last] = by_spiffe_id_.equal_range(entry->spiffe_id.str());
  for (auto s = first; s != last; ++s) {
    if (s->second == entry) {
      by_spiffe_id_.erase(s);
      break;
    }
  }
  const auto c = children_.find(entry->parent_id.str());
  if (c != children_.end()) {
    auto& siblings = c->second;
    for (size_t i = 0; i < siblings.size(); ++i) {
      if (siblings[i] == entry) {
        siblings[i] = std::move(siblings.back());
        siblings.pop_back();
        break;
      }
    }
    if (siblings.empty()) children_.erase(c);
  }
}

void EntryIndex::Insert(EntryPtr entry) {
  Remove(entry->id);
  InsertNew(std::move(entry));
}

void EntryIndex::InsertNew(EntryPtr entry) {
  by_spiffe_id_.emplace(entry->spiffe_id.str(), entry);
  children_[entry->parent_id.str()].push_back(entry);
  by_id_.emplace(entry->id, std::move(entry));
}

void EntryIndex::Apply(store::EntryChanges changes) {
  // Upserts carry each entry's current state, so withdrawals go first and upserts win.
  for (const auto& w : changes.withdrawn) Remove(w.id);
  ChangeSet set{changes.revision, {}, {}};
  for (auto& e : changes.upserted) {
    set.upserted_ids.push_back(e.id);
    Insert(std::make_shared<const store::RegistrationEntry>(std::move(e)));
  }
  revision_ = std::max(revision_, changes.revision);
  set.withdrawn = std::move(changes.withdrawn);
  log_changes_ += set.upserted_ids.size() + set.withdrawn.size() + 1;
  log_.push_back(std::move(set));
  while (log_changes_ > change_log_limit_ && !log_.empty()) {
    log_changes_ -= log_.front().upserted_ids.size() + log_.front().withdrawn.size() + 1;
    log_floor_ = log_.front().revision;
    log_.pop_front();
  }
}

std::vector<EntryPtr> EntryIndex::View::AuthorizedFor(const std::string& agent_id,
                                                      int64_t now) const {
  std::vector<EntryPtr> out;
  std::unordered_set<std::string_view> seen_parents = {agent_id};
  std::unordered_set<const store::RegistrationEntry*> seen_entries;
  std::deque<std::pair<std::string_view, int>> queue = {{agent_id, 0}};
  while (!queue.empty()) {
    const auto [parent, depth] = queue.front();
    queue.pop_front();
    const auto it = index_->children_.find(std::string(parent));
    if (it == index_->children_.end()) continue;
    for (const EntryPtr& e : it->second) {
      if (Expired(*e, now) || !seen_entries.insert(e.get()).second) continue;
      if (depth < kMaxDepth && seen_parents.insert(e->spiffe_id.str()).second) {
        queue.push_back({e->spiffe_id.str(), depth + 1});
      }
      out.push_back(e);
    }
  }
  return out;
}

const std::vector<EntryPtr>& EntryIndex::View::Children(const std::string& parent) const {
  static const std::vector<EntryPtr> kNone;
  const auto it = index_->children_.find(parent);
  return it == index_->children_.end() ? kNone : it->second;
}

std::optional<IndexedChanges> EntryIndex::View::ChangesSince(int64_t revision) const {
  if (revision < index_->log_floor_ || revision > index_->revision_) return std::nullopt;
  IndexedChanges out;
  std::unordered_set<std::string_view> upserted;
  for (const ChangeSet& set : index_->log_) {
    if (set.revision <= revision) continue;
    for (const auto& id : set.upserted_ids) {
      // The entry as it is now; one deleted since has a withdrawal in a later set.
      const auto it = index_->by_id_.find(id);
      if (it != index_->by_id_.end() && upserted.insert(it->first).second) {
        out.upserted.push_back(it->second);
      }
    }
    out.withdrawn.insert(out.withdrawn.end(), set.withdrawn.begin(), set.withdrawn.end());
  }
  return out;
}

EntryIndex::View::Walk::Walk(const View& view, std::string agent_id, int64_t now)
    : view_(view), agent_id_(std::move(agent_id)), now_(now) {}

EntryPtr EntryIndex::View::Walk::ById(const std::string& entry_id) {
  const auto it = view_.index_->by_id_.find(entry_id);
  if (it == view_.index_->by_id_.end() || Expired(*it->second, now_)) return nullptr;
  return Served(it->second->parent_id.str(), 0) ? it->second : nullptr;
}

EntryPtr EntryIndex::View::Walk::BySpiffeId(const std::string& spiffe_id) {
  const auto [first, last] = view_.index_->by_spiffe_id_.equal_range(spiffe_id);
  for (auto it = first; it != last; ++it) {
    if (!Expired(*it->second, now_) && Served(it->second->parent_id.str(), 0)) return it->second;
  }
  return nullptr;
}

// Whether an entry whose parent is `parent`, `depth` levels below the agent, is authorized.
bool EntryIndex::View::Walk::Served(const std::string& parent, int depth) {
  if (parent == agent_id_) return true;
  if (depth >= kMaxDepth) return false;
  const auto key = std::make_pair(parent, depth);
  if (const auto it = memo_.find(key); it != memo_.end()) return it->second;
  memo_[key] = false;  // a parent cycle ends here
  const auto [first, last] = view_.index_->by_spiffe_id_.equal_range(parent);
  for (auto it = first; it != last; ++it) {
    if (!Expired(*it->second, now_) && Served(it->second->parent_id.str(), depth + 1)) {
      memo_[key] = true;
      return true;
    }
  }
  return false;
}

}  // namespace ward::server

#include "server/entry_index.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "store/sqlite_store.h"

namespace ward::server {
namespace {

constexpr char kAgent[] = "spiffe://example.org/ward/agent/join_token/a";
constexpr char kOther[] = "spiffe://example.org/ward/agent/join_token/b";

SpiffeId Id(std::string_view s) { return SpiffeId::Parse(s).value(); }

class EntryIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ward-index-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = store::OpenSqliteStore(dir_ + "/ward.db");
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) ::unlink((dir_ + "/ward.db" + suffix).c_str());
    ::rmdir(dir_.c_str());
  }

  store::RegistrationEntry Create(std::string_view spiffe_id, std::string_view parent,
                                  int64_t expires_at = 0) {
    store::RegistrationEntry e{.spiffe_id = Id(spiffe_id), .parent_id = Id(parent)};
    e.selectors.push_back(
        store::Selector::Parse("unix:uid:" + std::to_string(next_uid_++)).value());
    e.expires_at = expires_at;
    auto created = store_->CreateEntry(e);
    EXPECT_TRUE(created.ok()) << created.status().message();
    return created.ok() ? *created : e;
  }

  static std::set<std::string> Ids(const std::vector<EntryPtr>& entries) {
    std::set<std::string> out;
    for (const auto& e : entries) out.insert(e->spiffe_id.str());
    return out;
  }

  std::string dir_;
  std::unique_ptr<store::DataStore> store_;
  int next_uid_ = 1000;
};

TEST_F(EntryIndexTest, AuthorizesNestedEntriesAndOnlyTheAgentsOwn) {
  Create("spiffe://example.org/node-alias", kAgent);
  Create("spiffe://example.org/web", "spiffe://example.org/node-alias");
  Create("spiffe://example.org/db", kOther);
  Create("spiffe://example.org/expired", kAgent, /*expires_at=*/100);
  EntryIndex index(*store_);
  ASSERT_TRUE(index.Load().ok());
  EXPECT_EQ(index.size(), 4u);
  const auto view = index.Read();
  EXPECT_EQ(Ids(view.AuthorizedFor(kAgent, 1000)),
            (std::set<std::string>{"spiffe://example.org/node-alias", "spiffe://example.org/web"}));
  EXPECT_EQ(Ids(view.AuthorizedFor(kOther, 1000)),
            (std::set<std::string>{"spiffe://example.org/db"}));
  // The expired entry counts before its expiry.
  EXPECT_EQ(view.AuthorizedFor(kAgent, 50).size(), 3u);

  EntryIndex::View::Walk walk(view, kAgent, 1000);
  EXPECT_NE(walk.BySpiffeId("spiffe://example.org/web"), nullptr);
  EXPECT_EQ(walk.BySpiffeId("spiffe://example.org/db"), nullptr);
  EXPECT_EQ(walk.BySpiffeId("spiffe://example.org/expired"), nullptr);
  EXPECT_EQ(walk.ById("no-such-id"), nullptr);
}

TEST_F(EntryIndexTest, WalkAndSetAgreeAtEveryDepthAndCyclesEnd) {
  // A chain ten levels deep under the agent, closed into a cycle at the bottom.
  std::string parent = kAgent;
  std::vector<store::RegistrationEntry> chain;
  for (int i = 0; i < 10; ++i) {
    const std::string id = "spiffe://example.org/level" + std::to_string(i);
    chain.push_back(Create(id, parent));
    parent = id;
  }
  Create("spiffe://example.org/level0", parent);  // cycle: level0 again, under level9
  EntryIndex index(*store_);
  ASSERT_TRUE(index.Load().ok());
  const auto view = index.Read();
  const std::set<std::string> set = Ids(view.AuthorizedFor(kAgent, 1000));
  EntryIndex::View::Walk walk(view, kAgent, 1000);
  for (const auto& e : chain) {
    EXPECT_EQ(walk.ById(e.id) != nullptr, set.count(e.spiffe_id.str()) == 1) << e.spiffe_id.str();
  }
  EXPECT_EQ(set.size(), 9u);  // depths 0-8
}

TEST_F(EntryIndexTest, CatchesUpAndReportsChangesSinceARevision) {
  const auto web = Create("spiffe://example.org/web", kAgent);
  EntryIndex index(*store_);
  ASSERT_TRUE(index.Load().ok());
  const int64_t loaded = index.Read().revision();

  const auto api = Create("spiffe://example.org/api", kAgent);
  ASSERT_TRUE(store_->DeleteEntry(web.id).ok());
  // An unchanged hint skips the datastore; a new one catches up.
  ASSERT_TRUE(index.CatchUp(1).ok());
  Create("spiffe://example.org/late", kAgent);
  ASSERT_TRUE(index.CatchUp(1).ok());
  EXPECT_EQ(index.size(), 1u);  // "late" not seen yet
  ASSERT_TRUE(index.CatchUp(2).ok());
  EXPECT_EQ(index.size(), 2u);

  const auto view = index.Read();
  const auto changes = view.ChangesSince(loaded);
  ASSERT_TRUE(changes.has_value());
  EXPECT_EQ(Ids(changes->upserted),
            (std::set<std::string>{"spiffe://example.org/api", "spiffe://example.org/late"}));
  ASSERT_EQ(changes->withdrawn.size(), 1u);
  EXPECT_EQ(changes->withdrawn[0].id, web.id);
  EXPECT_EQ(changes->withdrawn[0].parent_id, kAgent);
  // Nothing since now; a revision from before the load, or ahead of the index, is not served.
  EXPECT_TRUE(view.ChangesSince(view.revision())->upserted.empty());
  EXPECT_FALSE(view.ChangesSince(loaded - 1).has_value());
  EXPECT_FALSE(view.ChangesSince(view.revision() + 1).has_value());
  (void)api;
}

TEST_F(EntryIndexTest, MovedEntryLeavesItsOldParentAndTheLogIsBounded) {
  auto e = Create("spiffe://example.org/web", kAgent);
  EntryIndex index(*store_, /*change_log_limit=*/4);
  ASSERT_TRUE(index.Load().ok());
  const int64_t loaded = index.Read().revision();
  e.parent_id = Id(kOther);
  ASSERT_TRUE(store_->UpdateEntry(e).ok());
  ASSERT_TRUE(index.CatchUp(1).ok());
  {
    const auto view = index.Read();
    EXPECT_TRUE(view.AuthorizedFor(kAgent, 1000).empty());
    EXPECT_EQ(view.AuthorizedFor(kOther, 1000).size(), 1u);
    EXPECT_TRUE(view.ChangesSince(loaded).has_value());
  }
  for (int i = 0; i < 5; ++i) {
    Create("spiffe://example.org/more" + std::to_string(i), kAgent);
    ASSERT_TRUE(index.CatchUp(2 + i).ok());
  }
  const auto view = index.Read();
  // The oldest sets were dropped: an agent that far behind gets a full sync instead.
  EXPECT_FALSE(view.ChangesSince(loaded).has_value());
  EXPECT_TRUE(view.ChangesSince(view.revision() - 1).has_value());
  EXPECT_EQ(view.AuthorizedFor(kAgent, 1000).size(), 5u);
}

}  // namespace
}  // namespace ward::server

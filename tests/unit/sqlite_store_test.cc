#include "store/sqlite_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

namespace ward::store {
namespace {

using ::testing::HasSubstr;

SpiffeId Id(std::string_view s) { return SpiffeId::Parse(s).value(); }

RegistrationEntry Entry(std::string_view spiffe_id, std::vector<std::string> selectors) {
  RegistrationEntry e{.spiffe_id = Id(spiffe_id), .parent_id = Id("spiffe://example.org/agent")};
  for (const auto& s : selectors) e.selectors.push_back(Selector::Parse(s).value());
  return e;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ward-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/ward.db";
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm", ".lock"}) ::unlink((path_ + suffix).c_str());
    ::rmdir(dir_.c_str());
  }
  void Reopen() {
    store_.reset();
    auto s = OpenSqliteStore(path_);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
  }

  std::string dir_, path_;
  std::unique_ptr<DataStore> store_;
};

TEST_F(SqliteStoreTest, CreatesABatchWhereOneRefusalSparesTheOthers) {
  ASSERT_TRUE(store_->CreateEntry(Entry("spiffe://example.org/dup", {"unix:uid:1"})).ok());
  std::vector<RegistrationEntry> batch = {Entry("spiffe://example.org/a", {"unix:uid:2"}),
                                          Entry("spiffe://example.org/dup", {"unix:uid:1"}),
                                          Entry("spiffe://example.org/b", {"unix:uid:3"})};
  auto results = store_->CreateEntries(batch);
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status().message();
  EXPECT_EQ(results[1].status().code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(results[2].ok());
  EXPECT_LT(results[0]->revision, results[2]->revision);
  EXPECT_EQ(*store_->CountEntries(), 3);
  // Durable: a fresh connection sees both, and the change feed names them.
  Reopen();
  EXPECT_TRUE(store_->GetEntry(results[2]->id).ok());
  auto changes = store_->EntryChangesSince(results[0]->revision - 1);
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(changes->upserted.size(), 2u);
}

TEST_F(SqliteStoreTest, ListsRoundTripEveryCharacterTheyMayHold) {
  RegistrationEntry in =
      Entry("spiffe://example.org/w", {"unix:path:/opt/a,b/c", "unix:path:/q\"uote\\d", "k:[]"});
  in.dns_names = {"a.example.org", "b.example.org"};
  in.federates_with = {};
  auto created = store_->CreateEntry(in);
  ASSERT_TRUE(created.ok()) << created.status().message();
  auto got = store_->GetEntry(created->id);
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(got->selectors, created->selectors);
  EXPECT_EQ(got->dns_names, in.dns_names);
  EXPECT_TRUE(got->federates_with.empty());
}

TEST_F(SqliteStoreTest, CreatesReadsUpdatesAndDeletesEntries) {
  RegistrationEntry in = Entry("spiffe://example.org/web", {"unix:uid:1000", "unix:gid:100"});
  in.dns_names = {"web.example.org"};
  in.federates_with = {"other.org"};
  in.admin = true;
  in.x509_svid_ttl = 600;
  auto created = store_->CreateEntry(in);
  ASSERT_TRUE(created.ok()) << created.status().message();
  EXPECT_EQ(created->id.size(), 32u);
  EXPECT_GT(created->revision, 0);
  // Selectors are stored sorted.
  EXPECT_EQ(created->selectors[0].ToString(), "unix:gid:100");

  auto got = store_->GetEntry(created->id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->spiffe_id.str(), "spiffe://example.org/web");
  EXPECT_EQ(got->selectors, created->selectors);
  EXPECT_EQ(got->dns_names, in.dns_names);
  EXPECT_EQ(got->federates_with, in.federates_with);
  EXPECT_TRUE(got->admin);
  EXPECT_EQ(got->x509_svid_ttl, 600);

  RegistrationEntry changed = *got;
  changed.jwt_svid_ttl = 300;
  auto updated = store_->UpdateEntry(changed);
  ASSERT_TRUE(updated.ok());
  EXPECT_GT(updated->revision, created->revision);
  EXPECT_EQ(store_->GetEntry(created->id)->jwt_svid_ttl, 300);

  ASSERT_TRUE(store_->DeleteEntry(created->id).ok());
  EXPECT_EQ(store_->GetEntry(created->id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->DeleteEntry(created->id).code(), StatusCode::kNotFound);
  changed.id = "missing";
  EXPECT_EQ(store_->UpdateEntry(changed).status().code(), StatusCode::kNotFound);
}

TEST_F(SqliteStoreTest, RefusesDuplicateEntries) {
  ASSERT_TRUE(store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:1"})).ok());
  // Same selectors in another order are the same entry.
  auto dup = store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:1"}));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:2"})).ok());
  EXPECT_EQ(*store_->CountEntries(), 2);
}

TEST_F(SqliteStoreTest, PaginatesAndFilters) {
  for (int i = 0; i < 25; ++i) {
    ASSERT_TRUE(store_
                    ->CreateEntry(Entry("spiffe://example.org/w" + std::to_string(i % 5),
                                        {"unix:uid:" + std::to_string(i)}))
                    .ok());
  }
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->ListEntries(token, 10, std::nullopt, std::nullopt);
    ASSERT_TRUE(page.ok());
    for (const auto& e : page->entries) seen.insert(e.id);
    token = page->next_page_token;
    ++pages;
  } while (!token.empty());
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_EQ(pages, 3);
  auto filtered = store_->ListEntries("", 100, "spiffe://example.org/w3", std::nullopt);
  ASSERT_TRUE(filtered.ok());
  EXPECT_EQ(filtered->entries.size(), 5u);
  auto by_parent = store_->ListEntries("", 100, std::nullopt, "spiffe://example.org/other");
  EXPECT_TRUE(by_parent->entries.empty());
}

TEST_F(SqliteStoreTest, ReportsChangesSinceARevision) {
  auto a = store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:1"}));
  const int64_t after_a = *store_->CurrentRevision();
  auto b = store_->CreateEntry(Entry("spiffe://example.org/b", {"unix:uid:2"}));
  ASSERT_TRUE(store_->DeleteEntry(a->id).ok());
  auto changes = store_->EntryChangesSince(after_a);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->upserted.size(), 1u);
  EXPECT_EQ(changes->upserted[0].id, b->id);
  ASSERT_EQ(changes->withdrawn.size(), 1u);
  EXPECT_EQ(changes->withdrawn[0].id, a->id);
  EXPECT_EQ(changes->withdrawn[0].parent_id, "spiffe://example.org/agent");
  EXPECT_EQ(changes->revision, *store_->CurrentRevision());
  auto none = store_->EntryChangesSince(changes->revision);
  EXPECT_TRUE(none->upserted.empty());
  EXPECT_TRUE(none->withdrawn.empty());
}

TEST_F(SqliteStoreTest, MovingAnEntryWithdrawsItFromItsOldParent) {
  auto e = store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:1"}));
  ASSERT_TRUE(e.ok());
  const int64_t before = *store_->CurrentRevision();
  RegistrationEntry moved = *e;
  moved.parent_id = Id("spiffe://example.org/other-agent");
  ASSERT_TRUE(store_->UpdateEntry(moved).ok());
  auto changes = store_->EntryChangesSince(before);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->upserted.size(), 1u);
  EXPECT_EQ(changes->upserted[0].parent_id.str(), "spiffe://example.org/other-agent");
  ASSERT_EQ(changes->withdrawn.size(), 1u);
  EXPECT_EQ(changes->withdrawn[0].parent_id, "spiffe://example.org/agent");
  // An update that keeps the parent withdraws nothing.
  const int64_t after_move = *store_->CurrentRevision();
  moved.x509_svid_ttl = 120;
  ASSERT_TRUE(store_->UpdateEntry(moved).ok());
  EXPECT_TRUE(store_->EntryChangesSince(after_move)->withdrawn.empty());
}

TEST_F(SqliteStoreTest, EveryWithdrawalIsKeptWithTheOldName) {
  auto e = store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:1"}));
  ASSERT_TRUE(e.ok());
  const int64_t before = *store_->CurrentRevision();
  RegistrationEntry moved = *e;
  moved.parent_id = Id("spiffe://example.org/second");
  ASSERT_TRUE(store_->UpdateEntry(moved).ok());
  moved.parent_id = Id("spiffe://example.org/third");
  moved.spiffe_id = Id("spiffe://example.org/renamed");
  ASSERT_TRUE(store_->UpdateEntry(moved).ok());
  // Two moves between syncs: both former parents learn of it, in order, with the old name.
  auto changes = store_->EntryChangesSince(before);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->withdrawn.size(), 2u);
  EXPECT_EQ(changes->withdrawn[0].parent_id, "spiffe://example.org/agent");
  EXPECT_EQ(changes->withdrawn[1].parent_id, "spiffe://example.org/second");
  EXPECT_EQ(changes->withdrawn[1].spiffe_id, "spiffe://example.org/a");
  // A rename alone is recorded too (what was nested under the old name loses its anchor).
  const int64_t after = *store_->CurrentRevision();
  moved.spiffe_id = Id("spiffe://example.org/again");
  ASSERT_TRUE(store_->UpdateEntry(moved).ok());
  auto renamed = store_->EntryChangesSince(after);
  ASSERT_EQ(renamed->withdrawn.size(), 1u);
  EXPECT_EQ(renamed->withdrawn[0].parent_id, "spiffe://example.org/third");
  EXPECT_EQ(renamed->withdrawn[0].spiffe_id, "spiffe://example.org/renamed");
}

TEST_F(SqliteStoreTest, SchemaThreeTombstonesSurviveTheUpgrade) {
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  // Put the database back in schema 3's shape, with one tombstone.
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP TABLE entry_withdrawals;"
                         "CREATE TABLE entry_tombstones (id TEXT PRIMARY KEY, revision INTEGER NOT "
                         "NULL, parent_id TEXT NOT NULL DEFAULT '');"
                         "INSERT INTO entry_tombstones VALUES ('old', 1, 'spiffe://example.org/p');"
                         "PRAGMA user_version = 3;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto reopened = OpenSqliteStore(path_);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  auto changes = (*reopened)->EntryChangesSince(0);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->withdrawn.size(), 1u);
  EXPECT_EQ(changes->withdrawn[0].id, "old");
  EXPECT_EQ(changes->withdrawn[0].parent_id, "spiffe://example.org/p");
  EXPECT_EQ(changes->withdrawn[0].spiffe_id, "");
}

TEST_F(SqliteStoreTest, JoinTokensAreSingleUseAndExpire) {
  ASSERT_TRUE(store_->CreateJoinToken({"secret-1", "/ward/agent/join_token/a", 2000}).ok());
  ASSERT_TRUE(store_->CreateJoinToken({"secret-2", "/ward/agent/join_token/b", 1000}).ok());
  auto used = store_->ConsumeJoinToken("secret-1", 1500);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(used->agent_path, "/ward/agent/join_token/a");
  EXPECT_THAT(store_->ConsumeJoinToken("secret-1", 1500).status().message(),
              HasSubstr("already used"));
  EXPECT_THAT(store_->ConsumeJoinToken("secret-2", 1500).status().message(), HasSubstr("expired"));
  EXPECT_FALSE(store_->ConsumeJoinToken("nope", 0).ok());
}

TEST_F(SqliteStoreTest, JoinTokenSecretsAreNotStored) {
  ASSERT_TRUE(store_->CreateJoinToken({"very-secret-token", "/ward/agent/join_token/a", 9}).ok());
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT token_sha256 FROM join_tokens", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  const std::string stored = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(stored.size(), 64u);
  EXPECT_EQ(stored.find("secret"), std::string::npos);
}

TEST_F(SqliteStoreTest, AgentsLifecycle) {
  AttestedAgent agent{Id("spiffe://example.org/ward/agent/join_token/a"), "join_token", "01", 99};
  ASSERT_TRUE(store_->UpsertAgent(agent).ok());
  agent.serial = "02";
  ASSERT_TRUE(store_->UpsertAgent(agent).ok());
  EXPECT_EQ(store_->GetAgent(agent.spiffe_id.str())->serial, "02");
  ASSERT_TRUE(store_->SetAgentBanned(agent.spiffe_id.str(), true).ok());
  EXPECT_TRUE(store_->GetAgent(agent.spiffe_id.str())->banned);
  // Re-attestation does not lift a ban.
  ASSERT_TRUE(store_->UpsertAgent(agent).ok());
  EXPECT_TRUE(store_->GetAgent(agent.spiffe_id.str())->banned);
  EXPECT_EQ(store_->ListAgents()->size(), 1u);
  EXPECT_EQ(*store_->CountAgents(), 1);
  ASSERT_TRUE(store_->DeleteAgent(agent.spiffe_id.str()).ok());
  EXPECT_EQ(store_->GetAgent(agent.spiffe_id.str()).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetAgentBanned("spiffe://example.org/x", true).code(), StatusCode::kNotFound);
}

// Agent records are kept in memory once read; every write must show in the next read.
TEST_F(SqliteStoreTest, AgentReadsFollowEveryWrite) {
  const std::string id = "spiffe://example.org/ward/agent/join_token/b";
  ASSERT_TRUE(store_->UpsertAgent({Id(id), "join_token", "01", 99}).ok());
  for (int round = 0; round < 2; ++round) {  // the second round reads what the first kept
    ASSERT_TRUE(store_->GetAgent(id).ok());
    ASSERT_TRUE(store_->GetAgent(id).ok());
    const std::string serial = round == 0 ? "02" : "03";
    ASSERT_TRUE(store_->UpsertAgent({Id(id), "x509pop", serial, 100 + round}).ok());
    auto renewed = store_->GetAgent(id);
    ASSERT_TRUE(renewed.ok());
    EXPECT_EQ(renewed->serial, serial);
    EXPECT_EQ(renewed->attestation_type, "x509pop");
    EXPECT_EQ(renewed->expires_at, 100 + round);
    EXPECT_GT(renewed->created_at, 0);
    ASSERT_TRUE(store_->SetAgentBanned(id, round == 0).ok());
    EXPECT_EQ(store_->GetAgent(id)->banned, round == 0);
    EXPECT_EQ(store_->GetAgent(id)->banned, round == 0);
  }
  ASSERT_TRUE(store_->DeleteAgent(id).ok());
  EXPECT_EQ(store_->GetAgent(id).status().code(), StatusCode::kNotFound);
  // The last write reached the file, not only the records kept in memory.
  ASSERT_TRUE(store_->UpsertAgent({Id(id), "join_token", "04", 7}).ok());
  Reopen();
  EXPECT_EQ(store_->GetAgent(id)->serial, "04");
}

TEST_F(SqliteStoreTest, OneProcessOwnsTheDatabase) {
  auto second = OpenSqliteStore(path_);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(second.status().message(), HasSubstr("in use by another ward server"));
  store_.reset();  // the owner closes: the lock goes with it
  auto third = OpenSqliteStore(path_);
  ASSERT_TRUE(third.ok()) << third.status().message();
  struct stat st {};
  ASSERT_EQ(stat((path_ + ".lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(SqliteStoreTest, BundlesAndJournalSurviveReopen) {
  ASSERT_TRUE(store_->PutBundle({"example.org", "{\"keys\":[]}", 3}).ok());
  ASSERT_TRUE(store_->PutBundle({"other.org", "{\"keys\":[]}", 1}).ok());
  ASSERT_TRUE(store_->SaveCaJournal("journal-v1").ok());
  EXPECT_FALSE(store_->LoadCaJournal()->value().empty());
  auto entry = store_->CreateEntry(Entry("spiffe://example.org/a", {"unix:uid:1"}));
  Reopen();
  EXPECT_EQ(store_->GetBundle("example.org")->sequence, 3u);
  EXPECT_EQ(store_->ListBundles()->size(), 2u);
  EXPECT_EQ(**store_->LoadCaJournal(), "journal-v1");
  EXPECT_TRUE(store_->GetEntry(entry->id).ok());
  ASSERT_TRUE(store_->DeleteBundle("other.org").ok());
  EXPECT_EQ(store_->GetBundle("other.org").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(store_->Ping().ok());
}

TEST_F(SqliteStoreTest, DatabaseIsPrivateAndMigrated) {
  struct stat st {};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), SqliteSchemaVersion());
  sqlite3_finalize(s);
  // A database from a newer Ward is refused rather than misread.
  sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto newer = OpenSqliteStore(path_);
  ASSERT_FALSE(newer.ok());
  EXPECT_THAT(newer.status().message(), HasSubstr("newer"));
}

TEST_F(SqliteStoreTest, FederationRelationships) {
  FederationRelationship f{"other.org", "https://other.example:8443/bundle", "https_spiffe",
                           "spiffe://other.org/ward/server", ""};
  ASSERT_TRUE(store_->PutFederation(f).ok());
  f.url = "https://other.example:9443/bundle";
  ASSERT_TRUE(store_->PutFederation(f).ok());  // replaces
  ASSERT_TRUE(store_->PutFederation({"third.org", "https://t/", "https_web", "", "PEM"}).ok());
  Reopen();
  auto all = store_->ListFederations();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].url, "https://other.example:9443/bundle");
  EXPECT_EQ((*all)[1].ca_pem, "PEM");
  ASSERT_TRUE(store_->DeleteFederation("other.org").ok());
  EXPECT_EQ(store_->DeleteFederation("other.org").code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->ListFederations()->size(), 1u);
}

TEST(SelectorTest, ParsesAndValidates) {
  auto s = Selector::Parse("unix:uid:1000");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->type, "unix");
  EXPECT_EQ(s->value, "uid:1000");
  EXPECT_FALSE(Selector::Parse("nocolon").ok());
  EXPECT_FALSE(Selector::Parse(":value").ok());
  EXPECT_FALSE(Selector::Parse("type:").ok());
  EXPECT_FALSE(Selector::Parse("Unix:uid:1").ok());
  EXPECT_FALSE(Selector::Parse("unix:uid\n:1").ok());
  EXPECT_FALSE(Selector::Parse("unix:" + std::string(600, 'a')).ok());
}

}  // namespace
}  // namespace ward::store

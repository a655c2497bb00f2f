#include "store/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/clock.h"
#include "core/digest.h"
#include "core/random.h"

namespace ward::store {
namespace {

using nlohmann::json;

// Each entry is one migration, applied in order inside a transaction; user_version records how
// many have run. Never edit a released migration: append a new one.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('revision', 0);
CREATE TABLE entries (
  id TEXT PRIMARY KEY,
  spiffe_id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  selectors TEXT NOT NULL,
  x509_ttl INTEGER NOT NULL,
  jwt_ttl INTEGER NOT NULL,
  dns_names TEXT NOT NULL,
  admin INTEGER NOT NULL,
  federates_with TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  revision INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (spiffe_id, parent_id, selectors)
);
CREATE INDEX entries_by_parent ON entries (parent_id);
CREATE INDEX entries_by_spiffe_id ON entries (spiffe_id);
CREATE INDEX entries_by_revision ON entries (revision);
CREATE TABLE entry_tombstones (id TEXT PRIMARY KEY, revision INTEGER NOT NULL);
CREATE INDEX tombstones_by_revision ON entry_tombstones (revision);
CREATE TABLE agents (
  spiffe_id TEXT PRIMARY KEY,
  attestation_type TEXT NOT NULL,
  serial TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  banned INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE join_tokens (
  token_sha256 TEXT PRIMARY KEY,
  agent_path TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE TABLE bundles (
  trust_domain TEXT PRIMARY KEY,
  spiffe_json TEXT NOT NULL,
  sequence INTEGER NOT NULL
);
CREATE TABLE ca_journal (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  data TEXT NOT NULL
);
)sql",
    R"sql(
CREATE TABLE federation (
  trust_domain TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  profile TEXT NOT NULL,
  endpoint_spiffe_id TEXT NOT NULL,
  ca_pem TEXT NOT NULL
);
)sql",
    R"sql(
ALTER TABLE entry_tombstones ADD COLUMN parent_id TEXT NOT NULL DEFAULT '';
)sql",
    // One row per withdrawal (an entry can leave several parents between two syncs), with the
    // SPIFFE ID it had, so entries nested under it are withdrawn too.
    R"sql(
CREATE TABLE entry_withdrawals (
  id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  spiffe_id TEXT NOT NULL DEFAULT '',
  revision INTEGER NOT NULL
);
INSERT INTO entry_withdrawals (id, parent_id, revision)
  SELECT id, parent_id, revision FROM entry_tombstones;
DROP TABLE entry_tombstones;
CREATE INDEX withdrawals_by_revision ON entry_withdrawals (revision);
)sql",
};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// 128 random bits: unique, and not guessable from other entries' IDs. An ID is not a secret, so
// it comes from the buffered generator (random.h).
Result<std::string> NewEntryId() {
  uint8_t raw[16];
  WARD_RETURN_IF_ERROR(FillRandomValue(raw, sizeof raw));
  return HexEncode(ByteView(raw, sizeof raw));
}

std::string TokenHash(const std::string& token) { return HexEncode(Sha256(AsBytes(token))); }

std::string SelectorsJson(const std::vector<Selector>& selectors) {
  json arr = json::array();
  for (const auto& s : selectors) arr.push_back(s.ToString());
  return arr.dump();
}

// A prepared statement with positional binding helpers; one per call (SQLite caches the parse
// cheaply enough for the admin path; the hot sync path can keep statements later).
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    rc_ = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    stmt_.reset(raw);
  }
  bool ok() const { return rc_ == SQLITE_OK; }
  Statement& Bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_.get(), i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_.get(), i, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(stmt_.get()); }
  std::string Text(int col) const {
    const auto* p = sqlite3_column_text(stmt_.get(), col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)))
             : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  std::string Error() const { return sqlite3_errmsg(db_); }

 private:
  sqlite3* db_;
  StmtPtr stmt_;
  int rc_ = SQLITE_ERROR;
};

Status DbError(sqlite3* db, const std::string& what) {
  return Status(StatusCode::kUnavailable, what + ": " + sqlite3_errmsg(db));
}

// The lists Ward writes are compact JSON arrays of strings; without a backslash in them each
// string is its bytes between two quotes. Those are split directly (loading a million entries
// reads three lists each); anything else goes through the JSON parser.
std::optional<std::vector<std::string>> PlainStrings(std::string_view t) {
  std::vector<std::string> out;
  if (t == "[]") return out;
  if (t.size() < 4 || t.front() != '[' || t.back() != ']' ||
      t.find('\\') != std::string_view::npos) {
    return std::nullopt;
  }
  size_t i = 1;
  for (;;) {
    if (t[i] != '"') return std::nullopt;
    const size_t end = t.find('"', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    out.emplace_back(t.substr(i + 1, end - i - 1));
    i = end + 1;  // at most t.size() - 1: the text ends with ']'
    if (t[i] == ']') return i + 1 == t.size() ? std::optional(std::move(out)) : std::nullopt;
    if (t[i] != ',') return std::nullopt;
    ++i;
  }
}

Result<std::vector<std::string>> JsonStrings(const std::string& text) {
  if (auto plain = PlainStrings(text)) return std::move(*plain);
  std::vector<std::string> out;
  try {
    for (const auto& v : json::parse(text)) out.push_back(v.get<std::string>());
  } catch (const json::exception& e) {
    return Internal(std::string("corrupt list in database: ") + e.what());
  }
  return out;
}

constexpr const char* kEntryColumns =
    "id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, dns_names, admin, federates_with, "
    "expires_at, revision, created_at";

Result<RegistrationEntry> ReadEntry(const Statement& st) {
  auto spiffe_id = SpiffeId::Parse(st.Text(1));
  auto parent_id = SpiffeId::Parse(st.Text(2));
  if (!spiffe_id.ok() || !parent_id.ok())
    return Internal("corrupt SPIFFE ID in entry " + st.Text(0));
  WARD_ASSIGN_OR_RETURN(std::vector<std::string> selector_text, JsonStrings(st.Text(3)));
  WARD_ASSIGN_OR_RETURN(std::vector<std::string> dns, JsonStrings(st.Text(6)));
  WARD_ASSIGN_OR_RETURN(std::vector<std::string> federates, JsonStrings(st.Text(8)));
  RegistrationEntry e{.id = st.Text(0),
                      .spiffe_id = std::move(spiffe_id).value(),
                      .parent_id = std::move(parent_id).value()};
  for (const auto& s : selector_text) {
    auto sel = Selector::Parse(s);
    if (!sel.ok()) return Internal("corrupt selector in entry " + e.id);
    e.selectors.push_back(std::move(sel).value());
  }
  e.x509_svid_ttl = static_cast<int32_t>(st.Int(4));
  e.jwt_svid_ttl = static_cast<int32_t>(st.Int(5));
  e.dns_names = std::move(dns);
  e.admin = st.Int(7) != 0;
  e.federates_with = std::move(federates);
  e.expires_at = st.Int(9);
  e.revision = st.Int(10);
  e.created_at = st.Int(11);
  return e;
}

// An exclusive flock(2) on a file beside the database, held for the store's life: one process
// owns the database, which is what lets the store keep agent records in memory (below) and the
// server keep its in-memory entry index in step with it.
class OwnerLock {
 public:
  static Result<OwnerLock> Take(const std::string& db_path) {
    const std::string path = db_path + ".lock";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
      return FailedPrecondition("cannot create lock file " + path + ": " + std::strerror(errno));
    }
    OwnerLock lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return FailedPrecondition("database " + db_path + " is in use by another ward server (" +
                                  path + " is locked)");
      }
      return FailedPrecondition("cannot lock " + path + ": " + std::strerror(errno));
    }
    return lock;
  }
  OwnerLock(OwnerLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnerLock& operator=(OwnerLock&&) = delete;
  OwnerLock(const OwnerLock&) = delete;
  ~OwnerLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
  }

 private:
  explicit OwnerLock(int fd) : fd_(fd) {}
  int fd_;
};

class SqliteStore final : public DataStore {
 public:
  SqliteStore(DbPtr db, OwnerLock lock) : lock_(std::move(lock)), db_(std::move(db)) {}

  Result<RegistrationEntry> CreateEntry(RegistrationEntry entry) override {
    std::vector<RegistrationEntry> one;
    one.push_back(std::move(entry));
    return std::move(CreateEntries(std::move(one)).front());
  }

  std::vector<Result<RegistrationEntry>> CreateEntries(
      std::vector<RegistrationEntry> entries) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Result<RegistrationEntry>> out;
    out.reserve(entries.size());
    // One transaction (one fsync) for the batch; a savepoint per entry, so one refused entry
    // (a duplicate, say) does not undo the others.
    const Status begun = Exec("BEGIN IMMEDIATE");
    for (auto& entry : entries) {
      if (!begun.ok()) {
        out.push_back(begun);
        continue;
      }
      std::sort(entry.selectors.begin(), entry.selectors.end());
      auto id = NewEntryId();
      if (!id.ok()) {
        out.push_back(id.status().WithContext("cannot make an entry ID"));
        continue;
      }
      entry.id = std::move(id).value();
      entry.created_at = UnixNow();
      Status saved = Exec("SAVEPOINT entry");
      auto written = saved.ok() ? WriteEntryInTransaction(std::move(entry), /*insert=*/true)
                                : Result<RegistrationEntry>(saved);
      if (!written.ok() && saved.ok()) (void)Exec("ROLLBACK TO entry");
      if (saved.ok()) (void)Exec("RELEASE entry");
      out.push_back(std::move(written));
    }
    if (!begun.ok()) return out;
    const Status committed = Exec("COMMIT");
    if (!committed.ok()) {
      (void)Exec("ROLLBACK");
      for (auto& r : out) r = committed;
    }
    return out;
  }

  Result<RegistrationEntry> UpdateEntry(RegistrationEntry entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::sort(entry.selectors.begin(), entry.selectors.end());
    return WriteEntry(std::move(entry), /*insert=*/false);
  }

  Status DeleteEntry(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    WARD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Statement del(db_.get(), "DELETE FROM entries WHERE id = ? RETURNING parent_id, spiffe_id");
    del.Bind(1, id);
    const int rc = del.Step();
    if (rc == SQLITE_DONE) return Rollback(NotFound("entry not found: " + id));
    if (rc != SQLITE_ROW) return Rollback(DbError(db_.get(), "delete entry"));
    const std::string parent = del.Text(0);
    const std::string spiffe_id = del.Text(1);
    while (del.Step() == SQLITE_ROW) {
    }
    auto revision = BumpRevision();
    if (!revision.ok()) return Rollback(revision.status());
    WARD_RETURN_IF_ERROR(RecordWithdrawal(id, parent, spiffe_id, *revision));
    return Exec("COMMIT");
  }

  Result<RegistrationEntry> GetEntry(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 (std::string("SELECT ") + kEntryColumns + " FROM entries WHERE id = ?").c_str());
    st.Bind(1, id);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return NotFound("entry not found: " + id);
    if (rc != SQLITE_ROW) return DbError(db_.get(), "read entry");
    return ReadEntry(st);
  }

  Result<EntryPage> ListEntries(const std::string& page_token, int page_size,
                                const std::optional<std::string>& spiffe_id,
                                const std::optional<std::string>& parent_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    page_size = std::clamp(page_size, 1, 10000);
    std::string sql = std::string("SELECT ") + kEntryColumns + " FROM entries WHERE id > ?";
    if (spiffe_id) sql += " AND spiffe_id = ?";
    if (parent_id) sql += " AND parent_id = ?";
    sql += " ORDER BY id LIMIT ?";
    Statement st(db_.get(), sql.c_str());
    int i = 1;
    st.Bind(i++, page_token);
    if (spiffe_id) st.Bind(i++, *spiffe_id);
    if (parent_id) st.Bind(i++, *parent_id);
    st.Bind(i++, int64_t{page_size} + 1);
    EntryPage page;
    page.entries.reserve(static_cast<size_t>(page_size));
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      if (static_cast<int>(page.entries.size()) == page_size) {
        page.next_page_token = page.entries.back().id;
        break;
      }
      WARD_ASSIGN_OR_RETURN(RegistrationEntry e, ReadEntry(st));
      page.entries.push_back(std::move(e));
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return DbError(db_.get(), "list entries");
    return page;
  }

  Result<int64_t> ScanEntries(const std::function<void(RegistrationEntry)>& visit) override {
    std::lock_guard<std::mutex> lock(mu_);
    // One read transaction: the rows and the revision are one snapshot. Rowid order reads the
    // table front to back instead of through the ID index.
    WARD_RETURN_IF_ERROR(Exec("BEGIN"));
    auto revision = ReadRevision();
    if (!revision.ok()) return Rollback(revision.status());
    Statement st(db_.get(), (std::string("SELECT ") + kEntryColumns + " FROM entries").c_str());
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      auto e = ReadEntry(st);
      if (!e.ok()) return Rollback(e.status());
      visit(std::move(e).value());
    }
    if (rc != SQLITE_DONE) return Rollback(DbError(db_.get(), "scan entries"));
    WARD_RETURN_IF_ERROR(Exec("COMMIT"));
    return *revision;
  }

  Result<int64_t> CountEntries() override { return Count("SELECT COUNT(*) FROM entries"); }

  Result<EntryChanges> EntryChangesSince(int64_t revision) override {
    std::lock_guard<std::mutex> lock(mu_);
    // One read transaction so the changes and the revision they end at are consistent.
    WARD_RETURN_IF_ERROR(Exec("BEGIN"));
    EntryChanges changes;
    Statement st(db_.get(), (std::string("SELECT ") + kEntryColumns +
                             " FROM entries WHERE revision > ? ORDER BY revision")
                                .c_str());
    st.Bind(1, revision);
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      auto e = ReadEntry(st);
      if (!e.ok()) return Rollback(e.status());
      changes.upserted.push_back(std::move(e).value());
    }
    if (rc != SQLITE_DONE) return Rollback(DbError(db_.get(), "read entry changes"));
    Statement tomb(db_.get(),
                   "SELECT id, parent_id, spiffe_id FROM entry_withdrawals WHERE revision > ? "
                   "ORDER BY revision");
    tomb.Bind(1, revision);
    while ((rc = tomb.Step()) == SQLITE_ROW)
      changes.withdrawn.push_back({tomb.Text(0), tomb.Text(1), tomb.Text(2)});
    if (rc != SQLITE_DONE) return Rollback(DbError(db_.get(), "read deletions"));
    auto current = ReadRevision();
    if (!current.ok()) return Rollback(current.status());
    changes.revision = *current;
    WARD_RETURN_IF_ERROR(Exec("COMMIT"));
    return changes;
  }

  Result<int64_t> CurrentRevision() override {
    std::lock_guard<std::mutex> lock(mu_);
    return ReadRevision();
  }

  Status UpsertAgent(const AttestedAgent& agent) override {
    std::lock_guard<std::mutex> lock(mu_);
    // The row keeps its ban and creation time; the next read takes the merged row from SQLite.
    agents_.erase(agent.spiffe_id.str());
    Statement st(db_.get(),
                 "INSERT INTO agents (spiffe_id, attestation_type, serial, expires_at, banned, "
                 "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (spiffe_id) DO UPDATE SET "
                 "attestation_type = excluded.attestation_type, serial = excluded.serial, "
                 "expires_at = excluded.expires_at");
    st.Bind(1, agent.spiffe_id.str())
        .Bind(2, agent.attestation_type)
        .Bind(3, agent.serial)
        .Bind(4, agent.expires_at)
        .Bind(5, int64_t{agent.banned})
        .Bind(6, agent.created_at ? agent.created_at : UnixNow());
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "store agent");
    return OkStatus();
  }

  Result<AttestedAgent> GetAgent(const std::string& spiffe_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = agents_.find(spiffe_id); it != agents_.end()) return it->second;
    Statement st(db_.get(),
                 "SELECT spiffe_id, attestation_type, serial, expires_at, banned, created_at FROM "
                 "agents WHERE spiffe_id = ?");
    st.Bind(1, spiffe_id);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return NotFound("agent not found: " + spiffe_id);
    if (rc != SQLITE_ROW) return DbError(db_.get(), "read agent");
    WARD_ASSIGN_OR_RETURN(AttestedAgent agent, ReadAgent(st));
    if (agents_.size() >= kMaxCachedAgents) agents_.clear();
    agents_.emplace(spiffe_id, agent);
    return agent;
  }

  Result<std::vector<AttestedAgent>> ListAgents() override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "SELECT spiffe_id, attestation_type, serial, expires_at, banned, created_at FROM "
                 "agents ORDER BY spiffe_id");
    std::vector<AttestedAgent> out;
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      WARD_ASSIGN_OR_RETURN(AttestedAgent a, ReadAgent(st));
      out.push_back(std::move(a));
    }
    if (rc != SQLITE_DONE) return DbError(db_.get(), "list agents");
    return out;
  }

  Status SetAgentBanned(const std::string& spiffe_id, bool banned) override {
    std::lock_guard<std::mutex> lock(mu_);
    agents_.erase(spiffe_id);
    Statement st(db_.get(), "UPDATE agents SET banned = ? WHERE spiffe_id = ?");
    st.Bind(1, int64_t{banned}).Bind(2, spiffe_id);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "ban agent");
    if (sqlite3_changes(db_.get()) == 0) return NotFound("agent not found: " + spiffe_id);
    return OkStatus();
  }

  Status DeleteAgent(const std::string& spiffe_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    agents_.erase(spiffe_id);
    Statement st(db_.get(), "DELETE FROM agents WHERE spiffe_id = ?");
    st.Bind(1, spiffe_id);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "evict agent");
    if (sqlite3_changes(db_.get()) == 0) return NotFound("agent not found: " + spiffe_id);
    return OkStatus();
  }

  Result<int64_t> CountAgents() override { return Count("SELECT COUNT(*) FROM agents"); }

  Status CreateJoinToken(const JoinToken& token) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "INSERT INTO join_tokens (token_sha256, agent_path, expires_at) VALUES (?, ?, ?)");
    st.Bind(1, TokenHash(token.token)).Bind(2, token.agent_path).Bind(3, token.expires_at);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "store join token");
    return OkStatus();
  }

  Result<JoinToken> ConsumeJoinToken(const std::string& token, int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    // DELETE ... RETURNING makes the check-and-use a single atomic statement: two agents
    // presenting the same token cannot both succeed.
    Statement st(db_.get(),
                 "DELETE FROM join_tokens WHERE token_sha256 = ? RETURNING agent_path, expires_at");
    st.Bind(1, TokenHash(token));
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return NotFound("join token is unknown or was already used");
    if (rc != SQLITE_ROW) return DbError(db_.get(), "use join token");
    JoinToken out{token, st.Text(0), st.Int(1)};
    while (st.Step() == SQLITE_ROW) {
    }
    if (out.expires_at <= now) return NotFound("join token has expired");
    return out;
  }

  Status PutBundle(const StoredBundle& bundle) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "INSERT INTO bundles (trust_domain, spiffe_json, sequence) VALUES (?, ?, ?) ON "
                 "CONFLICT (trust_domain) DO UPDATE SET spiffe_json = excluded.spiffe_json, "
                 "sequence = excluded.sequence");
    st.Bind(1, bundle.trust_domain)
        .Bind(2, bundle.spiffe_json)
        .Bind(3, static_cast<int64_t>(bundle.sequence));
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "store bundle");
    return OkStatus();
  }

  Result<StoredBundle> GetBundle(const std::string& trust_domain) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "SELECT trust_domain, spiffe_json, sequence FROM bundles WHERE trust_domain = ?");
    st.Bind(1, trust_domain);
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return NotFound("no bundle for trust domain " + trust_domain);
    if (rc != SQLITE_ROW) return DbError(db_.get(), "read bundle");
    return StoredBundle{st.Text(0), st.Text(1), static_cast<uint64_t>(st.Int(2))};
  }

  Result<std::vector<StoredBundle>> ListBundles() override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "SELECT trust_domain, spiffe_json, sequence FROM bundles ORDER BY trust_domain");
    std::vector<StoredBundle> out;
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      out.push_back({st.Text(0), st.Text(1), static_cast<uint64_t>(st.Int(2))});
    }
    if (rc != SQLITE_DONE) return DbError(db_.get(), "list bundles");
    return out;
  }

  Status DeleteBundle(const std::string& trust_domain) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(), "DELETE FROM bundles WHERE trust_domain = ?");
    st.Bind(1, trust_domain);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "delete bundle");
    if (sqlite3_changes(db_.get()) == 0)
      return NotFound("no bundle for trust domain " + trust_domain);
    return OkStatus();
  }

  Status PutFederation(const FederationRelationship& f) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "INSERT INTO federation (trust_domain, url, profile, endpoint_spiffe_id, ca_pem) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (trust_domain) DO UPDATE SET url = "
                 "excluded.url, profile = excluded.profile, endpoint_spiffe_id = "
                 "excluded.endpoint_spiffe_id, ca_pem = excluded.ca_pem");
    st.Bind(1, f.trust_domain)
        .Bind(2, f.url)
        .Bind(3, f.profile)
        .Bind(4, f.endpoint_spiffe_id)
        .Bind(5, f.ca_pem);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "store federation relationship");
    return OkStatus();
  }

  Result<std::vector<FederationRelationship>> ListFederations() override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "SELECT trust_domain, url, profile, endpoint_spiffe_id, ca_pem FROM federation "
                 "ORDER BY trust_domain");
    std::vector<FederationRelationship> out;
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) {
      out.push_back({st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4)});
    }
    if (rc != SQLITE_DONE) return DbError(db_.get(), "list federation relationships");
    return out;
  }

  Status DeleteFederation(const std::string& trust_domain) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(), "DELETE FROM federation WHERE trust_domain = ?");
    st.Bind(1, trust_domain);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "delete federation relationship");
    if (sqlite3_changes(db_.get()) == 0) {
      return NotFound("no federation relationship with " + trust_domain);
    }
    return OkStatus();
  }

  Status SaveCaJournal(const std::string& journal) override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(),
                 "INSERT INTO ca_journal (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET "
                 "data = excluded.data");
    st.Bind(1, journal);
    if (st.Step() != SQLITE_DONE) return DbError(db_.get(), "save CA journal");
    return OkStatus();
  }

  Result<std::optional<std::string>> LoadCaJournal() override {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(), "SELECT data FROM ca_journal WHERE id = 1");
    const int rc = st.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return DbError(db_.get(), "load CA journal");
    return std::optional<std::string>(st.Text(0));
  }

  Status Ping() override {
    auto n = Count("SELECT 1");
    return n.ok() ? OkStatus() : n.status();
  }

 private:
  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Status(StatusCode::kUnavailable, std::string("database: ") + msg);
    }
    return OkStatus();
  }

  Status Rollback(Status error) {
    (void)Exec("ROLLBACK");
    return error;
  }

  Result<int64_t> Count(const char* sql) {
    std::lock_guard<std::mutex> lock(mu_);
    Statement st(db_.get(), sql);
    if (st.Step() != SQLITE_ROW) return DbError(db_.get(), "count");
    return st.Int(0);
  }

  Result<int64_t> ReadRevision() {
    Statement st(db_.get(), "SELECT value FROM meta WHERE key = 'revision'");
    if (st.Step() != SQLITE_ROW) return DbError(db_.get(), "read revision");
    return st.Int(0);
  }

  Result<int64_t> BumpRevision() {
    Statement st(db_.get(),
                 "UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value");
    if (st.Step() != SQLITE_ROW) return DbError(db_.get(), "bump revision");
    const int64_t v = st.Int(0);
    while (st.Step() == SQLITE_ROW) {
    }
    return v;
  }

  // Inside a transaction: notes that entry `id`, then named `spiffe_id`, left `parent` (or stopped
  // being `spiffe_id`) at `revision`.
  Status RecordWithdrawal(const std::string& id, const std::string& parent,
                          const std::string& spiffe_id, int64_t revision) {
    Statement tomb(db_.get(),
                   "INSERT INTO entry_withdrawals (id, revision, parent_id, spiffe_id) VALUES "
                   "(?, ?, ?, ?)");
    tomb.Bind(1, id).Bind(2, revision).Bind(3, parent).Bind(4, spiffe_id);
    if (tomb.Step() != SQLITE_DONE) return Rollback(DbError(db_.get(), "record withdrawal"));
    return OkStatus();
  }

  Result<AttestedAgent> ReadAgent(const Statement& st) {
    auto id = SpiffeId::Parse(st.Text(0));
    if (!id.ok()) return Internal("corrupt agent ID in database");
    return AttestedAgent{std::move(id).value(), st.Text(1), st.Text(2), st.Int(3),
                         st.Int(4) != 0,        st.Int(5)};
  }

  // Inserts or replaces one entry and bumps the revision, in one transaction.
  Result<RegistrationEntry> WriteEntry(RegistrationEntry entry, bool insert) {
    WARD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    auto written = WriteEntryInTransaction(std::move(entry), insert);
    if (!written.ok()) return Rollback(written.status());
    const Status committed = Exec("COMMIT");
    if (!committed.ok()) return Rollback(committed);
    return written;
  }

  // One entry write inside the caller's transaction (which rolls back on an error).
  Result<RegistrationEntry> WriteEntryInTransaction(RegistrationEntry entry, bool insert) {
    WARD_ASSIGN_OR_RETURN(const int64_t revision, BumpRevision());
    entry.revision = revision;
    if (!insert) {
      // An update that moves the entry to another parent withdraws it from the old one; one that
      // renames it withdraws what was nested under the old name.
      Statement old(db_.get(), "SELECT parent_id, spiffe_id FROM entries WHERE id = ?");
      old.Bind(1, entry.id);
      if (old.Step() == SQLITE_ROW &&
          (old.Text(0) != entry.parent_id.str() || old.Text(1) != entry.spiffe_id.str())) {
        WARD_RETURN_IF_ERROR(RecordWithdrawal(entry.id, old.Text(0), old.Text(1), entry.revision));
      }
    }
    const char* sql =
        insert ? "INSERT INTO entries (id, spiffe_id, parent_id, selectors, x509_ttl, jwt_ttl, "
                 "dns_names, admin, federates_with, expires_at, revision, created_at) VALUES "
                 "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
               : "UPDATE entries SET spiffe_id = ?2, parent_id = ?3, selectors = ?4, x509_ttl = "
                 "?5, jwt_ttl = ?6, dns_names = ?7, admin = ?8, federates_with = ?9, expires_at "
                 "= ?10, revision = ?11 WHERE id = ?1";
    Statement st(db_.get(), sql);
    st.Bind(1, entry.id)
        .Bind(2, entry.spiffe_id.str())
        .Bind(3, entry.parent_id.str())
        .Bind(4, SelectorsJson(entry.selectors))
        .Bind(5, int64_t{entry.x509_svid_ttl})
        .Bind(6, int64_t{entry.jwt_svid_ttl})
        .Bind(7, json(entry.dns_names).dump())
        .Bind(8, int64_t{entry.admin})
        .Bind(9, json(entry.federates_with).dump())
        .Bind(10, entry.expires_at)
        .Bind(11, entry.revision);
    if (insert) st.Bind(12, entry.created_at);
    const int rc = st.Step();
    if (rc == SQLITE_CONSTRAINT) {
      return Status(StatusCode::kAlreadyExists,
                    "an entry with the same SPIFFE ID, parent ID and selectors exists");
    }
    if (rc != SQLITE_DONE) return DbError(db_.get(), "write entry");
    if (!insert && sqlite3_changes(db_.get()) == 0) return NotFound("entry not found: " + entry.id);
    return entry;
  }

  // Bounds the agent records kept in memory (a few hundred bytes each); past it they start over.
  static constexpr size_t kMaxCachedAgents = 1 << 20;

  OwnerLock lock_;  // declared first: released after the database is closed
  std::mutex mu_;
  DbPtr db_;
  // Agent records as read from the database, by SPIFFE ID. The agent API reads its caller's
  // record on every call (so a ban or eviction takes effect at once); that read was a quarter of
  // the server's CPU per sync. Every agent write drops the record, so the next read sees it:
  // correct while this process is the only writer, which `lock_` holds it to.
  std::unordered_map<std::string, AttestedAgent> agents_;  // guarded by mu_
};

Status Configure(sqlite3* db) {
  // FULL: the WAL is fsynced on every commit, so an acknowledged write survives power loss.
  const char* pragmas =
      "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; "
      // Reads through a memory map, not a pread per page (loading every entry at start-up).
      "PRAGMA mmap_size = 1073741824; "
      "PRAGMA busy_timeout = 5000;";
  char* err = nullptr;
  if (sqlite3_exec(db, pragmas, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    return Status(StatusCode::kUnavailable, "cannot configure database: " + msg);
  }
  return OkStatus();
}

Status Migrate(sqlite3* db) {
  int64_t current = 0;
  {
    // Finalized before migrating: an open statement would lock the tables a migration drops.
    Statement version(db, "PRAGMA user_version");
    if (version.Step() != SQLITE_ROW) return DbError(db, "read schema version");
    current = version.Int(0);
  }
  const int64_t target = static_cast<int64_t>(std::size(kMigrations));
  if (current > target) {
    return FailedPrecondition("database schema version " + std::to_string(current) +
                              " is newer than this ward (" + std::to_string(target) +
                              "); upgrade ward");
  }
  for (int64_t v = current; v < target; ++v) {
    const std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] +
                            "PRAGMA user_version = " + std::to_string(v + 1) + "; COMMIT;";
    char* err = nullptr;
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      const std::string msg = err ? err : "unknown";
      sqlite3_free(err);
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return Status(StatusCode::kUnavailable,
                    "database migration " + std::to_string(v + 1) + " failed: " + msg);
    }
  }
  return OkStatus();
}

}  // namespace

int SqliteSchemaVersion() { return static_cast<int>(std::size(kMigrations)); }

Result<std::unique_ptr<DataStore>> OpenSqliteStore(const std::string& path) {
  // Create the file ourselves so it is private from the first byte; SQLite gives its -wal and
  // -shm files the same mode.
  WARD_ASSIGN_OR_RETURN(OwnerLock owner, OwnerLock::Take(path));
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return FailedPrecondition("cannot create database " + path);
  ::close(fd);
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    return FailedPrecondition("cannot open database " + path + ": " +
                              (raw ? sqlite3_errmsg(raw) : "out of memory"));
  }
  WARD_RETURN_IF_ERROR(Configure(db.get()));
  WARD_RETURN_IF_ERROR(Migrate(db.get()));
  return std::unique_ptr<DataStore>(std::make_unique<SqliteStore>(std::move(db), std::move(owner)));
}

}  // namespace ward::store

// The agent's pure parts: endpoint addresses, selector matching, workload attestation of this
// very process, and the SVID cache's bookkeeping.
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "agent/cache.h"
#include "agent/endpoint_address.h"
#include "agent/workload_attestor.h"

namespace ward::agent {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(EndpointAddressTest, AcceptsWhatTheStandardAccepts) {
  EXPECT_EQ(*EndpointTarget("unix:///run/ward/api.sock"), "unix:/run/ward/api.sock");
  EXPECT_EQ(*EndpointTarget("unix:/run/ward/api.sock"), "unix:/run/ward/api.sock");
  EXPECT_EQ(*EndpointTarget("/run/ward/api.sock"), "unix:/run/ward/api.sock");
  EXPECT_EQ(*EndpointTarget("tcp://127.0.0.1:8000"), "ipv4:127.0.0.1:8000");
  EXPECT_EQ(*EndpointTarget("tcp://[::1]:8000"), "ipv6:[::1]:8000");
}

TEST(EndpointAddressTest, RefusesWhatTheStandardRefuses) {
  const struct {
    const char* address;
    const char* reason;
  } cases[] = {
      {"unix://host/run/api.sock", "authority"},
      {"unix:relative.sock", "absolute"},
      {"unix:///", "absolute"},
      {"unix:///run/api.sock?x=1", "query"},
      {"unix:///run/api.sock#f", "fragment"},
      {"tcp://localhost:8000", "IP address"},
      {"tcp://127.0.0.1", "port"},
      {"tcp://127.0.0.1:0", "1-65535"},
      {"tcp://127.0.0.1:70000", "1-65535"},
      {"tcp://127.0.0.1:8000/foo", "path"},
      {"tcp://user@127.0.0.1:8000", "user"},
      {"tcp:127.0.0.1:8000", "tcp://"},
      {"http://127.0.0.1:8000", "scheme"},
      {"relative.sock", "not a URI"},
  };
  for (const auto& c : cases) {
    auto t = EndpointTarget(c.address);
    ASSERT_FALSE(t.ok()) << c.address;
    EXPECT_THAT(t.status().message(), HasSubstr(c.reason)) << c.address;
  }
}

store::Selector S(const std::string& text) { return store::Selector::Parse(text).value(); }

TEST(SelectorsMatchTest, AllOfTheEntrysSelectorsMustBePresent) {
  std::vector<store::Selector> have = {S("unix:gid:0"), S("unix:uid:0"), S("unix:user:root")};
  std::sort(have.begin(), have.end());
  EXPECT_TRUE(SelectorsMatch({S("unix:uid:0")}, have));
  EXPECT_TRUE(SelectorsMatch({S("unix:uid:0"), S("unix:gid:0")}, have));
  EXPECT_FALSE(SelectorsMatch({S("unix:uid:0"), S("unix:gid:1")}, have));
  EXPECT_FALSE(SelectorsMatch({}, have));
}

TEST(WorkloadAttestorTest, AttestsThisProcess) {
  auto peer = PeerProcess::FromPid(getpid(), getuid(), getgid());
  ASSERT_TRUE(peer.ok()) << peer.status().message();
  EXPECT_TRUE(peer->Alive());
  WorkloadAttestor attestor;
  auto selectors = attestor.Attest(*peer);
  ASSERT_TRUE(selectors.ok()) << selectors.status().message();
  EXPECT_THAT(*selectors, Contains(S("unix:uid:" + std::to_string(getuid()))));
  EXPECT_THAT(*selectors, Contains(S("unix:gid:" + std::to_string(getgid()))));
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  ASSERT_GT(n, 0);
  EXPECT_THAT(*selectors, Contains(S("unix:path:" + std::string(exe, static_cast<size_t>(n)))));
  const bool has_sha = std::any_of(selectors->begin(), selectors->end(), [](const auto& s) {
    return s.type == "unix" && s.value.rfind("sha256:", 0) == 0 && s.value.size() == 7 + 64;
  });
  EXPECT_TRUE(has_sha);
  EXPECT_TRUE(std::is_sorted(selectors->begin(), selectors->end()));
}

// Names come from NSS at most once per TTL; numbers are read afresh on every call.
TEST(WorkloadAttestorTest, LooksNamesUpOncePerTtl) {
  auto peer = PeerProcess::FromPid(getpid(), getuid(), getgid());
  ASSERT_TRUE(peer.ok()) << peer.status().message();
  WorkloadAttestor cached(std::chrono::hours(1));
  auto first = cached.Attest(*peer);
  ASSERT_TRUE(first.ok()) << first.status().message();
  const size_t lookups = cached.name_lookups();
  EXPECT_GE(lookups, 2u);  // the user and the primary group at least
  auto second = cached.Attest(*peer);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(cached.name_lookups(), lookups);

  WorkloadAttestor uncached(std::chrono::milliseconds(0));
  ASSERT_TRUE(uncached.Attest(*peer).ok());
  const size_t once = uncached.name_lookups();
  auto again = uncached.Attest(*peer);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(uncached.name_lookups(), 2 * once);
  // The names are the ones NSS gives, users and groups kept apart.
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr) {
    EXPECT_THAT(*first, Contains(S(std::string("unix:user:") + pw->pw_name)));
  }
  if (const group* gr = getgrgid(getgid()); gr != nullptr) {
    EXPECT_THAT(*first, Contains(S(std::string("unix:group:") + gr->gr_name)));
  }

  // A kept name is looked up again once its TTL has passed. (Only this direction is timed: under
  // a sanitizer on a loaded machine one attestation can outlast a short TTL by itself.)
  WorkloadAttestor brief(std::chrono::milliseconds(50));
  ASSERT_TRUE(brief.Attest(*peer).ok());
  const size_t initial = brief.name_lookups();
  std::this_thread::sleep_for(std::chrono::milliseconds(80));
  ASSERT_TRUE(brief.Attest(*peer).ok());
  EXPECT_GE(brief.name_lookups(), 2 * initial);
}

TEST(WorkloadAttestorTest, ReadsTheStartTimeFromStat) {
  // Field 22 counts from the last ')': the command name may hold spaces and parentheses.
  std::string fields;
  for (int field = 3; field <= 25; ++field) fields += " " + std::to_string(field * 100);
  EXPECT_EQ(StartTimeFromStat("1234 (a) b (c)" + fields + "\n"), 2200u);
  EXPECT_EQ(StartTimeFromStat("1234 (sh)" + fields + "\n"), 2200u);
  EXPECT_EQ(StartTimeFromStat("1234 (sh) S 1 2"), 0u);  // too few fields
  EXPECT_EQ(StartTimeFromStat("1234 sh S 1 2"), 0u);    // no command name
  EXPECT_EQ(StartTimeFromStat(""), 0u);
  std::string bad = "1 (x)";
  for (int field = 3; field <= 22; ++field) bad += field == 22 ? " 12x" : " 0";
  EXPECT_EQ(StartTimeFromStat(bad + "\n"), 0u);
  // This very process has a start time.
  std::ifstream in("/proc/self/stat");
  const std::string own((std::istreambuf_iterator<char>(in)), {});
  EXPECT_GT(StartTimeFromStat(own), 0u);
}

TEST(WorkloadAttestorTest, ReadsNumbersFromStatus) {
  const std::string status =
      "Name:\tsh\nUid:\t1000\t1001\t1002\t1003\nGid:\t5\t5\t5\t5\nGroups:\t4 24 27 \n";
  EXPECT_EQ(StatusNumbers(status, "Uid:"), (std::vector<unsigned long>{1000, 1001, 1002, 1003}));
  EXPECT_EQ(StatusNumbers(status, "Groups:"), (std::vector<unsigned long>{4, 24, 27}));
  EXPECT_TRUE(StatusNumbers("Groups:\t \n", "Groups:").empty());
  EXPECT_TRUE(StatusNumbers("Uid:\t1000\t10", "Uid:").empty());  // cut short: no newline
  EXPECT_TRUE(StatusNumbers("Uid:\t1000\tx\n", "Uid:").empty());
  EXPECT_TRUE(StatusNumbers("Name:\tUid:\n", "Uid:").empty());  // only at the start of a line
}

// A listening Unix socket in a fresh directory, closed and removed at the end.
class UnixListener {
 public:
  UnixListener() {
    char dir[] = "/tmp/ward-peer-XXXXXX";
    EXPECT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/s";
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = Address();
    EXPECT_EQ(bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
  }
  ~UnixListener() {
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  int Connect() const {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const sockaddr_un addr = Address();
    if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return fd;
    close(fd);
    return -1;
  }
  int Accept() const { return accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC); }

 private:
  sockaddr_un Address() const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    return addr;
  }

  std::string dir_;
  std::string path_;
  int fd_ = -1;
};

TEST(WorkloadAttestorTest, KnowsTheProcessAtTheOtherEndOfAConnection) {
  UnixListener listener;
  const int client = listener.Connect();
  ASSERT_GE(client, 0);
  const int server = listener.Accept();
  ASSERT_GE(server, 0);
  auto peer = PeerProcess::FromSocket(server);
  ASSERT_TRUE(peer.ok()) << peer.status().message();
  EXPECT_EQ(peer->pid(), getpid());
  EXPECT_EQ(peer->uid(), getuid());
  EXPECT_TRUE(peer->Alive());
  close(client);
  close(server);
}

TEST(WorkloadAttestorTest, APeerThatExitedBeforeTheAcceptIsRefused) {
  UnixListener listener;
  const pid_t child = fork();
  if (child == 0) _exit(listener.Connect() >= 0 ? 0 : 1);  // connects, then exits
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);  // reaped: its PID is free for reuse
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const int server = listener.Accept();
  ASSERT_GE(server, 0);
  auto peer = PeerProcess::FromSocket(server);
  EXPECT_EQ(peer.status().code(), StatusCode::kPermissionDenied) << peer.status().message();
  close(server);
}

TEST(WorkloadAttestorTest, AnExitedProcessIsRefused) {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  auto peer = PeerProcess::FromPid(child, getuid(), getgid());
  int status = 0;
  waitpid(child, &status, 0);
  if (peer.ok()) {
    // Taken before the child exited: it must now report the exit.
    EXPECT_FALSE(peer->Alive());
    WorkloadAttestor attestor;
    EXPECT_EQ(attestor.Attest(*peer).status().code(), StatusCode::kPermissionDenied);
  }
  EXPECT_FALSE(PeerProcess::FromPid(child, getuid(), getgid()).ok());
}

TEST(WorkloadAttestorTest, FindsTheSystemdUnitInTheCgroupPath) {
  EXPECT_EQ(SystemdUnitFromCgroup("0::/system.slice/nginx.service\n"), "nginx.service");
  EXPECT_EQ(SystemdUnitFromCgroup("0::/user.slice/user-1000.slice/session-3.scope\n"),
            "session-3.scope");
  EXPECT_EQ(SystemdUnitFromCgroup("12:cpu:/\n1:name=systemd:/system.slice/ward.service\n"),
            "ward.service");
  // A user's delegated subtree: the unit is the system manager's user@UID.service, whatever the
  // user named the units below it.
  EXPECT_EQ(SystemdUnitFromCgroup(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/sshd.service\n"),
            "user@1000.service");
  EXPECT_EQ(SystemdUnitFromCgroup("0::/\n"), "");
  EXPECT_EQ(SystemdUnitFromCgroup("garbage"), "");
  EXPECT_EQ(SystemdUnitFromCgroup(""), "");
}

store::RegistrationEntry Entry(const std::string& id, const std::string& spiffe_id,
                               const std::string& selector, int64_t revision) {
  store::RegistrationEntry e{.spiffe_id = SpiffeId::Parse(spiffe_id).value(),
                             .parent_id = SpiffeId::Parse("spiffe://example.org/agent").value()};
  e.id = id;
  e.selectors = {S(selector)};
  e.revision = revision;
  return e;
}

CachedSvid Svid(const std::string& spiffe_id, int64_t now, int64_t revision,
                const std::string& authority = "a1") {
  CachedSvid s;
  s.spiffe_id = spiffe_id;
  s.chain_der = Bytes(600, 1);
  s.issued_at = now;
  s.expires_at = now + 3600;
  s.renew_at = now + 1800;
  s.authority = authority;
  s.entry_revision = revision;
  return s;
}

TEST(AgentCacheTest, TracksEntriesSvidsAndWhatIsDue) {
  AgentCache cache(TrustDomain::Parse("example.org").value(), 100);
  const int64_t now = 1000000;
  const uint64_t v0 = cache.version();
  cache.ApplyEntries(true,
                     {Entry("e1", "spiffe://example.org/a", "unix:uid:1", 1),
                      Entry("e2", "spiffe://example.org/b", "unix:uid:2", 2)},
                     {});
  EXPECT_NE(cache.version(), v0);
  EXPECT_EQ(cache.Due(now, 10).size(), 2u);  // pre-issued: both lack an SVID
  cache.PutSvid("e1", Svid("spiffe://example.org/a", now, 1));
  cache.PutSvid("e2", Svid("spiffe://example.org/b", now, 2));
  EXPECT_TRUE(cache.Due(now, 10).empty());
  EXPECT_EQ(cache.Due(now + 1800, 10).size(), 2u);  // half-life reached
  // A tainted authority makes its SVIDs due at once, and no longer fresh.
  EXPECT_TRUE(cache.Fresh("e1", 1, now));
  cache.SetTaintedAuthorities({"a1"});
  EXPECT_EQ(cache.Due(now, 10).size(), 2u);
  EXPECT_FALSE(cache.Fresh("e1", 1, now));
  cache.SetTaintedAuthorities({});
  EXPECT_FALSE(cache.Fresh("e1", 2, now));         // for an older revision of the entry
  EXPECT_FALSE(cache.Fresh("e1", 1, now + 1800));  // past its renewal time
  // A changed entry makes its SVID due; a renamed one drops it.
  cache.ApplyEntries(false, {Entry("e1", "spiffe://example.org/a", "unix:uid:9", 3)}, {});
  EXPECT_EQ(cache.Due(now, 10).size(), 1u);
  cache.ApplyEntries(false, {Entry("e2", "spiffe://example.org/renamed", "unix:uid:2", 4)}, {});
  EXPECT_EQ(cache.Svid("e2", now), nullptr);
  // Matching uses the entries' selectors; deleting an entry drops its SVID.
  EXPECT_EQ(cache.Matching({S("unix:uid:9")}).size(), 1u);
  cache.ApplyEntries(false, {}, {"e1"});
  EXPECT_EQ(cache.Svid("e1", now), nullptr);
  EXPECT_EQ(cache.entry_count(), 1u);
  // A full sync replaces the set.
  cache.ApplyEntries(true, {Entry("e3", "spiffe://example.org/c", "unix:uid:3", 5)}, {});
  EXPECT_EQ(cache.entry_count(), 1u);
  EXPECT_FALSE(cache.Entry("e2").has_value());
}

TEST(AgentCacheTest, BeyondCapacityItSignsOnDemandAndKeepsTheRecentlyUsed) {
  AgentCache cache(TrustDomain::Parse("example.org").value(), 2);
  const int64_t now = 1000000;
  cache.ApplyEntries(true,
                     {Entry("e1", "spiffe://example.org/a", "unix:uid:1", 1),
                      Entry("e2", "spiffe://example.org/b", "unix:uid:2", 1),
                      Entry("e3", "spiffe://example.org/c", "unix:uid:3", 1)},
                     {});
  EXPECT_TRUE(cache.Due(now, 10).empty());  // more entries than capacity: nothing pre-issued
  cache.PutSvid("e1", Svid("spiffe://example.org/a", now, 1));
  cache.PutSvid("e2", Svid("spiffe://example.org/b", now, 1));
  ASSERT_NE(cache.Svid("e1", now), nullptr);  // e1 is now the most recently used
  cache.PutSvid("e3", Svid("spiffe://example.org/c", now, 1));
  EXPECT_EQ(cache.svid_count(), 2u);
  EXPECT_EQ(cache.Svid("e2", now), nullptr);  // the least recently used went
  EXPECT_NE(cache.Svid("e1", now), nullptr);
}

}  // namespace
}  // namespace ward::agent

#include "agent/workload_attestor.h"

#include <fcntl.h>
#include <grp.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "core/digest.h"
#include "core/openssl_ptr.h"

namespace ward::agent {
namespace {

#ifdef SO_PEERPIDFD
constexpr int kSoPeerPidfd = SO_PEERPIDFD;
#else
constexpr int kSoPeerPidfd = 77;  // Linux 6.5's value; glibc's headers may predate it
#endif

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// The text of a small /proc file, read with a few system calls (an ifstream costs several
// allocations and a locale per file, and attestation reads a few per call). Empty on any failure,
// and when the file is longer than any /proc file of a process should be: a cut-off text could
// end in part of a number.
std::string ReadProcFile(const std::string& path) {
  constexpr size_t kMaxBytes = 1024 * 1024;  // a Groups: line of 65536 groups is about 720 KB
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string out;
  char buf[4096];
  bool complete = false;
  while (out.size() <= kMaxBytes) {
    const ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      complete = got == 0;
      break;
    }
    out.append(buf, static_cast<size_t>(got));
  }
  ::close(fd);
  return complete ? out : "";
}

std::string ProcPath(pid_t pid, const char* file) {
  return "/proc/" + std::to_string(pid) + "/" + file;
}

// Field 22 of /proc/PID/stat: start time in clock ticks since boot. 0 when unreadable.
uint64_t StartTime(pid_t pid) { return StartTimeFromStat(ReadProcFile(ProcPath(pid, "stat"))); }

// True when `uid` is one of the real, effective, saved or filesystem uids of /proc/PID/status.
bool UidMatches(pid_t pid, uid_t uid) {
  const auto ids = StatusNumbers(ReadProcFile(ProcPath(pid, "status")), "Uid:");
  return std::find(ids.begin(), ids.end(), static_cast<unsigned long>(uid)) != ids.end();
}

// Supplementary groups from the "Groups:" line of /proc/PID/status.
std::vector<gid_t> SupplementaryGroups(pid_t pid) {
  std::vector<gid_t> out;
  for (unsigned long gid : StatusNumbers(ReadProcFile(ProcPath(pid, "status")), "Groups:")) {
    out.push_back(static_cast<gid_t>(gid));
  }
  return out;
}

// A user's or group's name through NSS: the name, "" when the ID has none, nullopt when the
// lookup failed (which is not remembered). The buffer grows for entries that do not fit, as
// directory groups with many members often do not.
template <typename Entry, typename Lookup>
std::optional<std::string> LookUpName(uint32_t id, Lookup lookup, char* Entry::*name_field) {
  std::vector<char> buf(4096);
  for (;;) {
    Entry entry{};
    Entry* found = nullptr;
    const int rc = lookup(id, &entry, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < 1024 * 1024) {
      buf.resize(buf.size() * 4);
      continue;
    }
    if (rc != 0) return std::nullopt;
    return found == nullptr ? std::string() : std::string(entry.*name_field);
  }
}

// The systemd unit of the process: the last cgroup path component naming a service or scope.
std::string SystemdUnit(pid_t pid) {
  return SystemdUnitFromCgroup(ReadProcFile(ProcPath(pid, "cgroup")));
}

}  // namespace

std::string SystemdUnitFromCgroup(std::string_view content) {
  std::string unit;
  size_t line_start = 0;
  while (line_start < content.size()) {
    size_t line_end = content.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = content.size();
    const std::string_view line = content.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    // cgroup v2: "0::/system.slice/foo.service"; v1 lines name a controller, "name=systemd" too.
    const size_t first = line.find(':');
    const size_t colon = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (colon == std::string_view::npos) continue;
    const std::string_view path = line.substr(colon + 1);
    size_t start = 0;
    while (start < path.size()) {
      size_t end = path.find('/', start);
      if (end == std::string_view::npos) end = path.size();
      const std::string_view part = path.substr(start, end - start);
      const auto ends_with = [&](std::string_view suffix) {
        return part.size() > suffix.size() &&
               part.compare(part.size() - suffix.size(), suffix.size(), suffix) == 0;
      };
      // The first unit from the root is the one the system manager runs; anything below it is
      // the unit's own (possibly user-delegated) subtree, which its owner may name at will.
      if (ends_with(".service") || ends_with(".scope")) {
        unit = std::string(part);
        break;
      }
      start = end + 1;
    }
    if (!unit.empty()) break;
  }
  return unit;
}

uint64_t StartTimeFromStat(std::string_view stat) {
  // The command name (field 2) is in parentheses and may contain spaces or ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos) return 0;
  std::string_view rest = stat.substr(close + 1);
  for (int field = 3; field <= 22; ++field) {
    const size_t start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) return 0;
    rest.remove_prefix(start);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    if (field == 22) {
      uint64_t value = 0;
      const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + end, value);
      return ec == std::errc() && ptr == rest.data() + end ? value : 0;
    }
    rest.remove_prefix(end);
  }
  return 0;
}

std::vector<unsigned long> StatusNumbers(std::string_view status, std::string_view key) {
  std::vector<unsigned long> out;
  size_t at = 0;
  while (at < status.size()) {
    const size_t end = status.find('\n', at);
    if (end == std::string_view::npos) return {};  // a line cut short is not trusted
    std::string_view line = status.substr(at, end - at);
    at = end + 1;
    if (line.substr(0, key.size()) != key) continue;
    line.remove_prefix(key.size());
    while (!line.empty()) {
      const size_t start = line.find_first_not_of(" \t");
      if (start == std::string_view::npos) break;
      line.remove_prefix(start);
      unsigned long value = 0;
      const auto [next, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
      if (ec != std::errc()) return {};
      out.push_back(value);
      line.remove_prefix(static_cast<size_t>(next - line.data()));
    }
    return out;
  }
  return out;
}

PeerProcess::PeerProcess(PeerProcess&& other) noexcept
    : pid_(other.pid_),
      uid_(other.uid_),
      gid_(other.gid_),
      pidfd_(std::exchange(other.pidfd_, -1)),
      start_time_(other.start_time_) {}

PeerProcess& PeerProcess::operator=(PeerProcess&& other) noexcept {
  if (this != &other) {
    if (pidfd_ >= 0) ::close(pidfd_);
    pid_ = other.pid_;
    uid_ = other.uid_;
    gid_ = other.gid_;
    pidfd_ = std::exchange(other.pidfd_, -1);
    start_time_ = other.start_time_;
  }
  return *this;
}

PeerProcess::~PeerProcess() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

Result<PeerProcess> PeerProcess::FromSocket(int socket_fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
    return PermissionDenied("cannot read the caller's credentials (SO_PEERCRED)");
  }
  // Linux 6.5 and later hand out a pidfd for the very process that connected, recorded by the
  // kernel at connect time: no other process can take its PID between SO_PEERCRED and the pidfd.
  // The kernel answers EINVAL when that process is already gone; older kernels do not know the
  // option, and the pidfd is then opened by PID below.
  int pidfd = -1;
  socklen_t pidfd_len = sizeof pidfd;
  const int rc = ::getsockopt(socket_fd, SOL_SOCKET, kSoPeerPidfd, &pidfd, &pidfd_len);
  if (rc == 0 && pidfd >= 0) return WithPidfd(cred.pid, cred.uid, cred.gid, pidfd);
  if (rc != 0 && (errno == EINVAL || errno == ESRCH)) {
    return PermissionDenied("the connecting process has exited");
  }
  WARD_ASSIGN_OR_RETURN(PeerProcess peer, FromPid(cred.pid, cred.uid, cred.gid));
  // If the connecting process exited and its PID went to another process before the pidfd was
  // taken, /proc would describe that other process: its uids must match the connection's.
  if (!UidMatches(cred.pid, cred.uid)) {
    return PermissionDenied("the connecting process is gone (its PID now names another process)");
  }
  return peer;
}

Result<PeerProcess> PeerProcess::FromPid(pid_t pid, uid_t uid, gid_t gid) {
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0 && errno == ESRCH) return PermissionDenied("the calling process has exited");
  return WithPidfd(pid, uid, gid, pidfd);
}

Result<PeerProcess> PeerProcess::WithPidfd(pid_t pid, uid_t uid, gid_t gid, int pidfd) {
  // With a pidfd, Alive() asks it and needs no start time. Without one (no pidfd_open), the
  // process is named by its start time, read now that the PID was taken.
  const uint64_t start = pidfd >= 0 ? 0 : StartTime(pid);
  PeerProcess peer(pid, uid, gid, pidfd, start);  // owns the pidfd from here
  if (pidfd >= 0 ? !peer.Alive() : start == 0) {
    return PermissionDenied("the calling process has exited");
  }
  return peer;
}

bool PeerProcess::Alive() const {
  if (pidfd_ >= 0) {
    // A pidfd becomes readable when its process (the whole thread group) exits, which is before
    // the process can be reaped and its PID freed for another: while it is not readable, /proc/PID
    // is still that process. (Which process the pidfd names was settled when it was taken: by
    // the kernel at connect time, or by PID with FromSocket's uid check.)
    struct pollfd p = {pidfd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }
  return start_time_ != 0 && StartTime(pid_) == start_time_;  // 0: never read, so never alive
}

struct WorkloadAttestor::HashCache {
  std::mutex mu;
  std::map<std::tuple<dev_t, ino_t, off_t, int64_t, int64_t, int64_t, int64_t>, std::string>
      by_file;
};

// User and group names by number, each kept for the attestor's name TTL. A lookup goes through
// NSS, which for the files backend opens and scans /etc/passwd or /etc/group: a quarter of a
// FetchX509SVID's cost before this cache.
struct WorkloadAttestor::NameCache {
  struct Name {
    std::string name;  // empty: the number has no name
    std::chrono::steady_clock::time_point looked_up;
  };
  std::mutex mu;
  std::unordered_map<uint32_t, Name> users;
  std::unordered_map<uint32_t, Name> groups;
  size_t lookups = 0;
};

WorkloadAttestor::WorkloadAttestor(std::chrono::milliseconds name_ttl)
    : hashes_(std::make_unique<HashCache>()),
      names_(std::make_unique<NameCache>()),
      name_ttl_(name_ttl) {}
WorkloadAttestor::~WorkloadAttestor() = default;

size_t WorkloadAttestor::name_lookups() const {
  std::lock_guard<std::mutex> lock(names_->mu);
  return names_->lookups;
}

std::string WorkloadAttestor::CachedName(bool user, uint32_t id) {
  auto& table = user ? names_->users : names_->groups;
  {
    std::lock_guard<std::mutex> lock(names_->mu);
    if (auto it = table.find(id);
        it != table.end() && std::chrono::steady_clock::now() - it->second.looked_up < name_ttl_) {
      return it->second.name;
    }
  }
  // Looked up outside the lock: NSS may be slow (a directory service), and two threads looking
  // up the same ID at once only repeat a lookup.
  const std::optional<std::string> name = user
                                              ? LookUpName<passwd>(id, getpwuid_r, &passwd::pw_name)
                                              : LookUpName<group>(id, getgrgid_r, &group::gr_name);
  std::lock_guard<std::mutex> lock(names_->mu);
  ++names_->lookups;
  if (!name) return "";  // a failed lookup gives no name selector this time, and is not kept
  if (table.size() >= 4096) table.clear();
  // Timed from the answer: a lookup slower than the TTL is still kept for the TTL.
  table[id] = {*name, std::chrono::steady_clock::now()};
  return *name;
}

Result<std::vector<store::Selector>> WorkloadAttestor::Attest(const PeerProcess& peer) {
  std::vector<store::Selector> out;
  auto add = [&](const char* type, std::string value) {
    if (!value.empty()) out.push_back({type, std::move(value)});
  };
  const std::string uid = std::to_string(peer.uid());
  const std::string gid = std::to_string(peer.gid());
  add("unix", "uid:" + uid);
  if (auto name = CachedName(/*user=*/true, peer.uid()); !name.empty()) {
    add("unix", "user:" + name);
  }
  add("unix", "gid:" + gid);
  if (auto name = CachedName(/*user=*/false, peer.gid()); !name.empty()) {
    add("unix", "group:" + name);
  }
  for (gid_t g : SupplementaryGroups(peer.pid())) {
    add("unix", "supplementary_gid:" + std::to_string(g));
    if (auto name = CachedName(/*user=*/false, g); !name.empty()) {
      add("unix", "supplementary_group:" + name);
    }
  }

  // The executable: its path, and the SHA-256 of the file the process actually runs (opening
  // /proc/PID/exe reaches it even if the path was replaced since).
  const std::string exe_link = ProcPath(peer.pid(), "exe");
  char path[4096];
  const ssize_t n = ::readlink(exe_link.c_str(), path, sizeof path - 1);
  if (n > 0) {
    std::string exe(path, static_cast<size_t>(n));
    add("unix", "path:" + exe);
    const int fd = ::open(exe_link.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      struct stat st {};
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        // ctime too: it cannot be set back by the file's owner, unlike mtime.
        const auto key = std::make_tuple(
            st.st_dev, st.st_ino, st.st_size, static_cast<int64_t>(st.st_mtim.tv_sec),
            static_cast<int64_t>(st.st_mtim.tv_nsec), static_cast<int64_t>(st.st_ctim.tv_sec),
            static_cast<int64_t>(st.st_ctim.tv_nsec));
        std::string digest;
        {
          std::lock_guard<std::mutex> lock(hashes_->mu);
          if (auto it = hashes_->by_file.find(key); it != hashes_->by_file.end()) {
            digest = it->second;
          }
        }
        if (digest.empty()) {
          ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
          bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
          unsigned char buf[65536];
          ssize_t got;
          while (ok && (got = ::read(fd, buf, sizeof buf)) > 0) {
            ok = EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(got)) == 1;
          }
          unsigned char md[EVP_MAX_MD_SIZE];
          unsigned int md_len = 0;
          if (ok && EVP_DigestFinal_ex(ctx.get(), md, &md_len) == 1) {
            digest = HexEncode(ByteView(md, md_len));
            std::lock_guard<std::mutex> lock(hashes_->mu);
            if (hashes_->by_file.size() > 4096) hashes_->by_file.clear();
            hashes_->by_file[key] = digest;
          }
        }
        add("unix", digest.empty() ? "" : "sha256:" + digest);
      }
      ::close(fd);
    }
  }
  if (const std::string unit = SystemdUnit(peer.pid()); !unit.empty()) {
    add("systemd", "id:" + unit);
    add("systemd", "unit:" + unit);
  }
  // Everything above was read while the process may have been exiting; if it did, what was read
  // may describe another process that took its PID.
  if (!peer.Alive()) return PermissionDenied("the calling process exited during attestation");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool SelectorsMatch(const std::vector<store::Selector>& required,
                    const std::vector<store::Selector>& have) {
  if (required.empty()) return false;
  for (const auto& s : required) {
    if (!std::binary_search(have.begin(), have.end(), s)) return false;
  }
  return true;
}

}  // namespace ward::agent

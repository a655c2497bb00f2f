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
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>

#include "core/digest.h"
#include "core/openssl_ptr.h"

namespace ward::agent {
namespace {

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Field 22 of /proc/PID/stat: start time in clock ticks since boot. 0 when unreadable.
uint64_t StartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  // The command name (field 2) is in parentheses and may contain spaces or ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
  }
  return 0;
}

std::string UserName(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || found == nullptr) return "";
  return pw.pw_name;
}

std::string GroupName(gid_t gid) {
  struct group gr {};
  struct group* found = nullptr;
  char buf[8192];
  if (getgrgid_r(gid, &gr, buf, sizeof buf, &found) != 0 || found == nullptr) return "";
  return gr.gr_name;
}

// True when `uid` is one of the real, effective, saved or filesystem uids of /proc/PID/status.
bool UidMatches(pid_t pid, uid_t uid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    std::istringstream ids(line.substr(4));
    unsigned long id = 0;
    while (ids >> id) {
      if (id == uid) return true;
    }
    return false;
  }
  return false;
}

// Supplementary groups from the "Groups:" line of /proc/PID/status.
std::vector<gid_t> SupplementaryGroups(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::vector<gid_t> out;
  while (std::getline(in, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream ids(line.substr(7));
    unsigned long gid = 0;
    while (ids >> gid) out.push_back(static_cast<gid_t>(gid));
    break;
  }
  return out;
}

// The systemd unit of the process: the last cgroup path component naming a service or scope.
std::string SystemdUnit(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  const std::string content((std::istreambuf_iterator<char>(in)), {});
  return SystemdUnitFromCgroup(content);
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
  const uint64_t start = StartTime(pid);
  PeerProcess peer(pid, uid, gid, pidfd, start);
  if (start == 0 || !peer.Alive()) return PermissionDenied("the calling process has exited");
  return peer;
}

bool PeerProcess::Alive() const {
  if (pidfd_ >= 0) {
    // A pidfd becomes readable when its process exits; it never refers to a reused PID.
    struct pollfd p = {pidfd_, POLLIN, 0};
    if (::poll(&p, 1, 0) != 0) return false;
  }
  return start_time_ != 0 && StartTime(pid_) == start_time_;
}

struct WorkloadAttestor::HashCache {
  std::mutex mu;
  std::map<std::tuple<dev_t, ino_t, off_t, int64_t, int64_t, int64_t, int64_t>, std::string>
      by_file;
};

WorkloadAttestor::WorkloadAttestor() : hashes_(std::make_unique<HashCache>()) {}
WorkloadAttestor::~WorkloadAttestor() = default;

Result<std::vector<store::Selector>> WorkloadAttestor::Attest(const PeerProcess& peer) {
  std::vector<store::Selector> out;
  auto add = [&](const char* type, std::string value) {
    if (!value.empty()) out.push_back({type, std::move(value)});
  };
  const std::string uid = std::to_string(peer.uid());
  const std::string gid = std::to_string(peer.gid());
  add("unix", "uid:" + uid);
  if (auto name = UserName(peer.uid()); !name.empty()) add("unix", "user:" + name);
  add("unix", "gid:" + gid);
  if (auto name = GroupName(peer.gid()); !name.empty()) add("unix", "group:" + name);
  for (gid_t g : SupplementaryGroups(peer.pid())) {
    add("unix", "supplementary_gid:" + std::to_string(g));
    if (auto name = GroupName(g); !name.empty()) add("unix", "supplementary_group:" + name);
  }

  // The executable: its path, and the SHA-256 of the file the process actually runs (opening
  // /proc/PID/exe reaches it even if the path was replaced since).
  const std::string proc = "/proc/" + std::to_string(peer.pid());
  char path[4096];
  const ssize_t n = ::readlink((proc + "/exe").c_str(), path, sizeof path - 1);
  if (n > 0) {
    std::string exe(path, static_cast<size_t>(n));
    add("unix", "path:" + exe);
    const int fd = ::open((proc + "/exe").c_str(), O_RDONLY | O_CLOEXEC);
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

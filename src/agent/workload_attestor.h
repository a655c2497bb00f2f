// Workload attestation: who is on the other end of a Workload API connection, in selectors.
// Identity comes from the kernel (SO_PEERCRED at connect time) and from /proc, never from the
// workload. A pidfd taken at accept time guards against the process exiting and its PID being
// reused while /proc is read.
#ifndef WARD_AGENT_WORKLOAD_ATTESTOR_H_
#define WARD_AGENT_WORKLOAD_ATTESTOR_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "store/types.h"

namespace ward::agent {

// The process behind a connected Unix socket. Move-only: owns the pidfd.
class PeerProcess {
 public:
  // SO_PEERCRED of `socket_fd`, plus a pidfd (SO_PEERPIDFD where the kernel has it, else opened
  // by PID) and the process start time.
  static Result<PeerProcess> FromSocket(int socket_fd);
  // For tests and tools: the process `pid` with the given credentials.
  static Result<PeerProcess> FromPid(pid_t pid, uid_t uid, gid_t gid);

  PeerProcess(PeerProcess&& other) noexcept;
  PeerProcess& operator=(PeerProcess&& other) noexcept;
  PeerProcess(const PeerProcess&) = delete;
  PeerProcess& operator=(const PeerProcess&) = delete;
  ~PeerProcess();

  pid_t pid() const { return pid_; }
  uid_t uid() const { return uid_; }
  gid_t gid() const { return gid_; }

  // True while the process that connected is still running (not exited, PID not reused).
  bool Alive() const;

 private:
  // Takes ownership of `pidfd` (-1 for none); without one, reads the start time.
  static Result<PeerProcess> WithPidfd(pid_t pid, uid_t uid, gid_t gid, int pidfd);
  PeerProcess(pid_t pid, uid_t uid, gid_t gid, int pidfd, uint64_t start_time)
      : pid_(pid), uid_(uid), gid_(gid), pidfd_(pidfd), start_time_(start_time) {}
  pid_t pid_ = 0;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int pidfd_ = -1;
  uint64_t start_time_ = 0;  // read only when there is no pidfd
};

// The selectors of a process:
//   unix:uid:N, unix:user:NAME, unix:gid:N, unix:group:NAME,
//   unix:supplementary_gid:N, unix:supplementary_group:NAME (each supplementary group),
//   unix:path:/abs/path, unix:sha256:HEX (the executable; omitted when /proc/PID/exe cannot be
//   read, e.g. another user's process for an unprivileged agent),
//   systemd:id:UNIT and systemd:unit:UNIT (the unit in the process's cgroup, when there is one).
// Fails (PermissionDenied) when the process exited or its PID was reused during attestation.
// User and group names are looked up through NSS and kept for `name_ttl` per ID (threads that miss
// at the same moment may each look up), so a renamed user or group shows in selectors within
// about that time plus whatever NSS itself caches (nscd, sssd). A failed lookup is not kept. A
// process's IDs, groups and executable are read afresh on every call.
class WorkloadAttestor {
 public:
  static constexpr std::chrono::milliseconds kDefaultNameTtl{1000};

  explicit WorkloadAttestor(std::chrono::milliseconds name_ttl = kDefaultNameTtl);
  ~WorkloadAttestor();
  WorkloadAttestor(const WorkloadAttestor&) = delete;
  WorkloadAttestor& operator=(const WorkloadAttestor&) = delete;

  Result<std::vector<store::Selector>> Attest(const PeerProcess& peer);

  // NSS lookups made so far (for tests of the name cache).
  size_t name_lookups() const;

 private:
  struct HashCache;
  struct NameCache;
  std::string CachedName(bool user, uint32_t id);

  std::unique_ptr<HashCache> hashes_;  // executable SHA-256 by (device, inode, size, mtime, ctime)
  std::unique_ptr<NameCache> names_;
  std::chrono::milliseconds name_ttl_;
};

// The systemd unit in the text of /proc/PID/cgroup: the first path component from the root ending
// in .service or .scope (cgroup v2, or the v1 hierarchies); empty when there is none.
std::string SystemdUnitFromCgroup(std::string_view content);

// Field 22 of the text of /proc/PID/stat, the start time in clock ticks since boot; 0 when the text
// does not have it.
uint64_t StartTimeFromStat(std::string_view stat);

// The numbers after `key` ("Uid:", "Groups:") on its line of the text of /proc/PID/status; empty
// when the line is missing, cut short (no newline) or holds anything but numbers.
std::vector<unsigned long> StatusNumbers(std::string_view status, std::string_view key);

// True when every selector of `required` is in `have`, which must be sorted (as Attest returns
// it). An entry with no selectors matches nothing.
bool SelectorsMatch(const std::vector<store::Selector>& required,
                    const std::vector<store::Selector>& have);

}  // namespace ward::agent

#endif  // WARD_AGENT_WORKLOAD_ATTESTOR_H_

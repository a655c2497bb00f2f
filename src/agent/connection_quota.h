// How many Workload API connections each local user may hold open at once. The socket is open to
// every user and the agent serves a bounded number of connections, so without a per-user share
// one user could fill them all and lock every other workload on the node out.
#ifndef WARD_AGENT_CONNECTION_QUOTA_H_
#define WARD_AGENT_CONNECTION_QUOTA_H_

#include <sys/types.h>

#include <cstddef>
#include <memory>

#include "core/status.h"

namespace ward::agent {

class ConnectionQuota {
 public:
  explicit ConnectionQuota(size_t per_uid);

  // A slot for one more connection of `uid`, given back when the returned handle (and every copy
  // of it) is gone; ResourceExhausted when `uid` holds `per_uid` already. Thread-safe; handles
  // may outlive the quota.
  Result<std::shared_ptr<void>> Acquire(uid_t uid);
  size_t open(uid_t uid) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace ward::agent

#endif  // WARD_AGENT_CONNECTION_QUOTA_H_

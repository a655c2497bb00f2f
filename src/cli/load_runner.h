// The measuring half of `ward bench`: runs an operation from several threads for a while (closed
// loop, or paced at a fixed rate), records each call's latency, and summarizes it as the JSON
// object every bench verb prints. Also reads another process's CPU time and memory from /proc, so
// a bench can report what the server (or agent) spent per operation.
#ifndef WARD_CLI_LOAD_RUNNER_H_
#define WARD_CLI_LOAD_RUNNER_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace ward::cli {

struct LoadSummary {
  int64_t operations = 0;  // successful operations (SVIDs issued, tokens validated, syncs, ...)
  int64_t errors = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;  // one per call (a call may carry several operations)
  std::string first_error;

  double Percentile(double p) const;  // 0 when nothing was recorded
};

// The operation a worker repeats: returns how many operations the call completed, or an error.
// `worker` is 0..concurrency-1, so workers can keep their own clients.
using LoadOperation = std::function<Result<int>(int worker)>;

// Each of `concurrency` threads calls `op` back to back until `seconds` have passed.
LoadSummary RunClosedLoop(int concurrency, double seconds, const LoadOperation& op);

// Starts calls at `rate` per second in total, spread over `concurrency` threads, for `seconds`.
// Latency counts from when a call was due, not when a thread got to it, so a server that falls
// behind shows it (no coordinated omission).
LoadSummary RunPaced(int concurrency, double seconds, double rate, const LoadOperation& op);

// CPU time (user + system) and resident memory of a process, from /proc/<pid>.
struct ProcessUsage {
  double cpu_seconds = 0;
  int64_t rss_bytes = 0;
};
Result<ProcessUsage> ReadProcessUsage(pid_t pid);

// {"issued", "seconds", "rate", "p50_ms", "p99_ms", "errors"} plus, when `cpu_seconds` is set,
// "server_cpu_seconds" and "server_cpu_us_per_op", as one line of JSON.
std::string SummaryJson(const LoadSummary& s, std::optional<double> cpu_seconds,
                        const std::vector<std::pair<std::string, double>>& extra = {});

// Raises this process's open-file limit to its hard limit (thousands of connections).
void RaiseFileLimit();

}  // namespace ward::cli

#endif  // WARD_CLI_LOAD_RUNNER_H_

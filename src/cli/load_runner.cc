#include "cli/load_runner.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace ward::cli {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

struct WorkerTally {
  int64_t operations = 0;
  int64_t errors = 0;
  std::vector<double> latencies_ms;
  std::string first_error;

  void Count(const Result<int>& r, double ms) {
    latencies_ms.push_back(ms);
    if (r.ok()) {
      operations += *r;
    } else {
      ++errors;
      if (first_error.empty()) first_error = r.status().message();
    }
  }
};

LoadSummary Merge(std::vector<WorkerTally>& tallies, double seconds) {
  LoadSummary out;
  out.seconds = seconds;
  for (auto& t : tallies) {
    out.operations += t.operations;
    out.errors += t.errors;
    out.latencies_ms.insert(out.latencies_ms.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    if (out.first_error.empty()) out.first_error = t.first_error;
  }
  return out;
}

}  // namespace

double LoadSummary::Percentile(double p) const {
  if (latencies_ms.empty()) return 0;
  std::vector<double> sorted = latencies_ms;
  const double n = static_cast<double>(sorted.size());
  // The smallest value with at least p% of the values at or below it (p = 0: the smallest).
  const size_t at_or_below = static_cast<size_t>(std::ceil(p / 100.0 * n));
  const size_t rank = std::min(sorted.size(), std::max<size_t>(at_or_below, 1)) - 1;
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(rank), sorted.end());
  return sorted[rank];
}

LoadSummary RunClosedLoop(int concurrency, double seconds, const LoadOperation& op) {
  std::vector<WorkerTally> tallies(static_cast<size_t>(concurrency));
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) {
    threads.emplace_back([&, w] {
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        const Result<int> r = op(w);
        tallies[static_cast<size_t>(w)].Count(r, MsSince(t0));
      }
    });
  }
  for (auto& t : threads) t.join();
  return Merge(tallies, std::chrono::duration<double>(Clock::now() - start).count());
}

LoadSummary RunPaced(int concurrency, double seconds, double rate, const LoadOperation& op) {
  std::vector<WorkerTally> tallies(static_cast<size_t>(concurrency));
  const auto start = Clock::now();
  const auto period = std::chrono::duration<double>(1.0 / rate);
  // Rounded, not truncated: 5.7 s at 2000/5.7 a second is 2000 operations, not 1999.
  const int64_t total = std::llround(seconds * rate);
  std::atomic<int64_t> next{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) {
    threads.emplace_back([&, w] {
      for (;;) {
        const int64_t i = next.fetch_add(1);
        if (i >= total) return;
        const auto due =
            start + std::chrono::duration_cast<Clock::duration>(period * static_cast<double>(i));
        std::this_thread::sleep_until(due);
        const Result<int> r = op(w);
        tallies[static_cast<size_t>(w)].Count(r, MsSince(due));
      }
    });
  }
  for (auto& t : threads) t.join();
  return Merge(tallies, std::chrono::duration<double>(Clock::now() - start).count());
}

Result<ProcessUsage> ReadProcessUsage(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return NotFound("no process " + std::to_string(pid));
  // Fields after the command name (which may contain spaces) start at state, field 3.
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return Internal("unreadable /proc stat");
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 22) return Internal("unreadable /proc stat");
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  ProcessUsage out;
  // utime and stime are fields 14 and 15, rss (pages) field 24; fields[0] is field 3.
  out.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
  out.rss_bytes = std::stoll(fields[21]) * ::sysconf(_SC_PAGESIZE);
  return out;
}

std::string SummaryJson(const LoadSummary& s, std::optional<double> cpu_seconds,
                        const std::vector<std::pair<std::string, double>>& extra) {
  nlohmann::ordered_json j;
  const auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
  j["issued"] = s.operations;
  j["seconds"] = round3(s.seconds);
  j["rate"] = round3(s.seconds > 0 ? static_cast<double>(s.operations) / s.seconds : 0);
  j["p50_ms"] = round3(s.Percentile(50));
  j["p99_ms"] = round3(s.Percentile(99));
  j["errors"] = s.errors;
  if (cpu_seconds) {
    j["server_cpu_seconds"] = round3(*cpu_seconds);
    j["server_cpu_us_per_op"] =
        round3(s.operations > 0 ? *cpu_seconds * 1e6 / static_cast<double>(s.operations) : 0);
  }
  for (const auto& [k, v] : extra) j[k] = round3(v);
  return j.dump();
}

void RaiseFileLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace ward::cli

#include "telemetry/log.h"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

namespace ward::telemetry {

Result<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return InvalidArgument("log level must be debug, info, warn or error");
}

void Logger::Log(LogLevel level, std::string_view message, const Fields& fields) {
  if (level < min_) return;
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  const auto now = std::chrono::system_clock::now();
  const time_t secs = std::chrono::system_clock::to_time_t(now);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  nlohmann::json line = {
      {"time", ts}, {"level", kNames[static_cast<int>(level)]}, {"msg", message}};
  for (const auto& [k, v] : fields) line[k] = v;
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(mu_);
  (void)!::write(fd_, text.data(), text.size());
}

}  // namespace ward::telemetry

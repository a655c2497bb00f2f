// Structured logs: one JSON object per line on stderr, with a level threshold. Never pass secrets
// (keys, tokens, join tokens) as fields; log their IDs instead.
#ifndef WARD_TELEMETRY_LOG_H_
#define WARD_TELEMETRY_LOG_H_

#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace ward::telemetry {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
Result<LogLevel> ParseLogLevel(std::string_view name);

class Logger {
 public:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  explicit Logger(LogLevel min_level, int fd = 2) : min_(min_level), fd_(fd) {}

  void Log(LogLevel level, std::string_view message, const Fields& fields = {});
  void Info(std::string_view m, const Fields& f = {}) { Log(LogLevel::kInfo, m, f); }
  void Warn(std::string_view m, const Fields& f = {}) { Log(LogLevel::kWarn, m, f); }
  void Error(std::string_view m, const Fields& f = {}) { Log(LogLevel::kError, m, f); }

 private:
  LogLevel min_;
  int fd_;
  std::mutex mu_;
};

}  // namespace ward::telemetry

#endif  // WARD_TELEMETRY_LOG_H_

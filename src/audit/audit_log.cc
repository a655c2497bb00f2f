#include "audit/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "core/digest.h"
#include "core/json_writer.h"

namespace ward::audit {
namespace {

using nlohmann::json;

std::string NowRfc3339() {
  const auto now = std::chrono::system_clock::now();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

// Writes all of `data`; on failure `*written` says how much of it did reach the file.
Status WriteAll(int fd, std::string_view data, size_t* written) {
  *written = 0;
  while (*written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + *written, data.size() - *written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status(StatusCode::kUnavailable,
                    std::string("cannot write audit record: ") + std::strerror(errno));
    }
    *written += static_cast<size_t>(n);
  }
  return OkStatus();
}

// Why a record with sequence `seq` and previous-record hash `prev` cannot follow the record with
// `prev_seq` and `prev_hash`; empty when it can.
std::string LinkError(uint64_t seq, std::string_view prev, uint64_t prev_seq,
                      const std::string& prev_hash) {
  if (seq != prev_seq + 1) {
    return "sequence " + std::to_string(seq) + " follows " + std::to_string(prev_seq);
  }
  if (prev != prev_hash) {
    return prev_seq == 0 ? "first record does not start the chain"
                         : "previous-record hash does not match record " +
                               std::to_string(prev_seq) + " (it was changed or removed)";
  }
  return "";
}

// The value after the only occurrence of `key` (quoted, with its colon) in `line`. JSON escapes
// every quote inside a string, so the quoted key text cannot appear inside a value.
std::optional<std::string_view> UniqueKeyValue(std::string_view line, std::string_view key) {
  const size_t at = line.find(key);
  if (at == std::string_view::npos || line.find(key, at + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  return line.substr(at + key.size());
}

// CheckLink's answer read straight from the text, for the lines the chain itself vouches for (a
// later record's hash covers every byte of them). Null when the line is not plainly shaped.
std::optional<std::string> QuickLink(std::string_view line, uint64_t prev_seq,
                                     const std::string& prev_hash, uint64_t* seq_out) {
  if (line.size() < 2 || line.front() != '{' || line.back() != '}') return std::nullopt;
  const auto seq = UniqueKeyValue(line, "\"seq\":");
  const auto prev = UniqueKeyValue(line, "\"prev\":\"");
  if (!seq || !prev || prev->size() < 65 || (*prev)[64] != '"') return std::nullopt;
  uint64_t value = 0;
  size_t digits = 0;
  while (digits < seq->size() && digits < 19 &&
         std::isdigit(static_cast<unsigned char>((*seq)[digits]))) {
    value = value * 10 + static_cast<uint64_t>((*seq)[digits] - '0');
    ++digits;
  }
  if (digits == 0 || digits == seq->size() || ((*seq)[digits] != ',' && (*seq)[digits] != '}')) {
    return std::nullopt;
  }
  *seq_out = value;
  return LinkError(value, prev->substr(0, 64), prev_seq, prev_hash);
}

// Why `line` cannot follow the record with `prev_seq` and `prev_hash`; empty when it can.
std::string CheckLink(const std::string& line, uint64_t prev_seq, const std::string& prev_hash,
                      uint64_t* seq_out) {
  json record;
  try {
    record = json::parse(line);
  } catch (const json::exception&) {
    return "not valid JSON";
  }
  if (!record.is_object()) return "not a JSON object";
  const auto seq = record.find("seq");
  const auto prev = record.find("prev");
  if (seq == record.end() || !seq->is_number_unsigned()) return "no sequence number";
  if (prev == record.end() || !prev->is_string()) return "no previous-record hash";
  *seq_out = seq->get<uint64_t>();
  return LinkError(*seq_out, prev->get_ref<const std::string&>(), prev_seq, prev_hash);
}

}  // namespace

AuditEvent& AuditEvent::Set(std::string key, std::string value) {
  fields_.emplace_back(std::move(key), std::move(value));
  return *this;
}
AuditEvent& AuditEvent::Set(std::string key, int64_t value) {
  fields_.emplace_back(std::move(key), value);
  return *this;
}
AuditEvent& AuditEvent::Set(std::string key, bool value) {
  fields_.emplace_back(std::move(key), value);
  return *this;
}

// One record as JSON text, exactly as nlohmann/json would dump it (members sorted by key, a
// later member replacing an earlier one of the same name) but without building the object:
// on a batch of issued SVIDs the object cost more than the hash and the write together.
// Invalid UTF-8 in a field (e.g. from a hostile CSR) is replaced rather than failing the write.
std::string WriteRecord(uint64_t seq, const std::string& time, const AuditEvent& event,
                        const std::string& prev) {
  struct Member {
    std::string_view key;
    std::string text;
  };
  std::vector<Member> members;
  members.reserve(event.fields().size() + 4);
  const auto put = [&members](std::string_view key, std::string text) {
    for (auto& m : members) {
      if (m.key == key) {
        m.text = std::move(text);
        return;
      }
    }
    members.push_back({key, std::move(text)});
  };
  const auto quoted = [](std::string_view v) {
    std::string text;
    AppendJsonString(v, &text, InvalidUtf8::kReplace);
    return text;
  };
  put("seq", std::to_string(seq));
  put("time", quoted(time));
  put("event", quoted(event.type()));
  for (const auto& [key, value] : event.fields()) {
    if (const auto* str = std::get_if<std::string>(&value)) {
      put(key, quoted(*str));
    } else if (const auto* num = std::get_if<int64_t>(&value)) {
      put(key, std::to_string(*num));
    } else {
      put(key, std::get<bool>(value) ? "true" : "false");
    }
  }
  put("prev", quoted(prev));
  std::sort(members.begin(), members.end(),
            [](const Member& a, const Member& b) { return a.key < b.key; });
  std::string line = "{";
  for (const auto& m : members) {
    if (line.size() > 1) line += ',';
    AppendJsonString(m.key, &line, InvalidUtf8::kReplace);
    line += ':';
    line += m.text;
  }
  line += '}';
  return line;
}

std::string ChainHash(std::string_view line) { return HexEncode(Sha256(AsBytes(line))); }

AuditLog::AuditLog(int fd, bool owns_fd, uint64_t sequence, std::string prev_hash)
    : fd_(fd), owns_fd_(owns_fd), sequence_(sequence), prev_hash_(std::move(prev_hash)) {}

AuditLog::~AuditLog() {
  if (owns_fd_) ::close(fd_);
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& destination) {
  if (destination == "-") {
    return std::unique_ptr<AuditLog>(new AuditLog(STDOUT_FILENO, false, 0, kGenesisHash));
  }
  // Continue an existing chain, refusing to append to one that is already broken. Only regular
  // files hold a chain; devices and pipes (/dev/stdout, a FIFO to a collector) start a new one.
  uint64_t sequence = 0;
  std::string prev_hash = kGenesisHash;
  struct stat st {};
  if (::stat(destination.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    std::ifstream in(destination);
    const AuditVerifyReport report = VerifyAuditStream(in);
    if (!report.intact) {
      return FailedPrecondition("audit log " + destination + " is broken at line " +
                                std::to_string(report.first_broken_line) + " (" + report.reason +
                                "); move it aside and investigate before starting");
    }
    sequence = report.last_sequence;
    prev_hash = report.last_hash;
  }
  const int fd = ::open(destination.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return FailedPrecondition("cannot open audit log " + destination + ": " + std::strerror(errno));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(fd, true, sequence, std::move(prev_hash)));
}

Status AuditLog::Record(const AuditEvent& event) { return RecordAll({&event, 1}); }

Status AuditLog::RecordAll(std::span<const AuditEvent> events) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t sequence = sequence_;
  std::string prev_hash = prev_hash_;
  std::string lines;
  const std::string time = NowRfc3339();  // the batch is written at one instant
  for (const AuditEvent& event : events) {
    const std::string line = WriteRecord(sequence + 1, time, event, prev_hash);
    prev_hash = ChainHash(line);
    ++sequence;
    lines += line;
    lines += '\n';
  }
  // The records land together or the chain stays where it was: a write that stopped part way
  // (a full disk, say) is cut back off a file, so the next record does not repeat a sequence.
  // (On a pipe or terminal the partial bytes are gone already.)
  size_t written = 0;
  const Status status = WriteAll(fd_, lines, &written);
  if (!status.ok()) {
    struct stat st {};
    if (written > 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size >= static_cast<off_t>(written)) {
      (void)::ftruncate(fd_, st.st_size - static_cast<off_t>(written));
    }
    return status;
  }
  sequence_ = sequence;
  prev_hash_ = std::move(prev_hash);
  return OkStatus();
}

uint64_t AuditLog::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sequence_;
}

Result<AuditVerifyReport> VerifyAuditFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot read audit log " + path);
  return VerifyAuditStream(in);
}

AuditVerifyReport VerifyAuditStream(std::istream& in) {
  AuditVerifyReport report;
  uint64_t sequence = 0;
  std::string prev_hash = kGenesisHash;
  std::string line;
  uint64_t line_no = 0;
  std::string last_line;
  uint64_t before_last_sequence = 0;
  std::string before_last_hash = prev_hash;
  while (std::getline(in, line)) {
    ++line_no;
    uint64_t seq = 0;
    // Records are read from the text; only the last one, which no later hash covers, is also
    // parsed as JSON (below). A line of another shape is parsed in full.
    auto quick = QuickLink(line, sequence, prev_hash, &seq);
    const std::string why = quick ? std::move(*quick) : CheckLink(line, sequence, prev_hash, &seq);
    if (!why.empty()) {
      report.first_broken_line = line_no;
      report.reason = why;
      report.records = line_no - 1;
      report.last_sequence = sequence;
      report.last_hash = prev_hash;
      return report;
    }
    before_last_sequence = sequence;
    before_last_hash = prev_hash;
    sequence = seq;
    prev_hash = ChainHash(line);
    last_line.swap(line);
  }
  if (line_no > 0 && !json::accept(last_line)) {
    report.first_broken_line = line_no;
    report.reason = "not valid JSON";
    report.records = line_no - 1;
    report.last_sequence = before_last_sequence;
    report.last_hash = before_last_hash;
    return report;
  }
  report.intact = true;
  report.records = line_no;
  report.last_sequence = sequence;
  report.last_hash = prev_hash;
  return report;
}

}  // namespace ward::audit

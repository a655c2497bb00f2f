// The audit trail: one JSON object per line, each carrying a sequence number and the SHA-256 of
// the previous line, so deleting, reordering or editing any record breaks the chain. Writing is
// fail-closed: Record() returns an error when the line could not be written, and callers must
// then fail the audited operation.
#ifndef WARD_AUDIT_AUDIT_LOG_H_
#define WARD_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <istream>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"

namespace ward::audit {

// Event names from the seed's audit configuration, plus admin changes.
inline constexpr std::string_view kIdentityIssued = "identity.issued";
inline constexpr std::string_view kIdentityRevoked = "identity.revoked";
inline constexpr std::string_view kAccessGranted = "access.granted";
inline constexpr std::string_view kAccessDenied = "access.denied";
inline constexpr std::string_view kAdminChange = "admin.change";

class AuditEvent {
 public:
  using Value = std::variant<std::string, int64_t, bool>;

  explicit AuditEvent(std::string_view type) : type_(type) {}
  AuditEvent& Set(std::string key, std::string value);
  AuditEvent& Set(std::string key, const char* value) {
    return Set(std::move(key), std::string(value));
  }
  AuditEvent& Set(std::string key, int64_t value);
  AuditEvent& Set(std::string key, bool value);

  const std::string& type() const { return type_; }
  const std::vector<std::pair<std::string, Value>>& fields() const { return fields_; }

 private:
  std::string type_;
  std::vector<std::pair<std::string, Value>> fields_;
};

class AuditLog {
 public:
  // "-" writes to standard output; anything else is a file appended to (created 0600), whose
  // existing chain is continued after checking it is intact.
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& destination);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one record. Thread-safe. Fails (and leaves the chain unchanged) when the write fails.
  Status Record(const AuditEvent& event);
  // Appends several records with one write (a signing batch's issuances): all or none (a
  // partial write to a file is cut back off).
  Status RecordAll(std::span<const AuditEvent> events);

  uint64_t last_sequence() const;

 private:
  AuditLog(int fd, bool owns_fd, uint64_t sequence, std::string prev_hash);

  mutable std::mutex mu_;
  int fd_;
  bool owns_fd_;
  uint64_t sequence_;      // of the last record written
  std::string prev_hash_;  // hex SHA-256 of the last line written
};

struct AuditVerifyReport {
  bool intact = false;
  uint64_t records = 0;
  uint64_t first_broken_line = 0;  // 1-based; 0 when intact
  std::string reason;              // why that line breaks the chain
  uint64_t last_sequence = 0;      // of the last intact record
  std::string last_hash;           // ChainHash of the last intact record (genesis when none)
};

// Checks the whole chain of an audit file, or of audit lines read from a stream.
Result<AuditVerifyReport> VerifyAuditFile(const std::string& path);
AuditVerifyReport VerifyAuditStream(std::istream& in);

// The hash a record's successor must carry: hex SHA-256 of the line without its newline.
std::string ChainHash(std::string_view line);
// The "prev" of the first record.
inline const std::string kGenesisHash(64, '0');

}  // namespace ward::audit

#endif  // WARD_AUDIT_AUDIT_LOG_H_

// Audit chain verification on arbitrary text. Invariant: an intact verdict covers every line,
// a broken one names a line inside the input.
#include <sstream>
#include <string>

#include "audit/audit_log.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text);
  const ward::audit::AuditVerifyReport r = ward::audit::VerifyAuditStream(in);
  size_t lines = 0;
  for (size_t i = 0; i < text.size(); ++i) lines += text[i] == '\n' || i + 1 == text.size();
  if (r.intact) {
    FUZZ_CHECK(r.records == lines);
  } else {
    FUZZ_CHECK(r.first_broken_line >= 1 && r.first_broken_line <= lines);
    FUZZ_CHECK(!r.reason.empty());
  }
  return 0;
}

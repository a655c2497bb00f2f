// SPIFFE ID and trust domain parsing. Invariants: an accepted ID is byte-identical to its input,
// re-parses to itself, and splits into a trust domain that parses on its own.
#include <string_view>

#include "core/spiffe_id.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto id = ward::SpiffeId::Parse(text);
  if (id.ok()) {
    FUZZ_CHECK(id->str() == text);
    FUZZ_CHECK(id->str().size() <= ward::kMaxSpiffeIdBytes);
    auto again = ward::SpiffeId::Parse(id->str());
    FUZZ_CHECK(again.ok() && *again == *id);
    auto td = ward::TrustDomain::Parse(id->trust_domain_name());
    FUZZ_CHECK(td.ok());
    FUZZ_CHECK(ward::ValidateSpiffePath(id->path()).ok());
    auto rebuilt = ward::SpiffeId::FromPath(*td, id->path());
    FUZZ_CHECK(rebuilt.ok() && *rebuilt == *id);
  } else {
    FUZZ_CHECK(!id.status().message().empty());
  }
  (void)ward::TrustDomain::Parse(text);
  (void)ward::TrustDomain::FromNameOrId(text);
  return 0;
}

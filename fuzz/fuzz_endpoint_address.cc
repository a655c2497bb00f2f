// Workload API endpoint addresses (SPIFFE_ENDPOINT_SOCKET). Invariants: an accepted address
// becomes a unix: target with an absolute path or an ipv4:/ipv6: target with a port.
#include <string>
#include <string_view>

#include "agent/endpoint_address.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto target = ward::agent::EndpointTarget(text);
  if (!target.ok()) {
    FUZZ_CHECK(!target.status().message().empty());
    return 0;
  }
  const std::string& t = *target;
  const bool unix_target = t.rfind("unix:/", 0) == 0;
  const bool ip_target = t.rfind("ipv4:", 0) == 0 || t.rfind("ipv6:[", 0) == 0;
  FUZZ_CHECK(unix_target || ip_target);
  if (ip_target) FUZZ_CHECK(t.find_last_of(':') > 5 && t.back() != ':');
  return 0;
}

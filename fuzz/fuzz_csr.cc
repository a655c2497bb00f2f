// CSR parsing with the proof-of-possession check (DER and PEM).
#include <string_view>

#include "core/csr.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto csr = ward::ParseCsrDer(ward::ByteView(data, size));
  if (csr.ok()) FUZZ_CHECK(ward::CheckAcceptableKey(csr->public_key.info()).ok());
  (void)ward::ParseCsrPem(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

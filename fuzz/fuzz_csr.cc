// CSR parsing with the proof-of-possession check (DER and PEM).
#include <string_view>

#include "core/csr.h"
#include "fuzz_check.h"

namespace {

// What the CA relies on in an accepted CSR: an acceptable key, and SubjectPublicKeyInfo bytes
// (copied into the certificate as they are) that read back as that same kind of key.
void CheckAccepted(const ward::CertificateRequest& csr) {
  FUZZ_CHECK(ward::CheckAcceptableKey(csr.key.info).ok());
  auto key = ward::PublicKey::FromSpkiDer(csr.key.spki_der);
  FUZZ_CHECK(key.ok());
  FUZZ_CHECK(key->info().family == csr.key.info.family);
  FUZZ_CHECK(key->info().bits == csr.key.info.bits);
  FUZZ_CHECK(key->info().curve == csr.key.info.curve);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto csr = ward::ParseCsrDer(ward::ByteView(data, size));
  if (csr.ok()) CheckAccepted(*csr);
  auto pem = ward::ParseCsrPem(std::string_view(reinterpret_cast<const char*>(data), size));
  if (pem.ok()) CheckAccepted(*pem);
  return 0;
}

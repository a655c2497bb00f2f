// CSR parsing with the proof-of-possession check (DER and PEM); what is accepted, OpenSSL accepts.
#include <openssl/err.h>
#include <openssl/x509.h>

#include <string_view>

#include "core/csr.h"
#include "core/openssl_ptr.h"
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

// A DER CSR Ward accepts is one OpenSSL reads and whose signature OpenSSL verifies too: Ward's
// own reading and P-256 verification (csr.cc, p256_verify.h) never accept more.
void CheckOpenSslAgrees(const uint8_t* data, size_t size) {
  const unsigned char* p = data;
  ward::ossl::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(size)));
  FUZZ_CHECK(req != nullptr && p == data + size);
  FUZZ_CHECK(X509_REQ_verify(req.get(), X509_REQ_get0_pubkey(req.get())) == 1);
  ERR_clear_error();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto csr = ward::ParseCsrDer(ward::ByteView(data, size));
  if (csr.ok()) {
    CheckAccepted(*csr);
    CheckOpenSslAgrees(data, size);
  }
  auto pem = ward::ParseCsrPem(std::string_view(reinterpret_cast<const char*>(data), size));
  if (pem.ok()) CheckAccepted(*pem);
  return 0;
}

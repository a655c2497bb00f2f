// PKCS#10 certificate signing requests: parsing with the proof-of-possession check (the request
// must be signed by the key it carries), and creation for agents and tests.
#ifndef WARD_CORE_CSR_H_
#define WARD_CORE_CSR_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/keys.h"
#include "core/status.h"

namespace ward {

inline constexpr size_t kMaxCsrBytes = 32 * 1024;

struct CertificateRequest {
  // The request's key, its SubjectPublicKeyInfo exactly as sent (what the certificate carries).
  SubjectPublicKey key;
  std::vector<std::string> uri_sans;  // informational: the CA decides the SVID's identity
};

// Parses a DER CSR, checks its self-signature and that its key is acceptable (EC P-256/384/521
// or RSA >= 2048).
Result<CertificateRequest> ParseCsrDer(ByteView der);
Result<CertificateRequest> ParseCsrPem(std::string_view pem);

// A DER CSR signed by `key`, with `uri_san` as its only subjectAltName when non-empty.
Result<Bytes> CreateCsrDer(const PrivateKey& key, std::string_view uri_san = {});

}  // namespace ward

#endif  // WARD_CORE_CSR_H_

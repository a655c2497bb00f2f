// An immutable X.509 certificate plus the few accessors SPIFFE needs. Copies share the underlying
// reference-counted X509 object.
#ifndef WARD_CORE_CERTIFICATE_H_
#define WARD_CORE_CERTIFICATE_H_

#include <openssl/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/clock.h"
#include "core/keys.h"
#include "core/openssl_ptr.h"
#include "core/status.h"

namespace ward {

// Largest single certificate Ward parses; real SVIDs are well under 4 KiB.
inline constexpr size_t kMaxCertificateBytes = 64 * 1024;
// Largest PEM or DER certificate list (chain or bundle) Ward parses.
inline constexpr size_t kMaxCertificateListBytes = 4 * 1024 * 1024;

class Certificate {
 public:
  explicit Certificate(ossl::X509Ptr x509);
  Certificate(const Certificate& other);
  Certificate& operator=(const Certificate& other);
  Certificate(Certificate&&) noexcept = default;
  Certificate& operator=(Certificate&&) noexcept = default;

  static Result<Certificate> FromDer(ByteView der);

  Bytes ToDer() const;
  std::string ToPem() const;
  PublicKey public_key() const;
  // URI subjectAltName entries, in certificate order.
  std::vector<std::string> UriSans() const;
  std::vector<std::string> DnsSans() const;
  UnixSeconds not_before() const;
  UnixSeconds not_after() const;
  std::string SerialHex() const;
  std::string SubjectString() const;
  bool IsCa() const;

  X509* get() const { return x509_.get(); }

 private:
  ossl::X509Ptr x509_;
};

// Every CERTIFICATE block of a PEM text, in order. Fails on a block that does not parse; at least
// one certificate is required.
Result<std::vector<Certificate>> ParsePemCertificates(std::string_view pem);
// Certificates written back to back in DER with no separators (the Workload API's encoding).
Result<std::vector<Certificate>> ParseDerCertificates(ByteView der);
std::string CertificatesToPem(const std::vector<Certificate>& certs);
Bytes CertificatesToDer(const std::vector<Certificate>& certs);

}  // namespace ward

#endif  // WARD_CORE_CERTIFICATE_H_

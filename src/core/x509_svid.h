// X.509-SVIDs (X509-SVID.md): certificate templates exactly as the standard requires, and the
// validator that selects the bundle by the leaf's trust domain.
#ifndef WARD_CORE_X509_SVID_H_
#define WARD_CORE_X509_SVID_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bundle.h"
#include "core/certificate.h"
#include "core/keys.h"
#include "core/signer.h"
#include "core/spiffe_id.h"
#include "core/status.h"

namespace ward {

// The signer of a new certificate: its key and, unless the certificate is self-signed, its own
// certificate (whose subject becomes the issuer and whose key ID becomes the authority key ID).
// Built in the call that uses it (`Issuer{key, &ca_cert}`); it borrows both.
class Issuer {
 public:
  Issuer(const Signer& signer, const Certificate* cert = nullptr);
  Issuer(const PrivateKey& key, const Certificate* cert = nullptr);
  Issuer(const Issuer&) = delete;
  Issuer& operator=(const Issuer&) = delete;

  const Signer& signer() const { return *signer_; }
  const Certificate* const certificate;  // null: self-signed

 private:
  std::optional<LocalSigner> local_;
  const Signer* signer_;
};

struct CaCertificateParams {
  SpiffeId id;  // the trust domain's ID: no path (X509-SVID.md §3.2)
  PublicKey public_key;
  std::string common_name;  // subject CN; the subject is never empty for a CA (RFC 5280 §4.1.2.4)
  std::string organization = "Ward";
  UnixSeconds not_before = 0;
  UnixSeconds not_after = 0;
  std::optional<int> path_len;  // basicConstraints pathLenConstraint
};

struct X509SvidParams {
  SpiffeId id;           // non-root path (X509-SVID.md §3.1)
  SubjectPublicKey key;  // a CSR's, or SubjectPublicKey::Of(public_key)
  std::vector<std::string> dns_names;
  std::string common_name;  // empty: empty subject, so the SAN is marked critical
  UnixSeconds not_before = 0;
  UnixSeconds not_after = 0;  // clamped to the issuer's notAfter
};

Result<Certificate> IssueCaCertificate(const CaCertificateParams& params, const Issuer& issuer);
Result<Certificate> IssueX509Svid(const X509SvidParams& params, const Issuer& issuer);

// A freshly issued certificate as bytes, with what a CA records about it. What a CA sends on the
// wire; parsing it back into a Certificate would cost more than signing it (OpenSSL 3 decodes
// the public key on every parse).
struct IssuedCertificate {
  Bytes der;
  std::string serial_hex;  // as Certificate::SerialHex() prints it
  UnixSeconds not_after = 0;
};
Result<IssuedCertificate> IssueX509SvidDer(const X509SvidParams& params, const Issuer& issuer);

// A CA certificate and its signer, prepared once for issuing many SVIDs: the key is checked
// against the certificate, and the issuer name and authority key ID that every SVID copies are
// encoded, once rather than per certificate. Immutable; threads share it.
class PreparedIssuer {
 public:
  static Result<PreparedIssuer> Create(std::shared_ptr<const Signer> signer, Certificate cert);

  const Signer& signer() const { return *signer_; }
  const Certificate& certificate() const { return certificate_; }
  ByteView name_der() const { return name_der_; }
  ByteView key_id() const { return key_id_; }  // empty: the certificate has none
  UnixSeconds not_after() const { return not_after_; }

 private:
  PreparedIssuer(std::shared_ptr<const Signer> signer, Certificate cert, Bytes name_der,
                 Bytes key_id);

  std::shared_ptr<const Signer> signer_;
  Certificate certificate_;
  Bytes name_der_;
  Bytes key_id_;
  UnixSeconds not_after_;
};
Result<IssuedCertificate> IssueX509SvidDer(const X509SvidParams& params,
                                           const PreparedIssuer& issuer);

// The SPIFFE ID in a certificate's single URI SAN; fails on zero or several URI SANs or an
// invalid ID. Checks nothing else.
Result<SpiffeId> SpiffeIdFromCertificate(const Certificate& cert);

struct VerifiedX509Svid {
  SpiffeId id;
  UnixSeconds expires_at = 0;
  std::vector<Certificate> verified_chain;  // leaf first, ending with the trusted authority
};

// Validates `chain` (leaf first, then intermediates) at time `now` against the bundle of the
// leaf's own trust domain, applying X509-SVID.md §5 and RFC 5280 path validation.
Result<VerifiedX509Svid> VerifyX509Svid(const std::vector<Certificate>& chain,
                                        const TrustBundleSource& bundles, UnixSeconds now);

}  // namespace ward

#endif  // WARD_CORE_X509_SVID_H_

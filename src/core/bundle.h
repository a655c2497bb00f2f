// Trust bundles (SPIFFE_Trust_Domain_and_Bundle.md): the X.509 and JWT authorities of one trust
// domain, in every encoding Ward reads or writes, and bundle sets keyed by trust domain.
#ifndef WARD_CORE_BUNDLE_H_
#define WARD_CORE_BUNDLE_H_

#include <openssl/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/certificate.h"
#include "core/keys.h"
#include "core/spiffe_id.h"
#include "core/status.h"

namespace ward {

// Largest bundle or bundle map document Ward parses.
inline constexpr size_t kMaxBundleBytes = 4 * 1024 * 1024;

struct JwtAuthority {
  std::string key_id;
  PublicKey public_key;
};

// Immutable. Copies share the prepared X.509 trust store.
class TrustBundle {
 public:
  // Fails on a duplicate JWT key ID or an empty one.
  static Result<TrustBundle> Create(TrustDomain td, std::vector<Certificate> x509_authorities,
                                    std::vector<JwtAuthority> jwt_authorities,
                                    std::optional<uint64_t> sequence = std::nullopt,
                                    std::optional<int64_t> refresh_hint_seconds = std::nullopt);

  // A SPIFFE bundle: a JWK Set with "x509-svid" and "jwt-svid" entries. Entries with an unknown
  // "use" or "kty" are skipped, as the standard requires.
  static Result<TrustBundle> ParseSpiffeJson(const TrustDomain& td, std::string_view json);
  // PEM CERTIFICATE blocks (X.509 authorities only).
  static Result<TrustBundle> ParsePem(const TrustDomain& td, std::string_view pem);
  // DER certificates back to back (the Workload API's bundle encoding).
  static Result<TrustBundle> ParseDer(const TrustDomain& td, ByteView der);

  std::string ToSpiffeJson() const;
  // A plain JWK Set of the JWT authorities only, with "kid" and no "use": the form the Workload
  // API's FetchJWTBundles returns and ordinary JOSE libraries consume.
  std::string ToJwks() const;
  std::string ToPem() const;
  Bytes ToDer() const;

  const TrustDomain& trust_domain() const { return td_; }
  const std::vector<Certificate>& x509_authorities() const { return x509_; }
  const std::vector<JwtAuthority>& jwt_authorities() const { return jwt_; }
  const JwtAuthority* FindJwtAuthority(std::string_view key_id) const;
  std::optional<uint64_t> sequence() const { return sequence_; }
  std::optional<int64_t> refresh_hint_seconds() const { return refresh_hint_; }

  // The X.509 authorities as an OpenSSL trust store, built once per bundle.
  X509_STORE* x509_store() const { return store_.get(); }

 private:
  TrustBundle(TrustDomain td, std::vector<Certificate> x509, std::vector<JwtAuthority> jwt,
              std::optional<uint64_t> sequence, std::optional<int64_t> refresh_hint);

  TrustDomain td_;
  std::vector<Certificate> x509_;
  std::vector<JwtAuthority> jwt_;
  std::optional<uint64_t> sequence_;
  std::optional<int64_t> refresh_hint_;
  std::shared_ptr<X509_STORE> store_;
};

// Where validators look up the bundle of an SVID's own trust domain; bundles of different trust
// domains are never pooled.
class TrustBundleSource {
 public:
  virtual ~TrustBundleSource() = default;
  // Null when no bundle is held for that trust domain.
  virtual const TrustBundle* FindBundle(std::string_view trust_domain_name) const = 0;
};

class BundleSet : public TrustBundleSource {
 public:
  // A SPIFFE bundle map: {"trust_domains": {"<name>": <bundle>, ...}}. Duplicate trust domain
  // keys are refused.
  static Result<BundleSet> ParseBundleMap(std::string_view json);

  std::string ToBundleMapJson() const;
  // Adds or replaces the bundle of its trust domain.
  void Put(TrustBundle bundle);
  const TrustBundle* FindBundle(std::string_view trust_domain_name) const override;
  size_t size() const { return bundles_.size(); }
  const std::map<std::string, TrustBundle, std::less<>>& bundles() const { return bundles_; }

 private:
  std::map<std::string, TrustBundle, std::less<>> bundles_;
};

// Reads a bundle file in any form Ward accepts, detected from its content. PEM, DER and single
// SPIFFE bundles do not name their trust domain, so `td` must say whose they are; a bundle map
// names its own and ignores `td`.
Result<BundleSet> ParseAnyBundle(std::string_view content, const TrustDomain* td);

}  // namespace ward

#endif  // WARD_CORE_BUNDLE_H_

// The certificate authority of one trust domain: its X.509 and JWT signing authorities, their
// rotation, and the trust bundle they publish.
//
// Each authority moves through prepared -> active -> retired. A prepared authority is already in
// the bundle; it starts signing only after `grace` has passed, so every relying party has had time
// to fetch it. A retired authority stays in the bundle until everything it signed has expired.
// The whole state is one journal document in the datastore, rewritten on every change, so a
// restart (or a kill -9 at any point) resumes with the same active authorities.
#ifndef WARD_CA_AUTHORITY_H_
#define WARD_CA_AUTHORITY_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ca/key_manager.h"
#include "core/bundle.h"
#include "core/jwt_svid.h"
#include "core/x509_svid.h"
#include "store/datastore.h"

namespace ward::ca {

// An upstream CA ("intermediate mode"): Ward's CA certificates are signed by it instead of being
// self-signed, SVID chains carry them up to (not including) the roots, and the bundle publishes
// the upstream roots instead of Ward's own certificates.
struct UpstreamCa {
  std::shared_ptr<const Signer> signer;
  Certificate certificate;           // signs Ward's CA certificates
  std::vector<Certificate> chain;    // between `certificate` and the roots (may be empty)
  std::vector<Certificate> roots;    // trust anchors published in the bundle
  bool certificate_is_root = false;  // `certificate` is itself one of the roots
};

struct CaConfig {
  TrustDomain trust_domain;
  KeyType key_type = KeyType::kEcP256;
  std::string organization = "Ward";
  int64_t x509_ca_rotation = 12 * 3600;  // a new CA certificate this often
  int64_t key_rotation = 24 * 3600;      // a new X.509 CA key / JWT key this often
  int64_t grace = 3600;                  // published this long before it signs
  int64_t max_x509_svid_ttl = 3600;
  int64_t max_jwt_svid_ttl = 900;
  int64_t bundle_refresh_hint = 300;
  std::optional<UpstreamCa> upstream;  // none: self-signed root
};

enum class AuthorityKind { kX509, kJwt };
enum class AuthorityState { kPrepared, kActive, kRetired };
std::string_view AuthorityStateName(AuthorityState s);

struct AuthorityInfo {
  AuthorityKind kind = AuthorityKind::kX509;
  std::string id;      // X.509: CA certificate serial; JWT: the key ID ("kid")
  std::string key_id;  // name in the key manager
  AuthorityState state = AuthorityState::kPrepared;
  int64_t created_at = 0;
  int64_t activated_at = 0;  // 0 until active
  int64_t retired_at = 0;    // 0 until retired
  int64_t not_after = 0;     // X.509: the CA certificate's notAfter
  bool tainted = false;
};

struct IssuedX509Svid {
  Certificate leaf;
  // Leaf first, then the intermediates up to (not including) a trust anchor: with a self-signed
  // root that is just the leaf; under an upstream CA, Ward's CA certificate and the upstream chain.
  std::vector<Certificate> chain;
  std::string authority_id;
};

// The same, as bytes: what the agent API sends, without parsing the new leaf back.
struct IssuedX509SvidDer {
  IssuedCertificate leaf;
  std::vector<Certificate> intermediates;  // up to (not including) a trust anchor
  std::string authority_id;
};

struct IssuedJwtSvid {
  MintedJwtSvid minted;
  std::string authority_id;
  int64_t expires_at = 0;
};

class CertificateAuthority {
 public:
  // Loads the journal (resuming its authorities) or creates the first X.509 and JWT authorities.
  static Result<std::unique_ptr<CertificateAuthority>> Open(CaConfig config, KeyManager& keys,
                                                            store::DataStore& store, int64_t now);

  // Advances rotation to `now`: prepares successors `grace` ahead, activates them on schedule,
  // drops retired authorities whose signatures have all expired. Returns true when the bundle
  // changed.
  Result<bool> Tick(int64_t now);

  Result<IssuedX509Svid> SignX509Svid(const SpiffeId& id, const SubjectPublicKey& key, int64_t ttl,
                                      const std::vector<std::string>& dns_names, int64_t now);
  Result<IssuedX509Svid> SignX509Svid(const SpiffeId& id, const PublicKey& key, int64_t ttl,
                                      const std::vector<std::string>& dns_names, int64_t now);
  // The hot path of batch signing: the new leaf as bytes, not parsed back.
  Result<IssuedX509SvidDer> SignX509SvidDer(const SpiffeId& id, const SubjectPublicKey& key,
                                            int64_t ttl, const std::vector<std::string>& dns_names,
                                            int64_t now);
  Result<IssuedJwtSvid> MintJwtSvid(const SpiffeId& id, const std::vector<std::string>& audience,
                                    int64_t ttl, int64_t now);

  TrustBundle Bundle() const;
  uint64_t BundleSequence() const;  // Bundle().sequence() without copying the bundle
  // The current bundle and its SPIFFE JSON form, made together once per change: the agent API
  // sends the JSON with every attestation, renewal and full sync, and encoding it each time (a
  // JWK per key, base64 per certificate) was about 3 % of a new agent's first sync.
  struct PublishedBundle {
    std::shared_ptr<const TrustBundle> bundle;
    std::shared_ptr<const std::string> spiffe_json;
  };
  PublishedBundle Published() const;
  std::vector<AuthorityInfo> Authorities(AuthorityKind kind) const;

  // Forced rotation for incidents. Prepare makes a successor now; Activate switches to the
  // prepared one immediately (grace skipped, the operator's call); Taint marks a retired or
  // active authority so agents re-issue what it signed; Revoke removes a tainted, non-active
  // authority from the bundle at once (refused under an upstream CA, whose roots the bundle holds:
  // revoke at the upstream instead).
  Result<AuthorityInfo> Prepare(AuthorityKind kind, int64_t now);
  Result<AuthorityInfo> Activate(AuthorityKind kind, int64_t now);
  Result<AuthorityInfo> Taint(AuthorityKind kind, const std::string& id, int64_t now);
  Result<AuthorityInfo> Revoke(AuthorityKind kind, const std::string& id, int64_t now);

  ~CertificateAuthority();

 private:
  struct Authority;
  CertificateAuthority(CaConfig config, KeyManager& keys, store::DataStore& store);

  Status Load(const std::string& journal);
  Status Persist();
  Result<Authority> NewX509Authority(int64_t now, const Authority* reuse_key_of);
  Result<Authority> NewJwtAuthority(int64_t now);
  Result<bool> TickKind(AuthorityKind kind, int64_t now);
  std::vector<Authority>& List(AuthorityKind kind);
  Authority* Find(AuthorityKind kind, AuthorityState state);
  // Whether an X.509 authority was made in the current mode (self-signed, or by the configured
  // upstream CA); one from another mode is replaced, after the usual grace.
  bool InCurrentMode(const Authority& a) const;
  Result<Authority*> FindById(AuthorityKind kind, const std::string& id);
  void RebuildBundle();

  CaConfig config_;
  KeyManager& keys_;
  store::DataStore& store_;
  mutable std::mutex mu_;
  std::vector<Authority> x509_;
  std::vector<Authority> jwt_;
  uint64_t sequence_ = 0;
  std::shared_ptr<const TrustBundle> bundle_;
  std::shared_ptr<const std::string> bundle_json_;  // bundle_->ToSpiffeJson(), set with it
};

}  // namespace ward::ca

#endif  // WARD_CA_AUTHORITY_H_

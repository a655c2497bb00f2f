#include "ca/authority.h"

#include <openssl/rand.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/digest.h"
#include "core/random.h"

namespace ward::ca {
namespace {

using nlohmann::json;

// Unique names for authorities and their keys (not secret).
Result<std::string> RandomHex(size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  WARD_RETURN_IF_ERROR(FillRandomValue(raw.data(), raw.size()));
  return HexEncode(raw);
}

std::string_view KindName(AuthorityKind kind) {
  return kind == AuthorityKind::kX509 ? "x509" : "jwt";
}

Result<AuthorityState> ParseState(const std::string& s) {
  if (s == "prepared") return AuthorityState::kPrepared;
  if (s == "active") return AuthorityState::kActive;
  if (s == "retired") return AuthorityState::kRetired;
  return Internal("CA journal has an unknown authority state \"" + s + "\"");
}

}  // namespace

std::string_view AuthorityStateName(AuthorityState s) {
  switch (s) {
    case AuthorityState::kPrepared:
      return "prepared";
    case AuthorityState::kActive:
      return "active";
    case AuthorityState::kRetired:
      return "retired";
  }
  return "unknown";
}

struct CertificateAuthority::Authority {
  AuthorityInfo info;
  int64_t key_created_at = 0;
  std::shared_ptr<const Signer> key;  // null when the key manager no longer has it
  std::optional<Certificate> cert;    // X.509 authorities
  // What relying parties anchor an X.509 authority's signatures on: its own (self-signed)
  // certificate, the configured upstream's roots, or (made under an upstream CA no longer
  // configured) its own certificate, kept as an anchor until what it signed expires.
  enum class Anchor { kSelf, kUpstream, kOther } anchor = Anchor::kSelf;
  std::optional<PublicKey> public_key;  // JWT authorities
  // X.509 authorities, made on first use: `key` and `cert` prepared for signing SVIDs.
  std::shared_ptr<const PreparedIssuer> issuer;
};

CertificateAuthority::CertificateAuthority(CaConfig config, KeyManager& keys,
                                           store::DataStore& store)
    : config_(std::move(config)), keys_(keys), store_(store) {}

CertificateAuthority::~CertificateAuthority() = default;

namespace {

bool SignedBy(const Certificate& cert, const Certificate& issuer) {
  const bool ok = X509_check_issued(issuer.get(), cert.get()) == X509_V_OK &&
                  X509_verify(cert.get(), X509_get0_pubkey(issuer.get())) == 1;
  ossl::DrainErrors();
  return ok;
}

}  // namespace

bool CertificateAuthority::InCurrentMode(const Authority& a) const {
  return a.anchor == (config_.upstream ? Authority::Anchor::kUpstream : Authority::Anchor::kSelf);
}

std::vector<CertificateAuthority::Authority>& CertificateAuthority::List(AuthorityKind kind) {
  return kind == AuthorityKind::kX509 ? x509_ : jwt_;
}

CertificateAuthority::Authority* CertificateAuthority::Find(AuthorityKind kind,
                                                            AuthorityState state) {
  for (auto& a : List(kind)) {
    if (a.info.state == state) return &a;
  }
  return nullptr;
}

Result<CertificateAuthority::Authority*> CertificateAuthority::FindById(AuthorityKind kind,
                                                                        const std::string& id) {
  for (auto& a : List(kind)) {
    if (a.info.id == id) return &a;
  }
  return NotFound(std::string(KindName(kind)) + " authority not found: " + id);
}

Result<std::unique_ptr<CertificateAuthority>> CertificateAuthority::Open(CaConfig config,
                                                                         KeyManager& keys,
                                                                         store::DataStore& store,
                                                                         int64_t now) {
  std::unique_ptr<CertificateAuthority> ca(
      new CertificateAuthority(std::move(config), keys, store));
  WARD_ASSIGN_OR_RETURN(std::optional<std::string> journal, store.LoadCaJournal());
  std::lock_guard<std::mutex> lock(ca->mu_);
  if (journal) WARD_RETURN_IF_ERROR(ca->Load(*journal));
  // An authority whose key is gone (the memory key manager after a restart) cannot sign: retire
  // it so its certificates stay trusted until what it signed has expired, and start afresh.
  for (AuthorityKind kind : {AuthorityKind::kX509, AuthorityKind::kJwt}) {
    for (auto& a : ca->List(kind)) {
      // A successor prepared in another mode is never activated; its replacement is prepared.
      const bool stale_successor = kind == AuthorityKind::kX509 &&
                                   a.info.state == AuthorityState::kPrepared &&
                                   !ca->InCurrentMode(a);
      if ((!a.key || stale_successor) && a.info.state != AuthorityState::kRetired) {
        a.info.state = AuthorityState::kRetired;
        a.info.retired_at = now;
      }
    }
  }
  WARD_RETURN_IF_ERROR(ca->TickKind(AuthorityKind::kX509, now).status());
  WARD_RETURN_IF_ERROR(ca->TickKind(AuthorityKind::kJwt, now).status());
  WARD_RETURN_IF_ERROR(ca->Persist());
  return ca;
}

Status CertificateAuthority::Load(const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
    sequence_ = doc.at("sequence").get<uint64_t>();
    for (AuthorityKind kind : {AuthorityKind::kX509, AuthorityKind::kJwt}) {
      for (const auto& j : doc.at(std::string(KindName(kind)))) {
        Authority a;
        a.info.kind = kind;
        a.info.id = j.at("id").get<std::string>();
        a.info.key_id = j.at("key_id").get<std::string>();
        WARD_ASSIGN_OR_RETURN(a.info.state, ParseState(j.at("state").get<std::string>()));
        a.info.created_at = j.at("created_at").get<int64_t>();
        a.info.activated_at = j.at("activated_at").get<int64_t>();
        a.info.retired_at = j.at("retired_at").get<int64_t>();
        a.info.tainted = j.at("tainted").get<bool>();
        a.key_created_at = j.at("key_created_at").get<int64_t>();
        WARD_ASSIGN_OR_RETURN(Bytes der, Base64Decode(j.at("der").get<std::string>()));
        if (kind == AuthorityKind::kX509) {
          WARD_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(der));
          a.info.not_after = cert.not_after();
          if (SignedBy(cert, cert)) {
            a.anchor = Authority::Anchor::kSelf;
          } else if (config_.upstream && SignedBy(cert, config_.upstream->certificate)) {
            a.anchor = Authority::Anchor::kUpstream;
          } else {
            a.anchor = Authority::Anchor::kOther;
          }
          a.cert = std::move(cert);
        } else {
          WARD_ASSIGN_OR_RETURN(PublicKey pub, PublicKey::FromSpkiDer(der));
          a.public_key = std::move(pub);
        }
        auto key = keys_.GetKey(a.info.key_id);
        if (key.ok()) {
          a.key = std::move(key).value();
        } else if (key.status().code() != StatusCode::kNotFound) {
          return key.status().WithContext("CA key " + a.info.key_id);
        }
        List(kind).push_back(std::move(a));
      }
    }
  } catch (const json::exception& e) {
    return Internal(std::string("CA journal is corrupt: ") + e.what());
  }
  return OkStatus();
}

Status CertificateAuthority::Persist() {
  json doc = {{"sequence", ++sequence_}, {"x509", json::array()}, {"jwt", json::array()}};
  for (AuthorityKind kind : {AuthorityKind::kX509, AuthorityKind::kJwt}) {
    for (const auto& a : List(kind)) {
      const Bytes der = kind == AuthorityKind::kX509 ? a.cert->ToDer() : a.public_key->ToSpkiDer();
      doc[std::string(KindName(kind))].push_back({{"id", a.info.id},
                                                  {"key_id", a.info.key_id},
                                                  {"state", AuthorityStateName(a.info.state)},
                                                  {"created_at", a.info.created_at},
                                                  {"activated_at", a.info.activated_at},
                                                  {"retired_at", a.info.retired_at},
                                                  {"tainted", a.info.tainted},
                                                  {"key_created_at", a.key_created_at},
                                                  {"der", Base64Encode(der)}});
    }
  }
  RebuildBundle();
  // The journal is written before the bundle copy: the journal is the truth; the stored bundle
  // is derived from it and rewritten on the next start if a crash falls in between.
  WARD_RETURN_IF_ERROR(store_.SaveCaJournal(doc.dump()));
  return store_.PutBundle({config_.trust_domain.name(), *bundle_json_, sequence_});
}

void CertificateAuthority::RebuildBundle() {
  std::vector<Certificate> x509;
  bool upstream_roots = false;
  for (const auto& a : x509_) {
    if (a.anchor == Authority::Anchor::kUpstream) {
      upstream_roots = true;
    } else {
      x509.push_back(*a.cert);
    }
  }
  if (upstream_roots) {
    for (const auto& root : config_.upstream->roots) x509.push_back(root);
  }
  std::vector<JwtAuthority> jwt;
  for (const auto& a : jwt_) jwt.push_back({a.info.id, *a.public_key});
  auto bundle = TrustBundle::Create(config_.trust_domain, std::move(x509), std::move(jwt),
                                    sequence_, config_.bundle_refresh_hint);
  bundle_ = std::make_shared<const TrustBundle>(std::move(bundle).value());
  bundle_json_ = std::make_shared<const std::string>(bundle_->ToSpiffeJson());
}

Result<CertificateAuthority::Authority> CertificateAuthority::NewX509Authority(
    int64_t now, const Authority* reuse_key_of) {
  Authority a;
  a.info.kind = AuthorityKind::kX509;
  a.info.created_at = now;
  // Keep the predecessor's key when it will still be within its key lifetime at the end of the
  // new certificate's active period (12 h certificates on a 24 h key, by default).
  const int64_t active_until = now + config_.grace + config_.x509_ca_rotation;
  if (reuse_key_of != nullptr && reuse_key_of->key &&
      active_until - reuse_key_of->key_created_at <= config_.key_rotation) {
    a.key = reuse_key_of->key;
    a.info.key_id = reuse_key_of->info.key_id;
    a.key_created_at = reuse_key_of->key_created_at;
  } else {
    WARD_ASSIGN_OR_RETURN(std::string suffix, RandomHex(8));
    a.info.key_id = "x509-ca-" + suffix;
    WARD_ASSIGN_OR_RETURN(a.key, keys_.GenerateKey(a.info.key_id, config_.key_type));
    a.key_created_at = now;
  }
  WARD_ASSIGN_OR_RETURN(SpiffeId td_id, SpiffeId::FromPath(config_.trust_domain, ""));
  // Valid for the grace period, two rotation periods and the longest SVID it may sign, so leaves
  // signed at the end of its active period are never clamped.
  const int64_t lifetime = config_.grace + 2 * config_.x509_ca_rotation + config_.max_x509_svid_ttl;
  const CaCertificateParams params{
      .id = td_id,
      .public_key = a.key->public_key(),
      .common_name = "Ward CA " + config_.trust_domain.name(),
      .organization = config_.organization,
      .not_before = now - 60,
      .not_after = now + lifetime,
      // Under an upstream CA, Ward's certificate signs only leaves.
      .path_len = config_.upstream ? std::optional<int>(0) : std::nullopt};
  WARD_ASSIGN_OR_RETURN(Certificate cert,
                        config_.upstream
                            ? IssueCaCertificate(params, Issuer{*config_.upstream->signer,
                                                                &config_.upstream->certificate})
                            : IssueCaCertificate(params, Issuer{*a.key}));
  a.anchor = config_.upstream ? Authority::Anchor::kUpstream : Authority::Anchor::kSelf;
  a.info.id = cert.SerialHex();
  a.info.not_after = cert.not_after();
  a.cert = std::move(cert);
  return a;
}

Result<CertificateAuthority::Authority> CertificateAuthority::NewJwtAuthority(int64_t now) {
  Authority a;
  a.info.kind = AuthorityKind::kJwt;
  a.info.created_at = now;
  WARD_ASSIGN_OR_RETURN(a.info.id, RandomHex(16));
  a.info.key_id = "jwt-" + a.info.id;
  WARD_ASSIGN_OR_RETURN(a.key, keys_.GenerateKey(a.info.key_id, config_.key_type));
  a.key_created_at = now;
  a.public_key = a.key->public_key();
  return a;
}

Result<bool> CertificateAuthority::TickKind(AuthorityKind kind, int64_t now) {
  auto& list = List(kind);
  const int64_t period =
      kind == AuthorityKind::kX509 ? config_.x509_ca_rotation : config_.key_rotation;
  const int64_t retention =
      kind == AuthorityKind::kX509 ? config_.max_x509_svid_ttl : config_.max_jwt_svid_ttl;
  bool changed = false;
  Authority* active = Find(kind, AuthorityState::kActive);
  Authority* prepared = Find(kind, AuthorityState::kPrepared);
  if (active == nullptr) {
    // First start, or every authority lost its key: sign at once with a new one.
    if (prepared != nullptr && prepared->key) {
      prepared->info.state = AuthorityState::kActive;
      prepared->info.activated_at = now;
    } else {
      WARD_ASSIGN_OR_RETURN(Authority a, kind == AuthorityKind::kX509
                                             ? NewX509Authority(now, nullptr)
                                             : NewJwtAuthority(now));
      a.info.state = AuthorityState::kActive;
      a.info.activated_at = now;
      list.push_back(std::move(a));
    }
    return true;
  }
  // An active X.509 authority from another mode (an upstream CA configured or removed since) is
  // replaced as if its period had ended; its successor still waits out the grace.
  const bool replace_now = kind == AuthorityKind::kX509 && !InCurrentMode(*active);
  if (prepared == nullptr &&
      (replace_now || now >= active->info.activated_at + period - config_.grace)) {
    WARD_ASSIGN_OR_RETURN(Authority a, kind == AuthorityKind::kX509 ? NewX509Authority(now, active)
                                                                    : NewJwtAuthority(now));
    list.push_back(std::move(a));  // invalidates `active`
    changed = true;
    active = Find(kind, AuthorityState::kActive);
    prepared = Find(kind, AuthorityState::kPrepared);
  }
  // A successor starts signing once its period is due and it has been published for `grace`.
  if (prepared != nullptr && (replace_now || now >= active->info.activated_at + period) &&
      now >= prepared->info.created_at + config_.grace) {
    active->info.state = AuthorityState::kRetired;
    active->info.retired_at = now;
    prepared->info.state = AuthorityState::kActive;
    prepared->info.activated_at = now;
    changed = true;
  }
  // Drop retired authorities once everything they signed has expired.
  const auto expired = [&](const Authority& a) {
    return a.info.state == AuthorityState::kRetired && now >= a.info.retired_at + retention;
  };
  for (const auto& a : list) {
    if (!expired(a)) continue;
    changed = true;
    const bool key_still_used = std::any_of(list.begin(), list.end(), [&](const Authority& b) {
      return !expired(b) && b.info.key_id == a.info.key_id;
    });
    if (!key_still_used) (void)keys_.DeleteKey(a.info.key_id);
  }
  list.erase(std::remove_if(list.begin(), list.end(), expired), list.end());
  return changed;
}

Result<bool> CertificateAuthority::Tick(int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  WARD_ASSIGN_OR_RETURN(bool x509_changed, TickKind(AuthorityKind::kX509, now));
  WARD_ASSIGN_OR_RETURN(bool jwt_changed, TickKind(AuthorityKind::kJwt, now));
  if (!x509_changed && !jwt_changed) return false;
  WARD_RETURN_IF_ERROR(Persist());
  return true;
}

Result<IssuedX509SvidDer> CertificateAuthority::SignX509SvidDer(
    const SpiffeId& id, const SubjectPublicKey& key, int64_t ttl,
    const std::vector<std::string>& dns_names, int64_t now) {
  if (!id.MemberOf(config_.trust_domain)) {
    return InvalidArgument(id.str() + " is not in trust domain " + config_.trust_domain.name());
  }
  std::shared_ptr<const PreparedIssuer> issuer;
  std::string authority_id;
  bool under_upstream = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Authority* active = Find(AuthorityKind::kX509, AuthorityState::kActive);
    if (active == nullptr || !active->key) return FailedPrecondition("no active X.509 authority");
    if (!active->issuer) {
      WARD_ASSIGN_OR_RETURN(PreparedIssuer prepared,
                            PreparedIssuer::Create(active->key, *active->cert));
      active->issuer = std::make_shared<const PreparedIssuer>(std::move(prepared));
    }
    issuer = active->issuer;
    authority_id = active->info.id;
    under_upstream = active->anchor == Authority::Anchor::kUpstream;
  }
  // At least a minute, at most the configured maximum (which wins if configured lower).
  const int64_t lifetime = std::min<int64_t>(
      std::max<int64_t>(ttl <= 0 ? config_.max_x509_svid_ttl : ttl, 60), config_.max_x509_svid_ttl);
  WARD_ASSIGN_OR_RETURN(IssuedCertificate leaf, IssueX509SvidDer({.id = id,
                                                                  .key = key,
                                                                  .dns_names = dns_names,
                                                                  .not_before = now - 10,
                                                                  .not_after = now + lifetime},
                                                                 *issuer));
  IssuedX509SvidDer out{std::move(leaf), {}, authority_id};
  if (under_upstream) {
    out.intermediates.push_back(issuer->certificate());
    const UpstreamCa& up = *config_.upstream;
    if (!up.certificate_is_root) out.intermediates.push_back(up.certificate);
    out.intermediates.insert(out.intermediates.end(), up.chain.begin(), up.chain.end());
  }
  return out;
}

Result<IssuedX509Svid> CertificateAuthority::SignX509Svid(const SpiffeId& id,
                                                          const SubjectPublicKey& key, int64_t ttl,
                                                          const std::vector<std::string>& dns_names,
                                                          int64_t now) {
  WARD_ASSIGN_OR_RETURN(IssuedX509SvidDer issued, SignX509SvidDer(id, key, ttl, dns_names, now));
  WARD_ASSIGN_OR_RETURN(Certificate leaf, Certificate::FromDer(issued.leaf.der));
  IssuedX509Svid out{leaf, {leaf}, std::move(issued.authority_id)};
  out.chain.insert(out.chain.end(), issued.intermediates.begin(), issued.intermediates.end());
  return out;
}

Result<IssuedX509Svid> CertificateAuthority::SignX509Svid(const SpiffeId& id, const PublicKey& key,
                                                          int64_t ttl,
                                                          const std::vector<std::string>& dns_names,
                                                          int64_t now) {
  WARD_ASSIGN_OR_RETURN(SubjectPublicKey subject, SubjectPublicKey::Of(key));
  return SignX509Svid(id, subject, ttl, dns_names, now);
}

Result<IssuedJwtSvid> CertificateAuthority::MintJwtSvid(const SpiffeId& id,
                                                        const std::vector<std::string>& audience,
                                                        int64_t ttl, int64_t now) {
  if (!id.MemberOf(config_.trust_domain)) {
    return InvalidArgument(id.str() + " is not in trust domain " + config_.trust_domain.name());
  }
  std::shared_ptr<const Signer> signer;
  std::string kid;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Authority* active = Find(AuthorityKind::kJwt, AuthorityState::kActive);
    if (active == nullptr || !active->key) return FailedPrecondition("no active JWT authority");
    signer = active->key;
    kid = active->info.id;
  }
  const int64_t lifetime = std::min<int64_t>(
      std::max<int64_t>(ttl <= 0 ? config_.max_jwt_svid_ttl : ttl, 30), config_.max_jwt_svid_ttl);
  WARD_ASSIGN_OR_RETURN(MintedJwtSvid minted,
                        ward::MintJwtSvid({id, audience, now, now + lifetime}, kid, *signer));
  return IssuedJwtSvid{std::move(minted), kid, now + lifetime};
}

TrustBundle CertificateAuthority::Bundle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return *bundle_;
}

CertificateAuthority::PublishedBundle CertificateAuthority::Published() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {bundle_, bundle_json_};
}

uint64_t CertificateAuthority::BundleSequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bundle_->sequence().value_or(0);
}

std::vector<AuthorityInfo> CertificateAuthority::Authorities(AuthorityKind kind) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<AuthorityInfo> out;
  for (const auto& a : kind == AuthorityKind::kX509 ? x509_ : jwt_) out.push_back(a.info);
  return out;
}

Result<AuthorityInfo> CertificateAuthority::Prepare(AuthorityKind kind, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Find(kind, AuthorityState::kPrepared) != nullptr) {
    return FailedPrecondition("a prepared " + std::string(KindName(kind)) +
                              " authority already exists; activate it first");
  }
  // A forced preparation always gets a fresh key: it is usually a response to an incident.
  WARD_ASSIGN_OR_RETURN(Authority a, kind == AuthorityKind::kX509 ? NewX509Authority(now, nullptr)
                                                                  : NewJwtAuthority(now));
  const AuthorityInfo info = a.info;
  List(kind).push_back(std::move(a));
  WARD_RETURN_IF_ERROR(Persist());
  return info;
}

Result<AuthorityInfo> CertificateAuthority::Activate(AuthorityKind kind, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  Authority* prepared = Find(kind, AuthorityState::kPrepared);
  if (prepared == nullptr) {
    return FailedPrecondition("no prepared " + std::string(KindName(kind)) +
                              " authority; run prepare first");
  }
  if (Authority* active = Find(kind, AuthorityState::kActive)) {
    active->info.state = AuthorityState::kRetired;
    active->info.retired_at = now;
  }
  prepared = Find(kind, AuthorityState::kPrepared);
  prepared->info.state = AuthorityState::kActive;
  prepared->info.activated_at = now;
  const AuthorityInfo info = prepared->info;
  WARD_RETURN_IF_ERROR(Persist());
  return info;
}

Result<AuthorityInfo> CertificateAuthority::Taint(AuthorityKind kind, const std::string& id,
                                                  int64_t /*now*/) {
  std::lock_guard<std::mutex> lock(mu_);
  WARD_ASSIGN_OR_RETURN(Authority * a, FindById(kind, id));
  if (a->info.state != AuthorityState::kRetired) {
    return FailedPrecondition(
        "only a retired authority can be tainted; prepare and activate a "
        "successor first");
  }
  a->info.tainted = true;
  const AuthorityInfo info = a->info;
  WARD_RETURN_IF_ERROR(Persist());
  return info;
}

Result<AuthorityInfo> CertificateAuthority::Revoke(AuthorityKind kind, const std::string& id,
                                                   int64_t /*now*/) {
  std::lock_guard<std::mutex> lock(mu_);
  WARD_ASSIGN_OR_RETURN(Authority * a, FindById(kind, id));
  if (!a->info.tainted) return FailedPrecondition("taint the authority before revoking it");
  if (a->anchor == Authority::Anchor::kUpstream) {
    return FailedPrecondition(
        "this authority is anchored on the upstream CA's roots, which the bundle keeps; revoke "
        "its certificate at the upstream CA");
  }
  const AuthorityInfo info = a->info;
  auto& list = List(kind);
  const std::string key_id = a->info.key_id;
  list.erase(
      std::remove_if(list.begin(), list.end(), [&](const Authority& b) { return b.info.id == id; }),
      list.end());
  const bool key_still_used = std::any_of(
      list.begin(), list.end(), [&](const Authority& b) { return b.info.key_id == key_id; });
  if (!key_still_used) (void)keys_.DeleteKey(key_id);
  WARD_RETURN_IF_ERROR(Persist());
  return info;
}

}  // namespace ward::ca

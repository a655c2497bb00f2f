#include "core/bundle.h"

#include <set>

#include "core/base64.h"
#include "core/internal/json_strict.h"
#include "core/internal/jwk.h"

namespace ward {
namespace {

using nlohmann::json;

Result<std::optional<uint64_t>> ReadSequence(const json& doc) {
  const auto it = doc.find("spiffe_sequence");
  if (it == doc.end()) return std::optional<uint64_t>();
  if (!it->is_number_unsigned()) {
    return InvalidArgument("\"spiffe_sequence\" must be a non-negative integer");
  }
  return std::optional<uint64_t>(it->get<uint64_t>());
}

Result<std::optional<int64_t>> ReadRefreshHint(const json& doc) {
  const auto it = doc.find("spiffe_refresh_hint");
  if (it == doc.end()) return std::optional<int64_t>();
  if (!it->is_number_unsigned() || it->get<uint64_t>() > uint64_t{INT64_MAX}) {
    return InvalidArgument("\"spiffe_refresh_hint\" must be a non-negative integer (seconds)");
  }
  return std::optional<int64_t>(it->get<int64_t>());
}

// One "x509-svid" entry; nullopt when the standard says to skip it.
Result<std::optional<Certificate>> ReadX509Entry(const json& key) {
  const auto x5c = key.find("x5c");
  if (x5c == key.end()) return std::optional<Certificate>();
  if (!x5c->is_array()) return InvalidArgument("\"x5c\" must be an array");
  if (x5c->empty()) return std::optional<Certificate>();
  // X509-SVID.md §6: use the first certificate and ignore any others.
  const json& first = (*x5c)[0];
  if (!first.is_string()) return InvalidArgument("\"x5c\" values must be base64 strings");
  WARD_ASSIGN_OR_RETURN(Bytes der, Base64Decode(first.get_ref<const std::string&>()));
  WARD_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(der));
  WARD_RETURN_IF_ERROR(ValidatePublicKey(cert.public_key()).WithContext("x5c certificate key"));
  // When the JWK also states key parameters they must describe the certificate's key.
  if (key.contains("x") || key.contains("n")) {
    auto stated = internal::PublicKeyFromJwk(key);
    if (stated.ok() && !stated->Equals(cert.public_key())) {
      return InvalidArgument("key parameters do not match the x5c certificate");
    }
    if (!stated.ok() && stated.status().code() != StatusCode::kNotFound) return stated.status();
  }
  return std::optional<Certificate>(std::move(cert));
}

Result<TrustBundle> ParseSpiffeDoc(const TrustDomain& td, const json& doc) {
  if (!doc.is_object()) return InvalidArgument("SPIFFE bundle must be a JSON object");
  const auto keys = doc.find("keys");
  if (keys == doc.end()) return InvalidArgument("SPIFFE bundle has no \"keys\" member");
  if (!keys->is_array()) return InvalidArgument("SPIFFE bundle \"keys\" must be an array");
  WARD_ASSIGN_OR_RETURN(std::optional<uint64_t> sequence, ReadSequence(doc));
  WARD_ASSIGN_OR_RETURN(std::optional<int64_t> refresh_hint, ReadRefreshHint(doc));

  std::vector<Certificate> x509;
  std::vector<JwtAuthority> jwt;
  for (size_t i = 0; i < keys->size(); ++i) {
    const json& key = (*keys)[i];
    const std::string where = "keys[" + std::to_string(i) + "]";
    if (!key.is_object()) return InvalidArgument(where + " is not a JSON object");
    const auto kty = key.find("kty");
    if (kty == key.end() || !kty->is_string()) {
      return InvalidArgument(where + " has no \"kty\" (RFC 7517 requires it)");
    }
    const auto use = key.find("use");
    if (use == key.end() || !use->is_string()) continue;  // no "use": not a SPIFFE authority
    const std::string& use_value = use->get_ref<const std::string&>();
    if (use_value == "x509-svid") {
      auto cert = ReadX509Entry(key);
      if (!cert.ok()) return cert.status().WithContext(where + " (x509-svid)");
      if (cert->has_value()) x509.push_back(std::move(**cert));
    } else if (use_value == "jwt-svid") {
      const auto kid = key.find("kid");
      if (kid == key.end() || !kid->is_string() || kid->get_ref<const std::string&>().empty()) {
        return InvalidArgument(where + " (jwt-svid) has no \"kid\"; JWT authorities require one");
      }
      auto pub = internal::PublicKeyFromJwk(key);
      if (!pub.ok() && pub.status().code() == StatusCode::kNotFound) continue;  // unknown kty
      if (!pub.ok()) return pub.status().WithContext(where + " (jwt-svid)");
      jwt.push_back({kid->get<std::string>(), std::move(pub).value()});
    }
    // Any other "use" (e.g. the incubating "wit-svid") is skipped.
  }
  return TrustBundle::Create(td, std::move(x509), std::move(jwt), sequence, refresh_hint);
}

json SpiffeDoc(const TrustBundle& bundle) {
  json keys = json::array();
  for (const auto& cert : bundle.x509_authorities()) {
    json jwk = {{"use", "x509-svid"}};
    (void)internal::AddPublicKeyToJwk(cert.public_key(), jwk);
    jwk["x5c"] = json::array({Base64Encode(cert.ToDer())});
    keys.push_back(std::move(jwk));
  }
  for (const auto& authority : bundle.jwt_authorities()) {
    json jwk = {{"use", "jwt-svid"}, {"kid", authority.key_id}};
    (void)internal::AddPublicKeyToJwk(authority.public_key, jwk);
    keys.push_back(std::move(jwk));
  }
  json doc = {{"keys", std::move(keys)}};
  if (bundle.sequence()) doc["spiffe_sequence"] = *bundle.sequence();
  if (bundle.refresh_hint_seconds()) doc["spiffe_refresh_hint"] = *bundle.refresh_hint_seconds();
  return doc;
}

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n')) {
    s.remove_prefix(1);
  }
  return s;
}

Result<BundleSet> BundleMapFromDoc(const json& doc);

}  // namespace

TrustBundle::TrustBundle(TrustDomain td, std::vector<Certificate> x509,
                         std::vector<JwtAuthority> jwt, std::optional<uint64_t> sequence,
                         std::optional<int64_t> refresh_hint)
    : td_(std::move(td)),
      x509_(std::move(x509)),
      jwt_(std::move(jwt)),
      sequence_(sequence),
      refresh_hint_(refresh_hint),
      store_(X509_STORE_new(), X509_STORE_free) {
  for (const auto& cert : x509_) X509_STORE_add_cert(store_.get(), cert.get());
  ossl::DrainErrors();  // a duplicate certificate is reported but harmless
}

Result<TrustBundle> TrustBundle::Create(TrustDomain td, std::vector<Certificate> x509_authorities,
                                        std::vector<JwtAuthority> jwt_authorities,
                                        std::optional<uint64_t> sequence,
                                        std::optional<int64_t> refresh_hint_seconds) {
  std::set<std::string_view> kids;
  for (const auto& a : jwt_authorities) {
    if (a.key_id.empty()) return InvalidArgument("JWT authority has an empty key ID");
    if (!kids.insert(a.key_id).second) {
      return InvalidArgument("JWT key ID \"" + a.key_id.substr(0, 128) +
                             "\" appears twice in the bundle of " + td.name());
    }
  }
  return TrustBundle(std::move(td), std::move(x509_authorities), std::move(jwt_authorities),
                     sequence, refresh_hint_seconds);
}

Result<TrustBundle> TrustBundle::ParseSpiffeJson(const TrustDomain& td, std::string_view text) {
  WARD_ASSIGN_OR_RETURN(json doc,
                        internal::ParseJsonStrict(text, kMaxBundleBytes, "SPIFFE bundle"));
  return ParseSpiffeDoc(td, doc);
}

Result<TrustBundle> TrustBundle::ParsePem(const TrustDomain& td, std::string_view pem) {
  WARD_ASSIGN_OR_RETURN(std::vector<Certificate> certs, ParsePemCertificates(pem));
  return Create(td, std::move(certs), {});
}

Result<TrustBundle> TrustBundle::ParseDer(const TrustDomain& td, ByteView der) {
  WARD_ASSIGN_OR_RETURN(std::vector<Certificate> certs, ParseDerCertificates(der));
  return Create(td, std::move(certs), {});
}

std::string TrustBundle::ToSpiffeJson() const { return SpiffeDoc(*this).dump(); }

std::string TrustBundle::ToJwks() const {
  json keys = json::array();
  for (const auto& authority : jwt_) {
    json jwk = {{"kid", authority.key_id}};
    (void)internal::AddPublicKeyToJwk(authority.public_key, jwk);
    keys.push_back(std::move(jwk));
  }
  return json{{"keys", std::move(keys)}}.dump();
}

std::string TrustBundle::ToPem() const { return CertificatesToPem(x509_); }
Bytes TrustBundle::ToDer() const { return CertificatesToDer(x509_); }

const JwtAuthority* TrustBundle::FindJwtAuthority(std::string_view key_id) const {
  for (const auto& a : jwt_) {
    if (a.key_id == key_id) return &a;
  }
  return nullptr;
}

Result<BundleSet> BundleSet::ParseBundleMap(std::string_view text) {
  WARD_ASSIGN_OR_RETURN(json doc,
                        internal::ParseJsonStrict(text, kMaxBundleBytes, "SPIFFE bundle map"));
  return BundleMapFromDoc(doc);
}

std::string BundleSet::ToBundleMapJson() const {
  json domains = json::object();
  for (const auto& [name, bundle] : bundles_) {
    json member = SpiffeDoc(bundle);
    member.erase("spiffe_refresh_hint");  // §5: producers should omit member refresh hints
    domains[name] = std::move(member);
  }
  return json{{"trust_domains", std::move(domains)}}.dump();
}

void BundleSet::Put(TrustBundle bundle) {
  const std::string name = bundle.trust_domain().name();
  bundles_.insert_or_assign(name, std::move(bundle));
}

const TrustBundle* BundleSet::FindBundle(std::string_view trust_domain_name) const {
  const auto it = bundles_.find(trust_domain_name);
  return it == bundles_.end() ? nullptr : &it->second;
}

namespace {

Result<BundleSet> BundleMapFromDoc(const json& doc) {
  if (!doc.is_object()) return InvalidArgument("SPIFFE bundle map must be a JSON object");
  const auto domains = doc.find("trust_domains");
  if (domains == doc.end() || !domains->is_object()) {
    return InvalidArgument("SPIFFE bundle map needs a \"trust_domains\" object");
  }
  BundleSet set;
  for (const auto& [name, member] : domains->items()) {
    auto td = TrustDomain::Parse(name);
    if (!td.ok()) return td.status().WithContext("bundle map key \"" + name.substr(0, 300) + "\"");
    auto bundle = ParseSpiffeDoc(*td, member);
    if (!bundle.ok()) return bundle.status().WithContext("bundle of " + name);
    set.Put(std::move(bundle).value());
  }
  return set;
}

}  // namespace

Result<BundleSet> ParseAnyBundle(std::string_view content, const TrustDomain* td) {
  const std::string_view body = TrimLeft(content);
  if (body.empty()) return InvalidArgument("bundle is empty");
  const bool is_json = body[0] == '{';
  std::optional<json> doc;
  if (is_json) {
    WARD_ASSIGN_OR_RETURN(doc, internal::ParseJsonStrict(content, kMaxBundleBytes, "bundle"));
    if (doc->contains("trust_domains")) return BundleMapFromDoc(*doc);
    if (!doc->contains("keys")) {
      return InvalidArgument(
          "JSON bundle has neither \"keys\" (SPIFFE bundle) nor \"trust_domains\" (bundle map)");
    }
  } else if (body.substr(0, 10) != "-----BEGIN" && static_cast<unsigned char>(body[0]) != 0x30) {
    return InvalidArgument("bundle is not PEM, DER, a SPIFFE bundle or a SPIFFE bundle map");
  }
  if (td == nullptr) {
    return FailedPrecondition(
        "this bundle does not name its trust domain; say whose it is with --trust-domain");
  }
  Result<TrustBundle> bundle = InvalidArgument("");
  if (is_json) {
    bundle = ParseSpiffeDoc(*td, *doc);
  } else if (body[0] == '-') {
    bundle = TrustBundle::ParsePem(*td, content);
  } else {
    bundle = TrustBundle::ParseDer(*td, AsBytes(content));
  }
  if (!bundle.ok()) return bundle.status();
  BundleSet set;
  set.Put(std::move(bundle).value());
  return set;
}

}  // namespace ward

#include "core/jwt_svid.h"

#include <array>
#include <charconv>
#include <cmath>

#include "core/base64.h"
#include "core/internal/json_strict.h"
#include "core/json_writer.h"
#include "core/jws_algorithm.h"
#include "core/random.h"

namespace ward {
namespace {

using nlohmann::json;

// Decodes and parses one segment; `text`, when given, receives the decoded JSON text.
Result<json> DecodeSegment(std::string_view segment, const char* what,
                           std::string* text = nullptr) {
  auto raw = Base64UrlDecode(segment);
  if (!raw.ok()) return raw.status().WithContext(std::string("JWT ") + what);
  WARD_ASSIGN_OR_RETURN(json doc, internal::ParseJsonStrict(AsString(*raw), kMaxJwtBytes,
                                                            std::string("JWT ") + what));
  if (!doc.is_object())
    return InvalidArgument(std::string("JWT ") + what + " is not a JSON object");
  if (text != nullptr) text->assign(AsString(*raw));
  return doc;
}

// A NumericDate claim (RFC 7519 §2); nullopt when absent.
Result<std::optional<double>> NumericDate(const json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end()) return std::optional<double>();
  if (!it->is_number())
    return InvalidArgument(std::string("claim \"") + name + "\" is not a number");
  const double v = it->get<double>();
  if (!std::isfinite(v))
    return InvalidArgument(std::string("claim \"") + name + "\" is not finite");
  return std::optional<double>(v);
}

Result<std::vector<std::string>> Audience(const json& claims) {
  const auto it = claims.find("aud");
  if (it == claims.end()) return InvalidArgument("token has no audience (aud)");
  std::vector<std::string> out;
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_string()) return InvalidArgument("audience (aud) values must be strings");
      out.push_back(v.get<std::string>());
    }
  } else {
    return InvalidArgument("audience (aud) must be a string or an array of strings");
  }
  if (out.empty()) return InvalidArgument("token audience (aud) is empty");
  return out;
}

Result<std::string> RandomId() {
  unsigned char raw[16];
  WARD_RETURN_IF_ERROR(FillRandomValue(raw, sizeof raw));
  return Base64UrlEncode(ByteView(raw, sizeof raw));
}

void AppendNumber(int64_t value, std::string* out) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;
  out->append(buf, end);
}

// Splits a compact JWS into its three segments.
Result<std::array<std::string_view, 3>> SplitCompact(std::string_view token) {
  if (token.empty()) return InvalidArgument("token is empty");
  if (token.size() > kMaxJwtBytes) {
    return InvalidArgument("token is longer than " + std::to_string(kMaxJwtBytes) + " bytes");
  }
  if (token.front() == '{') {
    return InvalidArgument("JWS JSON serialization is not allowed; a JWT-SVID is compact JWS");
  }
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return InvalidArgument("token is not a compact JWS (expected three dot-separated parts)");
  }
  return std::array<std::string_view, 3>{
      token.substr(0, dot1), token.substr(dot1 + 1, dot2 - dot1 - 1), token.substr(dot2 + 1)};
}

}  // namespace

Result<SpiffeId> UnverifiedJwtSubject(std::string_view token) {
  WARD_ASSIGN_OR_RETURN(auto parts, SplitCompact(token));
  WARD_ASSIGN_OR_RETURN(json claims, DecodeSegment(parts[1], "claims"));
  const auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string())
    return InvalidArgument("token has no subject (sub)");
  auto id = SpiffeId::Parse(sub->get_ref<const std::string&>());
  if (!id.ok()) return id.status().WithContext("token subject (sub) is not a valid SPIFFE ID");
  return id;
}

Result<MintedJwtSvid> MintJwtSvid(const JwtSvidParams& params, std::string_view key_id,
                                  const PrivateKey& key) {
  return MintJwtSvid(params, key_id, LocalSigner(key));
}

Result<MintedJwtSvid> MintJwtSvid(const JwtSvidParams& params, std::string_view key_id,
                                  const Signer& signer) {
  if (params.audience.empty()) return InvalidArgument("a JWT-SVID needs at least one audience");
  for (const auto& a : params.audience) {
    if (a.empty()) return InvalidArgument("audience values must not be empty");
  }
  if (key_id.empty()) return InvalidArgument("a JWT-SVID signing key needs a key ID");
  if (params.expires_at <= params.issued_at) {
    return InvalidArgument("expiry must be later than issue time");
  }
  WARD_ASSIGN_OR_RETURN(JwsAlgorithm alg, DefaultJwsAlgorithm(signer.key_info()));
  // Header and claims have a fixed shape, so they are written directly (members in the order
  // nlohmann/json would sort them): building and dumping JSON objects cost a fifth of the
  // signature. Every string goes through AppendJsonString, which escapes it and refuses
  // invalid UTF-8.
  std::string header = "{\"alg\":\"";
  header += JwsAlgorithmName(alg);
  header += "\",\"kid\":";
  if (!AppendJsonString(key_id, &header)) {
    return InvalidArgument("the signing key ID is not valid UTF-8");
  }
  header += ",\"typ\":\"JWT\"}";
  MintedJwtSvid out;
  WARD_ASSIGN_OR_RETURN(out.jti, RandomId());
  // A single audience is written as a string, the form JWT-SVID.schema describes.
  std::string claims = "{\"aud\":";
  if (params.audience.size() > 1) claims += '[';
  for (size_t i = 0; i < params.audience.size(); ++i) {
    if (i > 0) claims += ',';
    if (!AppendJsonString(params.audience[i], &claims)) {
      return InvalidArgument("audience values must be valid UTF-8");
    }
  }
  if (params.audience.size() > 1) claims += ']';
  claims += ",\"exp\":";
  AppendNumber(params.expires_at, &claims);
  claims += ",\"iat\":";
  AppendNumber(params.issued_at, &claims);
  claims += ",\"jti\":\"";
  claims += out.jti;  // base64url: nothing to escape
  claims += "\",\"sub\":";
  AppendJsonString(params.subject.str(), &claims);  // a SPIFFE ID is ASCII
  claims += '}';

  std::string& token = out.token;
  // Room for both segments, the dots and the signature (at most 2 * ceil(bits / 8) bytes).
  const auto key_bytes = static_cast<size_t>(signer.key_info().bits + 7) / 8;
  token.reserve((header.size() + claims.size() + 2 * key_bytes) * 4 / 3 + 8);
  AppendBase64Url(AsBytes(header), &token);
  token += '.';
  AppendBase64Url(AsBytes(claims), &token);
  WARD_ASSIGN_OR_RETURN(Bytes sig, signer.Sign(alg, AsBytes(token)));
  token += '.';
  AppendBase64Url(sig, &token);
  return out;
}

Result<ValidatedJwtSvid> ValidateJwtSvid(std::string_view token, const TrustBundleSource& bundles,
                                         std::string_view audience, UnixSeconds now,
                                         int64_t leeway_seconds) {
  if (audience.empty()) return InvalidArgument("expected audience must not be empty");
  WARD_ASSIGN_OR_RETURN(auto parts, SplitCompact(token));
  const std::string_view header_b64 = parts[0];
  const std::string_view payload_b64 = parts[1];
  const std::string_view sig_b64 = parts[2];
  const std::string_view signing_input =
      token.substr(0, header_b64.size() + 1 + payload_b64.size());

  WARD_ASSIGN_OR_RETURN(json header, DecodeSegment(header_b64, "header"));
  const auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) {
    return InvalidArgument("token header has no algorithm (alg)");
  }
  WARD_ASSIGN_OR_RETURN(JwsAlgorithm alg, ParseJwsAlgorithm(alg_it->get_ref<const std::string&>()));
  for (const auto& [name, value] : header.items()) {
    if (name != "alg" && name != "kid" && name != "typ") {
      return InvalidArgument("header parameter \"" + name.substr(0, 64) +
                             "\" is not allowed in a JWT-SVID (only alg, kid and typ)");
    }
  }
  if (const auto typ = header.find("typ"); typ != header.end()) {
    if (!typ->is_string() || (*typ != "JWT" && *typ != "JOSE")) {
      return InvalidArgument("token type (typ) must be JWT or JOSE");
    }
  }
  const auto kid_it = header.find("kid");
  if (kid_it == header.end() || !kid_it->is_string() ||
      kid_it->get_ref<const std::string&>().empty()) {
    return InvalidArgument("token header has no key ID (kid)");
  }
  const std::string& kid = kid_it->get_ref<const std::string&>();
  if (sig_b64.empty()) return InvalidArgument("token has no signature");

  std::string claims_text;
  WARD_ASSIGN_OR_RETURN(json claims, DecodeSegment(payload_b64, "claims", &claims_text));
  const auto sub_it = claims.find("sub");
  if (sub_it == claims.end()) return InvalidArgument("token has no subject (sub)");
  if (!sub_it->is_string()) return InvalidArgument("token subject (sub) is not a string");
  auto id = SpiffeId::Parse(sub_it->get_ref<const std::string&>());
  if (!id.ok()) return id.status().WithContext("token subject (sub) is not a valid SPIFFE ID");
  WARD_ASSIGN_OR_RETURN(std::optional<double> exp, NumericDate(claims, "exp"));
  if (!exp) return InvalidArgument("token has no expiry (exp)");
  WARD_ASSIGN_OR_RETURN(std::vector<std::string> token_audience, Audience(claims));

  // The key comes only from the bundle of the subject's own trust domain.
  const std::string td(id->trust_domain_name());
  const TrustBundle* bundle = bundles.FindBundle(td);
  if (bundle == nullptr) return InvalidArgument("no bundle for trust domain \"" + td + "\"");
  const JwtAuthority* authority = bundle->FindJwtAuthority(kid);
  if (authority == nullptr) {
    return InvalidArgument("no JWT authority with key ID \"" + kid.substr(0, 128) +
                           "\" in the bundle of trust domain \"" + td + "\"");
  }
  auto sig = Base64UrlDecode(sig_b64);
  if (!sig.ok()) return sig.status().WithContext("JWT signature");
  const Status verified = JwsVerify(authority->public_key, alg, AsBytes(signing_input), *sig);
  if (!verified.ok())
    return verified.WithContext("token signature check with key \"" + kid.substr(0, 128) + "\"");

  const double lo = static_cast<double>(now - leeway_seconds);
  const double hi = static_cast<double>(now + leeway_seconds);
  if (*exp < lo) return InvalidArgument("token has expired");
  WARD_ASSIGN_OR_RETURN(std::optional<double> nbf, NumericDate(claims, "nbf"));
  if (nbf && *nbf > hi) return InvalidArgument("token is not valid yet (nbf)");
  WARD_ASSIGN_OR_RETURN(std::optional<double> iat, NumericDate(claims, "iat"));
  if (iat && *iat > hi) return InvalidArgument("token was issued in the future (iat)");
  bool audience_ok = false;
  for (const auto& a : token_audience) audience_ok = audience_ok || a == audience;
  if (!audience_ok) {
    return InvalidArgument("token audience does not include \"" +
                           std::string(audience.substr(0, 256)) + "\"");
  }
  return ValidatedJwtSvid{std::move(id).value(), std::move(token_audience),
                          static_cast<UnixSeconds>(std::floor(*exp)), kid, std::move(claims_text)};
}

}  // namespace ward

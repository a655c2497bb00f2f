#include "core/internal/jwk.h"

#include <openssl/core_names.h>

#include "core/base64.h"

namespace ward::internal {
namespace {

Result<Bytes> MemberBytes(const nlohmann::json& jwk, const char* member) {
  const auto it = jwk.find(member);
  if (it == jwk.end() || !it->is_string()) {
    return InvalidArgument(std::string("JWK member \"") + member + "\" is missing or not a string");
  }
  auto decoded = Base64UrlDecode(it->get_ref<const std::string&>());
  if (!decoded.ok())
    return decoded.status().WithContext(std::string("JWK member \"") + member + "\"");
  return decoded;
}

Bytes BnBytes(const BIGNUM* bn, int pad_to) {
  const int len = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  Bytes out(static_cast<size_t>(len));
  BN_bn2binpad(bn, out.data(), len);
  return out;
}

Result<PublicKey> FromParams(const char* type, OSSL_PARAM_BLD* bld) {
  ossl::ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    ossl::DrainErrors();
    return InvalidArgument(std::string("JWK does not hold a valid ") + type + " public key");
  }
  return PublicKey(ossl::PkeyPtr(raw));
}

Result<PublicKey> EcFromJwk(const nlohmann::json& jwk) {
  const auto crv = jwk.find("crv");
  if (crv == jwk.end() || !crv->is_string()) return InvalidArgument("EC JWK has no \"crv\"");
  const std::string& curve = crv->get_ref<const std::string&>();
  size_t n = 0;
  if (curve == "P-256") n = 32;
  if (curve == "P-384") n = 48;
  if (curve == "P-521") n = 66;
  if (n == 0)
    return InvalidArgument("EC JWK curve \"" + curve.substr(0, 32) + "\" is not supported");
  WARD_ASSIGN_OR_RETURN(Bytes x, MemberBytes(jwk, "x"));
  WARD_ASSIGN_OR_RETURN(Bytes y, MemberBytes(jwk, "y"));
  if (x.size() != n || y.size() != n) {
    return InvalidArgument("EC JWK coordinates must be " + std::to_string(n) + " bytes for " +
                           curve);
  }
  Bytes point{0x04};
  point.insert(point.end(), x.begin(), x.end());
  point.insert(point.end(), y.begin(), y.end());
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, curve.c_str(), 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  return FromParams("EC", bld.get());
}

Result<PublicKey> RsaFromJwk(const nlohmann::json& jwk) {
  WARD_ASSIGN_OR_RETURN(Bytes n, MemberBytes(jwk, "n"));
  WARD_ASSIGN_OR_RETURN(Bytes e, MemberBytes(jwk, "e"));
  if (n.empty() || e.empty() || e.size() > 8)
    return InvalidArgument("RSA JWK has an invalid n or e");
  if (n.size() > 2048) return InvalidArgument("RSA JWK modulus is larger than 16384 bits");
  ossl::BnPtr bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  ossl::BnPtr bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  if (!BN_is_odd(bn_e.get()) || BN_is_one(bn_e.get())) {
    return InvalidArgument("RSA JWK public exponent is invalid");
  }
  ossl::ParamBldPtr bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get());
  OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get());
  return FromParams("RSA", bld.get());
}

}  // namespace

Status AddPublicKeyToJwk(const PublicKey& key, nlohmann::json& jwk) {
  const KeyInfo info = key.info();
  if (info.family == KeyFamily::kEc) {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    const int ok = EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
                   EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1;
    ossl::BnPtr bx(x), by(y);
    if (!ok || info.curve.empty()) return Internal("cannot export EC key: " + ossl::DrainErrors());
    const int n = info.curve == "P-256" ? 32 : info.curve == "P-384" ? 48 : 66;
    jwk["kty"] = "EC";
    jwk["crv"] = info.curve;
    jwk["x"] = Base64UrlEncode(BnBytes(bx.get(), n));
    jwk["y"] = Base64UrlEncode(BnBytes(by.get(), n));
    return OkStatus();
  }
  if (info.family == KeyFamily::kRsa) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    const int ok = EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
                   EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) == 1;
    ossl::BnPtr bn(n), be(e);
    if (!ok) return Internal("cannot export RSA key: " + ossl::DrainErrors());
    jwk["kty"] = "RSA";
    jwk["n"] = Base64UrlEncode(BnBytes(bn.get(), 0));
    jwk["e"] = Base64UrlEncode(BnBytes(be.get(), 0));
    return OkStatus();
  }
  return InvalidArgument("only EC and RSA keys can be written as JWK");
}

Result<PublicKey> PublicKeyFromJwk(const nlohmann::json& jwk) {
  if (!jwk.is_object()) return InvalidArgument("JWK is not a JSON object");
  const auto kty = jwk.find("kty");
  if (kty == jwk.end() || !kty->is_string()) return InvalidArgument("JWK has no \"kty\"");
  const std::string& type = kty->get_ref<const std::string&>();
  Result<PublicKey> key = InvalidArgument("");
  if (type == "EC") {
    key = EcFromJwk(jwk);
  } else if (type == "RSA") {
    key = RsaFromJwk(jwk);
  } else {
    return NotFound("JWK kty \"" + type.substr(0, 32) + "\" is not supported");
  }
  if (!key.ok()) return key;
  WARD_RETURN_IF_ERROR(ValidatePublicKey(*key).WithContext("JWK " + type + " key"));
  return key;
}

}  // namespace ward::internal

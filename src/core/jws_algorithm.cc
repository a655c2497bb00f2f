#include "core/jws_algorithm.h"

#include <openssl/rsa.h>

#include <array>
#include <memory>

#include "core/digest.h"
#include "core/internal/der.h"
#include "core/precomputed_key_cache.h"

namespace ward {
namespace {

enum class Scheme { kPkcs1, kPss, kEcdsa };

struct AlgorithmSpec {
  JwsAlgorithm alg;
  std::string_view name;
  Scheme scheme;
  DigestAlgorithm digest;
  size_t ec_coordinate_bytes;  // for ECDSA: size of r and of s in the JOSE encoding
  std::string_view curve;
};

constexpr std::array<AlgorithmSpec, 9> kSpecs = {{
    {JwsAlgorithm::kRs256, "RS256", Scheme::kPkcs1, DigestAlgorithm::kSha256, 0, ""},
    {JwsAlgorithm::kRs384, "RS384", Scheme::kPkcs1, DigestAlgorithm::kSha384, 0, ""},
    {JwsAlgorithm::kRs512, "RS512", Scheme::kPkcs1, DigestAlgorithm::kSha512, 0, ""},
    {JwsAlgorithm::kEs256, "ES256", Scheme::kEcdsa, DigestAlgorithm::kSha256, 32, "P-256"},
    {JwsAlgorithm::kEs384, "ES384", Scheme::kEcdsa, DigestAlgorithm::kSha384, 48, "P-384"},
    {JwsAlgorithm::kEs512, "ES512", Scheme::kEcdsa, DigestAlgorithm::kSha512, 66, "P-521"},
    {JwsAlgorithm::kPs256, "PS256", Scheme::kPss, DigestAlgorithm::kSha256, 0, ""},
    {JwsAlgorithm::kPs384, "PS384", Scheme::kPss, DigestAlgorithm::kSha384, 0, ""},
    {JwsAlgorithm::kPs512, "PS512", Scheme::kPss, DigestAlgorithm::kSha512, 0, ""},
}};

const AlgorithmSpec& SpecOf(JwsAlgorithm alg) { return kSpecs[static_cast<size_t>(alg)]; }

const EVP_MD* Digest(const AlgorithmSpec& spec) { return FetchedDigest(spec.digest); }

Status ConfigurePadding(EVP_PKEY_CTX* pctx, const AlgorithmSpec& spec) {
  if (spec.scheme != Scheme::kPss) return OkStatus();
  // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash output.
  if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
    return Internal("cannot configure RSA-PSS: " + ossl::DrainErrors());
  }
  return OkStatus();
}

Result<Bytes> DerToRaw(ByteView der, size_t n) {
  auto raw = der::EcdsaDerToRaw(der, n);
  if (!raw.ok()) return Internal("cannot decode ECDSA signature: " + raw.status().message());
  return raw;
}

Result<Bytes> RawToDer(ByteView raw, size_t n) {
  if (raw.size() != 2 * n) {
    return InvalidArgument("ECDSA signature must be " + std::to_string(2 * n) + " bytes, got " +
                           std::to_string(raw.size()));
  }
  return der::EcdsaRawToDer(raw);
}

}  // namespace

Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name) {
  for (const auto& spec : kSpecs) {
    if (spec.name == name) return spec.alg;
  }
  return InvalidArgument("unsupported JWS algorithm \"" + std::string(name.substr(0, 32)) +
                         "\": a JWT-SVID must use RS256/384/512, ES256/384/512 or PS256/384/512");
}

std::string_view JwsAlgorithmName(JwsAlgorithm alg) { return SpecOf(alg).name; }

Result<JwsAlgorithm> DefaultJwsAlgorithm(const KeyInfo& key) {
  if (key.family == KeyFamily::kRsa) return JwsAlgorithm::kRs256;
  if (key.family == KeyFamily::kEc) {
    if (key.curve == "P-256") return JwsAlgorithm::kEs256;
    if (key.curve == "P-384") return JwsAlgorithm::kEs384;
    if (key.curve == "P-521") return JwsAlgorithm::kEs512;
  }
  return InvalidArgument("no JWS algorithm for this key type");
}

Status CheckKeyMatchesAlgorithm(const KeyInfo& key, JwsAlgorithm alg) {
  const AlgorithmSpec& spec = SpecOf(alg);
  WARD_RETURN_IF_ERROR(CheckAcceptableKey(key));
  if (spec.scheme == Scheme::kEcdsa) {
    if (key.family != KeyFamily::kEc || key.curve != spec.curve) {
      return InvalidArgument(std::string(spec.name) + " requires an EC " + std::string(spec.curve) +
                             " key");
    }
  } else if (key.family != KeyFamily::kRsa) {
    return InvalidArgument(std::string(spec.name) + " requires an RSA key");
  }
  return OkStatus();
}

Result<ossl::PkeyCtxPtr> PrepareJwsSign(const PrivateKey& key, JwsAlgorithm alg) {
  const AlgorithmSpec& spec = SpecOf(alg);
  WARD_RETURN_IF_ERROR(CheckKeyMatchesAlgorithm(key.info(), alg));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  // The signature digest makes the provider refuse input of any other length, and makes RSA
  // wrap the digest in its DigestInfo, as EVP_DigestSign would.
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), Digest(spec)) != 1) {
    return Internal("cannot start signing: " + ossl::DrainErrors());
  }
  WARD_RETURN_IF_ERROR(ConfigurePadding(ctx.get(), spec));
  return ctx;
}

Result<Bytes> JwsSignWith(EVP_PKEY_CTX* ready, const PrivateKey& key, JwsAlgorithm alg,
                          ByteView data) {
  const AlgorithmSpec& spec = SpecOf(alg);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &digest_len, Digest(spec), nullptr) != 1) {
    return Internal("cannot hash the message to sign: " + ossl::DrainErrors());
  }
  // The key's maximum signature size, so one call signs (a sizing call costs a second pass).
  size_t len = static_cast<size_t>(EVP_PKEY_get_size(key.get()));
  if (len == 0) return Internal("cannot size signature: " + ossl::DrainErrors());
  Bytes sig(len);
  if (EVP_PKEY_sign(ready, sig.data(), &len, digest, digest_len) != 1) {
    return Internal("signing failed: " + ossl::DrainErrors());
  }
  sig.resize(len);
  if (spec.scheme == Scheme::kEcdsa) return DerToRaw(sig, spec.ec_coordinate_bytes);
  return sig;
}

Result<Bytes> JwsSign(const PrivateKey& key, JwsAlgorithm alg, ByteView data) {
  WARD_ASSIGN_OR_RETURN(ossl::PkeyCtxPtr ctx, PrepareJwsSign(key, alg));
  return JwsSignWith(ctx.get(), key, alg, data);
}

Status JwsVerify(const PublicKey& key, JwsAlgorithm alg, ByteView data, ByteView signature) {
  const AlgorithmSpec& spec = SpecOf(alg);
  WARD_RETURN_IF_ERROR(CheckKeyMatchesAlgorithm(key.info(), alg));
  if (alg == JwsAlgorithm::kEs256 && signature.size() == 2 * spec.ec_coordinate_bytes) {
    // A prepared key (a JWT authority the agent was given) has a precomputed table that verifies
    // in under half the time; see precomputed_key_cache.h.
    if (auto table = PrecomputedKeyCache::Process().Find(key)) {
      switch (table->Verify(Sha256(data), signature)) {
        case SignatureCheck::kValid:
          return OkStatus();
        case SignatureCheck::kInvalid:
          return InvalidArgument("signature is invalid");
        case SignatureCheck::kCannotCheck:
          break;  // the plain way below decides
      }
    }
  }
  Bytes der;
  ByteView to_verify = signature;
  if (spec.scheme == Scheme::kEcdsa) {
    auto converted = RawToDer(signature, spec.ec_coordinate_bytes);
    if (!converted.ok())
      return InvalidArgument("signature is invalid: " + converted.status().message());
    der = std::move(converted).value();
    to_verify = der;
  }
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* pctx = nullptr;
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, Digest(spec), nullptr, key.get()) != 1) {
    return Internal("cannot start verification: " + ossl::DrainErrors());
  }
  WARD_RETURN_IF_ERROR(ConfigurePadding(pctx, spec));
  const int rc =
      EVP_DigestVerify(ctx.get(), to_verify.data(), to_verify.size(), data.data(), data.size());
  ossl::DrainErrors();
  if (rc != 1) return InvalidArgument("signature is invalid");
  return OkStatus();
}

}  // namespace ward

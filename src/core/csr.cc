#include "core/csr.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>

#include "core/digest.h"
#include "core/internal/der.h"
#include "core/internal/p256_check.h"
#include "core/p256_verify.h"

namespace ward {
namespace {

Status NoProofOfPossession() {
  return InvalidArgument("CSR signature does not verify (no proof of possession of its key)");
}

Result<CertificateRequest> Inspect(ossl::X509ReqPtr req) {
  ossl::PkeyPtr pkey(X509_REQ_get_pubkey(req.get()));
  if (!pkey) return InvalidArgument("CSR carries no usable public key: " + ossl::DrainErrors());
  // Proof of possession: the request is signed by the private half of the key it carries.
  if (X509_REQ_verify(req.get(), pkey.get()) != 1) {
    ossl::DrainErrors();
    return NoProofOfPossession();
  }
  const PublicKey key(std::move(pkey));
  WARD_RETURN_IF_ERROR(CheckAcceptableKey(key.info()).WithContext("CSR key"));
  CertificateRequest out{{key.info(), {}}, {}};
  // The SubjectPublicKeyInfo as it arrived; re-encoding the parsed key would go through
  // OpenSSL 3's encoder framework, several times the cost of the signature.
  unsigned char* spki = nullptr;
  const int spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req.get()), &spki);
  if (spki_len <= 0) return Internal("cannot encode CSR key: " + ossl::DrainErrors());
  out.key.spki_der.assign(spki, spki + spki_len);
  OPENSSL_free(spki);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  if (exts != nullptr) {
    const int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    if (idx >= 0) {
      ossl::GeneralNamesPtr names(
          static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(X509v3_get_ext(exts, idx))));
      for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        if (gn->type != GEN_URI) continue;
        const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
        out.uri_sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  ossl::DrainErrors();
  return out;
}

// The CSR agents send, read without OpenSSL's X509_REQ: an EC P-256 or P-384 key, an
// ecdsa-with-SHA256/384 signature and no attributes. d2i_X509_REQ decodes the key through
// OpenSSL 3's decoder framework, which costs several signature verifications and serializes
// threads on its locks; here the point is set on a key object (which checks it is on the curve)
// and the signature verified once. Anything else goes the general way.
struct EcCurve {
  ByteView oid;  // namedCurve OID content
  const char* group;
  size_t point_bytes;  // uncompressed point: 04 || X || Y
  ByteView sig_alg;    // the signature AlgorithmIdentifier that goes with it (full TLV)
  DigestAlgorithm digest;
  const char* name;  // KeyInfo::curve
  int bits;
};
constexpr uint8_t kOidEcPublicKey[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
constexpr uint8_t kOidP256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kOidP384[] = {0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kEcdsaSha256Alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr uint8_t kEcdsaSha384Alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                       0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
const EcCurve kCurves[] = {
    {ByteView(kOidP256), "prime256v1", 65, ByteView(kEcdsaSha256Alg), DigestAlgorithm::kSha256,
     "P-256", 256},
    {ByteView(kOidP384), "secp384r1", 97, ByteView(kEcdsaSha384Alg), DigestAlgorithm::kSha384,
     "P-384", 384},
};

bool SameBytes(ByteView a, ByteView b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// The whole TLV of an element read from `before` (which Read advanced to `after`).
ByteView Span(ByteView before, ByteView after) {
  return before.subspan(0, before.size() - after.size());
}

// Verifies `signature` over `digest` with the EC key whose point is `point`.
//
// Building a key object per request is what used to cost: from parameters it constructs the
// curve group (a sixth of a verification), and duplicating a template key copies the group (a
// tenth). Instead each thread keeps one key object per curve, with one verification context on
// it, and sets each request's point on that key (OpenSSL checks the point is on the curve).
// `EVP_PKEY_verify_init` then binds the context to the key as it now is; re-initialising a kept
// context costs a fraction of allocating one. The key is changed in place, so neither object
// ever leaves this function.
Status VerifyWithPoint(const EcCurve& curve, ByteView point, ByteView digest, ByteView signature) {
  if (&curve == &kCurves[0]) {
    // P-256, nearly every agent's CSR: below the EVP layer (p256_verify.h), which saves the
    // signature's DER round trip through ECDSA_SIG, the key's provider-side update and the affine
    // conversion of R, about a tenth of a verification. The DER reading is as strict as
    // OpenSSL's re-encoding check; an internal failure falls through to the EVP path.
    auto raw = der::EcdsaDerToRaw(signature, internal::kP256Bytes);
    if (!raw.ok()) {
      return NoProofOfPossession();
    }
    const Result<SignatureCheck> check = VerifyP256(point, digest, *raw);
    if (!check.ok()) return InvalidArgument("CSR key is not a valid EC point");
    if (*check == SignatureCheck::kValid) return OkStatus();
    if (*check == SignatureCheck::kInvalid) {
      return NoProofOfPossession();
    }
  }
  struct Verifier {
    ossl::PkeyPtr key;
    ossl::PkeyCtxPtr ctx;
  };
  thread_local Verifier verifiers[std::size(kCurves)];
  Verifier& v = verifiers[&curve - kCurves];
  bool point_set = false;
  if (v.key) {
    point_set = EVP_PKEY_set1_encoded_public_key(v.key.get(), point.data(), point.size()) == 1;
  } else {
    ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(curve.group),
                                         0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
                                          const_cast<unsigned char*>(point.data()), point.size()),
        OSSL_PARAM_construct_end()};
    EVP_PKEY* raw = nullptr;
    point_set = ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
                EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) == 1;
    v.key.reset(raw);
  }
  if (!point_set) {
    ossl::DrainErrors();
    return InvalidArgument("CSR key is not a valid EC point");
  }
  if (!v.ctx) v.ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, v.key.get(), nullptr));
  if (!v.ctx) return Internal("cannot make a verification context: " + ossl::DrainErrors());
  // No signature digest is set on the context: ECDSA verifies the digest as given, and setting
  // one makes the provider fetch it again by name on every CSR.
  if (EVP_PKEY_verify_init(v.ctx.get()) != 1 ||
      EVP_PKEY_verify(v.ctx.get(), signature.data(), signature.size(), digest.data(),
                      digest.size()) != 1) {
    ossl::DrainErrors();
    return NoProofOfPossession();
  }
  return OkStatus();
}

// Null when the CSR is not of the shape this path handles (the caller falls back); an error
// when it is, but is invalid.
Result<std::optional<CertificateRequest>> ParseEcCsrDer(ByteView der) {
  const std::optional<CertificateRequest> other;
  ByteView in = der;
  auto outer = der::Read(in);
  if (!outer.ok() || outer->tag != der::kSequence || !in.empty()) return other;
  ByteView body = outer->content;
  const ByteView cri_start = body;
  auto cri = der::Read(body);
  if (!cri.ok() || cri->tag != der::kSequence) return other;
  const ByteView cri_tlv = Span(cri_start, body);
  const ByteView alg_start = body;
  auto alg = der::Read(body);
  if (!alg.ok() || alg->tag != der::kSequence) return other;
  const ByteView alg_tlv = Span(alg_start, body);
  auto sig = der::Read(body);
  if (!sig.ok() || sig->tag != der::kBitString || !body.empty() || sig->content.empty() ||
      sig->content[0] != 0) {
    return other;
  }
  ByteView info = cri->content;
  auto version = der::Read(info);
  if (!version.ok() || version->tag != der::kInteger || version->content.size() != 1 ||
      version->content[0] != 0) {
    return other;
  }
  auto subject = der::Read(info);
  if (!subject.ok() || subject->tag != der::kSequence) return other;
  const ByteView spki_start = info;
  auto spki = der::Read(info);
  if (!spki.ok() || spki->tag != der::kSequence) return other;
  const ByteView spki_tlv = Span(spki_start, info);
  auto attributes = der::Read(info);
  if (!attributes.ok() || attributes->tag != 0xa0 || !attributes->content.empty() ||
      !info.empty()) {
    return other;  // attributes (a SAN request, say): the general path reads them
  }
  ByteView key = spki->content;
  auto key_alg = der::Read(key);
  auto point = der::Read(key);
  if (!key_alg.ok() || !point.ok() || !key.empty() || key_alg->tag != der::kSequence ||
      point->tag != der::kBitString || point->content.empty() || point->content[0] != 0) {
    return other;
  }
  ByteView key_alg_body = key_alg->content;
  auto type = der::Read(key_alg_body);
  auto curve_oid = der::Read(key_alg_body);
  if (!type.ok() || !curve_oid.ok() || !key_alg_body.empty() || type->tag != der::kOid ||
      !SameBytes(type->content, kOidEcPublicKey) || curve_oid->tag != der::kOid) {
    return other;
  }
  const EcCurve* curve = nullptr;
  for (const auto& c : kCurves) {
    if (SameBytes(curve_oid->content, c.oid)) curve = &c;
  }
  const ByteView point_bytes = point->content.subspan(1);
  if (curve == nullptr || point_bytes.size() != curve->point_bytes || point_bytes[0] != 0x04 ||
      !SameBytes(alg_tlv, curve->sig_alg)) {
    return other;
  }
  // Proof of possession: the request is signed by the private half of the key it carries.
  // Hashed here and verified with EVP_PKEY_verify: the same check as EVP_DigestVerify without
  // setting up a digest context around it.
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (EVP_Digest(cri_tlv.data(), cri_tlv.size(), digest, &digest_len, FetchedDigest(curve->digest),
                 nullptr) != 1) {
    return Internal("cannot hash CSR: " + ossl::DrainErrors());
  }
  WARD_RETURN_IF_ERROR(
      VerifyWithPoint(*curve, point_bytes, ByteView(digest, digest_len), sig->content.subspan(1)));
  CertificateRequest out{
      {{KeyFamily::kEc, curve->bits, curve->name}, Bytes(spki_tlv.begin(), spki_tlv.end())}, {}};
  return std::optional<CertificateRequest>(std::move(out));
}

}  // namespace

Result<CertificateRequest> ParseCsrDer(ByteView der) {
  if (der.empty()) return InvalidArgument("CSR is empty");
  if (der.size() > kMaxCsrBytes) return InvalidArgument("CSR is larger than 32 KiB");
  WARD_ASSIGN_OR_RETURN(std::optional<CertificateRequest> ec, ParseEcCsrDer(der));
  if (ec.has_value()) return std::move(ec).value();
  const unsigned char* p = der.data();
  ossl::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req) {
    ossl::DrainErrors();
    return InvalidArgument("CSR is not valid DER PKCS#10");
  }
  if (p != der.data() + der.size()) return InvalidArgument("trailing bytes after CSR");
  return Inspect(std::move(req));
}

Result<CertificateRequest> ParseCsrPem(std::string_view pem) {
  if (pem.size() > 2 * kMaxCsrBytes) return InvalidArgument("CSR is larger than 64 KiB of PEM");
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ossl::X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    ossl::DrainErrors();
    return InvalidArgument("no valid PEM CERTIFICATE REQUEST found");
  }
  return Inspect(std::move(req));
}

Result<Bytes> CreateCsrDer(const PrivateKey& key, std::string_view uri_san) {
  ossl::X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return Internal("cannot build CSR: " + ossl::DrainErrors());
  }
  if (!uri_san.empty()) {
    ossl::GeneralNamesPtr names(GENERAL_NAMES_new());
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    ASN1_STRING_set(ia5, uri_san.data(), static_cast<int>(uri_san.size()));
    GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
    sk_GENERAL_NAME_push(names.get(), gn);
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
    sk_X509_EXTENSION_push(exts, ext);
    const int ok = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (ok != 1) return Internal("cannot add CSR SAN: " + ossl::DrainErrors());
  }
  const EVP_MD* md = FetchedDigest(key.info().curve == "P-384" ? DigestAlgorithm::kSha384
                                                               : DigestAlgorithm::kSha256);
  if (X509_REQ_sign(req.get(), key.get(), md) <= 0) {
    return Internal("cannot sign CSR: " + ossl::DrainErrors());
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return Internal("cannot encode CSR");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace ward

#include "core/keys.h"

#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>

#include <cstring>

namespace ward {
namespace {

KeyInfo InfoOf(EVP_PKEY* pkey) {
  KeyInfo info;
  info.bits = EVP_PKEY_get_bits(pkey);
  const int id = EVP_PKEY_get_base_id(pkey);
  if (id == EVP_PKEY_EC) {
    info.family = KeyFamily::kEc;
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) == 1) {
      const std::string_view g(group, len);
      if (g == "prime256v1" || g == "P-256") info.curve = "P-256";
      if (g == "secp384r1" || g == "P-384") info.curve = "P-384";
      if (g == "secp521r1" || g == "P-521") info.curve = "P-521";
    }
    ossl::DrainErrors();
  } else if (id == EVP_PKEY_RSA) {
    info.family = KeyFamily::kRsa;
  }
  return info;
}

// Serialises with an OSSL_ENCODER into a buffer that is wiped before it is freed.
Result<SecureBytes> EncodePrivate(EVP_PKEY* pkey, const char* format) {
  OSSL_ENCODER_CTX* ctx =
      OSSL_ENCODER_CTX_new_for_pkey(pkey, EVP_PKEY_KEYPAIR, format, "PrivateKeyInfo", nullptr);
  if (ctx == nullptr) return Internal("cannot create key encoder: " + ossl::DrainErrors());
  unsigned char* data = nullptr;
  size_t len = 0;
  const int ok = OSSL_ENCODER_to_data(ctx, &data, &len);
  OSSL_ENCODER_CTX_free(ctx);
  if (ok != 1) return Internal("cannot encode private key: " + ossl::DrainErrors());
  SecureBytes out(ByteView(data, len));
  OPENSSL_clear_free(data, len);
  return out;
}

}  // namespace

Result<KeyType> ParseKeyType(std::string_view name) {
  if (name == "ec-p256") return KeyType::kEcP256;
  if (name == "ec-p384") return KeyType::kEcP384;
  if (name == "rsa-2048") return KeyType::kRsa2048;
  if (name == "rsa-3072") return KeyType::kRsa3072;
  if (name == "rsa-4096") return KeyType::kRsa4096;
  return InvalidArgument("unknown key type \"" + std::string(name.substr(0, 64)) +
                         "\": use ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096");
}

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return "ec-p256";
    case KeyType::kEcP384:
      return "ec-p384";
    case KeyType::kRsa2048:
      return "rsa-2048";
    case KeyType::kRsa3072:
      return "rsa-3072";
    case KeyType::kRsa4096:
      return "rsa-4096";
  }
  return "unknown";
}

PublicKey::PublicKey(ossl::PkeyPtr pkey) : pkey_(std::move(pkey)), info_(InfoOf(pkey_.get())) {}

PublicKey::PublicKey(const PublicKey& other) : pkey_(nullptr), info_(other.info_) {
  EVP_PKEY_up_ref(other.pkey_.get());
  pkey_.reset(other.pkey_.get());
}

PublicKey& PublicKey::operator=(const PublicKey& other) {
  if (this != &other) {
    EVP_PKEY_up_ref(other.pkey_.get());
    pkey_.reset(other.pkey_.get());
    info_ = other.info_;
  }
  return *this;
}

Result<Bytes> PublicKey::EncodedPoint() const {
  if (info_.family != KeyFamily::kEc) return InvalidArgument("not an EC key");
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, nullptr, 0,
                                      &len) != 1) {
    return Internal("cannot read the EC point: " + ossl::DrainErrors());
  }
  Bytes point(len);
  if (EVP_PKEY_get_octet_string_param(pkey_.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point.data(),
                                      point.size(), &len) != 1) {
    return Internal("cannot read the EC point: " + ossl::DrainErrors());
  }
  point.resize(len);
  return point;
}

Result<PublicKey> PublicKey::FromSpkiDer(ByteView der) {
  const unsigned char* p = der.data();
  ossl::PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (!pkey) return InvalidArgument("invalid SubjectPublicKeyInfo: " + ossl::DrainErrors());
  if (p != der.data() + der.size()) return InvalidArgument("trailing bytes after public key");
  return PublicKey(std::move(pkey));
}

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ossl::PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return InvalidArgument("invalid PEM public key: " + ossl::DrainErrors());
  return PublicKey(std::move(pkey));
}

Bytes PublicKey::ToSpkiDer() const {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey_.get(), &der);
  if (len <= 0) return {};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Result<SubjectPublicKey> SubjectPublicKey::Of(const PublicKey& key) {
  Bytes spki = key.ToSpkiDer();
  if (spki.empty()) return Internal("cannot encode public key: " + ossl::DrainErrors());
  return SubjectPublicKey{key.info(), std::move(spki)};
}

std::string PublicKey::ToPem() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), pkey_.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool PublicKey::Equals(const PublicKey& other) const {
  return EVP_PKEY_eq(pkey_.get(), other.pkey_.get()) == 1;
}

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* pkey = nullptr;
  switch (type) {
    case KeyType::kEcP256:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case KeyType::kEcP384:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case KeyType::kRsa2048:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
      break;
    case KeyType::kRsa3072:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{3072});
      break;
    case KeyType::kRsa4096:
      pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096});
      break;
  }
  if (pkey == nullptr) return Internal("key generation failed: " + ossl::DrainErrors());
  return PrivateKey(ossl::PkeyPtr(pkey));
}

Result<PrivateKey> PrivateKey::FromPkcs8Der(ByteView der) {
  OSSL_DECODER_CTX* raw = nullptr;
  EVP_PKEY* pkey = nullptr;
  raw = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "PrivateKeyInfo", nullptr, EVP_PKEY_KEYPAIR,
                                      nullptr, nullptr);
  if (raw == nullptr) return Internal("cannot create key decoder: " + ossl::DrainErrors());
  const unsigned char* p = der.data();
  size_t left = der.size();
  const int ok = OSSL_DECODER_from_data(raw, &p, &left);
  OSSL_DECODER_CTX_free(raw);
  ossl::PkeyPtr owned(pkey);
  if (ok != 1 || !owned) {
    ossl::DrainErrors();
    return InvalidArgument("invalid PKCS#8 private key");
  }
  if (left != 0) return InvalidArgument("trailing bytes after PKCS#8 private key");
  return PrivateKey(std::move(owned));
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // An empty passphrase callback: encrypted PEM keys are refused rather than prompting.
  ossl::PkeyPtr pkey(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (!pkey) {
    ossl::DrainErrors();
    return InvalidArgument("invalid or encrypted PEM private key");
  }
  return PrivateKey(std::move(pkey));
}

Result<SecureBytes> PrivateKey::ToPkcs8Der() const { return EncodePrivate(pkey_.get(), "DER"); }
Result<SecureBytes> PrivateKey::ToPkcs8Pem() const { return EncodePrivate(pkey_.get(), "PEM"); }

PublicKey PrivateKey::public_key() const {
  // Re-encode through SPKI so the public copy carries no private material.
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey_.get(), &der);
  const unsigned char* p = der;
  ossl::PkeyPtr pub(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(der);
  return PublicKey(std::move(pub));
}

PrivateKey::PrivateKey(ossl::PkeyPtr pkey) : pkey_(std::move(pkey)), info_(InfoOf(pkey_.get())) {}

Status CheckAcceptableKey(const KeyInfo& info) {
  if (info.family == KeyFamily::kEc) {
    if (info.curve.empty()) return InvalidArgument("EC key is not on P-256, P-384 or P-521");
    return OkStatus();
  }
  if (info.family == KeyFamily::kRsa) {
    if (info.bits < 2048) {
      return InvalidArgument("RSA key has " + std::to_string(info.bits) +
                             " bits; at least 2048 are required");
    }
    return OkStatus();
  }
  return InvalidArgument(
      "unsupported key type: only EC (P-256/P-384/P-521) and RSA keys are accepted");
}

Status ValidatePublicKey(const PublicKey& key) {
  WARD_RETURN_IF_ERROR(CheckAcceptableKey(key.info()));
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!ctx || EVP_PKEY_public_check(ctx.get()) != 1) {
    ossl::DrainErrors();
    return InvalidArgument("public key fails validation");
  }
  return OkStatus();
}

}  // namespace ward

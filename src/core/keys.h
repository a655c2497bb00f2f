// Public and private keys on OpenSSL 3 EVP. Private keys leave the process only as PKCS#8, and
// every serialised copy lives in a SecureBytes that wipes itself.
#ifndef WARD_CORE_KEYS_H_
#define WARD_CORE_KEYS_H_

#include <openssl/types.h>

#include <string>
#include <string_view>

#include "core/bytes.h"
#include "core/openssl_ptr.h"
#include "core/status.h"

namespace ward {

enum class KeyType { kEcP256, kEcP384, kRsa2048, kRsa3072, kRsa4096 };

Result<KeyType> ParseKeyType(std::string_view name);  // "ec-p256", "ec-p384", "rsa-2048", ...
std::string_view KeyTypeName(KeyType type);

enum class KeyFamily { kEc, kRsa, kOther };

struct KeyInfo {
  KeyFamily family = KeyFamily::kOther;
  int bits = 0;
  std::string curve;  // "P-256", "P-384", "P-521" for EC keys; empty otherwise
};

// Immutable and cheap to copy (copies share the reference-counted EVP_PKEY).
class PublicKey {
 public:
  // Takes ownership of `pkey`, which must not be null.
  explicit PublicKey(ossl::PkeyPtr pkey);
  PublicKey(const PublicKey& other);
  PublicKey& operator=(const PublicKey& other);
  PublicKey(PublicKey&&) noexcept = default;
  PublicKey& operator=(PublicKey&&) noexcept = default;

  static Result<PublicKey> FromSpkiDer(ByteView der);
  static Result<PublicKey> FromPem(std::string_view pem);

  Bytes ToSpkiDer() const;
  // EC keys: the public point as SEC 1 encodes it (uncompressed, unless the key came compressed).
  Result<Bytes> EncodedPoint() const;
  std::string ToPem() const;
  const KeyInfo& info() const { return info_; }
  bool Equals(const PublicKey& other) const;

  EVP_PKEY* get() const { return pkey_.get(); }

 private:
  ossl::PkeyPtr pkey_;
  KeyInfo info_;  // read once: the key never changes
};

// A public key as a certificate carries it: the SubjectPublicKeyInfo DER, and what the key checks
// need to know about it. The CA issues from this and needs no OpenSSL key object, which costs
// about a tenth of a signature verification to build.
struct SubjectPublicKey {
  KeyInfo info;
  Bytes spki_der;

  static Result<SubjectPublicKey> Of(const PublicKey& key);
};

// Move-only owner of a private key.
class PrivateKey {
 public:
  explicit PrivateKey(ossl::PkeyPtr pkey);

  static Result<PrivateKey> Generate(KeyType type);
  // Unencrypted PKCS#8 DER (the Workload API's key encoding).
  static Result<PrivateKey> FromPkcs8Der(ByteView der);
  // PEM "PRIVATE KEY" (PKCS#8), or the traditional "EC PRIVATE KEY" / "RSA PRIVATE KEY".
  static Result<PrivateKey> FromPem(std::string_view pem);

  Result<SecureBytes> ToPkcs8Der() const;
  Result<SecureBytes> ToPkcs8Pem() const;
  PublicKey public_key() const;
  const KeyInfo& info() const { return info_; }

  EVP_PKEY* get() const { return pkey_.get(); }

 private:
  ossl::PkeyPtr pkey_;
  KeyInfo info_;  // read once: the key never changes
};

// Key checks shared by every place that accepts a key from outside: EC on P-256/P-384/P-521 or
// RSA of at least 2048 bits.
Status CheckAcceptableKey(const KeyInfo& info);
// CheckAcceptableKey plus OpenSSL's public key validation (point on the curve, sane RSA modulus
// and exponent). For keys that arrive in bundles, where nothing else has exercised them yet.
Status ValidatePublicKey(const PublicKey& key);

}  // namespace ward

#endif  // WARD_CORE_KEYS_H_

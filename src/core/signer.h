// A signing key seen only through what it can do: its public key and signatures. The CA signs
// certificates and JWTs through this interface so that a key held in an HSM (never in this
// process's memory) and an in-process key are used the same way.
#ifndef WARD_CORE_SIGNER_H_
#define WARD_CORE_SIGNER_H_

#include <openssl/evp.h>

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/jws_algorithm.h"
#include "core/keys.h"
#include "core/status.h"

namespace ward {

class Signer {
 public:
  virtual ~Signer() = default;
  virtual PublicKey public_key() const = 0;
  virtual KeyInfo key_info() const = 0;
  // True when `key` is this signer's public key (checked before signing under a CA certificate).
  virtual bool HasPublicKey(const PublicKey& key) const { return public_key().Equals(key); }
  // Signs `message` (hashing it with the digest `alg` names). The signature is in JOSE encoding:
  // raw r||s for ECDSA, the plain signature block for RSA.
  virtual Result<Bytes> Sign(JwsAlgorithm alg, ByteView message) const = 0;
};

// A signer over a key in this process's memory. The borrowing form is for a key the caller keeps
// alive for the signer's lifetime; the owning form shares the key.
class LocalSigner final : public Signer {
 public:
  explicit LocalSigner(const PrivateKey& key) : key_(&key), info_(key.info()) {}
  explicit LocalSigner(std::shared_ptr<const PrivateKey> key)
      : owned_(std::move(key)), key_(owned_.get()), info_(key_->info()) {}

  PublicKey public_key() const override { return key_->public_key(); }
  KeyInfo key_info() const override { return info_; }
  bool HasPublicKey(const PublicKey& key) const override {
    return EVP_PKEY_eq(key_->get(), key.get()) == 1;
  }
  // Signs with a context prepared by PrepareJwsSign, taken from a small pool so concurrent
  // callers each have their own. The contexts live and die with the signer, like the key they
  // hold.
  Result<Bytes> Sign(JwsAlgorithm alg, ByteView message) const override;

 private:
  struct Prepared {
    JwsAlgorithm alg;
    ossl::PkeyCtxPtr ctx;
  };
  std::shared_ptr<const PrivateKey> owned_;
  const PrivateKey* key_;
  KeyInfo info_;
  mutable std::mutex mu_;
  mutable std::vector<Prepared> idle_;  // guarded by mu_
};

}  // namespace ward

#endif  // WARD_CORE_SIGNER_H_

// The part of ECDSA P-256 verification shared by the one-time path (p256_verify.h) and the
// precomputed-table path (p256_precomputed_key.h): everything but how R = u1·G + u2·Q is
// multiplied.
#ifndef WARD_CORE_INTERNAL_P256_CHECK_H_
#define WARD_CORE_INTERNAL_P256_CHECK_H_

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "core/bytes.h"
#include "core/internal/mod_inverse.h"
#include "core/p256_verify.h"

namespace ward::internal {

inline constexpr size_t kP256Bytes = 32;

// A BN_CTX per thread (made again on the next call if making it failed); null on failure.
BN_CTX* ThreadBnCtx();

// Ends a BN_CTX frame on every return path.
class BnFrame {
 public:
  explicit BnFrame(BN_CTX* ctx) : ctx_(ctx) { BN_CTX_start(ctx_); }
  ~BnFrame() { BN_CTX_end(ctx_); }
  BnFrame(const BnFrame&) = delete;
  BnFrame& operator=(const BnFrame&) = delete;

 private:
  BN_CTX* ctx_;
};

// P-256 as a verification needs it. The objects are only read, which OpenSSL allows from many
// threads at once.
struct P256Params {
  const EC_GROUP* curve;      // P-256 as named, with OpenSSL's built-in table for G
  const Uint256Bytes* order;  // n, big-endian
  const BIGNUM* field_prime;  // p
};

// P-256 made once per process and never changed after; null if OpenSSL could not make it.
const P256Params* SharedP256();

// The public key Q, one of the two: a point, multiplied generically, or a copy of the curve whose
// generator is Q and which carries a precomputed table for it.
struct P256Key {
  const EC_POINT* point = nullptr;
  const EC_GROUP* table = nullptr;
};

// SEC 1 §4.1.4 for a 32-byte `digest` and a 64-byte r || s `signature` under `key`.
SignatureCheck CheckP256Signature(const P256Params& params, const P256Key& key, ByteView digest,
                                  ByteView signature);

}  // namespace ward::internal

#endif  // WARD_CORE_INTERNAL_P256_CHECK_H_

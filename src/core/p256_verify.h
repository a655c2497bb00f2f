// ECDSA P-256 verification below OpenSSL's EVP layer, for the hot paths that check P-256
// signatures all day: JWT-SVIDs (under a key with a precomputed table, p256_precomputed_key.h)
// and agents' CSRs (under a key seen once, below).
#ifndef WARD_CORE_P256_VERIFY_H_
#define WARD_CORE_P256_VERIFY_H_

#include "core/bytes.h"
#include "core/status.h"

namespace ward {

enum class SignatureCheck {
  kValid,
  kInvalid,
  kCannotCheck,  // an internal failure (memory): check the plain way instead
};

// Whether `signature` (r || s, 32 bytes each) is a valid ECDSA signature of `digest` (32 bytes)
// under `point` (a SEC1 point on P-256): the checks of SEC 1 §4.1.4, which accept exactly what
// OpenSSL's ECDSA verification accepts. R = u1·G + u2·Q is OpenSSL's own multiplication; what is
// left out is the EVP layer around it and the affine conversion of R (see
// internal/p256_check.h). An error when `point` is not a point of P-256 other than infinity.
// Safe to call from many threads.
Result<SignatureCheck> VerifyP256(ByteView point, ByteView digest, ByteView signature);

}  // namespace ward

#endif  // WARD_CORE_P256_VERIFY_H_

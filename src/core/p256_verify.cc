#include "core/p256_verify.h"

#include <openssl/ec.h>

#include <memory>

#include "core/internal/p256_check.h"
#include "core/openssl_ptr.h"

namespace ward {
namespace {

using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;

}  // namespace

Result<SignatureCheck> VerifyP256(ByteView point, ByteView digest, ByteView signature) {
  const internal::P256Params* p256 = internal::SharedP256();
  BN_CTX* ctx = internal::ThreadBnCtx();
  PointPtr q(p256 != nullptr && ctx != nullptr ? EC_POINT_new(p256->curve) : nullptr);
  if (!q) {
    ossl::DrainErrors();  // nothing is left queued for the next OpenSSL user on this thread
    return SignatureCheck::kCannotCheck;
  }
  // oct2point refuses a point off the curve (and an encoding of the wrong length or form).
  if (EC_POINT_oct2point(p256->curve, q.get(), point.data(), point.size(), ctx) != 1 ||
      EC_POINT_is_at_infinity(p256->curve, q.get()) == 1) {
    ossl::DrainErrors();
    return InvalidArgument("not a point on P-256");
  }
  return internal::CheckP256Signature(*p256, {.point = q.get()}, digest, signature);
}

}  // namespace ward

#include "core/p256_verify.h"

#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <memory>

#include "core/internal/p256_check.h"
#include "core/openssl_ptr.h"

namespace ward {
namespace {

using GroupPtr = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;

// P-256, made once per process and never changed after.
struct SharedCurve {
  SharedCurve() {
    group.reset(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
    field_prime.reset(BN_new());
    ok = group && field_prime &&
         BN_bn2binpad(EC_GROUP_get0_order(group.get()), order.data(),
                      static_cast<int>(order.size())) == static_cast<int>(order.size()) &&
         EC_GROUP_get_curve(group.get(), field_prime.get(), nullptr, nullptr, nullptr) == 1;
    ossl::DrainErrors();
  }
  GroupPtr group;
  internal::Uint256Bytes order{};
  ossl::BnPtr field_prime;
  bool ok = false;
};

const SharedCurve& Curve() {
  static const SharedCurve curve;
  return curve;
}

}  // namespace

Result<SignatureCheck> VerifyP256(ByteView point, ByteView digest, ByteView signature) {
  const SharedCurve& curve = Curve();
  BN_CTX* ctx = internal::ThreadBnCtx();
  if (!curve.ok || ctx == nullptr) {
    ossl::DrainErrors();  // nothing is left queued for the next OpenSSL user on this thread
    return SignatureCheck::kCannotCheck;
  }
  PointPtr q(EC_POINT_new(curve.group.get()));
  if (!q) {
    ossl::DrainErrors();
    return SignatureCheck::kCannotCheck;
  }
  // oct2point refuses a point off the curve (and an encoding of the wrong length or form).
  if (EC_POINT_oct2point(curve.group.get(), q.get(), point.data(), point.size(), ctx) != 1 ||
      EC_POINT_is_at_infinity(curve.group.get(), q.get()) == 1) {
    ossl::DrainErrors();
    return InvalidArgument("not a point on P-256");
  }
  const internal::P256Params params{curve.group.get(), &curve.order, curve.field_prime.get()};
  return internal::CheckP256Signature(params, {.point = q.get()}, digest, signature);
}

}  // namespace ward

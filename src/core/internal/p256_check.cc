// EC_POINT_get_Jprojective_coordinates_GFp is deprecated in OpenSSL 3 (no replacement reads a
// point's projective coordinates) and remains in every 3.x release; it is what lets R be checked
// without converting it to affine coordinates.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "core/internal/p256_check.h"

#include <openssl/obj_mac.h>

#include <algorithm>
#include <memory>

#include "core/openssl_ptr.h"

namespace ward::internal {
namespace {

using BnCtxPtr = std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>>;
using GroupPtr = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;

struct SharedCurve {
  SharedCurve() {
    group.reset(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
    field_prime.reset(BN_new());
    ok = group && field_prime &&
         BN_bn2binpad(EC_GROUP_get0_order(group.get()), order.data(),
                      static_cast<int>(order.size())) == static_cast<int>(order.size()) &&
         EC_GROUP_get_curve(group.get(), field_prime.get(), nullptr, nullptr, nullptr) == 1;
    ossl::DrainErrors();
    params = {group.get(), &order, field_prime.get()};
  }
  GroupPtr group;
  Uint256Bytes order{};
  ossl::BnPtr field_prime;
  P256Params params{};
  bool ok = false;
};

// R = u1·G + u2·Q: with Q's table two fixed-base multiplications and an addition, otherwise
// OpenSSL's combined multiplication (G from its table, Q generically), as its ECDSA does.
bool MultiplyR(const P256Params& params, const P256Key& key, const BIGNUM* u1, const BIGNUM* u2,
               EC_POINT* out, BN_CTX* ctx) {
  if (key.table == nullptr) {
    return key.point != nullptr && EC_POINT_mul(params.curve, out, u1, key.point, u2, ctx) == 1;
  }
  PointPtr key_part(EC_POINT_new(params.curve));
  return key_part && EC_POINT_mul(params.curve, out, u1, nullptr, nullptr, ctx) == 1 &&
         EC_POINT_mul(key.table, key_part.get(), u2, nullptr, nullptr, ctx) == 1 &&
         EC_POINT_add(params.curve, out, out, key_part.get(), ctx) == 1;
}

}  // namespace

const P256Params* SharedP256() {
  static const SharedCurve curve;
  return curve.ok ? &curve.params : nullptr;
}

BN_CTX* ThreadBnCtx() {
  thread_local BnCtxPtr ctx;
  if (!ctx) ctx.reset(BN_CTX_new());
  return ctx.get();
}

SignatureCheck CheckP256Signature(const P256Params& params, const P256Key& key, ByteView digest,
                                  ByteView signature) {
  if (digest.size() != kP256Bytes || signature.size() != 2 * kP256Bytes) {
    return SignatureCheck::kInvalid;
  }
  BN_CTX* ctx = ThreadBnCtx();
  if (ctx == nullptr) {
    ossl::DrainErrors();
    return SignatureCheck::kCannotCheck;
  }
  const EC_GROUP* curve = params.curve;
  const BIGNUM* order = EC_GROUP_get0_order(curve);
  BnFrame frame(ctx);
  BIGNUM* r = BN_CTX_get(ctx);
  BIGNUM* s = BN_CTX_get(ctx);
  BIGNUM* e = BN_CTX_get(ctx);
  BIGNUM* w = BN_CTX_get(ctx);
  BIGNUM* u1 = BN_CTX_get(ctx);
  BIGNUM* u2 = BN_CTX_get(ctx);
  BIGNUM* product = BN_CTX_get(ctx);
  BIGNUM* jacobian_x = BN_CTX_get(ctx);
  BIGNUM* jacobian_z = BN_CTX_get(ctx);
  BIGNUM* x = BN_CTX_get(ctx);  // BN_CTX_get fails for good once it fails: the last one tells
  PointPtr sum(EC_POINT_new(curve));
  const SignatureCheck check = [&] {
    constexpr auto kCannot = SignatureCheck::kCannotCheck;
    // SEC 1 §4.1.4. A 256-bit digest is used whole: P-256's order has 256 bits.
    if (x == nullptr || !sum || !BN_bin2bn(signature.data(), kP256Bytes, r) ||
        !BN_bin2bn(signature.data() + kP256Bytes, kP256Bytes, s) ||
        !BN_bin2bn(digest.data(), kP256Bytes, e)) {
      return kCannot;
    }
    // r and s in [1, n - 1].
    if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, order) >= 0 || BN_cmp(s, order) >= 0) {
      return SignatureCheck::kInvalid;
    }
    // w = 1 / s (mod n). n is prime and s in range, so the inverse exists; w·s = 1 is checked
    // all the same, and a failure leaves the decision to the plain verification.
    Uint256Bytes s_bytes;
    Uint256Bytes w_bytes;
    std::copy_n(signature.data() + kP256Bytes, kP256Bytes, s_bytes.begin());
    if (!InvertModOdd(s_bytes, *params.order, w_bytes) ||
        !BN_bin2bn(w_bytes.data(), static_cast<int>(w_bytes.size()), w) ||
        !BN_mod_mul(product, w, s, order, ctx) || !BN_is_one(product)) {
      return kCannot;
    }
    // u1 = e·w, u2 = r·w (mod n); R = u1·G + u2·Q.
    if (!BN_mod_mul(u1, e, w, order, ctx) || !BN_mod_mul(u2, r, w, order, ctx) ||
        !MultiplyR(params, key, u1, u2, sum.get(), ctx)) {
      return kCannot;
    }
    // R must not be the point at infinity, and its x coordinate mod n must equal r. With R in
    // Jacobian coordinates, x = X / Z² and 0 <= x < p < 2n, so x mod n = r means x = r or
    // x = r + n: X is compared with r·Z² and (r + n)·Z² mod p, which spares the field inversion
    // an affine conversion costs (about 2 µs).
    if (EC_POINT_is_at_infinity(curve, sum.get()) == 1) return SignatureCheck::kInvalid;
    const BIGNUM* p = params.field_prime;
    if (EC_POINT_get_Jprojective_coordinates_GFp(curve, sum.get(), jacobian_x, nullptr, jacobian_z,
                                                 ctx) != 1 ||
        !BN_nnmod(jacobian_x, jacobian_x, p, ctx) ||
        !BN_mod_sqr(jacobian_z, jacobian_z, p, ctx) ||  // Z², from here on
        !BN_mod_mul(x, r, jacobian_z, p, ctx)) {
      return kCannot;
    }
    if (BN_cmp(x, jacobian_x) == 0) return SignatureCheck::kValid;
    if (!BN_add(x, r, order)) return kCannot;
    if (BN_cmp(x, p) >= 0) return SignatureCheck::kInvalid;
    if (!BN_mod_mul(x, x, jacobian_z, p, ctx)) return kCannot;
    return BN_cmp(x, jacobian_x) == 0 ? SignatureCheck::kValid : SignatureCheck::kInvalid;
  }();
  ossl::DrainErrors();  // nothing is left queued for the next OpenSSL user on this thread
  return check;
}

}  // namespace ward::internal

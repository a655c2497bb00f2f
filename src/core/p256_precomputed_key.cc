// EC_GROUP_precompute_mult is deprecated in OpenSSL 3 with the advice to use named curves, whose
// built-in tables cover the generator only; there is no other way to give a public key the same
// table, and the function remains in every 3.x release.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "core/p256_precomputed_key.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include <algorithm>

#include "core/internal/mod_inverse.h"
#include "core/openssl_ptr.h"

namespace ward {
namespace {

using GroupPtr = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>>;

constexpr size_t kCoordinateBytes = 32;

// A BN_CTX is single-threaded and costs allocations to make; each thread keeps one (made again
// on the next call if making it failed).
BN_CTX* ThreadBnCtx() {
  thread_local BnCtxPtr ctx;
  if (!ctx) ctx.reset(BN_CTX_new());
  return ctx.get();
}

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

// k·Q through the table and through OpenSSL's generic multiplication must agree; a library whose
// fixed-base code ignored or mishandled a non-standard generator would fail here, at build time,
// rather than reject (or accept) signatures later.
bool TableAgreesWithGenericMultiplication(const EC_GROUP* curve, const EC_GROUP* key_group,
                                          const EC_POINT* q, BN_CTX* ctx) {
  BnFrame frame(ctx);
  BIGNUM* k = BN_CTX_get(ctx);
  PointPtr via_table(EC_POINT_new(curve));
  PointPtr via_generic(EC_POINT_new(curve));
  // An arbitrary full-width scalar below the order (the order's top bits are all ones).
  return k && via_table && via_generic &&
         BN_hex2bn(&k, "7d3c1f0e9b8a69584736251403f2e1d0c0b0a09080706050403020100f1e2d3c") != 0 &&
         EC_POINT_mul(key_group, via_table.get(), k, nullptr, nullptr, ctx) == 1 &&
         EC_POINT_mul(curve, via_generic.get(), nullptr, q, k, ctx) == 1 &&
         EC_POINT_cmp(curve, via_table.get(), via_generic.get(), ctx) == 0;
}

}  // namespace

struct P256PrecomputedKey::Groups {
  GroupPtr curve;      // P-256 as named, with OpenSSL's built-in table for G
  GroupPtr key_group;  // the same curve with the key as its generator, and a table for it
  internal::Uint256Bytes order{};  // n, big-endian
  ossl::BnPtr field_prime;         // p
};

P256PrecomputedKey::P256PrecomputedKey(std::unique_ptr<Groups> groups)
    : groups_(std::move(groups)) {}

P256PrecomputedKey::~P256PrecomputedKey() = default;
P256PrecomputedKey::P256PrecomputedKey(P256PrecomputedKey&&) noexcept = default;
P256PrecomputedKey& P256PrecomputedKey::operator=(P256PrecomputedKey&&) noexcept = default;

Result<P256PrecomputedKey> P256PrecomputedKey::Create(ByteView point) {
  BnCtxPtr ctx(BN_CTX_new());
  auto groups = std::make_unique<Groups>();
  groups->curve.reset(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  if (!ctx || !groups->curve) return Internal("cannot load P-256: " + ossl::DrainErrors());
  const EC_GROUP* curve = groups->curve.get();
  PointPtr q(EC_POINT_new(curve));
  // oct2point refuses a point off the curve; P-256 has prime order, so any other point but the
  // point at infinity generates the whole group, with the curve's order.
  if (!q || EC_POINT_oct2point(curve, q.get(), point.data(), point.size(), ctx.get()) != 1 ||
      EC_POINT_is_at_infinity(curve, q.get()) == 1) {
    ossl::DrainErrors();
    return InvalidArgument("not a point on P-256");
  }
  if (BN_bn2binpad(EC_GROUP_get0_order(curve), groups->order.data(),
                   static_cast<int>(groups->order.size())) != static_cast<int>(kCoordinateBytes)) {
    return Internal("cannot read the order of P-256: " + ossl::DrainErrors());
  }
  groups->field_prime.reset(BN_new());
  if (!groups->field_prime ||
      EC_GROUP_get_curve(curve, groups->field_prime.get(), nullptr, nullptr, ctx.get()) != 1) {
    return Internal("cannot read the field of P-256: " + ossl::DrainErrors());
  }
  groups->key_group.reset(EC_GROUP_dup(curve));
  EC_GROUP* key_group = groups->key_group.get();
  if (!key_group ||
      EC_GROUP_set_generator(key_group, q.get(), EC_GROUP_get0_order(curve), BN_value_one()) != 1 ||
      EC_GROUP_precompute_mult(key_group, ctx.get()) != 1 ||
      EC_GROUP_have_precompute_mult(key_group) != 1) {
    return Internal("cannot precompute multiples of the key: " + ossl::DrainErrors());
  }
  if (!TableAgreesWithGenericMultiplication(curve, key_group, q.get(), ctx.get())) {
    return Internal("the precomputed table disagrees with OpenSSL's generic multiplication: " +
                    ossl::DrainErrors());
  }
  return P256PrecomputedKey(std::move(groups));
}

SignatureCheck P256PrecomputedKey::Verify(ByteView digest, ByteView signature) const {
  if (digest.size() != kCoordinateBytes || signature.size() != 2 * kCoordinateBytes) {
    return SignatureCheck::kInvalid;
  }
  BN_CTX* ctx = ThreadBnCtx();
  if (ctx == nullptr) {
    ossl::DrainErrors();
    return SignatureCheck::kCannotCheck;
  }
  const EC_GROUP* curve = groups_->curve.get();
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
  PointPtr key_part(EC_POINT_new(curve));
  const SignatureCheck check = [&] {
    constexpr auto kCannot = SignatureCheck::kCannotCheck;
    // SEC 1 §4.1.4. A 256-bit digest is used whole: P-256's order has 256 bits.
    if (x == nullptr || !sum || !key_part || !BN_bin2bn(signature.data(), kCoordinateBytes, r) ||
        !BN_bin2bn(signature.data() + kCoordinateBytes, kCoordinateBytes, s) ||
        !BN_bin2bn(digest.data(), kCoordinateBytes, e)) {
      return kCannot;
    }
    // r and s in [1, n - 1].
    if (BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, order) >= 0 || BN_cmp(s, order) >= 0) {
      return SignatureCheck::kInvalid;
    }
    // w = 1 / s (mod n). n is prime and s in range, so the inverse exists; w·s = 1 is checked
    // all the same, and a failure leaves the decision to the plain verification.
    internal::Uint256Bytes s_bytes;
    internal::Uint256Bytes w_bytes;
    std::copy_n(signature.data() + kCoordinateBytes, kCoordinateBytes, s_bytes.begin());
    if (!internal::InvertModOdd(s_bytes, groups_->order, w_bytes) ||
        !BN_bin2bn(w_bytes.data(), static_cast<int>(w_bytes.size()), w) ||
        !BN_mod_mul(product, w, s, order, ctx) || !BN_is_one(product)) {
      return kCannot;
    }
    // u1 = e·w, u2 = r·w (mod n); R = u1·G + u2·Q, each from its table.
    if (!BN_mod_mul(u1, e, w, order, ctx) || !BN_mod_mul(u2, r, w, order, ctx) ||
        EC_POINT_mul(curve, sum.get(), u1, nullptr, nullptr, ctx) != 1 ||
        EC_POINT_mul(groups_->key_group.get(), key_part.get(), u2, nullptr, nullptr, ctx) != 1 ||
        EC_POINT_add(curve, sum.get(), sum.get(), key_part.get(), ctx) != 1) {
      return kCannot;
    }
    // R must not be the point at infinity, and its x coordinate mod n must equal r. With R in
    // Jacobian coordinates, x = X / Z² and 0 <= x < p < 2n, so x mod n = r means x = r or
    // x = r + n: X is compared with r·Z² and (r + n)·Z² mod p, which spares the field inversion
    // an affine conversion costs (about 2 µs).
    if (EC_POINT_is_at_infinity(curve, sum.get()) == 1) return SignatureCheck::kInvalid;
    const BIGNUM* p = groups_->field_prime.get();
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

}  // namespace ward

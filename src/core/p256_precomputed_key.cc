// EC_GROUP_precompute_mult is deprecated in OpenSSL 3 with the advice to use named curves, whose
// built-in tables cover the generator only; there is no other way to give a public key the same
// table, and the function remains in every 3.x release.
#define OPENSSL_SUPPRESS_DEPRECATED

#include "core/p256_precomputed_key.h"

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "core/internal/p256_check.h"
#include "core/openssl_ptr.h"

namespace ward {
namespace {

using GroupPtr = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>>;

// k·Q through the table and through OpenSSL's generic multiplication must agree; a library whose
// fixed-base code ignored or mishandled a non-standard generator would fail here, at build time,
// rather than reject (or accept) signatures later.
bool TableAgreesWithGenericMultiplication(const EC_GROUP* curve, const EC_GROUP* key_group,
                                          const EC_POINT* q, BN_CTX* ctx) {
  internal::BnFrame frame(ctx);
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
  const internal::P256Params* p256 = nullptr;  // the shared curve, with OpenSSL's table for G
  GroupPtr key_group;  // the same curve with the key as its generator, and a table for it
};

P256PrecomputedKey::P256PrecomputedKey(std::unique_ptr<Groups> groups)
    : groups_(std::move(groups)) {}

P256PrecomputedKey::~P256PrecomputedKey() = default;
P256PrecomputedKey::P256PrecomputedKey(P256PrecomputedKey&&) noexcept = default;
P256PrecomputedKey& P256PrecomputedKey::operator=(P256PrecomputedKey&&) noexcept = default;

Result<P256PrecomputedKey> P256PrecomputedKey::Create(ByteView point) {
  BnCtxPtr ctx(BN_CTX_new());
  auto groups = std::make_unique<Groups>();
  groups->p256 = internal::SharedP256();
  if (!ctx || groups->p256 == nullptr) return Internal("cannot load P-256: " + ossl::DrainErrors());
  const EC_GROUP* curve = groups->p256->curve;
  PointPtr q(EC_POINT_new(curve));
  // oct2point refuses a point off the curve; P-256 has prime order, so any other point but the
  // point at infinity generates the whole group, with the curve's order.
  if (!q || EC_POINT_oct2point(curve, q.get(), point.data(), point.size(), ctx.get()) != 1 ||
      EC_POINT_is_at_infinity(curve, q.get()) == 1) {
    ossl::DrainErrors();
    return InvalidArgument("not a point on P-256");
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
  return internal::CheckP256Signature(*groups_->p256, {.table = groups_->key_group.get()}, digest,
                                      signature);
}

}  // namespace ward

// ECDSA P-256 verification with a precomputed key table, and for a key used once (a CSR's),
// against OpenSSL's own verification: for any digest and signature the three must give the same
// answer; the valid signature below is also sent DER-encoded, as is and changed (a byte flipped,
// trailing or missing bytes, a needless leading zero), to the CSR path's DER reading. The input is
// read as a 32-byte digest then a 64-byte r || s (the seeds are valid signatures under the key
// below), and its first 64 bytes also as two scalars from which a valid signature is made, then
// changed in one byte. Also checks the modular inverse against BN_mod_inverse, modulo the curve
// order and modulo any odd number the input's bytes 96-127 make.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "core/internal/der.h"
#include "core/internal/mod_inverse.h"
#include "core/keys.h"
#include "core/openssl_ptr.h"
#include "core/p256_precomputed_key.h"
#include "core/p256_verify.h"
#include "fuzz_check.h"

namespace {

constexpr char kPublicKeyPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQqUqqfMwCGJoC8bWEEMIwnY7PcaJ\n"
    "cQAT/amAXH5lsQTM0a4cessl6BrTZ08cs7W7F4E6MxCpvpVeqK38NHCC6w==\n"
    "-----END PUBLIC KEY-----\n";

constexpr uint8_t kOrder[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

using GroupPtr = std::unique_ptr<EC_GROUP, ward::ossl::Deleter<EC_GROUP_free>>;
using PointPtr = std::unique_ptr<EC_POINT, ward::ossl::Deleter<EC_POINT_free>>;

// The key three ways, made once: as a PublicKey, as its table, and as a point for building
// signatures from scalars.
struct Fixture {
  Fixture() {
    const ward::Bytes point = key.EncodedPoint().value();
    FUZZ_CHECK(q != nullptr &&
               EC_POINT_oct2point(group.get(), q.get(), point.data(), point.size(), nullptr) == 1);
  }
  ward::PublicKey key = ward::PublicKey::FromPem(kPublicKeyPem).value();
  ward::P256PrecomputedKey table =
      ward::P256PrecomputedKey::Create(key.EncodedPoint().value()).value();
  GroupPtr group{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
  PointPtr q{EC_POINT_new(group.get())};
};

bool OpenSslVerifies(const ward::PublicKey& key, const uint8_t* digest, const uint8_t* raw) {
  ward::ossl::EcdsaSigPtr sig(ECDSA_SIG_new());
  FUZZ_CHECK(sig != nullptr);
  FUZZ_CHECK(ECDSA_SIG_set0(sig.get(), BN_bin2bn(raw, 32, nullptr),
                            BN_bin2bn(raw + 32, 32, nullptr)) == 1);
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  FUZZ_CHECK(der_len > 0);
  ward::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  FUZZ_CHECK(ctx && EVP_PKEY_verify_init(ctx.get()) == 1);
  const int rc = EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(der_len), digest, 32);
  OPENSSL_free(der);
  ERR_clear_error();
  return rc == 1;
}

// `modulus` is odd (OpenSSL's answer for an even one differs in kind, not only in value).
void CheckInverse(const uint8_t* value, const uint8_t* modulus) {
  ward::internal::Uint256Bytes a;
  ward::internal::Uint256Bytes n;
  ward::internal::Uint256Bytes ours{};
  std::memcpy(a.data(), value, 32);
  std::memcpy(n.data(), modulus, 32);
  const bool ok = ward::internal::InvertModOdd(a, n, ours);
  ward::ossl::BnPtr a_bn(BN_bin2bn(value, 32, nullptr));
  ward::ossl::BnPtr n_bn(BN_bin2bn(modulus, 32, nullptr));
  std::unique_ptr<BN_CTX, ward::ossl::Deleter<BN_CTX_free>> ctx(BN_CTX_new());
  const bool in_range = BN_cmp(a_bn.get(), n_bn.get()) < 0 && !BN_is_zero(a_bn.get());
  ward::ossl::BnPtr theirs(in_range ? BN_mod_inverse(nullptr, a_bn.get(), n_bn.get(), ctx.get())
                                    : nullptr);
  ERR_clear_error();
  FUZZ_CHECK(ok == (theirs != nullptr));
  if (ok) {
    ward::internal::Uint256Bytes expected{};
    FUZZ_CHECK(BN_bn2binpad(theirs.get(), expected.data(), 32) == 32);
    FUZZ_CHECK(ours == expected);
  }
}

// A valid signature made from two scalars the input chooses (u1 = first 32 bytes, u2 = next 32,
// both mod n): R = u1·G + u2·Q, r = x(R) mod n, s = r / u2, digest = u1·s. It needs no private key
// and reaches every window of the table for Q. Returns false when the scalars give no signature.
bool MakeFromScalars(const Fixture& fixture, const uint8_t* in, uint8_t digest[32],
                     uint8_t signature[64]) {
  const EC_GROUP* group = fixture.group.get();
  std::unique_ptr<BN_CTX, ward::ossl::Deleter<BN_CTX_free>> ctx(BN_CTX_new());
  const BIGNUM* n = EC_GROUP_get0_order(group);
  ward::ossl::BnPtr u1(BN_bin2bn(in, 32, nullptr)), u2(BN_bin2bn(in + 32, 32, nullptr));
  ward::ossl::BnPtr r(BN_new()), s(BN_new()), e(BN_new()), inv(BN_new());
  PointPtr big_r(EC_POINT_new(group));
  FUZZ_CHECK(BN_nnmod(u1.get(), u1.get(), n, ctx.get()) == 1);
  FUZZ_CHECK(BN_nnmod(u2.get(), u2.get(), n, ctx.get()) == 1);
  if (BN_is_zero(u2.get())) return false;
  FUZZ_CHECK(EC_POINT_mul(group, big_r.get(), u1.get(), fixture.q.get(), u2.get(), ctx.get()) == 1);
  if (EC_POINT_is_at_infinity(group, big_r.get()) == 1) return false;
  FUZZ_CHECK(EC_POINT_get_affine_coordinates(group, big_r.get(), r.get(), nullptr, ctx.get()) == 1);
  FUZZ_CHECK(BN_nnmod(r.get(), r.get(), n, ctx.get()) == 1);
  if (BN_is_zero(r.get())) return false;
  FUZZ_CHECK(BN_mod_inverse(inv.get(), u2.get(), n, ctx.get()) != nullptr);
  FUZZ_CHECK(BN_mod_mul(s.get(), r.get(), inv.get(), n, ctx.get()) == 1);
  FUZZ_CHECK(BN_mod_mul(e.get(), u1.get(), s.get(), n, ctx.get()) == 1);
  FUZZ_CHECK(BN_bn2binpad(e.get(), digest, 32) == 32);
  FUZZ_CHECK(BN_bn2binpad(r.get(), signature, 32) == 32);
  FUZZ_CHECK(BN_bn2binpad(s.get(), signature + 32, 32) == 32);
  return true;
}

// The table path and the one-time path (a CSR's key) must agree; the answer is theirs.
bool TableAccepts(const Fixture& fixture, const uint8_t* digest, const uint8_t* signature) {
  const ward::SignatureCheck check =
      fixture.table.Verify(ward::ByteView(digest, 32), ward::ByteView(signature, 64));
  FUZZ_CHECK(check != ward::SignatureCheck::kCannotCheck);
  const auto once = ward::VerifyP256(fixture.key.EncodedPoint().value(), ward::ByteView(digest, 32),
                                     ward::ByteView(signature, 64));
  FUZZ_CHECK(once.ok() && *once == check);
  return check == ward::SignatureCheck::kValid;
}

bool OpenSslVerifiesDer(const ward::PublicKey& key, const uint8_t* digest, ward::ByteView der) {
  ward::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  FUZZ_CHECK(ctx && EVP_PKEY_verify_init(ctx.get()) == 1);
  const int rc = EVP_PKEY_verify(ctx.get(), der.data(), der.size(), digest, 32);
  ERR_clear_error();
  return rc == 1;
}

// A CSR's signature arrives DER-encoded: reading it to r || s and checking that must accept
// exactly the encodings (and signatures) OpenSSL accepts. `how` picks a change to a valid one.
void CheckDerSignature(const Fixture& fixture, const uint8_t* digest, const uint8_t* raw,
                       const uint8_t* how) {
  ward::Bytes der = ward::der::EcdsaRawToDer(ward::ByteView(raw, 64)).value();
  switch (how[0] % 6) {
    case 0:
      break;
    case 1:
      der[how[1] % der.size()] ^= how[2] == 0 ? 1 : how[2];
      break;
    case 2:
      der.push_back(how[1]);  // trailing data
      break;
    case 3:
      der.pop_back();
      break;
    case 4: {  // r with one more leading zero than DER allows
      ward::Bytes r_int = {0x02, static_cast<uint8_t>(der[3] + 1), 0x00};
      r_int.insert(r_int.end(), der.begin() + 4, der.begin() + 4 + der[3]);
      ward::Bytes rebuilt = {0x30, static_cast<uint8_t>(der[1] + 1)};
      rebuilt.insert(rebuilt.end(), r_int.begin(), r_int.end());
      rebuilt.insert(rebuilt.end(), der.begin() + 4 + der[3], der.end());
      der = rebuilt;
      break;
    }
    default:
      der.insert(der.begin() + 2 + how[1] % (der.size() - 2), how[2]);
      break;
  }
  const auto ours_raw = ward::der::EcdsaDerToRaw(der, 32);
  bool ours = false;
  if (ours_raw.ok()) {
    const auto check =
        ward::VerifyP256(fixture.key.EncodedPoint().value(), ward::ByteView(digest, 32), *ours_raw);
    FUZZ_CHECK(check.ok() && *check != ward::SignatureCheck::kCannotCheck);
    ours = *check == ward::SignatureCheck::kValid;
  }
  FUZZ_CHECK(ours == OpenSslVerifiesDer(fixture.key, digest, der));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture;
  if (size < 96) {
    // Too short for a digest and a signature: a signature of any length but 64 is refused.
    FUZZ_CHECK(fixture.table.Verify(ward::ByteView(data, size < 32 ? size : 32),
                                    ward::ByteView(data, size < 63 ? size : 63)) ==
               ward::SignatureCheck::kInvalid);
    return 0;
  }
  // The input as a digest and a signature: almost always invalid, and both must say so.
  FUZZ_CHECK(TableAccepts(fixture, data, data + 32) ==
             OpenSslVerifies(fixture.key, data, data + 32));
  CheckInverse(data + 64, kOrder);
  if (size >= 128) {  // and modulo any odd number the input brings
    uint8_t odd_modulus[32];
    std::memcpy(odd_modulus, data + 96, 32);
    odd_modulus[31] |= 1;
    CheckInverse(data + 64, odd_modulus);
  }
  // A valid signature from the input's scalars, then with one byte changed where the input says.
  uint8_t digest[32];
  uint8_t signature[64];
  if (MakeFromScalars(fixture, data, digest, signature)) {
    FUZZ_CHECK(OpenSslVerifies(fixture.key, digest, signature));
    FUZZ_CHECK(TableAccepts(fixture, digest, signature));
    CheckDerSignature(fixture, digest, signature, data + 67);
    const uint8_t flip = data[64] == 0 ? 1 : data[64];
    if (data[65] % 3 == 0) {
      digest[data[66] % 32] ^= flip;
    } else {
      signature[data[66] % 64] ^= flip;
    }
    FUZZ_CHECK(TableAccepts(fixture, digest, signature) ==
               OpenSslVerifies(fixture.key, digest, signature));
  }
  return 0;
}

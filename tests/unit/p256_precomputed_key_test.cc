#include "core/p256_precomputed_key.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/digest.h"
#include "core/internal/mod_inverse.h"
#include "core/jws_algorithm.h"
#include "core/openssl_ptr.h"
#include "core/precomputed_key_cache.h"
#include "test_pki.h"

namespace ward {
namespace {

using testing::NewKey;

// P-256's group order n, big-endian.
const Bytes kOrder = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                      0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                      0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

Bytes PointOf(const PublicKey& key) {
  auto point = key.EncodedPoint();
  EXPECT_TRUE(point.ok()) << point.status().message();
  return point.ok() ? *point : Bytes();
}

// What OpenSSL's own ECDSA verification says about a raw r || s signature of `digest`.
bool OpenSslVerifies(const PublicKey& key, ByteView digest, ByteView raw) {
  ossl::EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), 32, nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + 32, 32, nullptr);
  EXPECT_EQ(ECDSA_SIG_set0(sig.get(), r, s), 1);
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  EXPECT_GT(der_len, 0);
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  EXPECT_EQ(EVP_PKEY_verify_init(ctx.get()), 1);
  const int rc =
      EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(der_len), digest.data(), digest.size());
  OPENSSL_free(der);
  ossl::DrainErrors();
  return rc == 1;
}

struct Signed {
  Sha256Digest digest;
  Bytes signature;  // r || s
};

Signed Sign(const PrivateKey& key, const std::string& message) {
  auto sig = JwsSign(key, JwsAlgorithm::kEs256, AsBytes(message));
  EXPECT_TRUE(sig.ok()) << sig.status().message();
  return {Sha256(AsBytes(message)), *sig};
}

// s replaced by n - s: the other valid signature for the same r, which ECDSA (and OpenSSL)
// accepts.
Bytes WithNegatedS(const Bytes& signature) {
  ossl::BnPtr n(BN_bin2bn(kOrder.data(), 32, nullptr));
  ossl::BnPtr s(BN_bin2bn(signature.data() + 32, 32, nullptr));
  EXPECT_EQ(BN_sub(s.get(), n.get(), s.get()), 1);
  Bytes out(signature.begin(), signature.begin() + 32);
  out.resize(64);
  EXPECT_EQ(BN_bn2binpad(s.get(), out.data() + 32, 32), 32);
  return out;
}

bool Accepts(const P256PrecomputedKey& table, ByteView digest, ByteView signature) {
  return table.Verify(digest, signature) == SignatureCheck::kValid;
}
bool Refuses(const P256PrecomputedKey& table, ByteView digest, ByteView signature) {
  return table.Verify(digest, signature) == SignatureCheck::kInvalid;
}

TEST(P256PrecomputedKeyTest, AcceptsWhatOpenSslAccepts) {
  const PrivateKey key = NewKey();
  auto table = P256PrecomputedKey::Create(PointOf(key.public_key()));
  ASSERT_TRUE(table.ok()) << table.status().message();
  for (int i = 0; i < 40; ++i) {
    const Signed s = Sign(key, "message " + std::to_string(i));
    ASSERT_TRUE(OpenSslVerifies(key.public_key(), s.digest, s.signature));
    EXPECT_TRUE(Accepts(*table, s.digest, s.signature)) << i;
    EXPECT_EQ(VerifyP256(PointOf(key.public_key()), s.digest, s.signature).value(),
              SignatureCheck::kValid)
        << i;
    const Bytes high_s = WithNegatedS(s.signature);
    ASSERT_TRUE(OpenSslVerifies(key.public_key(), s.digest, high_s));
    EXPECT_TRUE(Accepts(*table, s.digest, high_s)) << i;
    EXPECT_EQ(VerifyP256(PointOf(key.public_key()), s.digest, high_s).value(),
              SignatureCheck::kValid)
        << i;
  }
}

TEST(P256PrecomputedKeyTest, RefusesWhatOpenSslRefuses) {
  const PrivateKey key = NewKey();
  const PrivateKey other = NewKey();
  auto table = P256PrecomputedKey::Create(PointOf(key.public_key()));
  ASSERT_TRUE(table.ok()) << table.status().message();
  const Signed good = Sign(key, "payload");
  const Signed by_other = Sign(other, "payload");

  std::vector<std::pair<std::string, Bytes>> signatures = {{"other key", by_other.signature}};
  for (size_t byte : {0u, 17u, 31u, 32u, 50u, 63u}) {
    Bytes flipped = good.signature;
    flipped[byte] ^= 0x01;
    signatures.push_back({"bit flipped in byte " + std::to_string(byte), flipped});
  }
  Bytes r_zero = good.signature;
  std::fill(r_zero.begin(), r_zero.begin() + 32, 0);
  Bytes s_zero = good.signature;
  std::fill(s_zero.begin() + 32, s_zero.end(), 0);
  Bytes r_is_n = good.signature;
  std::copy(kOrder.begin(), kOrder.end(), r_is_n.begin());
  Bytes s_is_n = good.signature;
  std::copy(kOrder.begin(), kOrder.end(), s_is_n.begin() + 32);
  Bytes all_ones(64, 0xFF);
  signatures.insert(signatures.end(), {{"r = 0", r_zero},
                                       {"s = 0", s_zero},
                                       {"r = n", r_is_n},
                                       {"s = n", s_is_n},
                                       {"r, s > n", all_ones}});
  for (const auto& [what, sig] : signatures) {
    EXPECT_FALSE(OpenSslVerifies(key.public_key(), good.digest, sig)) << what;
    EXPECT_TRUE(Refuses(*table, good.digest, sig)) << what;
    EXPECT_EQ(VerifyP256(PointOf(key.public_key()), good.digest, sig).value(),
              SignatureCheck::kInvalid)
        << what;
  }

  Sha256Digest other_digest = good.digest;
  other_digest[5] ^= 0x80;
  EXPECT_TRUE(Refuses(*table, other_digest, good.signature));
  EXPECT_TRUE(Refuses(*table, ByteView(good.digest).first(31), good.signature));
  EXPECT_TRUE(Refuses(*table, good.digest, ByteView(good.signature).first(63)));
  EXPECT_TRUE(Accepts(*table, good.digest, good.signature));  // the table is unharmed
}

// Signatures made from chosen u1 and u2 rather than by signing: with R = u1·G + u2·Q, r = x(R)
// mod n, s = r / u2 and e = u1·s, (r, s) is a valid signature of the digest e, so the corner
// cases of the verification equation can be reached on purpose.
class ChosenScalars {
 public:
  explicit ChosenScalars(const PrivateKey& key)
      : group_(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)), ctx_(BN_CTX_new()) {
    BIGNUM* d = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
    d_.reset(d);
    q_.reset(EC_POINT_new(group_.get()));
    const Bytes point = PointOf(key.public_key());
    EXPECT_EQ(EC_POINT_oct2point(group_.get(), q_.get(), point.data(), point.size(), ctx_.get()),
              1);
  }

  const BIGNUM* order() const { return EC_GROUP_get0_order(group_.get()); }
  const BIGNUM* d() const { return d_.get(); }
  BN_CTX* ctx() const { return ctx_.get(); }

  // The digest and signature for u1, u2 (u2 not 0) and, when R is the point at infinity, the
  // given r; `valid` says whether R had an x coordinate to make r from.
  struct Made {
    Bytes digest;
    Bytes signature;
    bool valid = false;
  };
  Made Make(const BIGNUM* u1, const BIGNUM* u2, const BIGNUM* r_if_infinite) const {
    ossl::BnPtr r(BN_new()), s(BN_new()), e(BN_new()), x(BN_new()), inv(BN_new());
    std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>> big_r(EC_POINT_new(group_.get()));
    EXPECT_EQ(EC_POINT_mul(group_.get(), big_r.get(), u1, q_.get(), u2, ctx_.get()), 1);
    Made made;
    if (EC_POINT_is_at_infinity(group_.get(), big_r.get()) == 1) {
      EXPECT_NE(BN_copy(r.get(), r_if_infinite), nullptr);
    } else {
      EXPECT_EQ(
          EC_POINT_get_affine_coordinates(group_.get(), big_r.get(), x.get(), nullptr, ctx_.get()),
          1);
      EXPECT_EQ(BN_nnmod(r.get(), x.get(), order(), ctx_.get()), 1);
      made.valid = true;
    }
    EXPECT_NE(BN_mod_inverse(inv.get(), u2, order(), ctx_.get()), nullptr);
    EXPECT_EQ(BN_mod_mul(s.get(), r.get(), inv.get(), order(), ctx_.get()), 1);
    EXPECT_EQ(BN_mod_mul(e.get(), u1, s.get(), order(), ctx_.get()), 1);
    made.digest.resize(32);
    made.signature.resize(64);
    EXPECT_EQ(BN_bn2binpad(e.get(), made.digest.data(), 32), 32);
    EXPECT_EQ(BN_bn2binpad(r.get(), made.signature.data(), 32), 32);
    EXPECT_EQ(BN_bn2binpad(s.get(), made.signature.data() + 32, 32), 32);
    return made;
  }

 private:
  std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>> group_;
  std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>> ctx_;
  ossl::BnPtr d_;
  std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>> q_;
};

TEST(P256PrecomputedKeyTest, AgreesWithOpenSslOnTheCornersOfTheEquation) {
  const PrivateKey key = NewKey();
  auto table = P256PrecomputedKey::Create(PointOf(key.public_key()));
  ASSERT_TRUE(table.ok()) << table.status().message();
  const ChosenScalars chosen(key);
  ossl::BnPtr u1(BN_new()), u2(BN_new()), r(BN_new());
  ASSERT_EQ(BN_rand_range(u2.get(), chosen.order()), 1);
  ASSERT_EQ(BN_add_word(u2.get(), 1), 1);  // not 0 (and n - 1 + 1 = n is never drawn)
  ASSERT_EQ(BN_rand_range(r.get(), chosen.order()), 1);
  ASSERT_EQ(BN_add_word(r.get(), 1), 1);

  // u1 = 0 (a zero digest): R = u2·Q alone. Valid.
  BN_zero(u1.get());
  auto made = chosen.Make(u1.get(), u2.get(), r.get());
  ASSERT_TRUE(made.valid);
  EXPECT_TRUE(OpenSslVerifies(key.public_key(), made.digest, made.signature));
  EXPECT_TRUE(Accepts(*table, made.digest, made.signature));

  // u1·G = u2·Q (u1 = u2·d): the addition doubles. Valid.
  ASSERT_EQ(BN_mod_mul(u1.get(), u2.get(), chosen.d(), chosen.order(), chosen.ctx()), 1);
  made = chosen.Make(u1.get(), u2.get(), r.get());
  ASSERT_TRUE(made.valid);
  EXPECT_TRUE(OpenSslVerifies(key.public_key(), made.digest, made.signature));
  EXPECT_TRUE(Accepts(*table, made.digest, made.signature));

  // u1·G = -u2·Q (u1 = -u2·d): R is the point at infinity, which has no x. Refused.
  ASSERT_EQ(BN_mod_sub(u1.get(), chosen.order(), u1.get(), chosen.order(), chosen.ctx()), 1);
  made = chosen.Make(u1.get(), u2.get(), r.get());
  ASSERT_FALSE(made.valid);
  EXPECT_FALSE(OpenSslVerifies(key.public_key(), made.digest, made.signature));
  EXPECT_TRUE(Refuses(*table, made.digest, made.signature));

  // And arbitrary scalars, which go through the table for Q at every window.
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(BN_rand_range(u1.get(), chosen.order()), 1);
    made = chosen.Make(u1.get(), u2.get(), r.get());
    ASSERT_TRUE(made.valid);
    EXPECT_TRUE(OpenSslVerifies(key.public_key(), made.digest, made.signature)) << i;
    EXPECT_TRUE(Accepts(*table, made.digest, made.signature)) << i;
    ASSERT_EQ(BN_rand_range(u2.get(), chosen.order()), 1);
    ASSERT_EQ(BN_add_word(u2.get(), 1), 1);
  }
}

TEST(P256PrecomputedKeyTest, TakesBothPointEncodingsAndRefusesWhatIsNotOnTheCurve) {
  const PrivateKey key = NewKey();
  const Bytes point = PointOf(key.public_key());
  Bytes compressed(point.begin(), point.begin() + 33);
  compressed[0] = 0x02 | (point[64] & 1);
  auto from_compressed = P256PrecomputedKey::Create(compressed);
  ASSERT_TRUE(from_compressed.ok()) << from_compressed.status().message();
  const Signed s = Sign(key, "either encoding");
  EXPECT_TRUE(Accepts(*from_compressed, s.digest, s.signature));

  Bytes off_curve = point;
  off_curve[64] ^= 0x01;
  Bytes wrong_parity = compressed;
  wrong_parity[0] ^= 0x01;  // the other y: still on the curve, but another key
  auto other_key = P256PrecomputedKey::Create(wrong_parity);
  ASSERT_TRUE(other_key.ok());
  EXPECT_TRUE(Refuses(*other_key, s.digest, s.signature));
  const Bytes infinity = {0x00};
  EXPECT_EQ(VerifyP256(compressed, s.digest, s.signature).value(), SignatureCheck::kValid);
  EXPECT_EQ(VerifyP256(wrong_parity, s.digest, s.signature).value(), SignatureCheck::kInvalid);
  for (const Bytes& bad : {off_curve, infinity, Bytes(65, 0x04), Bytes()}) {
    EXPECT_FALSE(P256PrecomputedKey::Create(bad).ok());
    EXPECT_FALSE(VerifyP256(bad, s.digest, s.signature).ok());
  }
  const Bytes p384 = PointOf(NewKey(KeyType::kEcP384).public_key());
  EXPECT_EQ(p384.size(), 97u);  // 0x04 || X || Y, 48 bytes each
  EXPECT_FALSE(P256PrecomputedKey::Create(p384).ok());
  EXPECT_EQ(point.size(), 65u);
  EXPECT_EQ(point[0], 0x04);
  EXPECT_FALSE(NewKey(KeyType::kRsa2048).public_key().EncodedPoint().ok());
}

TEST(P256PrecomputedKeyTest, VerifiesOnManyThreadsAtOnce) {
  const PrivateKey key = NewKey();
  auto table = P256PrecomputedKey::Create(PointOf(key.public_key()));
  ASSERT_TRUE(table.ok()) << table.status().message();
  std::vector<Signed> signed_messages;
  for (int i = 0; i < 8; ++i) signed_messages.push_back(Sign(key, "m" + std::to_string(i)));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const Signed& s = signed_messages[(i + t) % signed_messages.size()];
        Bytes tampered = s.signature;
        tampered[40] ^= 0x04;
        if (!Accepts(*table, s.digest, s.signature) || !Refuses(*table, s.digest, tampered)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(PrecomputedKeyCacheTest, OnlyPreparedKeysHaveTablesAndFindNeverBuildsOne) {
  PrecomputedKeyCache cache(/*capacity=*/2);
  const PublicKey a = NewKey().public_key();
  const PublicKey b = NewKey().public_key();
  const PublicKey c = NewKey().public_key();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(cache.Find(a), nullptr);  // used often, never prepared
  EXPECT_EQ(cache.built(), 0u);
  cache.Prepare(a);
  EXPECT_NE(cache.Find(a), nullptr);
  cache.Prepare(b);
  EXPECT_EQ(cache.built(), 2u);
  EXPECT_NE(cache.Find(b), nullptr);  // b is now more recently used than a
  cache.Prepare(c);                   // a, the least recently used, is forgotten
  EXPECT_EQ(cache.built(), 2u);
  EXPECT_EQ(cache.Find(a), nullptr);
  EXPECT_NE(cache.Find(b), nullptr);
  EXPECT_NE(cache.Find(c), nullptr);
}

TEST(PrecomputedKeyCacheTest, FindsAKeyByTheObjectsPreparedForIt) {
  PrecomputedKeyCache cache;
  const PrivateKey key = NewKey();
  const PublicKey original = key.public_key();
  const PublicKey copy = original;  // shares the EVP_PKEY
  auto reparsed = PublicKey::FromSpkiDer(original.ToSpkiDer());
  ASSERT_TRUE(reparsed.ok());
  EXPECT_TRUE(cache.Prepare(original));  // built
  auto table = cache.Find(copy);
  ASSERT_NE(table, nullptr);
  EXPECT_FALSE(cache.Prepare(copy));          // already built
  EXPECT_EQ(cache.Find(*reparsed), nullptr);  // another object: not registered
  EXPECT_FALSE(cache.Prepare(*reparsed));     // registered, and not built again
  EXPECT_EQ(cache.Find(*reparsed), table);
  EXPECT_EQ(cache.built(), 1u);
  // More objects than an entry registers: the oldest is dropped, the table stays.
  std::vector<PublicKey> more;
  for (int i = 0; i < 4; ++i) more.push_back(PublicKey::FromSpkiDer(original.ToSpkiDer()).value());
  for (const PublicKey& k : more) cache.Prepare(k);
  EXPECT_EQ(cache.Find(original), nullptr);
  EXPECT_EQ(cache.Find(more.back()), table);
  EXPECT_EQ(cache.built(), 1u);

  EXPECT_FALSE(cache.Prepare(NewKey(KeyType::kEcP384).public_key()));
  EXPECT_FALSE(cache.Prepare(NewKey(KeyType::kRsa2048).public_key()));
  EXPECT_EQ(cache.built(), 1u);
}

// Many threads preparing, finding and verifying while a capacity of 2 for 3 keys keeps forgetting
// tables, some of them while they are being built: answers never change.
TEST(PrecomputedKeyCacheTest, AnswersStayRightWhileTablesComeAndGoOnManyThreads) {
  PrecomputedKeyCache cache(/*capacity=*/2);
  std::vector<PrivateKey> keys;
  std::vector<PublicKey> public_keys;
  std::vector<Signed> signed_messages;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(NewKey());
    public_keys.push_back(keys.back().public_key());
    signed_messages.push_back(Sign(keys.back(), "k" + std::to_string(i)));
  }
  std::atomic<int> wrong{0};
  std::atomic<int> through_a_table{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 30; ++i) {
        const size_t k = static_cast<size_t>(i + t) % keys.size();
        if ((i + t) % 5 == 0) cache.Prepare(public_keys[k]);
        auto table = cache.Find(public_keys[k]);
        if (!table) continue;
        ++through_a_table;
        const Signed& mine = signed_messages[k];
        const Signed& other = signed_messages[(k + 1) % keys.size()];
        if (!Accepts(*table, mine.digest, mine.signature) ||
            !Refuses(*table, other.digest, other.signature)) {
          ++wrong;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(through_a_table.load(), 0);  // not every lookup missed
  EXPECT_LE(cache.built(), 2u);
}

// Through the JWS layer the answer never depends on whether the key has a table.
TEST(PrecomputedKeyCacheTest, JwsVerifyGivesTheSameAnswersWithAndWithoutTheTable) {
  const PrivateKey key = NewKey();
  const PublicKey public_key = key.public_key();
  const std::string message = "header.payload";
  auto sig = JwsSign(key, JwsAlgorithm::kEs256, AsBytes(message));
  ASSERT_TRUE(sig.ok());
  Bytes tampered = *sig;
  tampered[10] ^= 0x20;
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      PrecomputedKeyCache::Process().Prepare(public_key);
      ASSERT_NE(PrecomputedKeyCache::Process().Find(public_key), nullptr);
    }
    EXPECT_TRUE(JwsVerify(public_key, JwsAlgorithm::kEs256, AsBytes(message), *sig).ok()) << round;
    EXPECT_FALSE(JwsVerify(public_key, JwsAlgorithm::kEs256, AsBytes(message), tampered).ok())
        << round;
    EXPECT_FALSE(JwsVerify(public_key, JwsAlgorithm::kEs256, AsBytes("header.other"), *sig).ok())
        << round;
  }
}

// Differences from OpenSSL's BN_mod_inverse would show as wrong verifications only by chance, so
// the inverse is checked against it directly.
internal::Uint256Bytes Uint256Of(const BIGNUM* bn) {
  internal::Uint256Bytes out{};
  EXPECT_EQ(BN_bn2binpad(bn, out.data(), 32), 32);
  return out;
}

void ExpectInverseMatchesOpenSsl(const BIGNUM* a, const BIGNUM* n, BN_CTX* ctx) {
  internal::Uint256Bytes ours{};
  const bool ok = internal::InvertModOdd(Uint256Of(a), Uint256Of(n), ours);
  ossl::BnPtr theirs(BN_mod_inverse(nullptr, a, n, ctx));
  ERR_clear_error();
  ASSERT_EQ(ok, theirs != nullptr) << BN_bn2hex(a);
  if (ok) {
    EXPECT_EQ(ours, Uint256Of(theirs.get()));
  }
}

TEST(ModInverseTest, AgreesWithOpenSslOnRandomAndEdgeValues) {
  std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>> ctx(BN_CTX_new());
  ossl::BnPtr n(BN_bin2bn(kOrder.data(), 32, nullptr));
  ossl::BnPtr p(nullptr);
  BIGNUM* p_raw = nullptr;
  ASSERT_NE(BN_hex2bn(&p_raw, "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF"),
            0);
  p.reset(p_raw);
  ossl::BnPtr a(BN_new());
  for (const BIGNUM* modulus : {n.get(), p.get()}) {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_EQ(BN_rand_range(a.get(), modulus), 1);
      if (BN_is_zero(a.get())) continue;
      ExpectInverseMatchesOpenSsl(a.get(), modulus, ctx.get());
    }
    // 1, 2, 2^64, 2^128, 2^192, 2^255 (whole zero limbs to shift out), n - 1, n - 2.
    for (int bits : {0, 1, 64, 128, 192, 255}) {
      BN_zero(a.get());
      ASSERT_EQ(BN_set_bit(a.get(), bits), 1);
      ExpectInverseMatchesOpenSsl(a.get(), modulus, ctx.get());
    }
    for (unsigned long below : {1ul, 2ul}) {
      ASSERT_EQ(BN_copy(a.get(), modulus) != nullptr, true);
      ASSERT_EQ(BN_sub_word(a.get(), below), 1);
      ExpectInverseMatchesOpenSsl(a.get(), modulus, ctx.get());
    }
  }
}

// Any odd modulus, not only the curve's: sizes from 2 to 256 bits, the largest 256-bit one, and
// values sharing a factor with it.
TEST(ModInverseTest, AgreesWithOpenSslForOddModuliOfEverySize) {
  std::unique_ptr<BN_CTX, ossl::Deleter<BN_CTX_free>> ctx(BN_CTX_new());
  ossl::BnPtr n(BN_new());
  ossl::BnPtr a(BN_new());
  ossl::BnPtr factor(BN_new());
  for (int bits = 2; bits <= 256; ++bits) {
    for (int i = 0; i < 4; ++i) {
      // Top bit set, bottom bit set: exactly `bits` bits, odd.
      ASSERT_EQ(BN_rand(n.get(), bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD), 1);
      ASSERT_EQ(BN_rand_range(a.get(), n.get()), 1);
      if (BN_is_zero(a.get())) continue;
      ExpectInverseMatchesOpenSsl(a.get(), n.get(), ctx.get());
      // A multiple of 3 against a modulus that is one too (when it fits below it).
      if (bits > 3 && BN_mod_word(n.get(), 3) == 0) {
        ASSERT_EQ(BN_set_word(factor.get(), 3), 1);
        ASSERT_EQ(BN_mul(a.get(), a.get(), factor.get(), ctx.get()), 1);
        ASSERT_EQ(BN_nnmod(a.get(), a.get(), n.get(), ctx.get()), 1);
        if (!BN_is_zero(a.get())) ExpectInverseMatchesOpenSsl(a.get(), n.get(), ctx.get());
      }
    }
  }
  BN_zero(n.get());
  ASSERT_EQ(BN_set_bit(n.get(), 256), 1);
  ASSERT_EQ(BN_sub_word(n.get(), 1), 1);  // 2^256 - 1 = 3 · 5 · 17 · 257 · ...
  for (unsigned long value : {2ul, 3ul, 7ul, 65536ul, 0xFFFFFFFFul}) {
    ASSERT_EQ(BN_set_word(a.get(), value), 1);
    ExpectInverseMatchesOpenSsl(a.get(), n.get(), ctx.get());
  }
}

TEST(ModInverseTest, RefusesWhereThereIsNoInverse) {
  internal::Uint256Bytes n{};
  std::copy(kOrder.begin(), kOrder.end(), n.begin());
  internal::Uint256Bytes out{};
  internal::Uint256Bytes zero{};
  EXPECT_FALSE(internal::InvertModOdd(zero, n, out));
  EXPECT_FALSE(internal::InvertModOdd(n, n, out));  // a = n
  internal::Uint256Bytes above = n;
  above[31] += 1;
  EXPECT_FALSE(internal::InvertModOdd(above, n, out));
  internal::Uint256Bytes even_modulus{};
  even_modulus[31] = 10;
  internal::Uint256Bytes three{};
  three[31] = 3;
  EXPECT_FALSE(internal::InvertModOdd(three, even_modulus, out));
  internal::Uint256Bytes nine{};
  nine[31] = 9;
  internal::Uint256Bytes six{};
  six[31] = 6;
  EXPECT_FALSE(internal::InvertModOdd(three, nine, out));  // shares the factor 3
  EXPECT_FALSE(internal::InvertModOdd(six, nine, out));
  internal::Uint256Bytes two{};
  two[31] = 2;
  ASSERT_TRUE(internal::InvertModOdd(two, nine, out));
  EXPECT_EQ(out[31], 5);  // 2 · 5 = 10 ≡ 1 (mod 9)
}

}  // namespace
}  // namespace ward

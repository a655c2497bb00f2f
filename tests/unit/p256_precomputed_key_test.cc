#include "core/p256_precomputed_key.h"

#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

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
  Bytes point(133);  // room for any curve Ward accepts
  size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key.get(), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
                                            point.data(), point.size(), &len),
            1);
  point.resize(len);
  return point;
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

TEST(P256PrecomputedKeyTest, AcceptsWhatOpenSslAccepts) {
  const PrivateKey key = NewKey();
  auto table = P256PrecomputedKey::Create(PointOf(key.public_key()));
  ASSERT_TRUE(table.ok()) << table.status().message();
  for (int i = 0; i < 40; ++i) {
    const Signed s = Sign(key, "message " + std::to_string(i));
    ASSERT_TRUE(OpenSslVerifies(key.public_key(), s.digest, s.signature));
    EXPECT_TRUE(table->Verify(s.digest, s.signature)) << i;
    const Bytes high_s = WithNegatedS(s.signature);
    ASSERT_TRUE(OpenSslVerifies(key.public_key(), s.digest, high_s));
    EXPECT_TRUE(table->Verify(s.digest, high_s)) << i;
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
    EXPECT_FALSE(table->Verify(good.digest, sig)) << what;
  }

  Sha256Digest other_digest = good.digest;
  other_digest[5] ^= 0x80;
  EXPECT_FALSE(table->Verify(other_digest, good.signature));
  EXPECT_FALSE(table->Verify(ByteView(good.digest).first(31), good.signature));
  EXPECT_FALSE(table->Verify(good.digest, ByteView(good.signature).first(63)));
  EXPECT_TRUE(table->Verify(good.digest, good.signature));  // the table is unharmed
}

TEST(P256PrecomputedKeyTest, RefusesWhatIsNotAPointOnTheCurve) {
  const Bytes point = PointOf(NewKey().public_key());
  Bytes off_curve = point;
  off_curve[64] ^= 0x01;
  Bytes compressed(point.begin(), point.begin() + 33);
  compressed[0] = 0x02 | (point[64] & 1);
  const Bytes infinity = {0x00};
  for (const Bytes& bad : {off_curve, compressed, infinity, Bytes(65, 0x04), Bytes()}) {
    EXPECT_FALSE(P256PrecomputedKey::Create(bad).ok());
  }
  EXPECT_FALSE(P256PrecomputedKey::Create(PointOf(NewKey(KeyType::kEcP384).public_key())).ok());
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
        if (!table->Verify(s.digest, s.signature) || table->Verify(s.digest, tampered)) ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(PrecomputedKeyCacheTest, BuildsATableOnASecondUseAndForgetsTheOldestKey) {
  PrecomputedKeyCache cache(/*capacity=*/2);
  const Bytes a = PointOf(NewKey().public_key());
  const Bytes b = PointOf(NewKey().public_key());
  const Bytes c = PointOf(NewKey().public_key());
  EXPECT_EQ(cache.Find(a), nullptr);  // first use: verify the plain way
  EXPECT_NE(cache.Find(a), nullptr);  // second: built
  EXPECT_NE(cache.Find(a), nullptr);
  EXPECT_EQ(cache.built(), 1u);
  EXPECT_EQ(cache.Find(b), nullptr);
  EXPECT_NE(cache.Find(b), nullptr);
  EXPECT_EQ(cache.built(), 2u);
  EXPECT_EQ(cache.Find(c), nullptr);  // a, the least recently used, is forgotten
  EXPECT_EQ(cache.built(), 1u);
  EXPECT_NE(cache.Find(b), nullptr);
  EXPECT_EQ(cache.Find(a), nullptr);  // a starts over
  const Bytes off_curve(65, 0x04);
  EXPECT_EQ(cache.Find(off_curve), nullptr);
  EXPECT_EQ(cache.Find(off_curve), nullptr);  // failed to build: not a table
  EXPECT_EQ(cache.Find(off_curve), nullptr);  // and not tried again
}

// Through the JWS layer the answer never depends on whether the key's table exists yet.
TEST(PrecomputedKeyCacheTest, JwsVerifyGivesTheSameAnswersBeforeAndAfterTheTable) {
  const PrivateKey key = NewKey();
  const std::string message = "header.payload";
  auto sig = JwsSign(key, JwsAlgorithm::kEs256, AsBytes(message));
  ASSERT_TRUE(sig.ok());
  Bytes tampered = *sig;
  tampered[10] ^= 0x20;
  for (int round = 0; round < 4; ++round) {
    EXPECT_TRUE(JwsVerify(key.public_key(), JwsAlgorithm::kEs256, AsBytes(message), *sig).ok())
        << round;
    EXPECT_FALSE(JwsVerify(key.public_key(), JwsAlgorithm::kEs256, AsBytes(message), tampered).ok())
        << round;
    EXPECT_FALSE(
        JwsVerify(key.public_key(), JwsAlgorithm::kEs256, AsBytes("header.other"), *sig).ok())
        << round;
  }
  EXPECT_NE(PrecomputedKeyCache::Process().Find(PointOf(key.public_key())), nullptr);
}

TEST(PrecomputedKeyCacheTest, FindsAKeyByItsObjectAndByItsValue) {
  PrecomputedKeyCache cache;
  const PrivateKey key = NewKey();
  const PublicKey original = key.public_key();
  const PublicKey copy = original;  // shares the EVP_PKEY
  auto reparsed = PublicKey::FromSpkiDer(original.ToSpkiDer());
  ASSERT_TRUE(reparsed.ok());
  EXPECT_EQ(cache.Find(original), nullptr);
  auto table = cache.Find(copy);
  ASSERT_NE(table, nullptr);
  EXPECT_EQ(cache.Find(*reparsed), table);  // another object, the same key: the same table
  EXPECT_EQ(cache.Find(PointOf(original)), table);
  EXPECT_EQ(cache.built(), 1u);
  const Signed s = Sign(key, "by object");
  EXPECT_TRUE(table->Verify(s.digest, s.signature));

  const PublicKey p384 = NewKey(KeyType::kEcP384).public_key();
  const PublicKey rsa = NewKey(KeyType::kRsa2048).public_key();
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cache.Find(p384), nullptr);
    EXPECT_EQ(cache.Find(rsa), nullptr);
  }
  EXPECT_EQ(cache.built(), 1u);
}

TEST(PrecomputedKeyCacheTest, PrepareBuildsAtOnceAndOnlyOnce) {
  PrecomputedKeyCache cache;
  const PublicKey key = NewKey().public_key();
  cache.Prepare(key);
  EXPECT_EQ(cache.built(), 1u);
  auto table = cache.Find(key);  // the first Find already has it
  ASSERT_NE(table, nullptr);
  cache.Prepare(key);
  EXPECT_EQ(cache.Find(key), table);  // not rebuilt
  cache.Prepare(NewKey(KeyType::kEcP384).public_key());
  EXPECT_EQ(cache.built(), 1u);
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

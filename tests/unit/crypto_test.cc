// Keys, JOSE signatures and CSRs on OpenSSL 3 EVP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "core/csr.h"
#include "core/digest.h"
#include "core/internal/der.h"
#include "core/jws_algorithm.h"
#include "core/keys.h"
#include "core/random.h"
#include "core/signer.h"
#include "test_pki.h"

namespace ward {
namespace {

using ::testing::HasSubstr;
using testing::NewKey;

PrivateKey RawKey(const char* type, const char* param) {
  return PrivateKey(ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type, param)));
}
PrivateKey RawRsa(size_t bits) {
  return PrivateKey(ossl::PkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)));
}

TEST(KeysTest, GeneratesEveryKeyType) {
  const std::pair<KeyType, KeyInfo> cases[] = {{KeyType::kEcP256, {KeyFamily::kEc, 256, "P-256"}},
                                               {KeyType::kEcP384, {KeyFamily::kEc, 384, "P-384"}},
                                               {KeyType::kRsa2048, {KeyFamily::kRsa, 2048, ""}},
                                               {KeyType::kRsa3072, {KeyFamily::kRsa, 3072, ""}},
                                               {KeyType::kRsa4096, {KeyFamily::kRsa, 4096, ""}}};
  for (const auto& [type, want] : cases) {
    auto key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok()) << KeyTypeName(type);
    const KeyInfo info = key->info();
    EXPECT_EQ(info.family, want.family) << KeyTypeName(type);
    EXPECT_EQ(info.bits, want.bits) << KeyTypeName(type);
    EXPECT_EQ(info.curve, want.curve) << KeyTypeName(type);
    EXPECT_TRUE(CheckAcceptableKey(info).ok());
  }
}

TEST(KeysTest, KeyTypeNamesRoundTrip) {
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048, KeyType::kRsa3072,
                    KeyType::kRsa4096}) {
    auto parsed = ParseKeyType(KeyTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_FALSE(ParseKeyType("dsa-1024").ok());
}

TEST(KeysTest, Pkcs8AndPemRoundTrip) {
  for (KeyType t : {KeyType::kEcP256, KeyType::kRsa2048}) {
    PrivateKey key = NewKey(t);
    auto der = key.ToPkcs8Der();
    ASSERT_TRUE(der.ok());
    auto back = PrivateKey::FromPkcs8Der(der->view());
    ASSERT_TRUE(back.ok()) << back.status().message();
    EXPECT_TRUE(back->public_key().Equals(key.public_key()));
    auto pem = key.ToPkcs8Pem();
    ASSERT_TRUE(pem.ok());
    EXPECT_THAT(std::string(pem->str()), HasSubstr("-----BEGIN PRIVATE KEY-----"));
    auto from_pem = PrivateKey::FromPem(pem->str());
    ASSERT_TRUE(from_pem.ok());
    EXPECT_TRUE(from_pem->public_key().Equals(key.public_key()));
  }
}

TEST(KeysTest, PublicKeyEncodingsRoundTrip) {
  PrivateKey key = NewKey();
  const PublicKey pub = key.public_key();
  auto from_der = PublicKey::FromSpkiDer(pub.ToSpkiDer());
  ASSERT_TRUE(from_der.ok());
  EXPECT_TRUE(from_der->Equals(pub));
  auto from_pem = PublicKey::FromPem(pub.ToPem());
  ASSERT_TRUE(from_pem.ok());
  EXPECT_TRUE(from_pem->Equals(pub));
  EXPECT_FALSE(pub.Equals(NewKey().public_key()));
  PublicKey copy = pub;  // shares the reference-counted key
  EXPECT_TRUE(copy.Equals(pub));
}

TEST(KeysTest, RejectsMalformedKeys) {
  EXPECT_FALSE(PrivateKey::FromPkcs8Der(AsBytes("garbage")).ok());
  EXPECT_FALSE(
      PrivateKey::FromPem("-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n").ok());
  EXPECT_FALSE(PublicKey::FromSpkiDer(AsBytes("")).ok());
  auto der = NewKey().ToPkcs8Der();
  ASSERT_TRUE(der.ok());
  Bytes trailing(der->data(), der->data() + der->size());
  trailing.push_back(0);
  EXPECT_FALSE(PrivateKey::FromPkcs8Der(trailing).ok());
}

TEST(KeysTest, RefusesWeakRsaKeys) {
  EXPECT_THAT(CheckAcceptableKey(RawRsa(1024).info()).message(), HasSubstr("2048"));
}

TEST(SecureBytesTest, MovesWithoutCopying) {
  const uint8_t secret[] = {1, 2, 3};
  SecureBytes a(ByteView(secret, 3));
  SecureBytes b = std::move(a);
  EXPECT_EQ(b.size(), 3u);
  EXPECT_EQ(b.data()[2], 3);
}

TEST(JwsAlgorithmTest, AcceptsOnlyTheNineAlgorithms) {
  for (const char* name :
       {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}) {
    auto alg = ParseJwsAlgorithm(name);
    ASSERT_TRUE(alg.ok()) << name;
    EXPECT_EQ(JwsAlgorithmName(*alg), name);
  }
  for (const char* name :
       {"none", "None", "HS256", "HS384", "HS512", "EdDSA", "es256", "ES256K", "RSA-OAEP", ""}) {
    EXPECT_FALSE(ParseJwsAlgorithm(name).ok()) << name;
  }
}

struct SignCase {
  JwsAlgorithm alg;
  const char* key_type;
  const char* key_param;
};

TEST(JwsAlgorithmTest, SignsAndVerifiesWithEveryAlgorithm) {
  const SignCase cases[] = {
      {JwsAlgorithm::kEs256, "EC", "P-256"},  {JwsAlgorithm::kEs384, "EC", "P-384"},
      {JwsAlgorithm::kEs512, "EC", "P-521"},  {JwsAlgorithm::kRs256, "RSA", nullptr},
      {JwsAlgorithm::kRs384, "RSA", nullptr}, {JwsAlgorithm::kRs512, "RSA", nullptr},
      {JwsAlgorithm::kPs256, "RSA", nullptr}, {JwsAlgorithm::kPs384, "RSA", nullptr},
      {JwsAlgorithm::kPs512, "RSA", nullptr}};
  const std::string data = "header.payload";
  for (const auto& c : cases) {
    PrivateKey key = c.key_param ? RawKey(c.key_type, c.key_param) : RawRsa(2048);
    const auto name = JwsAlgorithmName(c.alg);
    auto sig = JwsSign(key, c.alg, AsBytes(data));
    ASSERT_TRUE(sig.ok()) << name << ": " << sig.status().message();
    if (c.alg == JwsAlgorithm::kEs256) {
      EXPECT_EQ(sig->size(), 64u);
    }
    if (c.alg == JwsAlgorithm::kEs512) {
      EXPECT_EQ(sig->size(), 132u);
    }
    EXPECT_TRUE(JwsVerify(key.public_key(), c.alg, AsBytes(data), *sig).ok()) << name;
    EXPECT_FALSE(JwsVerify(key.public_key(), c.alg, AsBytes("header.payloaD"), *sig).ok()) << name;
    Bytes bad = *sig;
    bad[bad.size() / 2] ^= 0x80;
    EXPECT_FALSE(JwsVerify(key.public_key(), c.alg, AsBytes(data), bad).ok()) << name;
    bad.pop_back();
    EXPECT_FALSE(JwsVerify(key.public_key(), c.alg, AsBytes(data), bad).ok()) << name;
  }
}

TEST(JwsAlgorithmTest, LocalSignerReusesContextsAcrossThreads) {
  for (const auto& [alg, key] : {std::pair{JwsAlgorithm::kEs256, RawKey("EC", "P-256")},
                                 std::pair{JwsAlgorithm::kPs256, RawRsa(2048)}}) {
    const LocalSigner signer(key);
    std::atomic<int> good{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 25; ++i) {
          const std::string data = "message " + std::to_string(t) + "/" + std::to_string(i);
          auto sig = signer.Sign(alg, AsBytes(data));
          if (sig.ok() && JwsVerify(key.public_key(), alg, AsBytes(data), *sig).ok()) ++good;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(good.load(), 100) << JwsAlgorithmName(alg);
  }
}

// One RSA key signs under two paddings; a pooled context prepared for PS256 must never sign an
// RS256 request (it would produce a PSS signature labelled RS256).
TEST(JwsAlgorithmTest, LocalSignerNeverReusesAContextAcrossAlgorithms) {
  const PrivateKey key = RawRsa(2048);
  const LocalSigner signer(key);
  const auto message = AsBytes("header.payload");
  ASSERT_TRUE(signer.Sign(JwsAlgorithm::kPs256, message).ok());  // leaves a PS256 context idle
  auto rs = signer.Sign(JwsAlgorithm::kRs256, message);
  ASSERT_TRUE(rs.ok());
  EXPECT_TRUE(JwsVerify(key.public_key(), JwsAlgorithm::kRs256, message, *rs).ok());
  EXPECT_FALSE(JwsVerify(key.public_key(), JwsAlgorithm::kPs256, message, *rs).ok());
  auto ps = signer.Sign(JwsAlgorithm::kPs256, message);  // and the other way round
  ASSERT_TRUE(ps.ok());
  EXPECT_TRUE(JwsVerify(key.public_key(), JwsAlgorithm::kPs256, message, *ps).ok());
  EXPECT_FALSE(JwsVerify(key.public_key(), JwsAlgorithm::kRs256, message, *ps).ok());
}

TEST(DigestTest, MatchesTheFipsVectors) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256(AsBytes(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha1(AsBytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d");
  const uint8_t bytes[] = {0x00, 0x0f, 0xa5, 0xff};
  EXPECT_EQ(HexEncode(bytes), "000fa5ff");
  EXPECT_EQ(HexEncode(ByteView()), "");
}

TEST(RandomValueTest, ParentAndChildNeverShareBufferedBytes) {
  uint8_t first[16];
  ASSERT_TRUE(FillRandomValue(first, sizeof first).ok());  // the buffer is now filled
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    uint8_t drawn[16] = {};
    const bool ok = FillRandomValue(drawn, sizeof drawn).ok();
    const ssize_t written = ::write(fds[1], drawn, ok ? sizeof drawn : 0);
    ::_exit(written == sizeof drawn ? 0 : 1);
  }
  ::close(fds[1]);
  uint8_t in_child[16] = {};
  const ssize_t got = ::read(fds[0], in_child, sizeof in_child);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(got, 16);
  uint8_t in_parent[16];
  ASSERT_TRUE(FillRandomValue(in_parent, sizeof in_parent).ok());
  EXPECT_NE(std::memcmp(in_child, in_parent, 16), 0);
  EXPECT_NE(std::memcmp(first, in_parent, 16), 0);
}

TEST(JwsAlgorithmTest, RefusesKeyAlgorithmMismatch) {
  PrivateKey p256 = NewKey(KeyType::kEcP256);
  PrivateKey p384 = NewKey(KeyType::kEcP384);
  PrivateKey rsa = NewKey(KeyType::kRsa2048);
  EXPECT_FALSE(JwsSign(p384, JwsAlgorithm::kEs256, AsBytes("x")).ok());
  EXPECT_FALSE(JwsSign(rsa, JwsAlgorithm::kEs256, AsBytes("x")).ok());
  EXPECT_FALSE(JwsSign(p256, JwsAlgorithm::kRs256, AsBytes("x")).ok());
  auto sig = JwsSign(p256, JwsAlgorithm::kEs256, AsBytes("x"));
  ASSERT_TRUE(sig.ok());
  EXPECT_FALSE(JwsVerify(p384.public_key(), JwsAlgorithm::kEs256, AsBytes("x"), *sig).ok());
  EXPECT_FALSE(
      JwsVerify(RawRsa(1024).public_key(), JwsAlgorithm::kRs256, AsBytes("x"), Bytes(128)).ok());
}

TEST(CsrTest, CreatesAndParsesWithProofOfPossession) {
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048}) {
    PrivateKey key = NewKey(t);
    auto der = CreateCsrDer(key, "spiffe://example.org/w");
    ASSERT_TRUE(der.ok());
    auto csr = ParseCsrDer(*der);
    ASSERT_TRUE(csr.ok()) << csr.status().message();
    EXPECT_EQ(csr->key.spki_der, key.public_key().ToSpkiDer());
    EXPECT_EQ(csr->key.info.family, key.info().family);
    EXPECT_EQ(csr->key.info.bits, key.info().bits);
    EXPECT_EQ(csr->uri_sans, std::vector<std::string>{"spiffe://example.org/w"});
  }
}

// CSRs without attributes take the direct EC path (no X509_REQ); they must read the same.
TEST(CsrTest, AgentShapedCsrsReadTheSameKeyAndSpki) {
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384}) {
    PrivateKey key = NewKey(t);
    auto der = CreateCsrDer(key);
    ASSERT_TRUE(der.ok());
    auto csr = ParseCsrDer(*der);
    ASSERT_TRUE(csr.ok()) << csr.status().message();
    EXPECT_EQ(csr->key.spki_der, key.public_key().ToSpkiDer());
    EXPECT_TRUE(csr->uri_sans.empty());
    EXPECT_EQ(csr->key.info.family, KeyFamily::kEc);
    EXPECT_EQ(csr->key.info.curve, key.info().curve);
    EXPECT_EQ(csr->key.info.bits, key.info().bits);
  }
}

// The CertificationRequestInfo (the signed part) of a DER CSR.
Bytes CsrInfo(ByteView csr) {
  ByteView in = csr;
  ByteView body = der::Read(in).value().content;
  const ByteView cri_start = body;
  EXPECT_TRUE(der::Read(body).ok());
  return Bytes(cri_start.begin(), cri_start.end() - static_cast<ptrdiff_t>(body.size()));
}

// A DER CSR made of `cri` signed (ecdsa-with-SHA256) by `signer`, whatever `cri` says.
Bytes SignCsrInfo(const Bytes& cri, const PrivateKey& signer) {
  const Bytes sig = der::EcdsaRawToDer(JwsSign(signer, JwsAlgorithm::kEs256, cri).value()).value();
  Bytes bits = {0x00};
  bits.insert(bits.end(), sig.begin(), sig.end());
  static constexpr uint8_t kEcdsaWithSha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                                 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
  Bytes content = cri;
  content.insert(content.end(), std::begin(kEcdsaWithSha256), std::end(kEcdsaWithSha256));
  const Bytes bit_string = der::Tlv(der::kBitString, bits);
  content.insert(content.end(), bit_string.begin(), bit_string.end());
  return der::Tlv(der::kSequence, content);
}

// A CSR carrying `carried`'s key but signed by `signer`: agent-shaped, so it takes the direct EC
// path. Its signature is valid, just not by the key it claims.
Bytes CsrSignedByAnotherKey(const PrivateKey& carried, const PrivateKey& signer) {
  return SignCsrInfo(CsrInfo(CreateCsrDer(carried).value()), signer);
}

// The direct path verifies every CSR on one key object per thread, replacing its point each
// time. Whatever came before (an accepted CSR, a rejected point, a forgery), each CSR must be
// checked against its own key: a forgery carrying the key that was just accepted is refused, and
// a genuine CSR after a rejected one is accepted.
TEST(CsrTest, EachCsrIsVerifiedAgainstItsOwnKeyWhateverCameBefore) {
  const PrivateKey a = NewKey();
  const PrivateKey b = NewKey();
  const Bytes genuine_a = CreateCsrDer(a).value();
  const Bytes genuine_b = CreateCsrDer(b).value();
  const Bytes b_signed_by_a = CsrSignedByAnotherKey(b, a);
  const Bytes spki_a = a.public_key().ToSpkiDer();
  Bytes off_curve = genuine_a;
  const auto at = std::search(off_curve.begin(), off_curve.end(), spki_a.begin(), spki_a.end());
  ASSERT_NE(at, off_curve.end());
  *(at + static_cast<ptrdiff_t>(spki_a.size()) - 1) ^= 0x01;  // last byte of Y
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(ParseCsrDer(genuine_b).ok());
    auto forged = ParseCsrDer(b_signed_by_a);
    ASSERT_FALSE(forged.ok());
    EXPECT_THAT(forged.status().message(), HasSubstr("proof of possession"));
    ASSERT_TRUE(ParseCsrDer(genuine_a).ok());
    EXPECT_FALSE(ParseCsrDer(b_signed_by_a).ok());
    EXPECT_THAT(ParseCsrDer(off_curve).status().message(), HasSubstr("not a valid EC point"));
    auto after = ParseCsrDer(genuine_b);
    ASSERT_TRUE(after.ok()) << after.status().message();
    EXPECT_EQ(after->key.spki_der, b.public_key().ToSpkiDer());
  }
}

// The same on many threads at once: each has its own key object.
TEST(CsrTest, VerifiesConcurrentlyOnManyThreads) {
  std::vector<PrivateKey> keys;
  std::vector<Bytes> genuine, forged;
  for (int i = 0; i < 4; ++i) keys.push_back(NewKey());
  for (int i = 0; i < 4; ++i) {
    genuine.push_back(CreateCsrDer(keys[i]).value());
    forged.push_back(CsrSignedByAnotherKey(keys[i], keys[(i + 1) % 4]));
  }
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 25; ++n) {
        const size_t i = static_cast<size_t>((t + n) % 4);
        if (!ParseCsrDer(genuine[i]).ok()) ++wrong;
        if (ParseCsrDer(forged[i]).ok()) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(CsrTest, RejectsAPointOffTheCurve) {
  PrivateKey key = NewKey();
  auto der = CreateCsrDer(key);
  ASSERT_TRUE(der.ok());
  const Bytes spki = key.public_key().ToSpkiDer();
  const auto at = std::search(der->begin(), der->end(), spki.begin(), spki.end());
  ASSERT_NE(at, der->end());
  Bytes bad = *der;
  bad[static_cast<size_t>(at - der->begin()) + spki.size() - 1] ^= 0x01;  // last byte of Y
  auto csr = ParseCsrDer(bad);
  ASSERT_FALSE(csr.ok());
  EXPECT_THAT(csr.status().message(), HasSubstr("not a valid EC point"));
}

// A CSR whose key AlgorithmIdentifier is not a SEQUENCE, properly signed by its key: the CA
// copies the SubjectPublicKeyInfo into the certificate, so it must never be accepted.
TEST(CsrTest, RejectsAMalformedKeyAlgorithmEvenWhenSigned) {
  PrivateKey key = NewKey();
  auto der = CreateCsrDer(key);
  ASSERT_TRUE(der.ok());
  Bytes cri = CsrInfo(*der);
  const Bytes spki = key.public_key().ToSpkiDer();
  const auto at = std::search(cri.begin(), cri.end(), spki.begin(), spki.end());
  ASSERT_NE(at, cri.end());
  ASSERT_EQ(*(at + 2), 0x30);
  *(at + 2) = 0x31;  // AlgorithmIdentifier as a SET
  EXPECT_FALSE(ParseCsrDer(SignCsrInfo(cri, key)).ok());
}

TEST(CsrTest, RejectsTamperedSignature) {
  auto der = CreateCsrDer(NewKey());
  ASSERT_TRUE(der.ok());
  Bytes bad = *der;
  bad[bad.size() - 3] ^= 0x01;
  auto csr = ParseCsrDer(bad);
  ASSERT_FALSE(csr.ok());
  EXPECT_THAT(csr.status().message(), HasSubstr("proof of possession"));
}

TEST(CsrTest, RejectsMalformedOversizedAndWeak) {
  EXPECT_FALSE(ParseCsrDer({}).ok());
  EXPECT_FALSE(ParseCsrDer(AsBytes("not a csr")).ok());
  EXPECT_THAT(ParseCsrDer(Bytes(kMaxCsrBytes + 1, 0x30)).status().message(), HasSubstr("32 KiB"));
  auto weak = CreateCsrDer(RawRsa(1024));
  ASSERT_TRUE(weak.ok());
  EXPECT_THAT(ParseCsrDer(*weak).status().message(), HasSubstr("2048"));
  auto der = CreateCsrDer(NewKey());
  ASSERT_TRUE(der.ok());
  Bytes trailing = *der;
  trailing.push_back(0);
  EXPECT_FALSE(ParseCsrDer(trailing).ok());
  EXPECT_FALSE(
      ParseCsrPem("-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n")
          .ok());
}

}  // namespace
}  // namespace ward

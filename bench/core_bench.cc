// Micro-benchmarks for the core library's hot paths, next to the raw ECDSA P-256 operations they
// are built from, so the overhead over the cryptography itself is visible in one run.
#include <benchmark/benchmark.h>

#include <chrono>

#include "core/csr.h"
#include "core/digest.h"
#include "core/internal/json_strict.h"
#include "core/internal/mod_inverse.h"
#include "core/jws_algorithm.h"
#include "core/jwt_svid.h"
#include "core/precomputed_key_cache.h"
#include "core/signer.h"
#include "core/spiffe_id.h"
#include "core/x509_svid.h"

namespace ward {
namespace {

UnixSeconds Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Pki {
  Pki()
      : td(TrustDomain::Parse("example.org").value()),
        ca_key(PrivateKey::Generate(KeyType::kEcP256).value()),
        ca(IssueCaCertificate({.id = SpiffeId::FromPath(td, "").value(),
                               .public_key = ca_key.public_key(),
                               .common_name = "bench CA",
                               .not_before = Now() - 60,
                               .not_after = Now() + 86400},
                              Issuer{ca_key})
               .value()),
        jwt_key(PrivateKey::Generate(KeyType::kEcP256).value()),
        workload_key(PrivateKey::Generate(KeyType::kEcP256).value()),
        id(SpiffeId::Parse("spiffe://example.org/ns/prod/sa/web").value()) {
    bundles.Put(TrustBundle::Create(td, {ca}, {{"k1", jwt_key.public_key()}}).value());
  }
  TrustDomain td;
  PrivateKey ca_key;
  Certificate ca;
  PrivateKey jwt_key;
  PrivateKey workload_key;
  SpiffeId id;
  BundleSet bundles;
};

Pki& GetPki() {
  static Pki pki;
  return pki;
}

void BM_SpiffeIdParse(benchmark::State& state) {
  const std::string text = "spiffe://example.org/ns/production/sa/frontend-web";
  for (auto _ : state) {
    auto id = SpiffeId::Parse(text);
    benchmark::DoNotOptimize(id);
  }
}
BENCHMARK(BM_SpiffeIdParse);

// The claims of a JWT-SVID as Ward mints them, through the parser that validation uses.
void BM_JsonStrictParseClaims(benchmark::State& state) {
  const std::string claims =
      R"({"aud":["spiffe://example.org/db"],"exp":1800000900,"iat":1800000000,)"
      R"("jti":"0Nq2yhw3kS1gZ7Lmb4pP8w","sub":"spiffe://example.org/ns/prod/sa/web"})";
  for (auto _ : state) {
    auto doc = internal::ParseJsonStrict(claims, 16 * 1024, "JWT claims");
    if (!doc.ok()) state.SkipWithError(doc.status().message().c_str());
    benchmark::DoNotOptimize(doc);
  }
}
BENCHMARK(BM_JsonStrictParseClaims);

// Through a LocalSigner kept across calls, as the CA's key managers keep theirs.
void BM_EcdsaP256Sign(benchmark::State& state) {
  Pki& pki = GetPki();
  const LocalSigner signer(pki.jwt_key);
  const std::string data(300, 'x');
  for (auto _ : state) {
    auto sig = signer.Sign(JwsAlgorithm::kEs256, AsBytes(data));
    benchmark::DoNotOptimize(sig);
  }
}
BENCHMARK(BM_EcdsaP256Sign);

// A plain verification through OpenSSL's EVP layer, hashing included: what checking a signature
// costs under a key seen once, such as a CSR's.
void BM_EcdsaP256Verify(benchmark::State& state) {
  Pki& pki = GetPki();
  const std::string data(300, 'x');
  ossl::MdCtxPtr sign_ctx(EVP_MD_CTX_new());
  Bytes sig(80);
  size_t sig_len = sig.size();
  if (EVP_DigestSignInit(sign_ctx.get(), nullptr, EVP_sha256(), nullptr, pki.jwt_key.get()) != 1 ||
      EVP_DigestSign(sign_ctx.get(), sig.data(), &sig_len, AsBytes(data).data(), data.size()) !=
          1) {
    state.SkipWithError("cannot sign");
    return;
  }
  const PublicKey pub = pki.jwt_key.public_key();
  const EVP_MD* sha256 = FetchedDigest(DigestAlgorithm::kSha256);
  for (auto _ : state) {
    ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
    const bool ok =
        EVP_DigestVerifyInit(ctx.get(), nullptr, sha256, nullptr, pub.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), sig.data(), sig_len, AsBytes(data).data(), data.size()) == 1;
    if (!ok) state.SkipWithError("verification failed");
  }
}
BENCHMARK(BM_EcdsaP256Verify);

// JwsVerify (ES256) under a prepared key, as the agent prepares its JWT authorities: the key's
// precomputed table does the work (core/p256_precomputed_key.h).
void BM_EcdsaP256VerifyRepeatedKey(benchmark::State& state) {
  Pki& pki = GetPki();
  const std::string data(300, 'x');
  const Bytes sig = JwsSign(pki.jwt_key, JwsAlgorithm::kEs256, AsBytes(data)).value();
  const PublicKey pub = pki.jwt_key.public_key();
  PrecomputedKeyCache::Process().Prepare(pub);
  for (auto _ : state) {
    Status s = JwsVerify(pub, JwsAlgorithm::kEs256, AsBytes(data), sig);
    if (!s.ok()) state.SkipWithError(s.message().c_str());
  }
}
BENCHMARK(BM_EcdsaP256VerifyRepeatedKey);

// s⁻¹ mod n, as the table verification computes it, for varying s.
void BM_ModInverseP256Order(benchmark::State& state) {
  const internal::Uint256Bytes order = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00,
                                        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                        0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84,
                                        0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};
  std::vector<internal::Uint256Bytes> values(64);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = Sha256(AsBytes("inverse input " + std::to_string(i)));
    values[i][0] &= 0x7F;  // below the order
  }
  size_t i = 0;
  for (auto _ : state) {
    internal::Uint256Bytes inverse;
    if (!internal::InvertModOdd(values[i++ % values.size()], order, inverse)) {
      state.SkipWithError("no inverse");
    }
    benchmark::DoNotOptimize(inverse);
  }
}
BENCHMARK(BM_ModInverseP256Order);

void BM_JwtSvidMintEs256(benchmark::State& state) {
  Pki& pki = GetPki();
  const LocalSigner signer(pki.jwt_key);
  const UnixSeconds now = Now();
  for (auto _ : state) {
    auto token = MintJwtSvid({pki.id, {"spiffe://example.org/db"}, now, now + 900}, "k1", signer);
    benchmark::DoNotOptimize(token);
  }
}
BENCHMARK(BM_JwtSvidMintEs256);

// Against a bundle whose JWT authority is prepared, as in the agent.
void BM_JwtSvidValidateEs256(benchmark::State& state) {
  Pki& pki = GetPki();
  for (const JwtAuthority& authority : pki.bundles.FindBundle(pki.td.name())->jwt_authorities()) {
    PrecomputedKeyCache::Process().Prepare(authority.public_key);
  }
  const UnixSeconds now = Now();
  const std::string token =
      MintJwtSvid({pki.id, {"spiffe://example.org/db"}, now, now + 900}, "k1", pki.jwt_key)->token;
  for (auto _ : state) {
    auto v = ValidateJwtSvid(token, pki.bundles, "spiffe://example.org/db", now);
    if (!v.ok()) state.SkipWithError(v.status().message().c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_JwtSvidValidateEs256);

// What a server does per X.509-SVID: parse the CSR (verifying its proof of possession, one ECDSA
// verify) and sign the certificate (one ECDSA sign).
void BM_X509SvidIssueFromCsr(benchmark::State& state) {
  Pki& pki = GetPki();
  const Bytes csr_der = CreateCsrDer(pki.workload_key).value();
  const UnixSeconds now = Now();
  for (auto _ : state) {
    auto csr = ParseCsrDer(csr_der);
    auto cert =
        IssueX509Svid({.id = pki.id, .key = csr->key, .not_before = now, .not_after = now + 3600},
                      Issuer{pki.ca_key, &pki.ca});
    if (!cert.ok()) state.SkipWithError(cert.status().message().c_str());
    benchmark::DoNotOptimize(cert);
  }
}
BENCHMARK(BM_X509SvidIssueFromCsr);

// The server's batch-signing path: the certificate carries the CSR's SubjectPublicKeyInfo bytes
// and is returned as DER, never parsed back; the issuer is prepared once, as the CA does.
void BM_X509SvidIssueFromCsrDer(benchmark::State& state) {
  Pki& pki = GetPki();
  const Bytes csr_der = CreateCsrDer(pki.workload_key).value();
  const PreparedIssuer issuer =
      PreparedIssuer::Create(std::make_shared<LocalSigner>(pki.ca_key), pki.ca).value();
  const UnixSeconds now = Now();
  for (auto _ : state) {
    auto csr = ParseCsrDer(csr_der);
    auto cert = IssueX509SvidDer(
        {.id = pki.id, .key = csr->key, .not_before = now, .not_after = now + 3600}, issuer);
    if (!cert.ok()) state.SkipWithError(cert.status().message().c_str());
    benchmark::DoNotOptimize(cert);
  }
}
BENCHMARK(BM_X509SvidIssueFromCsrDer);

// The two halves of BM_X509SvidIssueFromCsr, to see which one carries overhead beyond its one
// ECDSA operation.
void BM_CsrParse(benchmark::State& state) {
  const Bytes csr_der = CreateCsrDer(GetPki().workload_key).value();
  for (auto _ : state) {
    auto csr = ParseCsrDer(csr_der);
    benchmark::DoNotOptimize(csr);
  }
}
BENCHMARK(BM_CsrParse);

void BM_X509SvidSign(benchmark::State& state) {
  Pki& pki = GetPki();
  const SubjectPublicKey subject = SubjectPublicKey::Of(pki.workload_key.public_key()).value();
  const UnixSeconds now = Now();
  for (auto _ : state) {
    auto cert =
        IssueX509Svid({.id = pki.id, .key = subject, .not_before = now, .not_after = now + 3600},
                      Issuer{pki.ca_key, &pki.ca});
    benchmark::DoNotOptimize(cert);
  }
}
BENCHMARK(BM_X509SvidSign);

void BM_X509SvidVerify(benchmark::State& state) {
  Pki& pki = GetPki();
  const UnixSeconds now = Now();
  const Certificate leaf =
      IssueX509Svid({.id = pki.id,
                     .key = SubjectPublicKey::Of(pki.workload_key.public_key()).value(),
                     .not_before = now - 10,
                     .not_after = now + 3600},
                    Issuer{pki.ca_key, &pki.ca})
          .value();
  const std::vector<Certificate> chain = {leaf};
  for (auto _ : state) {
    auto v = VerifyX509Svid(chain, pki.bundles, now);
    if (!v.ok()) state.SkipWithError(v.status().message().c_str());
    benchmark::DoNotOptimize(v);
  }
}
BENCHMARK(BM_X509SvidVerify);

}  // namespace
}  // namespace ward

BENCHMARK_MAIN();

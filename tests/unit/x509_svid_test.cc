// X509-SVID.md: the builders produce exactly the required profile, and the validator rejects
// every case in reference/spiffe.md §2.3.
#include "core/x509_svid.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/x509v3.h>

#include <algorithm>

#include "core/csr.h"
#include "test_pki.h"

namespace ward {
namespace {

using testing::CaSpec;
using testing::CertSpec;
using ::testing::HasSubstr;
using testing::MakeCert;
using testing::NewKey;
using testing::Now;
using testing::Subject;

SpiffeId Id(std::string_view s) { return SpiffeId::Parse(s).value(); }
TrustDomain Td(std::string_view s) { return TrustDomain::Parse(s).value(); }

bool ExtensionCritical(const Certificate& cert, int nid) {
  const int idx = X509_get_ext_by_NID(cert.get(), nid, -1);
  EXPECT_GE(idx, 0) << OBJ_nid2sn(nid) << " missing";
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(cert.get(), idx)) == 1;
}

// A self-signed Ward CA for one trust domain, with helpers to issue leaves under it.
struct TestCa {
  explicit TestCa(const std::string& td, KeyType type = KeyType::kEcP256)
      : key(NewKey(type)),
        cert(IssueCaCertificate({.id = Id("spiffe://" + td),
                                 .public_key = key.public_key(),
                                 .common_name = "CA " + td,
                                 .not_before = Now() - 60,
                                 .not_after = Now() + 86400},
                                Issuer{key})
                 .value()) {}

  Result<Certificate> Issue(const std::string& id, const PublicKey& pub,
                            std::string common_name = "") const {
    return IssueX509Svid({.id = Id(id),
                          .key = Subject(pub),
                          .common_name = std::move(common_name),
                          .not_before = Now() - 10,
                          .not_after = Now() + 3600},
                         Issuer{key, &cert});
  }

  BundleSet Bundle() const {
    BundleSet set;
    set.Put(TrustBundle::Create(Td(cert.UriSans()[0].substr(9)), {cert}, {}).value());
    return set;
  }

  PrivateKey key;
  Certificate cert;
};

TEST(X509SvidBuilderTest, CaCertificateProfile) {
  TestCa ca("example.org");
  EXPECT_TRUE(ca.cert.IsCa());
  EXPECT_EQ(ca.cert.UriSans(), std::vector<std::string>{"spiffe://example.org"});
  EXPECT_TRUE(ExtensionCritical(ca.cert, NID_basic_constraints));
  EXPECT_TRUE(ExtensionCritical(ca.cert, NID_key_usage));
  const uint32_t ku = X509_get_key_usage(ca.cert.get());
  EXPECT_TRUE(ku & KU_KEY_CERT_SIGN);
  EXPECT_FALSE(ku & KU_DIGITAL_SIGNATURE);
  EXPECT_NE(X509_get0_subject_key_id(ca.cert.get()), nullptr);
}

TEST(X509SvidBuilderTest, LeafProfile) {
  TestCa ca("example.org");
  PrivateKey key = NewKey();
  auto leaf = ca.Issue("spiffe://example.org/web", key.public_key());
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  EXPECT_EQ(leaf->UriSans(), std::vector<std::string>{"spiffe://example.org/web"});
  EXPECT_FALSE(leaf->IsCa());
  EXPECT_TRUE(ExtensionCritical(*leaf, NID_basic_constraints));
  EXPECT_TRUE(ExtensionCritical(*leaf, NID_key_usage));
  const uint32_t ku = X509_get_key_usage(leaf->get());
  EXPECT_TRUE(ku & KU_DIGITAL_SIGNATURE);
  EXPECT_FALSE(ku & KU_KEY_CERT_SIGN);
  EXPECT_FALSE(ku & KU_CRL_SIGN);
  const uint32_t xku = X509_get_extended_key_usage(leaf->get());
  EXPECT_TRUE(xku & XKU_SSL_SERVER);
  EXPECT_TRUE(xku & XKU_SSL_CLIENT);
  // Empty subject: the SAN must be critical (RFC 5280 §4.1.2.6).
  EXPECT_EQ(X509_NAME_entry_count(X509_get_subject_name(leaf->get())), 0);
  EXPECT_TRUE(ExtensionCritical(*leaf, NID_subject_alt_name));
  EXPECT_TRUE(leaf->public_key().Equals(key.public_key()));
  EXPECT_EQ(leaf->SerialHex().size(), 32u);  // 128-bit random serial
}

TEST(X509SvidBuilderTest, SanIsNotCriticalWhenSubjectIsSet) {
  TestCa ca("example.org");
  auto leaf = ca.Issue("spiffe://example.org/web", NewKey().public_key(), "web");
  ASSERT_TRUE(leaf.ok());
  EXPECT_FALSE(ExtensionCritical(*leaf, NID_subject_alt_name));
}

TEST(X509SvidBuilderTest, DnsNamesAreAddedBesideTheSingleUri) {
  TestCa ca("example.org");
  auto leaf = IssueX509Svid({.id = Id("spiffe://example.org/web"),
                             .key = Subject(NewKey().public_key()),
                             .dns_names = {"web.example.org", "web"},
                             .not_before = Now(),
                             .not_after = Now() + 60},
                            Issuer{ca.key, &ca.cert});
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->UriSans().size(), 1u);
  EXPECT_EQ(leaf->DnsSans(), (std::vector<std::string>{"web.example.org", "web"}));
  EXPECT_FALSE(IssueX509Svid({.id = Id("spiffe://example.org/web"),
                              .key = Subject(NewKey().public_key()),
                              .dns_names = {"bad name"},
                              .not_before = Now(),
                              .not_after = Now() + 60},
                             Issuer{ca.key, &ca.cert})
                   .ok());
}

TEST(X509SvidBuilderTest, RefusesRootIdLeafAndPathCa) {
  TestCa ca("example.org");
  EXPECT_FALSE(ca.Issue("spiffe://example.org", NewKey().public_key()).ok());
  PrivateKey k = NewKey();
  EXPECT_FALSE(IssueCaCertificate({.id = Id("spiffe://example.org/ca"),
                                   .public_key = k.public_key(),
                                   .common_name = "x",
                                   .not_before = Now(),
                                   .not_after = Now() + 60},
                                  Issuer{k})
                   .ok());
}

TEST(X509SvidBuilderTest, LeafNeverOutlivesItsIssuer) {
  TestCa ca("example.org");
  auto leaf = IssueX509Svid({.id = Id("spiffe://example.org/web"),
                             .key = Subject(NewKey().public_key()),
                             .not_before = Now(),
                             .not_after = Now() + 10 * 86400},
                            Issuer{ca.key, &ca.cert});
  ASSERT_TRUE(leaf.ok());
  EXPECT_EQ(leaf->not_after(), ca.cert.not_after());
}

TEST(X509SvidBuilderTest, RefusesMismatchedIssuerKey) {
  TestCa ca("example.org");
  PrivateKey other = NewKey();
  EXPECT_FALSE(IssueX509Svid({.id = Id("spiffe://example.org/web"),
                              .key = Subject(NewKey().public_key()),
                              .not_before = Now(),
                              .not_after = Now() + 60},
                             Issuer{other, &ca.cert})
                   .ok());
}

TEST(X509SvidBuilderTest, ValidityPast2049UsesGeneralizedTime) {
  PrivateKey key = NewKey();
  const UnixSeconds not_after = 2556144000;  // 2051-01-01
  auto cert = IssueCaCertificate({.id = Id("spiffe://example.org"),
                                  .public_key = key.public_key(),
                                  .common_name = "long-lived",
                                  .not_before = Now() - 60,
                                  .not_after = not_after},
                                 Issuer{key});
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(cert->not_after(), not_after);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(cert->get())), V_ASN1_GENERALIZEDTIME);
  EXPECT_EQ(X509_verify(cert->get(), X509_get0_pubkey(cert->get())), 1);
}

TEST(X509SvidBuilderTest, EncodingIsCanonicalDer) {
  // OpenSSL re-encodes every field from its decoded form; a non-DER encoding would differ.
  TestCa ca("example.org");
  auto leaf = ca.Issue("spiffe://example.org/w", NewKey().public_key());
  ASSERT_TRUE(leaf.ok());
  const Bytes der = leaf->ToDer();
  const unsigned char* p = der.data();
  ossl::X509Ptr fresh(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_TRUE(fresh);
  unsigned char* tbs = nullptr;
  const int tbs_len = i2d_re_X509_tbs(fresh.get(), &tbs);
  ASSERT_GT(tbs_len, 0);
  const std::string reencoded(reinterpret_cast<char*>(tbs), static_cast<size_t>(tbs_len));
  OPENSSL_free(tbs);
  EXPECT_NE(AsString(der).find(reencoded), std::string::npos);
}

TEST(X509SvidBuilderTest, TheDerPathMatchesTheParsedCertificate) {
  TestCa ca("example.org");
  PrivateKey workload = NewKey();
  const Bytes csr_der = CreateCsrDer(workload).value();
  auto csr = ParseCsrDer(csr_der);
  ASSERT_TRUE(csr.ok());
  ASSERT_FALSE(csr->key.spki_der.empty());
  EXPECT_EQ(csr->key.spki_der, workload.public_key().ToSpkiDer());
  auto issued = IssueX509SvidDer({.id = Id("spiffe://example.org/w"),
                                  .key = csr->key,
                                  .not_before = Now() - 10,
                                  .not_after = Now() + 600},
                                 Issuer{ca.key, &ca.cert});
  ASSERT_TRUE(issued.ok()) << issued.status().message();
  auto parsed = Certificate::FromDer(issued->der);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->SerialHex(), issued->serial_hex);
  EXPECT_EQ(parsed->not_after(), issued->not_after);
  EXPECT_TRUE(parsed->public_key().Equals(workload.public_key()));
  BundleSet set;
  set.Put(TrustBundle::Create(Td("example.org"), {ca.cert}, {}).value());
  EXPECT_TRUE(VerifyX509Svid({*parsed}, set, Now()).ok());
}

// What the CA signs with: the same certificate as through an Issuer, with the issuer's name,
// authority key ID and notAfter read once.
TEST(X509SvidBuilderTest, APreparedIssuerIssuesWhatAnIssuerDoes) {
  TestCa ca("example.org");
  auto prepared = PreparedIssuer::Create(std::make_shared<LocalSigner>(ca.key), ca.cert);
  ASSERT_TRUE(prepared.ok()) << prepared.status().message();
  const PrivateKey workload = NewKey();
  auto issued = IssueX509SvidDer({.id = Id("spiffe://example.org/w"),
                                  .key = Subject(workload.public_key()),
                                  .not_before = Now() - 10,
                                  .not_after = Now() + 10 * 86400},
                                 *prepared);
  ASSERT_TRUE(issued.ok()) << issued.status().message();
  EXPECT_EQ(issued->not_after, ca.cert.not_after());  // clamped to the issuer's
  auto leaf = Certificate::FromDer(issued->der);
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(leaf->public_key().Equals(workload.public_key()));
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf->get()), X509_get_subject_name(ca.cert.get())),
            0);
  const ASN1_OCTET_STRING* ca_kid = X509_get0_subject_key_id(ca.cert.get());
  const ASN1_OCTET_STRING* leaf_akid = X509_get0_authority_key_id(leaf->get());
  ASSERT_NE(ca_kid, nullptr);
  ASSERT_NE(leaf_akid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(ca_kid, leaf_akid), 0);
  auto verified = VerifyX509Svid({*leaf}, ca.Bundle(), Now());
  ASSERT_TRUE(verified.ok()) << verified.status().message();
  EXPECT_EQ(verified->id.str(), "spiffe://example.org/w");
}

TEST(X509SvidBuilderTest, APreparedIssuerNeedsTheCertificatesKey) {
  TestCa ca("example.org");
  EXPECT_FALSE(PreparedIssuer::Create(std::make_shared<LocalSigner>(NewKey()), ca.cert).ok());
  EXPECT_FALSE(PreparedIssuer::Create(nullptr, ca.cert).ok());
}

TEST(X509SvidBuilderTest, WorksForEveryKeyType) {
  for (KeyType type : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048}) {
    TestCa ca("example.org", type);
    auto leaf = ca.Issue("spiffe://example.org/w", NewKey(type).public_key());
    ASSERT_TRUE(leaf.ok()) << KeyTypeName(type);
    auto verified = VerifyX509Svid({*leaf}, ca.Bundle(), Now());
    EXPECT_TRUE(verified.ok()) << KeyTypeName(type) << ": " << verified.status().message();
  }
}

// --- Validator -------------------------------------------------------------------------------

class X509SvidVerifyTest : public ::testing::Test {
 protected:
  X509SvidVerifyTest()
      : root_key_(NewKey()),
        root_(MakeCert(CaSpec("example.org"), root_key_.public_key(), root_key_, nullptr)),
        leaf_key_(NewKey()) {
    bundles_.Put(TrustBundle::Create(Td("example.org"), {root_}, {}).value());
  }

  CertSpec LeafSpec(std::string id = "spiffe://example.org/web") {
    CertSpec spec;
    spec.uri_sans = {std::move(id)};
    return spec;
  }
  Certificate Leaf(const CertSpec& spec) {
    return MakeCert(spec, leaf_key_.public_key(), root_key_, &root_);
  }
  std::string Reject(const std::vector<Certificate>& chain) {
    auto r = VerifyX509Svid(chain, bundles_, Now());
    EXPECT_FALSE(r.ok()) << "accepted";
    return r.ok() ? "" : r.status().message();
  }

  PrivateKey root_key_;
  Certificate root_;
  PrivateKey leaf_key_;
  BundleSet bundles_;
};

TEST_F(X509SvidVerifyTest, AcceptsValidLeafAndReturnsItsId) {
  auto r = VerifyX509Svid({Leaf(LeafSpec())}, bundles_, Now());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->id.str(), "spiffe://example.org/web");
  EXPECT_EQ(r->verified_chain.size(), 2u);
}

TEST_F(X509SvidVerifyTest, AcceptsChainThroughIntermediate) {
  PrivateKey int_key = NewKey();
  Certificate inter = MakeCert(CaSpec("example.org"), int_key.public_key(), root_key_, &root_);
  Certificate leaf = MakeCert(LeafSpec(), leaf_key_.public_key(), int_key, &inter);
  auto r = VerifyX509Svid({leaf, inter}, bundles_, Now());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->verified_chain.size(), 3u);
  // Without the intermediate the chain is incomplete.
  EXPECT_THAT(Reject({leaf}), HasSubstr("verification failed"));
}

TEST_F(X509SvidVerifyTest, RejectsEmptyChain) { EXPECT_THAT(Reject({}), HasSubstr("empty")); }

TEST_F(X509SvidVerifyTest, RejectsLeafWithoutUriSan) {
  CertSpec spec = LeafSpec();
  spec.uri_sans.clear();
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("no URI SAN"));
}

TEST_F(X509SvidVerifyTest, RejectsLeafWithTwoUriSansEvenIfIdentical) {
  CertSpec spec = LeafSpec();
  spec.uri_sans.push_back("spiffe://example.org/web");
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("more than one URI SAN"));
}

TEST_F(X509SvidVerifyTest, RejectsInvalidSpiffeIds) {
  for (const char* uri : {"sparfe://example.org/web", "spiffe://Example.org/web",
                          "spiffe://example.org/web/", "https://example.org/web"}) {
    EXPECT_THAT(Reject({Leaf(LeafSpec(uri))}), HasSubstr("not a valid SPIFFE ID")) << uri;
  }
}

TEST_F(X509SvidVerifyTest, RejectsRootPathLeaf) {
  EXPECT_THAT(Reject({Leaf(LeafSpec("spiffe://example.org"))}), HasSubstr("no path"));
}

TEST_F(X509SvidVerifyTest, RejectsCaLeaf) {
  CertSpec spec = LeafSpec();
  spec.basic_constraints = "critical,CA:TRUE";
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("is a CA"));
}

TEST_F(X509SvidVerifyTest, RejectsLeafWithKeyCertSignOrCrlSign) {
  CertSpec spec = LeafSpec();
  spec.key_usage = "critical,digitalSignature,keyCertSign";
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("keyCertSign"));
  spec.key_usage = "critical,digitalSignature,cRLSign";
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("cRLSign"));
}

TEST_F(X509SvidVerifyTest, RejectsLeafWithoutDigitalSignatureOrKeyUsage) {
  CertSpec spec = LeafSpec();
  spec.key_usage = "critical,keyEncipherment";
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("digitalSignature"));
  spec.key_usage = "";
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("no key usage"));
}

TEST_F(X509SvidVerifyTest, RejectsIntermediateThatIsNotACa) {
  PrivateKey int_key = NewKey();
  CertSpec int_spec = CaSpec("example.org");
  int_spec.basic_constraints = "critical,CA:FALSE";
  Certificate inter = MakeCert(int_spec, int_key.public_key(), root_key_, &root_);
  Certificate leaf = MakeCert(LeafSpec(), leaf_key_.public_key(), int_key, &inter);
  EXPECT_THAT(Reject({leaf, inter}), HasSubstr("not a CA"));
}

TEST_F(X509SvidVerifyTest, RejectsIntermediateWithoutKeyCertSign) {
  PrivateKey int_key = NewKey();
  CertSpec int_spec = CaSpec("example.org");
  int_spec.key_usage = "critical,cRLSign";
  Certificate inter = MakeCert(int_spec, int_key.public_key(), root_key_, &root_);
  Certificate leaf = MakeCert(LeafSpec(), leaf_key_.public_key(), int_key, &inter);
  EXPECT_THAT(Reject({leaf, inter}), HasSubstr("keyCertSign"));
}

TEST_F(X509SvidVerifyTest, RejectsPathLengthViolation) {
  PrivateKey k1 = NewKey(), k2 = NewKey();
  CertSpec spec1 = CaSpec("example.org");
  spec1.basic_constraints = "critical,CA:TRUE,pathlen:0";
  Certificate int1 = MakeCert(spec1, k1.public_key(), root_key_, &root_);
  // A distinct subject: a self-issued CA (same subject as its issuer) would not count toward the
  // path length (RFC 5280 §4.2.1.9).
  CertSpec spec2 = CaSpec("example.org");
  spec2.subject_cn = "second intermediate";
  Certificate int2 = MakeCert(spec2, k2.public_key(), k1, &int1);
  Certificate leaf = MakeCert(LeafSpec(), leaf_key_.public_key(), k2, &int2);
  EXPECT_THAT(Reject({leaf, int2, int1}), HasSubstr("path length"));
}

TEST_F(X509SvidVerifyTest, RejectsLeafFromForeignRoot) {
  PrivateKey other_key = NewKey();
  Certificate other_root =
      MakeCert(CaSpec("example.org"), other_key.public_key(), other_key, nullptr);
  Certificate leaf = MakeCert(LeafSpec(), leaf_key_.public_key(), other_key, &other_root);
  EXPECT_THAT(Reject({leaf}), HasSubstr("verification failed"));
}

TEST_F(X509SvidVerifyTest, UsesOnlyTheBundleOfTheLeafsTrustDomain) {
  // A CA of other.org that signs a leaf claiming example.org: even though other.org's bundle is
  // held, the leaf must chain to example.org's bundle.
  PrivateKey other_key = NewKey();
  Certificate other_root =
      MakeCert(CaSpec("other.org"), other_key.public_key(), other_key, nullptr);
  bundles_.Put(TrustBundle::Create(Td("other.org"), {other_root}, {}).value());
  Certificate forged = MakeCert(LeafSpec(), leaf_key_.public_key(), other_key, &other_root);
  EXPECT_THAT(Reject({forged}), HasSubstr("verification failed"));
  // A genuine other.org leaf is fine.
  Certificate genuine =
      MakeCert(LeafSpec("spiffe://other.org/svc"), leaf_key_.public_key(), other_key, &other_root);
  EXPECT_TRUE(VerifyX509Svid({genuine}, bundles_, Now()).ok());
}

TEST_F(X509SvidVerifyTest, RejectsWhenNoBundleOrEmptyBundle) {
  EXPECT_THAT(Reject({Leaf(LeafSpec("spiffe://nowhere.org/x"))}),
              HasSubstr("no bundle for trust domain \"nowhere.org\""));
  bundles_.Put(TrustBundle::Create(Td("example.org"), {}, {}).value());
  EXPECT_THAT(Reject({Leaf(LeafSpec())}), HasSubstr("no X.509 authorities"));
}

TEST_F(X509SvidVerifyTest, RejectsExpiredAndNotYetValid) {
  CertSpec spec = LeafSpec();
  spec.not_before = Now() - 7200;
  spec.not_after = Now() - 1;
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("expired"));
  spec.not_before = Now() + 600;
  spec.not_after = Now() + 7200;
  EXPECT_THAT(Reject({Leaf(spec)}), HasSubstr("not valid before"));
}

TEST_F(X509SvidVerifyTest, ChecksValidityAtTheGivenTime) {
  Certificate leaf = Leaf(LeafSpec());
  EXPECT_TRUE(VerifyX509Svid({leaf}, bundles_, Now()).ok());
  EXPECT_FALSE(VerifyX509Svid({leaf}, bundles_, leaf.not_after() + 1).ok());
}

TEST_F(X509SvidVerifyTest, RejectsBadSignature) {
  Bytes der = Leaf(LeafSpec()).ToDer();
  der[der.size() - 5] ^= 0x01;  // inside the signature value
  auto tampered = Certificate::FromDer(der);
  ASSERT_TRUE(tampered.ok());
  EXPECT_THAT(Reject({*tampered}), HasSubstr("signature"));
}

TEST(CertificateParsingTest, RejectsGarbageAndTrailingBytes) {
  EXPECT_FALSE(Certificate::FromDer(AsBytes("not a certificate")).ok());
  PrivateKey k = NewKey();
  Certificate c = MakeCert(CaSpec("example.org"), k.public_key(), k, nullptr);
  Bytes der = c.ToDer();
  der.push_back(0);
  EXPECT_FALSE(Certificate::FromDer(der).ok());
  EXPECT_FALSE(ParsePemCertificates("").ok());
  EXPECT_FALSE(
      ParsePemCertificates("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").ok());
  EXPECT_FALSE(ParseDerCertificates(AsBytes("\x30\x03\x02\x01")).ok());
}

TEST(CertificateParsingTest, RejectsUndecodablePublicKey) {
  // Found by fuzz_bundle: a well-formed certificate whose EC point does not decode must be refused
  // at parse time, not crash later when its key is used.
  PrivateKey k = NewKey();
  Bytes der = MakeCert(CaSpec("example.org"), k.public_key(), k, nullptr).ToDer();
  const Bytes spki = k.public_key().ToSpkiDer();
  const Bytes point(spki.end() - 65, spki.end());  // uncompressed P-256 point: 0x04 || x || y
  auto at = std::search(der.begin(), der.end(), point.begin(), point.end());
  ASSERT_NE(at, der.end());
  *at = 0x05;  // no X9.62 point encoding starts with 5 (0x06/0x07 are "hybrid" and may decode)
  auto parsed = Certificate::FromDer(der);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("public key cannot be decoded"));
  EXPECT_FALSE(ParseDerCertificates(der).ok());
}

TEST(CertificateParsingTest, PemAndDerListsRoundTrip) {
  PrivateKey k = NewKey();
  Certificate a = MakeCert(CaSpec("a.org"), k.public_key(), k, nullptr);
  Certificate b = MakeCert(CaSpec("b.org"), k.public_key(), k, nullptr);
  auto from_pem = ParsePemCertificates(CertificatesToPem({a, b}));
  ASSERT_TRUE(from_pem.ok());
  ASSERT_EQ(from_pem->size(), 2u);
  EXPECT_EQ((*from_pem)[1].ToDer(), b.ToDer());
  auto from_der = ParseDerCertificates(CertificatesToDer({a, b}));
  ASSERT_TRUE(from_der.ok());
  ASSERT_EQ(from_der->size(), 2u);
  EXPECT_EQ((*from_der)[0].ToDer(), a.ToDer());
  // A corrupt block after a good one is an error, not a silent truncation.
  const std::string corrupt =
      a.ToPem() + "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(ParsePemCertificates(corrupt).ok());
}

}  // namespace
}  // namespace ward

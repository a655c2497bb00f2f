// The pkcs11 key manager against a real SoftHSM2 token, initialised here with softhsm2-util.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ca/authority.h"
#include "ca/pkcs11_key_manager.h"
#include "core/jwt_svid.h"
#include "core/x509_svid.h"
#include "store/sqlite_store.h"

namespace ward::ca {
namespace {

using ::testing::HasSubstr;

constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kLabel[] = "ward-unit";
constexpr char kPin[] = "4321";

SecureBytes Pin(std::string_view pin = kPin) { return SecureBytes(AsBytes(pin)); }

// One SoftHSM2 configuration and token for the whole suite (the module reads its configuration
// when it is first initialised in the process).
class Pkcs11Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/ward-hsm-XXXXXX";
    dir_ = new std::string(mkdtemp(tmpl));
    std::filesystem::create_directory(*dir_ + "/tokens");
    std::ofstream(*dir_ + "/softhsm2.conf")
        << "directories.tokendir = " << *dir_ << "/tokens\nobjectstore.backend = file\n"
        << "log.level = ERROR\n";
    setenv("SOFTHSM2_CONF", (*dir_ + "/softhsm2.conf").c_str(), 1);
    const std::string init = std::string("softhsm2-util --init-token --free --label ") + kLabel +
                             " --pin " + kPin + " --so-pin 87654321 >/dev/null";
    init_status_ = std::system(init.c_str());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    ASSERT_EQ(init_status_, 0) << "softhsm2-util failed; scripts/install-deps.sh installs softhsm2";
  }

  static std::unique_ptr<KeyManager> Open() {
    auto km = NewPkcs11KeyManager({kModule, kLabel, Pin()});
    EXPECT_TRUE(km.ok()) << km.status().message();
    return km.ok() ? std::move(km).value() : nullptr;
  }

  static std::string* dir_;
  static int init_status_;
};
std::string* Pkcs11Test::dir_ = nullptr;
int Pkcs11Test::init_status_ = -1;

TEST_F(Pkcs11Test, KeysAreMadeInTheTokenAndSignThere) {
  auto km = Open();
  ASSERT_TRUE(km);
  auto signer = km->GenerateKey("ca-one", KeyType::kEcP256);
  ASSERT_TRUE(signer.ok()) << signer.status().message();
  const PublicKey pub = (*signer)->public_key();
  EXPECT_EQ(pub.info().curve, "P-256");

  // A JWT signed in the token verifies with the public key read from the token.
  const std::string message = "header.payload";
  auto sig = (*signer)->Sign(JwsAlgorithm::kEs256, AsBytes(message));
  ASSERT_TRUE(sig.ok()) << sig.status().message();
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(JwsVerify(pub, JwsAlgorithm::kEs256, AsBytes(message), *sig).ok());
  EXPECT_FALSE(JwsVerify(pub, JwsAlgorithm::kEs256, AsBytes("other"), *sig).ok());
  EXPECT_FALSE((*signer)->Sign(JwsAlgorithm::kEs384, AsBytes(message)).ok());

  // A certificate signed in the token carries a valid signature.
  const UnixSeconds now = UnixNow();
  auto cert = IssueCaCertificate({.id = SpiffeId::Parse("spiffe://example.org").value(),
                                  .public_key = pub,
                                  .common_name = "HSM CA",
                                  .not_before = now - 60,
                                  .not_after = now + 3600},
                                 Issuer{**signer});
  ASSERT_TRUE(cert.ok()) << cert.status().message();
  EXPECT_EQ(X509_verify(cert->get(), pub.get()), 1);

  // Another session (a restarted server) finds the same key.
  auto again = Open();
  auto found = again->GetKey("ca-one");
  ASSERT_TRUE(found.ok()) << found.status().message();
  EXPECT_TRUE((*found)->public_key().Equals(pub));
  auto sig2 = (*found)->Sign(JwsAlgorithm::kEs256, AsBytes(message));
  ASSERT_TRUE(sig2.ok());
  EXPECT_TRUE(JwsVerify(pub, JwsAlgorithm::kEs256, AsBytes(message), *sig2).ok());

  ASSERT_TRUE(again->DeleteKey("ca-one").ok());
  EXPECT_EQ(km->GetKey("ca-one").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(again->DeleteKey("ca-one").ok());
}

TEST_F(Pkcs11Test, P384KeysSignEs384) {
  auto km = Open();
  ASSERT_TRUE(km);
  auto signer = km->GenerateKey("p384", KeyType::kEcP384);
  ASSERT_TRUE(signer.ok()) << signer.status().message();
  auto sig = (*signer)->Sign(JwsAlgorithm::kEs384, AsBytes("m"));
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 96u);
  EXPECT_TRUE(JwsVerify((*signer)->public_key(), JwsAlgorithm::kEs384, AsBytes("m"), *sig).ok());
  EXPECT_TRUE(km->DeleteKey("p384").ok());
}

TEST_F(Pkcs11Test, RefusesDuplicatesRsaAndBadNames) {
  auto km = Open();
  ASSERT_TRUE(km);
  ASSERT_TRUE(km->GenerateKey("dup", KeyType::kEcP256).ok());
  EXPECT_EQ(km->GenerateKey("dup", KeyType::kEcP256).status().code(), StatusCode::kAlreadyExists);
  auto rsa = km->GenerateKey("rsa", KeyType::kRsa2048);
  ASSERT_FALSE(rsa.ok());
  EXPECT_THAT(rsa.status().message(), HasSubstr("ec-p256"));
  EXPECT_FALSE(km->GenerateKey("../x", KeyType::kEcP256).ok());
  EXPECT_EQ(km->GetKey("never-made").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(km->DeleteKey("dup").ok());
}

TEST_F(Pkcs11Test, ClearErrorsForWrongPinTokenAndModule) {
  auto wrong_pin = NewPkcs11KeyManager({kModule, kLabel, Pin("0000")});
  ASSERT_FALSE(wrong_pin.ok());
  EXPECT_EQ(wrong_pin.status().code(), StatusCode::kPermissionDenied);
  EXPECT_THAT(wrong_pin.status().message(), HasSubstr("CKR_PIN_INCORRECT"));

  auto no_token = NewPkcs11KeyManager({kModule, "absent", Pin()});
  ASSERT_FALSE(no_token.ok());
  EXPECT_THAT(no_token.status().message(), HasSubstr("\"ward-unit\""));

  auto no_module = NewPkcs11KeyManager({"/nonexistent/module.so", kLabel, Pin()});
  ASSERT_FALSE(no_module.ok());
  EXPECT_THAT(no_module.status().message(), HasSubstr("cannot load PKCS#11 module"));

  EXPECT_FALSE(NewPkcs11KeyManager({kModule, kLabel, SecureBytes()}).ok());
}

TEST_F(Pkcs11Test, TheCaRunsOnTokenKeys) {
  auto km = Open();
  ASSERT_TRUE(km);
  auto store = store::OpenSqliteStore(*dir_ + "/ca.db");
  ASSERT_TRUE(store.ok());
  const int64_t now = UnixNow();
  CaConfig config{.trust_domain = TrustDomain::Parse("example.org").value()};
  auto ca = CertificateAuthority::Open(config, *km, **store, now);
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  auto workload = PrivateKey::Generate(KeyType::kEcP256).value();
  const SpiffeId id = SpiffeId::Parse("spiffe://example.org/hsm").value();
  auto svid = (*ca)->SignX509Svid(id, workload.public_key(), 600, {}, now);
  ASSERT_TRUE(svid.ok()) << svid.status().message();
  BundleSet bundles;
  bundles.Put((*ca)->Bundle());
  EXPECT_TRUE(VerifyX509Svid(svid->chain, bundles, now).ok());
  auto jwt = (*ca)->MintJwtSvid(id, {"db"}, 60, now);
  ASSERT_TRUE(jwt.ok()) << jwt.status().message();
  EXPECT_TRUE(ValidateJwtSvid(jwt->minted.token, bundles, "db", now).ok());
}

TEST(Pkcs11PinTest, PinComesFromAPrivateFileOrTheEnvironment) {
  char tmpl[] = "/tmp/ward-pin-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string path = dir + "/pin";
  std::ofstream(path) << "  1234\n";
  ::chmod(path.c_str(), 0644);
  auto open = LoadPin(path, "WARD_TEST_PIN_UNSET");
  ASSERT_FALSE(open.ok());
  EXPECT_THAT(open.status().message(), HasSubstr("chmod 600"));
  ::chmod(path.c_str(), 0600);
  auto pin = LoadPin(path, "WARD_TEST_PIN_UNSET");
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(AsString(pin->view()), "1234");
  setenv("WARD_TEST_PIN", "5678", 1);
  EXPECT_EQ(AsString(LoadPin("", "WARD_TEST_PIN")->view()), "5678");
  EXPECT_FALSE(LoadPin("", "WARD_TEST_PIN_UNSET").ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ward::ca

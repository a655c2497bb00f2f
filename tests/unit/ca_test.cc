#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "ca/authority.h"
#include "ca/key_manager.h"
#include "store/sqlite_store.h"

namespace ward::ca {
namespace {

using ::testing::HasSubstr;

SecureBytes TestKek(uint8_t fill = 7) {
  SecureBytes k(32);
  for (size_t i = 0; i < 32; ++i) k.data()[i] = fill;
  return k;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/ward-ca-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(KeyManagerTest, MemoryGeneratesGetsAndDeletes) {
  auto km = NewMemoryKeyManager();
  auto k = km->GenerateKey("k1", KeyType::kEcP256);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(km->GenerateKey("k1", KeyType::kEcP256).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE((*km->GetKey("k1"))->public_key().Equals((*k)->public_key()));
  ASSERT_TRUE(km->DeleteKey("k1").ok());
  EXPECT_EQ(km->GetKey("k1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(km->GenerateKey("../escape", KeyType::kEcP256).ok());
}

TEST(KeyManagerTest, DiskKeysAreSealedAndSurviveRestart) {
  TempDir dir;
  const std::string keys = dir.path() + "/keys";
  PublicKey pub = [&] {
    auto km = NewDiskKeyManager(keys, TestKek());
    EXPECT_TRUE(km.ok()) << km.status().message();
    return (*(*km)->GenerateKey("ca-1", KeyType::kEcP256))->public_key();
  }();
  struct stat st {};
  ASSERT_EQ(stat((keys + "/ca-1.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(keys.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  // No PKCS#8 structure or PEM text in the clear.
  std::ifstream in(keys + "/ca-1.key", std::ios::binary);
  const std::string sealed((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(sealed.substr(0, 8), "WARDKEY1");
  EXPECT_EQ(sealed.find("PRIVATE"), std::string::npos);

  auto again = NewDiskKeyManager(keys, TestKek());
  ASSERT_TRUE(again.ok());
  auto loaded = (*again)->GetKey("ca-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  EXPECT_TRUE((*loaded)->public_key().Equals(pub));

  auto wrong = NewDiskKeyManager(keys, TestKek(9));
  EXPECT_EQ((*wrong)->GetKey("ca-1").status().code(), StatusCode::kPermissionDenied);
  // The key ID is authenticated: a file renamed to another key's name does not open.
  std::filesystem::copy_file(keys + "/ca-1.key", keys + "/ca-2.key");
  EXPECT_EQ((*again)->GetKey("ca-2").status().code(), StatusCode::kPermissionDenied);
  ASSERT_TRUE((*again)->DeleteKey("ca-1").ok());
  EXPECT_FALSE(std::filesystem::exists(keys + "/ca-1.key"));
}

TEST(KeyManagerTest, DiskRefusesOpenDirectories) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  auto km = NewDiskKeyManager(dir.path(), TestKek());
  ASSERT_FALSE(km.ok());
  EXPECT_THAT(km.status().message(), HasSubstr("chmod 700"));
}

TEST(KeyManagerTest, LoadsKekFromPrivateFileOrEnvironment) {
  TempDir dir;
  const std::string path = dir.path() + "/kek";
  std::ofstream(path) << std::string(64, 'a') << "\n";
  ::chmod(path.c_str(), 0644);
  auto open_file = LoadKek(path, "UNUSED");
  ASSERT_FALSE(open_file.ok());
  EXPECT_THAT(open_file.status().message(), HasSubstr("chmod 600"));
  ::chmod(path.c_str(), 0600);
  auto kek = LoadKek(path, "UNUSED");
  ASSERT_TRUE(kek.ok()) << kek.status().message();
  EXPECT_EQ(kek->size(), 32u);
  EXPECT_EQ(kek->data()[0], 0xaa);
  std::ofstream(path) << "not hex";
  EXPECT_FALSE(LoadKek(path, "UNUSED").ok());
  ::setenv("WARD_TEST_KEK", std::string(64, '0').c_str(), 1);
  EXPECT_TRUE(LoadKek("", "WARD_TEST_KEK").ok());
  ::unsetenv("WARD_TEST_KEK");
  EXPECT_FALSE(LoadKek("", "WARD_TEST_KEK").ok());
}

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.path() + "/ward.db";
    store_ = std::move(store::OpenSqliteStore(db_)).value();
    keys_ = NewMemoryKeyManager();
  }
  CaConfig Config() {
    CaConfig c{.trust_domain = TrustDomain::Parse("example.org").value()};
    return c;
  }
  std::unique_ptr<CertificateAuthority> OpenCa(const CaConfig& config, int64_t now,
                                               KeyManager* keys = nullptr) {
    auto ca = CertificateAuthority::Open(config, keys ? *keys : *keys_, *store_, now);
    EXPECT_TRUE(ca.ok()) << ca.status().message();
    return std::move(ca).value();
  }
  static BundleSet Set(const TrustBundle& b) {
    BundleSet s;
    s.Put(b);
    return s;
  }

  TempDir dir_;
  std::string db_;
  std::unique_ptr<store::DataStore> store_;
  std::unique_ptr<KeyManager> keys_;
  const SpiffeId id_ = SpiffeId::Parse("spiffe://example.org/web").value();
  const PrivateKey workload_key_ = PrivateKey::Generate(KeyType::kEcP256).value();
};

TEST_F(CaTest, StartsWithActiveAuthoritiesAndSigns) {
  const int64_t now = 1800000000;
  auto ca = OpenCa(Config(), now);
  ASSERT_EQ(ca->Authorities(AuthorityKind::kX509).size(), 1u);
  EXPECT_EQ(ca->Authorities(AuthorityKind::kX509)[0].state, AuthorityState::kActive);
  ASSERT_EQ(ca->Authorities(AuthorityKind::kJwt).size(), 1u);
  const TrustBundle bundle = ca->Bundle();
  EXPECT_EQ(bundle.x509_authorities().size(), 1u);
  EXPECT_EQ(bundle.jwt_authorities().size(), 1u);
  EXPECT_EQ(bundle.refresh_hint_seconds(), 300);

  auto svid = ca->SignX509Svid(id_, workload_key_.public_key(), 600, {"web"}, now);
  ASSERT_TRUE(svid.ok()) << svid.status().message();
  EXPECT_EQ(svid->leaf.not_after(), now + 600);
  auto verified = VerifyX509Svid(svid->chain, Set(bundle), now);
  ASSERT_TRUE(verified.ok()) << verified.status().message();
  EXPECT_EQ(verified->id, id_);

  auto jwt = ca->MintJwtSvid(id_, {"db"}, 0, now);
  ASSERT_TRUE(jwt.ok());
  auto validated = ValidateJwtSvid(jwt->minted.token, Set(bundle), "db", now);
  ASSERT_TRUE(validated.ok()) << validated.status().message();
  EXPECT_EQ(validated->expires_at, now + 900);  // default JWT-SVID lifetime

  // TTLs are capped, identities outside the trust domain refused.
  EXPECT_EQ(ca->SignX509Svid(id_, workload_key_.public_key(), 999999, {}, now)->leaf.not_after(),
            now + 3600);
  EXPECT_FALSE(ca->SignX509Svid(SpiffeId::Parse("spiffe://other.org/x").value(),
                                workload_key_.public_key(), 60, {}, now)
                   .ok());
  // The stored bundle is the CA's bundle.
  auto stored = store_->GetBundle("example.org");
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->sequence, *bundle.sequence());
}

// The rotation property: over several rotation cycles, every credential issued stays valid
// against the then-current bundle until it expires, and every authority was published at least
// `grace` before it signed anything.
TEST_F(CaTest, ScheduledRotationNeverBreaksValidation) {
  CaConfig config = Config();
  config.x509_ca_rotation = 120;
  config.key_rotation = 240;
  config.grace = 20;
  config.max_x509_svid_ttl = 60;
  config.max_jwt_svid_ttl = 30;
  const int64_t start = 1800000000;
  auto ca = OpenCa(config, start);

  struct Issued {
    std::vector<Certificate> chain;
    std::string token;
    int64_t x509_expiry, jwt_expiry;
  };
  std::vector<Issued> issued;
  std::map<std::string, int64_t> first_published;  // authority id -> first time in the bundle
  std::set<std::string> x509_keys, jwt_ids, signing_x509_ids;
  // The first authorities sign at once: there was nothing before them to be trusted.
  const std::string initial_x509 = ca->Authorities(AuthorityKind::kX509)[0].id;
  const std::string initial_jwt = ca->Authorities(AuthorityKind::kJwt)[0].id;
  for (int64_t now = start; now < start + 1000; now += 2) {
    ASSERT_TRUE(ca->Tick(now).ok());
    for (const auto& a : ca->Authorities(AuthorityKind::kX509)) {
      first_published.emplace("x509:" + a.id, now);
      x509_keys.insert(a.key_id);
    }
    for (const auto& a : ca->Authorities(AuthorityKind::kJwt)) {
      first_published.emplace("jwt:" + a.id, now);
      jwt_ids.insert(a.id);
    }
    auto svid = ca->SignX509Svid(id_, workload_key_.public_key(), 60, {}, now);
    auto jwt = ca->MintJwtSvid(id_, {"db"}, 30, now);
    ASSERT_TRUE(svid.ok() && jwt.ok());
    signing_x509_ids.insert(svid->authority_id);
    // A successor signs only after it has been published for the grace period.
    if (svid->authority_id != initial_x509) {
      ASSERT_GE(now - first_published["x509:" + svid->authority_id], config.grace)
          << "x509 authority " << svid->authority_id << " signed too early at +" << now - start;
    }
    if (jwt->authority_id != initial_jwt) {
      ASSERT_GE(now - first_published["jwt:" + jwt->authority_id], config.grace)
          << "jwt authority " << jwt->authority_id << " signed too early at +" << now - start;
    }
    issued.push_back({svid->chain, jwt->minted.token, svid->leaf.not_after(), now + 30});
    const BundleSet bundles = Set(ca->Bundle());
    for (const auto& i : issued) {
      if (now < i.x509_expiry) {
        auto v = VerifyX509Svid(i.chain, bundles, now);
        ASSERT_TRUE(v.ok()) << "X.509-SVID rejected at +" << now - start << ": "
                            << v.status().message();
      }
      if (now < i.jwt_expiry) {
        auto v = ValidateJwtSvid(i.token, bundles, "db", now, 0);
        ASSERT_TRUE(v.ok()) << "JWT-SVID rejected at +" << now - start << ": "
                            << v.status().message();
      }
    }
    std::erase_if(issued,
                  [&](const Issued& i) { return now >= i.x509_expiry && now >= i.jwt_expiry; });
  }
  // About 1000/120 certificate rotations on about 1000/240 keys; retired ones were pruned.
  EXPECT_GE(signing_x509_ids.size(), 8u);
  EXPECT_GE(x509_keys.size(), 4u);
  EXPECT_LT(x509_keys.size(), signing_x509_ids.size());  // keys outlive certificates
  EXPECT_GE(jwt_ids.size(), 4u);
  EXPECT_LE(ca->Authorities(AuthorityKind::kX509).size(), 3u);
}

TEST_F(CaTest, ResumesTheSameAuthoritiesAfterRestartWithDiskKeys) {
  auto disk = std::move(NewDiskKeyManager(dir_.path() + "/keys", TestKek())).value();
  const int64_t now = 1800000000;
  std::string x509_id, jwt_id;
  {
    auto ca = OpenCa(Config(), now, disk.get());
    x509_id = ca->Authorities(AuthorityKind::kX509)[0].id;
    jwt_id = ca->Authorities(AuthorityKind::kJwt)[0].id;
  }
  auto disk2 = std::move(NewDiskKeyManager(dir_.path() + "/keys", TestKek())).value();
  auto ca = OpenCa(Config(), now + 60, disk2.get());
  ASSERT_EQ(ca->Authorities(AuthorityKind::kX509).size(), 1u);
  EXPECT_EQ(ca->Authorities(AuthorityKind::kX509)[0].id, x509_id);
  EXPECT_EQ(ca->Authorities(AuthorityKind::kJwt)[0].id, jwt_id);
  EXPECT_TRUE(ca->SignX509Svid(id_, workload_key_.public_key(), 60, {}, now + 60).ok());
}

TEST_F(CaTest, MemoryKeysLostOnRestartRetireOldAuthoritiesButKeepThemTrusted) {
  const int64_t now = 1800000000;
  Result<IssuedX509Svid> old_svid = InvalidArgument("unset");
  {
    auto ca = OpenCa(Config(), now);
    old_svid = ca->SignX509Svid(id_, workload_key_.public_key(), 600, {}, now);
  }
  auto fresh_keys = NewMemoryKeyManager();
  auto ca = OpenCa(Config(), now + 10, fresh_keys.get());
  const auto x509 = ca->Authorities(AuthorityKind::kX509);
  ASSERT_EQ(x509.size(), 2u);
  EXPECT_EQ(x509[0].state, AuthorityState::kRetired);
  EXPECT_EQ(x509[1].state, AuthorityState::kActive);
  EXPECT_TRUE(VerifyX509Svid(old_svid->chain, Set(ca->Bundle()), now + 20).ok());
}

TEST_F(CaTest, ForcedRotationTaintAndRevoke) {
  const int64_t now = 1800000000;
  auto ca = OpenCa(Config(), now);
  const std::string first = ca->Authorities(AuthorityKind::kX509)[0].id;
  EXPECT_THAT(ca->Activate(AuthorityKind::kX509, now).status().message(), HasSubstr("prepare"));
  EXPECT_THAT(ca->Taint(AuthorityKind::kX509, first, now).status().message(),
              HasSubstr("only a retired"));
  auto prepared = ca->Prepare(AuthorityKind::kX509, now);
  ASSERT_TRUE(prepared.ok());
  EXPECT_EQ(prepared->state, AuthorityState::kPrepared);
  EXPECT_EQ(ca->Bundle().x509_authorities().size(), 2u);  // published before it signs
  EXPECT_FALSE(ca->Prepare(AuthorityKind::kX509, now).ok());
  auto active = ca->Activate(AuthorityKind::kX509, now + 1);
  ASSERT_TRUE(active.ok());
  EXPECT_EQ(active->id, prepared->id);
  EXPECT_EQ(ca->SignX509Svid(id_, workload_key_.public_key(), 60, {}, now + 1)->authority_id,
            prepared->id);
  EXPECT_THAT(ca->Revoke(AuthorityKind::kX509, first, now).status().message(), HasSubstr("taint"));
  ASSERT_TRUE(ca->Taint(AuthorityKind::kX509, first, now + 2).ok());
  EXPECT_TRUE(ca->Authorities(AuthorityKind::kX509)[0].tainted);
  const uint64_t seq_before = *ca->Bundle().sequence();
  auto revoked = ca->Revoke(AuthorityKind::kX509, first, now + 3);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(ca->Bundle().x509_authorities().size(), 1u);
  EXPECT_GT(*ca->Bundle().sequence(), seq_before);
  EXPECT_EQ(ca->Revoke(AuthorityKind::kX509, "nope", now).status().code(), StatusCode::kNotFound);

  // The same flow for JWT authorities.
  const std::string jwt_first = ca->Authorities(AuthorityKind::kJwt)[0].id;
  ASSERT_TRUE(ca->Prepare(AuthorityKind::kJwt, now).ok());
  ASSERT_TRUE(ca->Activate(AuthorityKind::kJwt, now).ok());
  ASSERT_TRUE(ca->Taint(AuthorityKind::kJwt, jwt_first, now).ok());
  ASSERT_TRUE(ca->Revoke(AuthorityKind::kJwt, jwt_first, now).ok());
  EXPECT_EQ(ca->Bundle().FindJwtAuthority(jwt_first), nullptr);
}

// The published SPIFFE JSON is made once per change; it must follow every change of the bundle.
TEST_F(CaTest, PublishedJsonFollowsTheBundle) {
  const int64_t now = 1800000000;
  auto ca = OpenCa(Config(), now);
  const auto expect_in_step = [&](const char* when) {
    const CertificateAuthority::PublishedBundle published = ca->Published();
    ASSERT_NE(published.bundle, nullptr) << when;
    ASSERT_NE(published.spiffe_json, nullptr) << when;
    EXPECT_EQ(*published.spiffe_json, ca->Bundle().ToSpiffeJson()) << when;
    EXPECT_EQ(*published.spiffe_json, published.bundle->ToSpiffeJson()) << when;
    EXPECT_EQ(published.bundle->sequence(), ca->Bundle().sequence()) << when;
    auto stored = store_->GetBundle("example.org");
    ASSERT_TRUE(stored.ok()) << when;
    EXPECT_EQ(stored->spiffe_json, *published.spiffe_json) << when;
  };
  expect_in_step("opened");
  const std::string before = *ca->Published().spiffe_json;
  ASSERT_TRUE(ca->Prepare(AuthorityKind::kJwt, now).ok());
  expect_in_step("JWT authority prepared");
  EXPECT_NE(*ca->Published().spiffe_json, before);
  ASSERT_TRUE(ca->Prepare(AuthorityKind::kX509, now).ok());
  ASSERT_TRUE(ca->Activate(AuthorityKind::kX509, now + 1).ok());
  expect_in_step("X.509 authority rotated");
}

}  // namespace
}  // namespace ward::ca

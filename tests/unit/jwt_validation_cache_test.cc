#include "agent/jwt_validation_cache.h"

#include <gtest/gtest.h>

namespace ward::agent {
namespace {

std::shared_ptr<const TrustBundle> Bundle(const std::string& td) {
  return std::make_shared<const TrustBundle>(
      TrustBundle::Create(TrustDomain::Parse(td).value(), {}, {}).value());
}

ValidatedJwtSvid Validated(const std::string& id, int64_t expires_at) {
  return {SpiffeId::Parse(id).value(), {"db", "api"}, expires_at, "k1", "{}"};
}

class JwtValidationCacheTest : public ::testing::Test {
 protected:
  std::shared_ptr<const TrustBundle> own_ = Bundle("example.org");
  JwtValidationCache::CurrentBundle current_ = [this](std::string_view td) {
    return td == "example.org" ? own_ : nullptr;
  };
};

TEST_F(JwtValidationCacheTest, AnswersOnlyWhileTheTokenAndItsBundleHold) {
  JwtValidationCache cache(8);
  const auto digest = JwtValidationCache::Hash("token-a");
  EXPECT_FALSE(cache.Find(digest, "db", current_, 100).has_value());
  cache.Insert(digest, Validated("spiffe://example.org/web", 200), own_);
  auto hit = cache.Find(digest, "db", current_, 100);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->id.str(), "spiffe://example.org/web");
  // Another audience the token names is fine; one it does not name is not answered here.
  EXPECT_TRUE(cache.Find(digest, "api", current_, 100).has_value());
  EXPECT_FALSE(cache.Find(digest, "other", current_, 100).has_value());
  // A different token (one byte apart) misses.
  EXPECT_FALSE(cache.Find(JwtValidationCache::Hash("token-b"), "db", current_, 100).has_value());
  // Never at or past exp: the full validation decides then.
  EXPECT_FALSE(cache.Find(digest, "db", current_, 200).has_value());
  EXPECT_EQ(cache.size(), 0u);
}

TEST_F(JwtValidationCacheTest, ABundleChangeForgetsWhatTheOldBundleVerified) {
  JwtValidationCache cache(8);
  const auto digest = JwtValidationCache::Hash("token-a");
  cache.Insert(digest, Validated("spiffe://example.org/web", 200), own_);
  own_ = Bundle("example.org");  // rotated: same trust domain, new bundle
  EXPECT_FALSE(cache.Find(digest, "db", current_, 100).has_value());
  // A token from a trust domain no longer trusted misses too.
  cache.Insert(digest, Validated("spiffe://other.org/web", 200), Bundle("other.org"));
  EXPECT_FALSE(cache.Find(digest, "db", current_, 100).has_value());
}

TEST_F(JwtValidationCacheTest, IsBoundedAndEvictsTheLeastRecentlyUsed) {
  JwtValidationCache cache(2);
  const auto a = JwtValidationCache::Hash("a"), b = JwtValidationCache::Hash("b"),
             c = JwtValidationCache::Hash("c");
  cache.Insert(a, Validated("spiffe://example.org/a", 200), own_);
  cache.Insert(b, Validated("spiffe://example.org/b", 200), own_);
  ASSERT_TRUE(cache.Find(a, "db", current_, 100).has_value());  // a is now the most recent
  cache.Insert(c, Validated("spiffe://example.org/c", 200), own_);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_TRUE(cache.Find(a, "db", current_, 100).has_value());
  EXPECT_FALSE(cache.Find(b, "db", current_, 100).has_value());
  EXPECT_TRUE(cache.Find(c, "db", current_, 100).has_value());
  JwtValidationCache off(0);
  off.Insert(a, Validated("spiffe://example.org/a", 200), own_);
  EXPECT_EQ(off.size(), 0u);
}

}  // namespace
}  // namespace ward::agent

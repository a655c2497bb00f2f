#include "server/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace ward::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RateLimiterTest, AllowsABurstThenTheRate) {
  RateLimiter limiter(/*rate_per_second=*/10, /*burst=*/3);
  const auto t0 = RateLimiter::Clock::time_point{} + seconds(100);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", t0)) << i;
  EXPECT_FALSE(limiter.Allow("a", t0));
  EXPECT_FALSE(limiter.Allow("a", t0 + milliseconds(50)));  // half a token back
  EXPECT_TRUE(limiter.Allow("a", t0 + milliseconds(100)));  // one token back
  EXPECT_FALSE(limiter.Allow("a", t0 + milliseconds(100)));
  // Refilling stops at the burst, however long the pause.
  const auto later = t0 + seconds(60);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Allow("a", later)) << i;
  EXPECT_FALSE(limiter.Allow("a", later));
}

TEST(RateLimiterTest, KeysHaveTheirOwnBuckets) {
  RateLimiter limiter(1, 1);
  const auto t0 = RateLimiter::Clock::time_point{} + seconds(100);
  EXPECT_TRUE(limiter.Allow("spiffe://example.org/ward/agent/a", t0));
  EXPECT_FALSE(limiter.Allow("spiffe://example.org/ward/agent/a", t0));
  EXPECT_TRUE(limiter.Allow("spiffe://example.org/ward/agent/b", t0));
}

TEST(RateLimiterTest, ATimeGoingBackwardsGivesNothingBack) {
  RateLimiter limiter(1, 1);
  const auto t0 = RateLimiter::Clock::time_point{} + seconds(100);
  EXPECT_TRUE(limiter.Allow("a", t0));
  EXPECT_FALSE(limiter.Allow("a", t0 - seconds(50)));
  EXPECT_FALSE(limiter.Allow("a", t0));
}

TEST(RateLimiterTest, RefilledBucketsAreDroppedAsTheTableGrows) {
  RateLimiter limiter(/*rate_per_second=*/1, /*burst=*/2);
  const auto t0 = RateLimiter::Clock::time_point{} + seconds(100);
  // 1024 keys, each one token down, "new0" two; the "new*" ones are fresh when the table is pruned.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limiter.Allow("old" + std::to_string(i), t0));
  const auto t1 = t0 + seconds(1);
  for (int i = 0; i < 23; ++i) ASSERT_TRUE(limiter.Allow("new" + std::to_string(i), t1));
  ASSERT_TRUE(limiter.Allow("new0", t1));  // "new0" is now empty
  ASSERT_TRUE(limiter.Allow("new23", t1));
  EXPECT_EQ(limiter.size(), 1024u);
  // At 1024 buckets the next call prunes: "old*" refilled at t0+1 s, the "new*" ones have not.
  ASSERT_TRUE(limiter.Allow("trigger", t1));
  EXPECT_EQ(limiter.size(), 25u);  // 24 "new*" and "trigger"
  // A pruned key starts again from a full bucket; a kept one kept its state.
  EXPECT_FALSE(limiter.Allow("new0", t1));
  EXPECT_TRUE(limiter.Allow("old0", t1));
  EXPECT_TRUE(limiter.Allow("old0", t1));
  EXPECT_FALSE(limiter.Allow("old0", t1));
}

}  // namespace
}  // namespace ward::server

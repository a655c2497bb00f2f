#include "agent/connection_quota.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace ward::agent {
namespace {

TEST(ConnectionQuotaTest, EachUserHasItsOwnShare) {
  ConnectionQuota quota(3);
  std::vector<std::shared_ptr<void>> held;
  for (int i = 0; i < 3; ++i) {
    auto slot = quota.Acquire(1000);
    ASSERT_TRUE(slot.ok()) << i;
    held.push_back(std::move(slot).value());
  }
  auto refused = quota.Acquire(1000);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("1000"), std::string::npos);
  // Another user is not affected.
  EXPECT_TRUE(quota.Acquire(1001).ok());
  EXPECT_EQ(quota.open(1000), 3u);
}

TEST(ConnectionQuotaTest, ASlotComesBackWhenItsLastHandleGoes) {
  ConnectionQuota quota(1);
  auto first = quota.Acquire(0);
  ASSERT_TRUE(first.ok());
  std::shared_ptr<void> copy = *first;  // a connection's calls share its handle
  EXPECT_FALSE(quota.Acquire(0).ok());
  first = Status(StatusCode::kInternal, "dropped");
  EXPECT_FALSE(quota.Acquire(0).ok());  // the copy still holds it
  copy.reset();
  EXPECT_EQ(quota.open(0), 0u);
  EXPECT_TRUE(quota.Acquire(0).ok());
}

TEST(ConnectionQuotaTest, HandlesMayOutliveTheQuota) {
  std::shared_ptr<void> slot;
  {
    ConnectionQuota quota(2);
    auto acquired = quota.Acquire(42);
    ASSERT_TRUE(acquired.ok());
    slot = std::move(acquired).value();
  }
  slot.reset();  // no crash: the state lives as long as a handle
}

}  // namespace
}  // namespace ward::agent

// SPIFFE-ID.md §2, one expectation per rule (reference/spiffe.md §1.1).
#include "core/spiffe_id.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ward {
namespace {

using ::testing::HasSubstr;

std::string ErrorOf(std::string_view text) {
  auto id = SpiffeId::Parse(text);
  EXPECT_FALSE(id.ok()) << text << " was accepted";
  return id.ok() ? "" : id.status().message();
}

TEST(SpiffeIdTest, AcceptsValidIds) {
  for (const char* text : {"spiffe://example.org", "spiffe://example.org/workload",
                           "spiffe://a/b/c", "spiffe://my-td_1.example/ns/prod/sa/Web.Server-1_x",
                           "spiffe://1.2.3.4/path", "spiffe://td/.path", "spiffe://td/..path",
                           "spiffe://td/...", "spiffe://td/a.b/c..d", "spiffe://x/UPPER/Case"}) {
    auto id = SpiffeId::Parse(text);
    ASSERT_TRUE(id.ok()) << text << ": " << id.status().message();
    EXPECT_EQ(id->str(), text);
  }
}

TEST(SpiffeIdTest, SplitsTrustDomainAndPath) {
  auto id = SpiffeId::Parse("spiffe://example.org/ns/prod");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->trust_domain_name(), "example.org");
  EXPECT_EQ(id->path(), "/ns/prod");
  EXPECT_FALSE(id->IsRoot());
  EXPECT_EQ(id->trust_domain().IdString(), "spiffe://example.org");
  auto root = SpiffeId::Parse("spiffe://example.org");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->IsRoot());
  EXPECT_EQ(root->path(), "");
}

TEST(SpiffeIdTest, RejectsEmpty) { EXPECT_THAT(ErrorOf(""), HasSubstr("empty")); }

TEST(SpiffeIdTest, RejectsWrongOrMissingScheme) {
  for (const char* text : {"example.org/a", "http://example.org/a", "spiffe:/example.org",
                           "spiffe:example.org", "://example.org", "spiffe//example.org"}) {
    EXPECT_THAT(ErrorOf(text), HasSubstr("scheme")) << text;
  }
}

TEST(SpiffeIdTest, RejectsUpperCaseSchemeWithoutFolding) {
  EXPECT_THAT(ErrorOf("SPIFFE://example.org/a"), HasSubstr("scheme"));
  EXPECT_THAT(ErrorOf("Spiffe://example.org/a"), HasSubstr("scheme"));
}

TEST(SpiffeIdTest, RejectsUpperCaseTrustDomainWithoutFolding) {
  EXPECT_THAT(ErrorOf("spiffe://Example.org/a"), HasSubstr("lower case"));
  EXPECT_THAT(ErrorOf("spiffe://EXAMPLE.ORG"), HasSubstr("lower case"));
}

TEST(SpiffeIdTest, RejectsMissingTrustDomain) {
  EXPECT_THAT(ErrorOf("spiffe://"), HasSubstr("trust domain is missing"));
  EXPECT_THAT(ErrorOf("spiffe:///path"), HasSubstr("trust domain is missing"));
}

TEST(SpiffeIdTest, RejectsUserinfoAndPort) {
  EXPECT_THAT(ErrorOf("spiffe://user@example.org/a"), HasSubstr("userinfo"));
  EXPECT_THAT(ErrorOf("spiffe://user:pw@example.org/a"), HasSubstr("port"));
  EXPECT_THAT(ErrorOf("spiffe://example.org:8443/a"), HasSubstr("port"));
}

TEST(SpiffeIdTest, RejectsQueryAndFragment) {
  EXPECT_THAT(ErrorOf("spiffe://example.org/a?x=1"), HasSubstr("query"));
  EXPECT_THAT(ErrorOf("spiffe://example.org?x=1"), HasSubstr("query"));
  EXPECT_THAT(ErrorOf("spiffe://example.org/a#frag"), HasSubstr("fragment"));
  EXPECT_THAT(ErrorOf("spiffe://example.org#frag"), HasSubstr("fragment"));
}

TEST(SpiffeIdTest, RejectsPercentEncoding) {
  EXPECT_THAT(ErrorOf("spiffe://example%2eorg/a"), HasSubstr("percent"));
  EXPECT_THAT(ErrorOf("spiffe://example.org/a%20b"), HasSubstr("percent"));
  EXPECT_THAT(ErrorOf("spiffe://example.org/%2F"), HasSubstr("percent"));
}

TEST(SpiffeIdTest, RejectsBadTrustDomainCharacters) {
  for (const char* text : {"spiffe://exa mple.org", "spiffe://[::1]/a", "spiffe://ex$ample.org",
                           "spiffe://ex~ample", "spiffe://ex+ample", "spiffe://ex!ample"}) {
    EXPECT_THAT(ErrorOf(text),
                ::testing::AnyOf(HasSubstr("trust domain characters"), HasSubstr("port")))
        << text;
  }
}

TEST(SpiffeIdTest, RejectsNonAsciiEverywhere) {
  EXPECT_THAT(ErrorOf("spiffe://ex\xc3\xa4mple.org/a"), HasSubstr("trust domain characters"));
  EXPECT_THAT(ErrorOf("spiffe://example.org/\xc3\xa4"), HasSubstr("path segment characters"));
  EXPECT_THAT(ErrorOf(std::string_view("spiffe://example.org/a\0b", 24)),
              HasSubstr("path segment characters"));
}

TEST(SpiffeIdTest, RejectsBadPathCharacters) {
  for (const char* text : {"spiffe://td/a b", "spiffe://td/a:b", "spiffe://td/a@b",
                           "spiffe://td/a~b", "spiffe://td/a+b", "spiffe://td/a*b",
                           "spiffe://td/a[b]", "spiffe://td/a'b", "spiffe://td/a\\b"}) {
    EXPECT_THAT(ErrorOf(text), HasSubstr("path segment characters")) << text;
  }
}

TEST(SpiffeIdTest, RejectsEmptySegments) {
  EXPECT_THAT(ErrorOf("spiffe://td//a"), HasSubstr("empty segments"));
  EXPECT_THAT(ErrorOf("spiffe://td/a//b"), HasSubstr("empty segments"));
}

TEST(SpiffeIdTest, RejectsDotSegments) {
  for (const char* text : {"spiffe://td/.", "spiffe://td/..", "spiffe://td/./a",
                           "spiffe://td/a/../b", "spiffe://td/a/."}) {
    EXPECT_THAT(ErrorOf(text), HasSubstr("dot segments")) << text;
  }
}

TEST(SpiffeIdTest, RejectsTrailingSlash) {
  EXPECT_THAT(ErrorOf("spiffe://td/"), HasSubstr("trailing slash"));
  EXPECT_THAT(ErrorOf("spiffe://td/a/"), HasSubstr("trailing slash"));
}

TEST(SpiffeIdTest, AcceptsIdsUpTo2048BytesAndRefusesLonger) {
  const std::string prefix = "spiffe://example.org/";
  const std::string at_limit = prefix + std::string(2048 - prefix.size(), 'a');
  ASSERT_EQ(at_limit.size(), 2048u);
  EXPECT_TRUE(SpiffeId::Parse(at_limit).ok());
  EXPECT_THAT(ErrorOf(at_limit + "a"), HasSubstr("2048"));
}

TEST(SpiffeIdTest, AcceptsTrustDomainsUpTo255BytesAndRefusesLonger) {
  const std::string td255(255, 'a');
  EXPECT_TRUE(SpiffeId::Parse("spiffe://" + td255 + "/x").ok());
  EXPECT_THAT(ErrorOf("spiffe://" + td255 + "a/x"), HasSubstr("255"));
  EXPECT_TRUE(TrustDomain::Parse(td255).ok());
  EXPECT_FALSE(TrustDomain::Parse(td255 + "a").ok());
}

TEST(SpiffeIdTest, ComparesBytesExactly) {
  auto a = SpiffeId::Parse("spiffe://foo.test/A");
  auto b = SpiffeId::Parse("spiffe://foo.test/a");
  auto root = SpiffeId::Parse("spiffe://foo.test");
  ASSERT_TRUE(a.ok() && b.ok() && root.ok());
  EXPECT_NE(*a, *b);
  EXPECT_NE(*root, *a);
  auto foo = TrustDomain::Parse("foo.test");
  auto bar = TrustDomain::Parse("bar.test");
  ASSERT_TRUE(foo.ok() && bar.ok());
  EXPECT_TRUE(a->MemberOf(*foo));
  EXPECT_FALSE(a->MemberOf(*bar));
}

TEST(SpiffeIdTest, ErrorMessagesPointAtTheOffendingByte) {
  EXPECT_THAT(ErrorOf("spiffe://example.org/a b"), HasSubstr("offset 22"));
  EXPECT_THAT(ErrorOf("spiffe://exAmple.org"), HasSubstr("'A' at byte 11"));
}

TEST(TrustDomainTest, ParsesNamesAndIdForm) {
  auto td = TrustDomain::Parse("example.org");
  ASSERT_TRUE(td.ok());
  EXPECT_EQ(td->name(), "example.org");
  EXPECT_EQ(td->IdString(), "spiffe://example.org");
  auto from_id = TrustDomain::FromNameOrId("spiffe://example.org");
  ASSERT_TRUE(from_id.ok());
  EXPECT_EQ(*from_id, *td);
  EXPECT_FALSE(TrustDomain::FromNameOrId("spiffe://example.org/path").ok());
  EXPECT_FALSE(TrustDomain::Parse("spiffe://example.org").ok());
  EXPECT_FALSE(TrustDomain::Parse("").ok());
  EXPECT_FALSE(TrustDomain::Parse("Example.org").ok());
  EXPECT_FALSE(TrustDomain::Parse("example.org:80").ok());
}

TEST(SpiffeIdTest, BuildsFromTrustDomainAndPath) {
  auto td = TrustDomain::Parse("example.org");
  ASSERT_TRUE(td.ok());
  auto id = SpiffeId::FromPath(*td, "/ward/agent/x");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->str(), "spiffe://example.org/ward/agent/x");
  EXPECT_EQ(id->trust_domain_name(), "example.org");
  EXPECT_FALSE(SpiffeId::FromPath(*td, "no-slash").ok());
  EXPECT_FALSE(SpiffeId::FromPath(*td, "/a/").ok());
  EXPECT_FALSE(SpiffeId::FromPath(*td, "/" + std::string(2048, 'a')).ok());
}

}  // namespace
}  // namespace ward

// SPIFFE_Trust_Domain_and_Bundle.md (reference/spiffe.md §4): bundle and bundle map formats.
#include "core/bundle.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/internal/json_strict.h"
#include "test_pki.h"

namespace ward {
namespace {

using nlohmann::json;
using testing::CaSpec;
using ::testing::HasSubstr;
using testing::MakeCert;
using testing::NewKey;

TrustDomain Td(std::string_view s) { return TrustDomain::Parse(s).value(); }

class BundleTest : public ::testing::Test {
 protected:
  BundleTest()
      : ca_key_(NewKey()),
        ca_(MakeCert(CaSpec("example.org"), ca_key_.public_key(), ca_key_, nullptr)),
        jwt_key_(NewKey()),
        rsa_key_(NewKey(KeyType::kRsa2048)) {}

  json X509Entry() {
    return {{"use", "x509-svid"}, {"kty", "EC"}, {"x5c", {Base64Encode(ca_.ToDer())}}};
  }
  json JwtEntry(const std::string& kid = "k1") {
    auto bundle = TrustBundle::Create(Td("example.org"), {}, {{kid, jwt_key_.public_key()}});
    return json::parse(bundle->ToSpiffeJson())["keys"][0];
  }
  Result<TrustBundle> Parse(const json& doc) {
    return TrustBundle::ParseSpiffeJson(Td("example.org"), doc.dump());
  }
  std::string Reject(const json& doc) {
    auto b = Parse(doc);
    EXPECT_FALSE(b.ok()) << "accepted: " << doc.dump();
    return b.ok() ? "" : b.status().message();
  }

  PrivateKey ca_key_;
  Certificate ca_;
  PrivateKey jwt_key_;
  PrivateKey rsa_key_;
};

TEST_F(BundleTest, SpiffeJsonRoundTrip) {
  auto bundle =
      TrustBundle::Create(Td("example.org"), {ca_},
                          {{"k1", jwt_key_.public_key()}, {"r1", rsa_key_.public_key()}}, 7, 300);
  ASSERT_TRUE(bundle.ok());
  const json doc = json::parse(bundle->ToSpiffeJson());
  EXPECT_EQ(doc["spiffe_sequence"], 7);
  EXPECT_EQ(doc["spiffe_refresh_hint"], 300);
  ASSERT_EQ(doc["keys"].size(), 3u);
  const json& x509 = doc["keys"][0];
  EXPECT_EQ(x509["use"], "x509-svid");
  EXPECT_FALSE(x509.contains("kid"));  // X509-SVID.md §6: kid MUST NOT be set
  EXPECT_EQ(x509["x5c"].size(), 1u);
  EXPECT_EQ(doc["keys"][1]["use"], "jwt-svid");
  EXPECT_EQ(doc["keys"][1]["kid"], "k1");
  EXPECT_EQ(doc["keys"][1]["crv"], "P-256");
  EXPECT_EQ(doc["keys"][2]["kty"], "RSA");

  auto back = Parse(doc);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->sequence(), 7u);
  EXPECT_EQ(back->refresh_hint_seconds(), 300);
  ASSERT_EQ(back->x509_authorities().size(), 1u);
  EXPECT_EQ(back->x509_authorities()[0].ToDer(), ca_.ToDer());
  ASSERT_NE(back->FindJwtAuthority("k1"), nullptr);
  EXPECT_TRUE(back->FindJwtAuthority("k1")->public_key.Equals(jwt_key_.public_key()));
  EXPECT_TRUE(back->FindJwtAuthority("r1")->public_key.Equals(rsa_key_.public_key()));
  EXPECT_EQ(back->FindJwtAuthority("nope"), nullptr);
}

TEST_F(BundleTest, JwksHasOnlyJwtKeysWithKidAndNoUse) {
  auto bundle = TrustBundle::Create(Td("example.org"), {ca_}, {{"k1", jwt_key_.public_key()}});
  const json jwks = json::parse(bundle->ToJwks());
  ASSERT_EQ(jwks["keys"].size(), 1u);
  EXPECT_EQ(jwks["keys"][0]["kid"], "k1");
  EXPECT_FALSE(jwks["keys"][0].contains("use"));
  EXPECT_FALSE(jwks.contains("spiffe_sequence"));
}

TEST_F(BundleTest, KeysMemberIsRequiredButMayBeEmpty) {
  EXPECT_THAT(Reject(json::object()), HasSubstr("no \"keys\""));
  EXPECT_THAT(Reject({{"keys", "x"}}), HasSubstr("must be an array"));
  auto empty = Parse({{"keys", json::array()}});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->x509_authorities().empty());
  EXPECT_TRUE(empty->jwt_authorities().empty());
}

TEST_F(BundleTest, SkipsUnknownUseAndKty) {
  json unknown_kty = JwtEntry("k9");
  unknown_kty["kty"] = "OKP";
  const json doc = {{"keys",
                     {X509Entry(),
                      JwtEntry(),
                      {{"kty", "EC"}, {"use", "wit-svid"}},
                      {{"kty", "EC"}, {"use", "sig"}},
                      {{"kty", "EC"}},
                      unknown_kty}}};
  auto b = Parse(doc);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->x509_authorities().size(), 1u);
  EXPECT_EQ(b->jwt_authorities().size(), 1u);
}

TEST_F(BundleTest, X509EntryRules) {
  json no_x5c = X509Entry();
  no_x5c.erase("x5c");
  json empty_x5c = X509Entry();
  empty_x5c["x5c"] = json::array();
  auto skipped = Parse({{"keys", {no_x5c, empty_x5c}}});
  ASSERT_TRUE(skipped.ok());
  EXPECT_TRUE(skipped->x509_authorities().empty());

  // Several certificates: the first is used and the rest ignored.
  PrivateKey k2 = NewKey();
  Certificate other = MakeCert(CaSpec("example.org"), k2.public_key(), k2, nullptr);
  json two = X509Entry();
  two["x5c"].push_back(Base64Encode(other.ToDer()));
  auto first = Parse({{"keys", {two}}});
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->x509_authorities().size(), 1u);
  EXPECT_EQ(first->x509_authorities()[0].ToDer(), ca_.ToDer());

  json bad_b64 = X509Entry();
  bad_b64["x5c"] = {"***"};
  EXPECT_THAT(Reject({{"keys", {bad_b64}}}), HasSubstr("base64"));
  json bad_der = X509Entry();
  bad_der["x5c"] = {Base64Encode(AsBytes("nope"))};
  EXPECT_THAT(Reject({{"keys", {bad_der}}}), HasSubstr("DER"));
  // Key parameters, when present, must describe the certificate's key.
  json mismatch = X509Entry();
  const json other_params = JwtEntry();
  for (const char* m : {"crv", "x", "y"}) mismatch[m] = other_params[m];
  EXPECT_THAT(Reject({{"keys", {mismatch}}}), HasSubstr("do not match"));
}

TEST_F(BundleTest, JwtEntryRules) {
  json no_kid = JwtEntry();
  no_kid.erase("kid");
  EXPECT_THAT(Reject({{"keys", {no_kid}}}), HasSubstr("kid"));
  json empty_kid = JwtEntry();
  empty_kid["kid"] = "";
  EXPECT_THAT(Reject({{"keys", {empty_kid}}}), HasSubstr("kid"));
  EXPECT_THAT(Reject({{"keys", {JwtEntry(), JwtEntry()}}}), HasSubstr("appears twice"));
  json short_x = JwtEntry();
  short_x["x"] = "AAAA";
  EXPECT_THAT(Reject({{"keys", {short_x}}}), HasSubstr("coordinates"));
  json off_curve = JwtEntry();
  off_curve["y"] = off_curve["x"];
  EXPECT_FALSE(Parse({{"keys", {off_curve}}}).ok());
  json bad_curve = JwtEntry();
  bad_curve["crv"] = "P-192";
  EXPECT_THAT(Reject({{"keys", {bad_curve}}}), HasSubstr("not supported"));
  json no_kty = JwtEntry();
  no_kty.erase("kty");
  EXPECT_THAT(Reject({{"keys", {no_kty}}}), HasSubstr("kty"));
  EXPECT_THAT(Reject({{"keys", {"str"}}}), HasSubstr("not a JSON object"));
}

TEST_F(BundleTest, SequenceAndRefreshHintTypes) {
  EXPECT_THAT(Reject({{"keys", json::array()}, {"spiffe_sequence", -1}}),
              HasSubstr("spiffe_sequence"));
  EXPECT_THAT(Reject({{"keys", json::array()}, {"spiffe_sequence", "1"}}),
              HasSubstr("spiffe_sequence"));
  EXPECT_THAT(Reject({{"keys", json::array()}, {"spiffe_sequence", 1.5}}),
              HasSubstr("spiffe_sequence"));
  EXPECT_THAT(Reject({{"keys", json::array()}, {"spiffe_refresh_hint", -5}}), HasSubstr("refresh"));
  auto big = Parse({{"keys", json::array()}, {"spiffe_sequence", UINT64_MAX}});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->sequence(), UINT64_MAX);
  auto extra = Parse({{"keys", json::array()}, {"something_else", true}});
  EXPECT_TRUE(extra.ok());  // other top-level members are allowed
}

TEST_F(BundleTest, BundleMapRoundTripAndRules) {
  BundleSet set;
  set.Put(TrustBundle::Create(Td("example.org"), {ca_}, {{"k1", jwt_key_.public_key()}}, 1, 60)
              .value());
  set.Put(TrustBundle::Create(Td("other.org"), {}, {{"k2", rsa_key_.public_key()}}).value());
  const json map = json::parse(set.ToBundleMapJson());
  ASSERT_TRUE(map["trust_domains"].contains("example.org"));
  EXPECT_FALSE(map["trust_domains"]["example.org"].contains("spiffe_refresh_hint"));
  auto back = BundleSet::ParseBundleMap(map.dump());
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->size(), 2u);
  EXPECT_NE(back->FindBundle("other.org")->FindJwtAuthority("k2"), nullptr);
  EXPECT_EQ(back->FindBundle("third.org"), nullptr);

  const std::string dup = R"({"trust_domains":{"a.org":{"keys":[]},"a.org":{"keys":[]}}})";
  EXPECT_THAT(BundleSet::ParseBundleMap(dup).status().message(),
              HasSubstr("duplicate key \"a.org\""));
  EXPECT_FALSE(
      BundleSet::ParseBundleMap(R"({"trust_domains":{"spiffe://a.org":{"keys":[]}}})").ok());
  EXPECT_FALSE(BundleSet::ParseBundleMap(R"({"trust_domains":{"A.org":{"keys":[]}}})").ok());
  EXPECT_FALSE(BundleSet::ParseBundleMap(R"({"trust_domains":[]})").ok());
  EXPECT_FALSE(BundleSet::ParseBundleMap(R"({})").ok());
  auto empty = BundleSet::ParseBundleMap(R"({"trust_domains":{}})");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0u);
}

TEST_F(BundleTest, PemAndDerBundles) {
  auto pem = TrustBundle::ParsePem(Td("example.org"), ca_.ToPem());
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(pem->ToDer(), ca_.ToDer());
  auto der = TrustBundle::ParseDer(Td("example.org"), ca_.ToDer());
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(der->ToPem(), ca_.ToPem());
}

TEST_F(BundleTest, ParseAnyBundleDetectsTheFormat) {
  const TrustDomain td = Td("example.org");
  auto bundle = TrustBundle::Create(td, {ca_}, {{"k1", jwt_key_.public_key()}}).value();
  BundleSet set;
  set.Put(bundle);
  for (const std::string& content : {ca_.ToPem(), std::string(AsString(ca_.ToDer())),
                                     bundle.ToSpiffeJson(), "  \n" + set.ToBundleMapJson()}) {
    auto parsed = ParseAnyBundle(content, &td);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    ASSERT_NE(parsed->FindBundle("example.org"), nullptr);
    EXPECT_EQ(parsed->FindBundle("example.org")->x509_authorities().size(), 1u);
  }
  // Only a bundle map names its own trust domain.
  EXPECT_TRUE(ParseAnyBundle(set.ToBundleMapJson(), nullptr).ok());
  EXPECT_THAT(ParseAnyBundle(ca_.ToPem(), nullptr).status().message(), HasSubstr("--trust-domain"));
  EXPECT_FALSE(ParseAnyBundle("", &td).ok());
  EXPECT_FALSE(ParseAnyBundle("hello", &td).ok());
  EXPECT_FALSE(ParseAnyBundle("{\"neither\":1}", &td).ok());
}

TEST(JsonStrictTest, RejectsDuplicatesAtAnyDepth) {
  EXPECT_TRUE(
      internal::ParseJsonStrict(R"({"a":{"b":1},"c":[{"b":2},{"b":3}]})", 1000, "doc").ok());
  EXPECT_FALSE(internal::ParseJsonStrict(R"({"a":1,"a":1})", 1000, "doc").ok());
  EXPECT_FALSE(internal::ParseJsonStrict(R"({"a":{"b":1,"b":2}})", 1000, "doc").ok());
  EXPECT_FALSE(internal::ParseJsonStrict(R"([{"x":1,"y":2,"x":3}])", 1000, "doc").ok());
  EXPECT_THAT(internal::ParseJsonStrict(R"({"":1,"":2})", 1000, "doc").status().message(),
              HasSubstr("duplicate key \"\""));
  // After a nested object closes, the outer object's next key is still checked.
  EXPECT_THAT(internal::ParseJsonStrict(R"({"a":{"b":{"c":1}},"d":2,"a":3})", 1000, "doc")
                  .status()
                  .message(),
              HasSubstr("duplicate key \"a\""));
  // The key is quoted safely in the message.
  EXPECT_THAT(internal::ParseJsonStrict(R"({"x\"\n":1,"x\"\n":2})", 1000, "doc").status().message(),
              HasSubstr(R"(duplicate key "x\"\n")"));
  // Escapes are resolved before keys are compared.
  EXPECT_THAT(internal::ParseJsonStrict(R"({"a":1,"\u0061":2})", 1000, "doc").status().message(),
              HasSubstr("duplicate key \"a\""));
}

TEST(JsonStrictTest, BuildsWhatNlohmannBuilds) {
  for (const char* text :
       {R"({"a":[1,-2,3.5,1e3,18446744073709551615,-9223372036854775808],"b":{"c":null}})",
        R"([true,false,"s\u00e9\n",[],{},[[{}]],{"x":[{"y":[]}]}])", R"("just a string")", "  42  ",
        "null", R"({"k":"v","j":{"k":"v"}})"}) {
    auto strict = internal::ParseJsonStrict(text, 1000, "doc");
    ASSERT_TRUE(strict.ok()) << text << ": " << strict.status().message();
    const auto plain = nlohmann::json::parse(text);
    EXPECT_EQ(*strict, plain) << text;
    EXPECT_EQ(strict->dump(), plain.dump()) << text;  // 1e3 stays a float, 42 an integer
  }
  EXPECT_THAT(internal::ParseJsonStrict("{\"a\":}", 1000, "doc").status().message(),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(internal::ParseJsonStrict("", 1000, "doc").status().message(),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(internal::ParseJsonStrict("[1e999]", 1000, "doc").status().message(),
              HasSubstr("not valid JSON"));
}

TEST(JsonStrictTest, BoundsSizeDepthAndEncoding) {
  EXPECT_THAT(internal::ParseJsonStrict("[1,2,3]", 3, "doc").status().message(),
              HasSubstr("limit"));
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  EXPECT_THAT(internal::ParseJsonStrict(deep, 1000, "doc").status().message(), HasSubstr("deeper"));
  // Exactly kMaxJsonDepth containers nest; one more does not, whether arrays or objects.
  const auto nested = [](size_t levels, const char* open, const char* close) {
    std::string text;
    for (size_t i = 0; i < levels; ++i) text += open;
    text += "1";
    for (size_t i = 0; i < levels; ++i) text += close;
    return text;
  };
  EXPECT_TRUE(internal::ParseJsonStrict(nested(internal::kMaxJsonDepth, "[", "]"), 1000, "d").ok());
  EXPECT_THAT(internal::ParseJsonStrict(nested(internal::kMaxJsonDepth + 1, "[", "]"), 1000, "d")
                  .status()
                  .message(),
              HasSubstr("deeper than 32"));
  EXPECT_TRUE(
      internal::ParseJsonStrict(nested(internal::kMaxJsonDepth, "{\"a\":", "}"), 1000, "d").ok());
  EXPECT_FALSE(
      internal::ParseJsonStrict(nested(internal::kMaxJsonDepth + 1, "{\"a\":", "}"), 1000, "d")
          .ok());
  // Empty containers count too.
  const std::string empty_deep =
      std::string(internal::kMaxJsonDepth + 1, '[') + std::string(internal::kMaxJsonDepth + 1, ']');
  EXPECT_FALSE(internal::ParseJsonStrict(empty_deep, 1000, "d").ok());
  EXPECT_TRUE(
      internal::ParseJsonStrict(empty_deep.substr(1, empty_deep.size() - 2), 1000, "d").ok());
  EXPECT_FALSE(internal::ParseJsonStrict("{\"a\":\"\xff\"}", 1000, "doc").ok());  // bad UTF-8
  EXPECT_FALSE(internal::ParseJsonStrict("{\"a\":1} trailing", 1000, "doc").ok());
  EXPECT_FALSE(internal::ParseJsonStrict("/* c */ {}", 1000, "doc").ok());
  EXPECT_THAT(internal::ParseJsonStrict("\xEF\xBB\xBF{}", 1000, "doc").status().message(),
              HasSubstr("byte order mark"));
}

}  // namespace
}  // namespace ward

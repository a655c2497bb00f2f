// JWT-SVID.md: minting, and every must-reject case of reference/spiffe.md §3.3.
#include "core/jwt_svid.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/jws_algorithm.h"
#include "test_pki.h"

namespace ward {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::NewKey;
using testing::Now;

class JwtSvidTest : public ::testing::Test {
 protected:
  JwtSvidTest() : key_(NewKey()), other_key_(NewKey()) {
    bundles_.Put(TrustBundle::Create(TrustDomain::Parse("example.org").value(), {},
                                     {{"k1", key_.public_key()}, {"k2", other_key_.public_key()}})
                     .value());
  }

  json Header(const char* alg = "ES256") { return {{"alg", alg}, {"kid", "k1"}, {"typ", "JWT"}}; }
  json Claims() {
    return {
        {"sub", "spiffe://example.org/web"}, {"aud", "svc"}, {"exp", Now() + 300}, {"iat", Now()}};
  }
  // Encodes and signs by hand, so every field can be made wrong.
  std::string Craft(const json& header, const json& claims, const PrivateKey* key = nullptr,
                    JwsAlgorithm alg = JwsAlgorithm::kEs256) {
    std::string input =
        Base64UrlEncode(AsBytes(header.dump())) + "." + Base64UrlEncode(AsBytes(claims.dump()));
    auto sig = JwsSign(key ? *key : key_, alg, AsBytes(input));
    EXPECT_TRUE(sig.ok());
    return input + "." + Base64UrlEncode(*sig);
  }
  std::string Reject(const std::string& token, std::string_view audience = "svc") {
    auto r = ValidateJwtSvid(token, bundles_, audience, Now());
    EXPECT_FALSE(r.ok()) << "accepted: " << token;
    return r.ok() ? "" : r.status().message();
  }

  PrivateKey key_;
  PrivateKey other_key_;
  BundleSet bundles_;
};

TEST_F(JwtSvidTest, MintedTokenValidatesAndCarriesKidAndTyp) {
  const SpiffeId id = SpiffeId::Parse("spiffe://example.org/web").value();
  auto minted = MintJwtSvid({id, {"svc"}, Now(), Now() + 900}, "k1", key_);
  ASSERT_TRUE(minted.ok());
  const std::string header_b64 = minted->token.substr(0, minted->token.find('.'));
  const json header = json::parse(AsString(Base64UrlDecode(header_b64).value()));
  EXPECT_EQ(header, (json{{"alg", "ES256"}, {"kid", "k1"}, {"typ", "JWT"}}));
  auto v = ValidateJwtSvid(minted->token, bundles_, "svc", Now());
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->id, id);
  EXPECT_EQ(v->key_id, "k1");
  EXPECT_EQ(v->audience, std::vector<std::string>{"svc"});
  const json claims = json::parse(v->claims_json);
  EXPECT_EQ(claims["jti"], minted->jti);
  EXPECT_EQ(claims["aud"], "svc");
}

TEST_F(JwtSvidTest, ClaimsAreTheSignedTextByteForByte) {
  // Members out of order and spaced as no serializer would write them: a re-serialization would
  // sort and compact them.
  const std::string payload = R"({ "sub":"spiffe://example.org/web", "exp":)" +
                              std::to_string(Now() + 60) + R"(,"aud":["svc"] ,"x":1.50})";
  const std::string input =
      Base64UrlEncode(AsBytes(Header().dump())) + "." + Base64UrlEncode(AsBytes(payload));
  const std::string token =
      input + "." + Base64UrlEncode(JwsSign(key_, JwsAlgorithm::kEs256, AsBytes(input)).value());
  auto v = ValidateJwtSvid(token, bundles_, "svc", Now());
  ASSERT_TRUE(v.ok()) << v.status().message();
  EXPECT_EQ(v->claims_json, payload);
}

TEST_F(JwtSvidTest, MintsWithEveryKeyType) {
  for (KeyType t : {KeyType::kEcP256, KeyType::kEcP384, KeyType::kRsa2048}) {
    PrivateKey key = NewKey(t);
    BundleSet set;
    set.Put(TrustBundle::Create(TrustDomain::Parse("example.org").value(), {},
                                {{"x", key.public_key()}})
                .value());
    auto minted = MintJwtSvid(
        {SpiffeId::Parse("spiffe://example.org/a").value(), {"a", "b"}, Now(), Now() + 60}, "x",
        key);
    ASSERT_TRUE(minted.ok());
    auto v = ValidateJwtSvid(minted->token, set, "b", Now());
    EXPECT_TRUE(v.ok()) << KeyTypeName(t) << ": " << v.status().message();
  }
}

TEST_F(JwtSvidTest, MintRefusesBadParams) {
  const SpiffeId id = SpiffeId::Parse("spiffe://example.org/web").value();
  EXPECT_FALSE(MintJwtSvid({id, {}, Now(), Now() + 60}, "k1", key_).ok());
  EXPECT_FALSE(MintJwtSvid({id, {""}, Now(), Now() + 60}, "k1", key_).ok());
  EXPECT_FALSE(MintJwtSvid({id, {"a"}, Now(), Now() + 60}, "", key_).ok());
  EXPECT_FALSE(MintJwtSvid({id, {"a"}, Now(), Now()}, "k1", key_).ok());
}

TEST_F(JwtSvidTest, MintEscapesEveryStringItWrites) {
  const SpiffeId id = SpiffeId::Parse("spiffe://example.org/web").value();
  const std::vector<std::string> audience = {
      "quote\" back\\slash", "tab\t nl\n nul" + std::string(1, '\0'), "\x01\x1f ctl",
      "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"};
  auto minted = MintJwtSvid({id, audience, Now(), Now() + 60}, "kid \"odd\"", key_);
  ASSERT_TRUE(minted.ok()) << minted.status().message();
  const auto parts = minted->token.find('.');
  const json header =
      json::parse(AsString(Base64UrlDecode(minted->token.substr(0, parts)).value()));
  EXPECT_EQ(header["kid"], "kid \"odd\"");
  BundleSet set;
  set.Put(TrustBundle::Create(TrustDomain::Parse("example.org").value(), {},
                              {{"kid \"odd\"", key_.public_key()}})
              .value());
  for (const auto& a : audience) {
    auto v = ValidateJwtSvid(minted->token, set, a, Now());
    ASSERT_TRUE(v.ok()) << v.status().message();
    EXPECT_EQ(v->audience, audience);
    EXPECT_EQ(json::parse(v->claims_json)["aud"], json(audience));
  }
}

TEST_F(JwtSvidTest, MintRefusesInvalidUtf8) {
  const SpiffeId id = SpiffeId::Parse("spiffe://example.org/web").value();
  for (const std::string bad :
       {"\xff", "\xc3", "\xc0\xaf" /* overlong */, "\xed\xa0\x80" /* surrogate */,
        "\xf4\x90\x80\x80" /* past U+10FFFF */, "ok\xe2\x82"}) {
    auto minted = MintJwtSvid({id, {"svc", bad}, Now(), Now() + 60}, "k1", key_);
    ASSERT_FALSE(minted.ok());
    EXPECT_THAT(minted.status().message(), HasSubstr("UTF-8"));
    EXPECT_FALSE(MintJwtSvid({id, {"svc"}, Now(), Now() + 60}, bad, key_).ok());
  }
}

TEST_F(JwtSvidTest, AcceptsAudienceArrayAndJoseTyp) {
  json claims = Claims();
  claims["aud"] = {"other", "svc"};
  EXPECT_TRUE(ValidateJwtSvid(Craft(Header(), claims), bundles_, "svc", Now()).ok());
  json header = Header();
  header["typ"] = "JOSE";
  EXPECT_TRUE(ValidateJwtSvid(Craft(header, Claims()), bundles_, "svc", Now()).ok());
  header.erase("typ");
  EXPECT_TRUE(ValidateJwtSvid(Craft(header, Claims()), bundles_, "svc", Now()).ok());
}

TEST_F(JwtSvidTest, RejectsNoneHmacAndEdDsa) {
  json claims = Claims();
  const std::string body = Base64UrlEncode(AsBytes(claims.dump()));
  for (const char* alg : {"none", "HS256", "HS384", "HS512", "EdDSA"}) {
    json header = Header(alg);
    const std::string token = Base64UrlEncode(AsBytes(header.dump())) + "." + body + "." +
                              Base64UrlEncode(AsBytes("sig"));
    EXPECT_THAT(Reject(token), HasSubstr("unsupported JWS algorithm")) << alg;
  }
  const std::string unsigned_token =
      Base64UrlEncode(AsBytes(Header("none").dump())) + "." + body + ".";
  EXPECT_THAT(Reject(unsigned_token), HasSubstr("unsupported JWS algorithm"));
}

TEST_F(JwtSvidTest, RejectsMalformedTokens) {
  EXPECT_THAT(Reject(""), HasSubstr("empty"));
  EXPECT_THAT(Reject("a.b"), HasSubstr("three"));
  EXPECT_THAT(Reject("a.b.c.d"), HasSubstr("three"));
  EXPECT_THAT(Reject("{\"payload\":\"x\",\"signatures\":[]}"), HasSubstr("JSON serialization"));
  EXPECT_THAT(Reject("!!!.b.c"), HasSubstr("base64url"));
  EXPECT_THAT(Reject(Base64UrlEncode(AsBytes("[1]")) + ".e30.c"), HasSubstr("not a JSON object"));
  EXPECT_THAT(Reject(std::string(kMaxJwtBytes + 1, 'a')), HasSubstr("longer"));
  const std::string good = Craft(Header(), Claims());
  EXPECT_THAT(Reject(good.substr(0, good.rfind('.') + 1)), HasSubstr("no signature"));
}

TEST_F(JwtSvidTest, RejectsDuplicateJsonMembers) {
  const std::string header = R"({"alg":"ES256","kid":"k1","alg":"none"})";
  const std::string token =
      Base64UrlEncode(AsBytes(header)) + "." + Base64UrlEncode(AsBytes(Claims().dump())) + ".AA";
  EXPECT_THAT(Reject(token), HasSubstr("duplicate key \"alg\""));
  const std::string claims = R"({"sub":"spiffe://example.org/a","sub":"spiffe://example.org/b"})";
  std::string input =
      Base64UrlEncode(AsBytes(Header().dump())) + "." + Base64UrlEncode(AsBytes(claims));
  EXPECT_THAT(Reject(input + ".AA"), HasSubstr("duplicate key \"sub\""));
  // In a nested object, and the same key in two different objects is not a duplicate.
  const std::string nested =
      R"({"sub":"spiffe://example.org/a","x":{"k":1},"y":{"k":2,"z":{"q":1,"q":2}}})";
  input = Base64UrlEncode(AsBytes(Header().dump())) + "." + Base64UrlEncode(AsBytes(nested));
  EXPECT_THAT(Reject(input + ".AA"), HasSubstr("duplicate key \"q\""));
}

TEST_F(JwtSvidTest, RejectsBadTyp) {
  json header = Header();
  header["typ"] = "at+jwt";
  EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("typ"));
  header["typ"] = "jwt";
  EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("typ"));
  header["typ"] = 1;
  EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("typ"));
}

TEST_F(JwtSvidTest, RejectsHeadersOutsideTheSpec) {
  for (const char* extra : {"jku", "x5u", "jwk", "x5c", "crit", "cty"}) {
    json header = Header();
    header[extra] = "x";
    EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("not allowed")) << extra;
  }
}

TEST_F(JwtSvidTest, RejectsMissingOrUnknownKid) {
  json header = Header();
  header.erase("kid");
  EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("key ID"));
  header["kid"] = "";
  EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("key ID"));
  header["kid"] = "noKey";
  EXPECT_THAT(Reject(Craft(header, Claims())), HasSubstr("no JWT authority with key ID \"noKey\""));
}

TEST_F(JwtSvidTest, RejectsMissingOrInvalidSubject) {
  json claims = Claims();
  claims.erase("sub");
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("no subject"));
  claims["sub"] = "invalid subject";
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("not a valid SPIFFE ID"));
  claims["sub"] = 42;
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("not a string"));
}

TEST_F(JwtSvidTest, RejectsMissingExpAndExpired) {
  json claims = Claims();
  claims.erase("exp");
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("no expiry"));
  claims["exp"] = "tomorrow";
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("not a number"));
  claims["exp"] = Now() - 60;
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("expired"));
}

TEST_F(JwtSvidTest, AppliesTheDocumentedLeeway) {
  json claims = Claims();
  claims["exp"] = Now() - (kJwtClockLeewaySeconds - 5);
  EXPECT_TRUE(ValidateJwtSvid(Craft(Header(), claims), bundles_, "svc", Now()).ok());
  claims["exp"] = Now() - (kJwtClockLeewaySeconds + 5);
  EXPECT_FALSE(ValidateJwtSvid(Craft(Header(), claims), bundles_, "svc", Now()).ok());
}

TEST_F(JwtSvidTest, RejectsFutureNbfAndIat) {
  json claims = Claims();
  claims["nbf"] = Now() + 600;
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("nbf"));
  claims.erase("nbf");
  claims["iat"] = Now() + 600;
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("iat"));
}

TEST_F(JwtSvidTest, RejectsMissingOrMismatchedAudience) {
  json claims = Claims();
  EXPECT_THAT(Reject(Craft(Header(), claims), "another"), HasSubstr("audience does not include"));
  claims.erase("aud");
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("no audience"));
  claims["aud"] = json::array();
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("empty"));
  claims["aud"] = {1, 2};
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("strings"));
  // An empty expected audience never matches anything.
  EXPECT_THAT(Reject(Craft(Header(), Claims()), ""), HasSubstr("must not be empty"));
}

TEST_F(JwtSvidTest, RejectsSubjectInTrustDomainWithoutBundle) {
  json claims = Claims();
  claims["sub"] = "spiffe://another.domain/host";
  EXPECT_THAT(Reject(Craft(Header(), claims)), HasSubstr("no bundle for trust domain"));
}

TEST_F(JwtSvidTest, RejectsSignatureByAnotherKeyUnderAValidKid) {
  // Signed by k2's key but claiming k1.
  EXPECT_THAT(Reject(Craft(Header(), Claims(), &other_key_)), HasSubstr("signature"));
}

TEST_F(JwtSvidTest, KeyLookupIsScopedToTheSubjectsTrustDomain) {
  // other.org's bundle holds the attacker's key under "k1"; a token claiming an example.org
  // subject must still be checked against example.org's "k1" and fail.
  PrivateKey attacker = NewKey();
  bundles_.Put(TrustBundle::Create(TrustDomain::Parse("other.org").value(), {},
                                   {{"k1", attacker.public_key()}})
                   .value());
  EXPECT_THAT(Reject(Craft(Header(), Claims(), &attacker)), HasSubstr("signature"));
  json claims = Claims();
  claims["sub"] = "spiffe://other.org/svc";
  EXPECT_TRUE(ValidateJwtSvid(Craft(Header(), claims, &attacker), bundles_, "svc", Now()).ok());
}

TEST_F(JwtSvidTest, RejectsAlgorithmThatDoesNotFitTheKey) {
  PrivateKey rsa = NewKey(KeyType::kRsa2048);
  // Header claims RS256 but the bundle key for k1 is EC.
  EXPECT_THAT(Reject(Craft(Header("RS256"), Claims(), &rsa, JwsAlgorithm::kRs256)),
              HasSubstr("RSA key"));
  EXPECT_THAT(Reject(Craft(Header("ES384"), Claims())), HasSubstr("P-384"));
}

TEST_F(JwtSvidTest, UnverifiedSubjectIsOnlyARoutingHint) {
  auto sub = UnverifiedJwtSubject(Craft(Header(), Claims(), &other_key_));
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(sub->str(), "spiffe://example.org/web");
  EXPECT_FALSE(UnverifiedJwtSubject("a.b").ok());
}

}  // namespace
}  // namespace ward

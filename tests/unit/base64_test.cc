#include "core/base64.h"

#include <gtest/gtest.h>

namespace ward {
namespace {

std::string Str(const Bytes& b) { return std::string(b.begin(), b.end()); }

TEST(Base64Test, RoundTripsRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(Str(*decoded), plain);
  }
}

TEST(Base64Test, UrlAlphabetHasNoPadding) {
  const uint8_t data[] = {0xfb, 0xff, 0xfe};
  EXPECT_EQ(Base64UrlEncode(ByteView(data, 3)), "-__-");
  EXPECT_EQ(Base64UrlEncode(AsBytes("f")), "Zg");
  auto decoded = Base64UrlDecode("-__-");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, Bytes(data, data + 3));
}

TEST(Base64Test, AppendAddsToWhatIsThereAndMatchesEncode) {
  Bytes data;
  for (int len = 0; len < 10; ++len) {
    std::string out = "prefix.";
    AppendBase64Url(data, &out);
    EXPECT_EQ(out, "prefix." + Base64UrlEncode(data)) << len;
    std::string padded = "x";
    AppendBase64(data, &padded);
    EXPECT_EQ(padded, "x" + Base64Encode(data)) << len;
    auto padded_back = Base64Decode(std::string_view(padded).substr(1));
    ASSERT_TRUE(padded_back.ok()) << len;
    EXPECT_EQ(*padded_back, data);
    auto back = Base64UrlDecode(std::string_view(out).substr(7));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, data);
    data.push_back(static_cast<uint8_t>(0xf0 + len));
  }
}

TEST(Base64Test, RejectsMalformedInput) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").ok());  // padding in base64url
  EXPECT_FALSE(Base64UrlDecode("Z").ok());     // truncated
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());    // non-zero trailing bits
  EXPECT_FALSE(Base64UrlDecode("a+b/").ok());  // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("ab c").ok());  // whitespace
  EXPECT_FALSE(Base64Decode("Zg").ok());       // missing padding
  EXPECT_FALSE(Base64Decode("Zg=A").ok());     // padding in the middle
  EXPECT_FALSE(Base64Decode("Z===").ok());
  EXPECT_FALSE(Base64Decode("-_8=").ok());  // url alphabet in standard base64
}

}  // namespace
}  // namespace ward

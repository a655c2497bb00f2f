// The hand-written JSON string encoder, checked against nlohmann/json's parser.
#include "core/json_writer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace ward {
namespace {

std::string Encode(std::string_view s) {
  std::string out;
  EXPECT_TRUE(AppendJsonString(s, &out)) << s;
  return out;
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Encode("plain"), "\"plain\"");
  EXPECT_EQ(Encode(""), "\"\"");
  EXPECT_EQ(Encode("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Encode("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(Encode(std::string("\0\x01\x1f", 3)), "\"\\u0000\\u0001\\u001f\"");
  EXPECT_EQ(Encode("/\x7f"), "\"/\x7f\"");  // neither needs escaping
}

TEST(JsonWriterTest, EveryByteStringParsesBackToItself) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all.push_back(static_cast<char>(c));
  all += "caf\xc3\xa9 \xe2\x82\xac \xef\xbf\xbf \xf0\x9f\x94\x91 \xf4\x8f\xbf\xbf";
  const std::string encoded = Encode(all);
  EXPECT_EQ(nlohmann::json::parse(encoded).get<std::string>(), all);
}

TEST(JsonWriterTest, RefusesInvalidUtf8) {
  for (const std::string bad : {"\x80", "\xbf", "\xc1\xbf", "\xc3", "\xc3\x28", "\xe0\x9f\x80",
                                "\xed\xa0\x80", "\xed\xbf\xbf", "\xf0\x8f\xbf\xbf",
                                "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "ok\xe2\x82"}) {
    std::string out;
    EXPECT_FALSE(AppendJsonString(bad, &out)) << testing::PrintToString(bad);
  }
}

TEST(JsonWriterTest, ReplacesInvalidUtf8WhenAsked) {
  std::string out;
  ASSERT_TRUE(AppendJsonString("a\xff b\xc3 \xe2\x82\xac", &out, InvalidUtf8::kReplace));
  EXPECT_EQ(out, "\"a\xef\xbf\xbd b\xef\xbf\xbd \xe2\x82\xac\"");
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(),
            "a\xef\xbf\xbd b\xef\xbf\xbd \xe2\x82\xac");
}

}  // namespace
}  // namespace ward

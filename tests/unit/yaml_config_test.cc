// Configuration files: the accepted shapes, and a clear refusal for everything else.
#include "config/yaml_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ward::config {
namespace {

using ::testing::HasSubstr;

TEST(YamlConfigTest, ReadsTopLevelSettingsAndLists) {
  auto s = ParseConfig(
      "# server settings\n"
      "trust_domain: example.org\n"
      "port: 8081\n"
      "admin_uid: [0, 1000]\n"
      "admin_spiffe_id:\n"
      "  - spiffe://example.org/ops\n",
      "server");
  ASSERT_TRUE(s.ok()) << s.status().message();
  ASSERT_EQ(s->size(), 4u);
  EXPECT_EQ((*s)[0].name, "trust_domain");
  EXPECT_EQ((*s)[0].values, std::vector<std::string>{"example.org"});
  EXPECT_FALSE((*s)[0].is_list);
  EXPECT_EQ((*s)[2].values, (std::vector<std::string>{"0", "1000"}));
  EXPECT_TRUE((*s)[2].is_list);
  EXPECT_EQ((*s)[3].values, std::vector<std::string>{"spiffe://example.org/ops"});
}

TEST(YamlConfigTest, SectionsLetOneFileServeServerAndAgent) {
  const std::string both =
      "server:\n  trust_domain: example.org\n  data_dir: /var/lib/ward\n"
      "agent:\n  server_address: 10.0.0.1\n";
  auto server = ParseConfig(both, "server");
  ASSERT_TRUE(server.ok());
  EXPECT_EQ(server->size(), 2u);
  auto agent = ParseConfig(both, "agent");
  ASSERT_TRUE(agent.ok());
  ASSERT_EQ(agent->size(), 1u);
  EXPECT_EQ((*agent)[0].values[0], "10.0.0.1");
  auto none = ParseConfig("agent:\n  server_port: 1\n", "server");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_TRUE(ParseConfig("", "server")->empty());
}

TEST(YamlConfigTest, RefusesBadShapesWithTheReason) {
  const struct {
    const char* yaml;
    const char* reason;
  } cases[] = {
      {"- a\n- b\n", "mapping"},
      {"port: 1\nport: 2\n", "appears twice"},
      {"Port: 1\n", "lower case"},
      {"trust-domain: x\n", "lower case"},
      {"port:\n", "no value"},
      {"port: {a: 1}\n", "a value or a list"},
      {"admin_uid: [[1]]\n", "a value or a list"},
      {"server:\n  port: 1\nport: 2\n", "mixes sections"},
      {"server: [1]\n", "must be a mapping"},
      {"a: &x 1\nb: *x\n", "aliases"},
      {"port: [1\n", "not valid YAML"},
      {"a: 1\n---\nb: 2\n", "several YAML documents"},
      {"a: [[[[[[[[[[1]]]]]]]]]]\n", "nests too deeply"},
      {",,,,\nserver:\n", "several YAML documents"},  // yaml-cpp once looped on this
  };
  for (const auto& c : cases) {
    auto s = ParseConfig(c.yaml, "server");
    ASSERT_FALSE(s.ok()) << c.yaml;
    EXPECT_THAT(s.status().message(), HasSubstr(c.reason)) << c.yaml;
  }
  EXPECT_FALSE(ParseConfig(std::string(kMaxConfigBytes + 1, ' '), "server").ok());
  EXPECT_FALSE(ParseConfig(std::string("a: b\0c", 6), "server").ok());
}

TEST(YamlConfigTest, DeepBlockNestingIsRefusedBeforeBuildingNodes) {
  std::string yaml;
  for (int i = 0; i < 20; ++i) yaml += std::string(static_cast<size_t>(2 * i), ' ') + "k:\n";
  auto s = ParseConfig(yaml, "server");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("nests too deeply"));
}

TEST(YamlConfigTest, MissingFileIsAClearError) {
  auto s = LoadConfigFile("/nonexistent/ward.yaml", "server");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("cannot read configuration file"));
}

}  // namespace
}  // namespace ward::config

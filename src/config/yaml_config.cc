#include "config/yaml_config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

namespace ward::config {
namespace {

// Sections a file may hold; a command reads its own and ignores the others.
const std::set<std::string, std::less<>> kSections = {"server", "agent"};

// yaml-cpp recurses once per nesting level, so deep flow nesting ("[[[[...") could exhaust the
// stack before it parses. A configuration needs at most a few levels; refuse more up front.
Status CheckFlowNesting(std::string_view text) {
  int depth = 0;
  char quote = 0;
  bool comment = false;
  for (char c : text) {
    if (comment) {
      if (c == '\n') comment = false;
      continue;
    }
    if (quote != 0) {
      if (c == quote) quote = 0;
      continue;
    }
    switch (c) {
      case '#':
        comment = true;
        break;
      case '"':
      case '\'':
        quote = c;
        break;
      case '[':
      case '{':
        if (++depth > 8) return InvalidArgument("configuration nests too deeply");
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return OkStatus();
}

// A first pass over the parser's events, before any node is built: refuses aliases (which would
// let a small file expand into a huge one) and block nesting deeper than a configuration needs.
class ShapeCheck final : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    if (error_.empty())
      error_ = "aliases are not allowed (line " + std::to_string(mark.line + 1) + ")";
  }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Enter(mark);
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Enter(mark);
  }
  void OnMapEnd() override { --depth_; }

  const std::string& error() const { return error_; }

 private:
  void Enter(const YAML::Mark& mark) {
    if (++depth_ > 8 && error_.empty()) {
      error_ = "configuration nests too deeply (line " + std::to_string(mark.line + 1) + ")";
    }
  }
  int depth_ = 0;
  std::string error_;
};

std::string Where(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  if (mark.is_null()) return "";
  return " (line " + std::to_string(mark.line + 1) + ")";
}

Status CheckName(const std::string& name, const YAML::Node& at) {
  if (name.empty() || name.size() > 64) {
    return InvalidArgument("setting names must be 1-64 characters" + Where(at));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return InvalidArgument("setting \"" + name.substr(0, 64) +
                             "\" must use lower case letters, digits and '_'" + Where(at));
    }
  }
  return OkStatus();
}

Result<std::string> Scalar(const YAML::Node& node, const std::string& name) {
  if (node.IsNull()) {
    return InvalidArgument("setting \"" + name + "\" has no value" + Where(node));
  }
  if (!node.IsScalar()) {
    return InvalidArgument("setting \"" + name + "\" must be a value or a list of values" +
                           Where(node));
  }
  return node.Scalar();
}

Result<std::vector<Setting>> ReadSettings(const YAML::Node& map) {
  std::vector<Setting> out;
  std::set<std::string> seen;
  for (const auto& kv : map) {
    if (!kv.first.IsScalar()) return InvalidArgument("setting names must be plain text");
    const std::string name = kv.first.Scalar();
    WARD_RETURN_IF_ERROR(CheckName(name, kv.first));
    if (!seen.insert(name).second) {
      return InvalidArgument("setting \"" + name + "\" appears twice" + Where(kv.first));
    }
    Setting s{name, {}, false};
    if (kv.second.IsSequence()) {
      s.is_list = true;
      for (const auto& item : kv.second) {
        WARD_ASSIGN_OR_RETURN(std::string v, Scalar(item, name));
        s.values.push_back(std::move(v));
      }
    } else {
      WARD_ASSIGN_OR_RETURN(std::string v, Scalar(kv.second, name));
      s.values.push_back(std::move(v));
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

Result<std::vector<Setting>> ParseConfig(std::string_view yaml, std::string_view section) {
  if (yaml.size() > kMaxConfigBytes) return InvalidArgument("configuration is larger than 1 MiB");
  if (yaml.find('\0') != std::string_view::npos) {
    return InvalidArgument("configuration contains a NUL byte");
  }
  WARD_RETURN_IF_ERROR(CheckFlowNesting(yaml));
  const std::string text(yaml);
  YAML::Node root;
  try {
    std::istringstream events(text);
    YAML::Parser parser(events);
    ShapeCheck check;
    // At most two calls: yaml-cpp can report endless empty documents for stray flow tokens.
    const bool first = parser.HandleNextDocument(check);
    if (!check.error().empty()) return InvalidArgument(check.error());
    if (first && parser.HandleNextDocument(check)) {
      if (!check.error().empty()) return InvalidArgument(check.error());
      return InvalidArgument("configuration holds several YAML documents; use one");
    }
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("configuration is not valid YAML: " + std::string(e.what()));
  }
  try {
    if (root.IsNull()) return std::vector<Setting>{};
    if (!root.IsMap()) return InvalidArgument("configuration must be a mapping of settings");
    bool has_sections = false;
    bool has_settings = false;
    for (const auto& kv : root) {
      if (!kv.first.IsScalar()) return InvalidArgument("setting names must be plain text");
      (kSections.count(kv.first.Scalar()) ? has_sections : has_settings) = true;
    }
    if (has_sections && has_settings) {
      return InvalidArgument(
          "configuration mixes sections (server:, agent:) with top-level settings; put every "
          "setting under its section");
    }
    if (!has_sections) return ReadSettings(root);
    std::set<std::string> seen;
    for (const auto& kv : root) {
      if (!seen.insert(kv.first.Scalar()).second) {
        return InvalidArgument("section \"" + kv.first.Scalar() + "\" appears twice");
      }
    }
    const YAML::Node own = root[std::string(section)];
    if (!own || own.IsNull()) return std::vector<Setting>{};
    if (!own.IsMap()) {
      return InvalidArgument("section \"" + std::string(section) + "\" must be a mapping");
    }
    return ReadSettings(own);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("configuration is malformed: " + std::string(e.what()));
  }
}

Result<std::vector<Setting>> LoadConfigFile(const std::string& path, std::string_view section) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPrecondition("cannot read configuration file " + path);
  std::string text;
  text.resize(kMaxConfigBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  auto settings = ParseConfig(text, section);
  if (!settings.ok()) return settings.status().WithContext(path);
  return settings;
}

}  // namespace ward::config

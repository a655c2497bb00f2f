#include "core/internal/json_strict.h"

#include <string>
#include <utility>
#include <vector>

#include "core/json_writer.h"

namespace ward::internal {
namespace {

using nlohmann::json;

// Builds the document from nlohmann's SAX events, refusing a repeated key the moment it is read
// and a container nested too deep the moment it opens. Inserting a member looks its key up
// anyway, so catching duplicates here costs nothing; nlohmann's callback parser, used before,
// spent about 3 us per JWT on a std::function call and bookkeeping for every event.
//
// It fills the containers directly, which skips the parent links nlohmann keeps only when built
// with JSON_DIAGNOSTICS; hence the check below.
#if defined(JSON_DIAGNOSTICS) && JSON_DIAGNOSTICS
#error "StrictDomBuilder does not maintain nlohmann's diagnostic parent links"
#endif
class StrictDomBuilder {
 public:
  explicit StrictDomBuilder(json& root) : root_(root) {}

  bool null() { return Put(nullptr) != nullptr; }
  bool boolean(bool value) { return Put(value) != nullptr; }
  bool number_integer(json::number_integer_t value) { return Put(value) != nullptr; }
  bool number_unsigned(json::number_unsigned_t value) { return Put(value) != nullptr; }
  bool number_float(json::number_float_t value, const std::string& /*text*/) {
    return Put(value) != nullptr;
  }
  bool string(std::string& value) { return Put(std::move(value)) != nullptr; }
  bool binary(json::binary_t& /*value*/) { return false; }  // JSON text has no binary values

  bool start_object(std::size_t /*size*/) { return Open(json::value_t::object); }
  bool key(std::string& name) {
    auto& members = open_.back()->get_ref<json::object_t&>();
    auto [it, inserted] = members.emplace(std::move(name), nullptr);
    if (!inserted) {
      duplicate_key_ = it->first;
      has_duplicate_ = true;
      return false;
    }
    member_ = &it->second;
    return true;
  }
  bool end_object() { return Close(); }
  bool start_array(std::size_t /*size*/) { return Open(json::value_t::array); }
  bool end_array() { return Close(); }

  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const json::exception& error) {
    syntax_error_ = error.what();
    return false;
  }

  const std::string& syntax_error() const { return syntax_error_; }
  bool has_duplicate() const { return has_duplicate_; }
  const std::string& duplicate_key() const { return duplicate_key_; }
  bool too_deep() const { return too_deep_; }

 private:
  // Places a value where the parser is: the root, the next array element, or the member whose
  // key was just read. Returns where it went.
  template <typename Value>
  json* Put(Value&& value) {
    if (open_.empty()) {
      root_ = json(std::forward<Value>(value));
      return &root_;
    }
    json& container = *open_.back();
    if (container.is_array()) {
      auto& elements = container.get_ref<json::array_t&>();
      elements.emplace_back(std::forward<Value>(value));
      return &elements.back();
    }
    *member_ = json(std::forward<Value>(value));
    return member_;
  }
  bool Open(json::value_t type) {
    if (open_.size() >= kMaxJsonDepth) {
      too_deep_ = true;
      return false;
    }
    open_.push_back(type == json::value_t::object ? Put(json::object()) : Put(json::array()));
    return true;
  }
  bool Close() {
    open_.pop_back();
    return true;
  }

  json& root_;
  std::vector<json*> open_;  // the containers being filled, outermost first
  json* member_ = nullptr;   // the object member whose value comes next
  std::string syntax_error_;
  std::string duplicate_key_;
  bool has_duplicate_ = false;
  bool too_deep_ = false;
};

}  // namespace

Result<nlohmann::json> ParseJsonStrict(std::string_view text, size_t max_bytes,
                                       std::string_view what) {
  const std::string name(what);
  if (text.size() > max_bytes) {
    return InvalidArgument(name + " is " + std::to_string(text.size()) +
                           " bytes long; the limit is " + std::to_string(max_bytes));
  }
  // nlohmann skips a UTF-8 byte order mark; RFC 8259 §8.1 forbids sending one and Go's parser
  // (go-spiffe, SPIRE) refuses it, so Ward does too.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    return InvalidArgument(name + " starts with a byte order mark");
  }
  json doc;
  StrictDomBuilder builder(doc);
  if (json::sax_parse(text.begin(), text.end(), &builder, json::input_format_t::json,
                      /*strict=*/true, /*ignore_comments=*/false)) {
    return doc;
  }
  if (builder.too_deep()) {
    return InvalidArgument(name + " nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
  }
  if (builder.has_duplicate()) {
    // At most 256 bytes of the key, as a JSON string (no quote or control character reaches a log
    // line), invalid UTF-8 replaced.
    std::string message = name + " has a duplicate key ";
    AppendJsonString(std::string_view(builder.duplicate_key()).substr(0, 256), &message,
                     InvalidUtf8::kReplace);
    return InvalidArgument(message);
  }
  return InvalidArgument(name + " is not valid JSON: " + builder.syntax_error());
}

}  // namespace ward::internal

// The admin API's entry request body: JSON -> entries -> validation. Invariant: an entry that
// parses writes back to JSON that parses to the same entry.
#include <nlohmann/json.hpp>
#include <string_view>

#include "fuzz_check.h"
#include "server/entry_json.h"
#include "server/entry_rules.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ward::TrustDomain td = ward::TrustDomain::Parse("example.org").value();
  const nlohmann::json body = nlohmann::json::parse(data, data + size, nullptr, false);
  if (!body.is_object() || !body.contains("entries") || !body["entries"].is_array()) return 0;
  for (const auto& j : body["entries"]) {
    auto entry = ward::server::EntryFromJson(j);
    if (!entry.ok()) continue;
    (void)ward::server::ValidateEntry(*entry, td, {});
    auto again = ward::server::EntryFromJson(ward::server::EntryToJson(*entry));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->spiffe_id == entry->spiffe_id && again->parent_id == entry->parent_id);
    FUZZ_CHECK(again->selectors == entry->selectors && again->dns_names == entry->dns_names);
  }
  return 0;
}

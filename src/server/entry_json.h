// Registration entries as the admin API's JSON. Internal to the server (nlohmann in the
// signature); the admin API and its fuzz target use it.
#ifndef WARD_SERVER_ENTRY_JSON_H_
#define WARD_SERVER_ENTRY_JSON_H_

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "store/types.h"

namespace ward::server {

nlohmann::json EntryToJson(const store::RegistrationEntry& entry);
// Reads the fields a caller may set; the ID, revision and creation time are the store's.
Result<store::RegistrationEntry> EntryFromJson(const nlohmann::json& j);

// Reads an optional field of type T, or `fallback` when absent; a value of the wrong type is an
// InvalidArgument naming the field.
template <typename T>
Result<T> Field(const nlohmann::json& obj, const char* name, T fallback) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument(std::string("field \"") + name + "\" has the wrong type");
  }
}

}  // namespace ward::server

#endif  // WARD_SERVER_ENTRY_JSON_H_

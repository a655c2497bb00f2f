#include "server/entry_json.h"

namespace ward::server {

using nlohmann::json;

json EntryToJson(const store::RegistrationEntry& e) {
  json selectors = json::array();
  for (const auto& s : e.selectors) selectors.push_back(s.ToString());
  return {{"id", e.id},
          {"spiffe_id", e.spiffe_id.str()},
          {"parent_id", e.parent_id.str()},
          {"selectors", selectors},
          {"x509_svid_ttl", e.x509_svid_ttl},
          {"jwt_svid_ttl", e.jwt_svid_ttl},
          {"dns_names", e.dns_names},
          {"admin", e.admin},
          {"federates_with", e.federates_with},
          {"expires_at", e.expires_at},
          {"revision", e.revision},
          {"created_at", e.created_at}};
}

Result<store::RegistrationEntry> EntryFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgument("an entry must be a JSON object");
  WARD_ASSIGN_OR_RETURN(std::string spiffe_id, Field<std::string>(j, "spiffe_id", ""));
  WARD_ASSIGN_OR_RETURN(std::string parent_id, Field<std::string>(j, "parent_id", ""));
  auto id = SpiffeId::Parse(spiffe_id);
  if (!id.ok()) return id.status().WithContext("spiffe_id");
  auto parent = SpiffeId::Parse(parent_id);
  if (!parent.ok()) return parent.status().WithContext("parent_id");
  store::RegistrationEntry e{.spiffe_id = std::move(id).value(),
                             .parent_id = std::move(parent).value()};
  WARD_ASSIGN_OR_RETURN(std::vector<std::string> selectors,
                        Field<std::vector<std::string>>(j, "selectors", {}));
  for (const auto& s : selectors) {
    auto sel = store::Selector::Parse(s);
    if (!sel.ok()) return sel.status();
    e.selectors.push_back(std::move(sel).value());
  }
  WARD_ASSIGN_OR_RETURN(e.x509_svid_ttl, Field<int32_t>(j, "x509_svid_ttl", 3600));
  WARD_ASSIGN_OR_RETURN(e.jwt_svid_ttl, Field<int32_t>(j, "jwt_svid_ttl", 900));
  WARD_ASSIGN_OR_RETURN(e.dns_names, Field<std::vector<std::string>>(j, "dns_names", {}));
  WARD_ASSIGN_OR_RETURN(e.admin, Field<bool>(j, "admin", false));
  WARD_ASSIGN_OR_RETURN(e.federates_with, Field<std::vector<std::string>>(j, "federates_with", {}));
  WARD_ASSIGN_OR_RETURN(e.expires_at, Field<int64_t>(j, "expires_at", 0));
  return e;
}

}  // namespace ward::server

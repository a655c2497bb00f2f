// The records the control plane keeps: registration entries, attested agents, join tokens,
// bundles, and the CA journal. Plain values; validation of what a caller may store lives in
// entry_rules.h, persistence in datastore.h.
#ifndef WARD_STORE_TYPES_H_
#define WARD_STORE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/spiffe_id.h"
#include "core/status.h"

namespace ward::store {

// "type:value", e.g. "unix:uid:1000": the type is everything before the first colon.
struct Selector {
  std::string type;
  std::string value;

  static Result<Selector> Parse(std::string_view text);
  std::string ToString() const { return type + ":" + value; }
  friend bool operator==(const Selector&, const Selector&) = default;
  friend auto operator<=>(const Selector&, const Selector&) = default;
};

struct RegistrationEntry {
  std::string id;  // assigned by the store on create
  SpiffeId spiffe_id;
  SpiffeId parent_id;
  std::vector<Selector> selectors;  // kept sorted
  int32_t x509_svid_ttl = 3600;
  int32_t jwt_svid_ttl = 900;
  std::vector<std::string> dns_names;
  bool admin = false;
  std::vector<std::string> federates_with;  // trust domain names
  int64_t expires_at = 0;                   // 0: never
  int64_t revision = 0;                     // assigned by the store on every write
  int64_t created_at = 0;
};

struct AttestedAgent {
  SpiffeId spiffe_id;
  std::string attestation_type;  // "join_token" or "x509pop"
  std::string serial;            // serial of the agent's current SVID
  int64_t expires_at = 0;        // of the agent's current SVID
  bool banned = false;
  int64_t created_at = 0;
};

struct JoinToken {
  std::string token;       // the secret; the store keeps only its SHA-256
  std::string agent_path;  // the agent ID path it attests as, e.g. "/ward/agent/join_token/<id>"
  int64_t expires_at = 0;
};

struct StoredBundle {
  std::string trust_domain;
  std::string spiffe_json;  // SPIFFE bundle document
  uint64_t sequence = 0;
};

// A trust domain this one federates with: where to fetch its bundle and how to trust the endpoint
// (SPIFFE_Federation.md: URL, profile and trust domain are all configured, none inferred).
struct FederationRelationship {
  std::string trust_domain;
  std::string url;                 // https://...
  std::string profile;             // "https_web" or "https_spiffe"
  std::string endpoint_spiffe_id;  // https_spiffe: the endpoint server's SPIFFE ID
  std::string ca_pem;              // https_web: roots to trust (empty: the system's)
};

struct EntryPage {
  std::vector<RegistrationEntry> entries;
  std::string next_page_token;  // empty on the last page
};

// An entry that left a parent: it was deleted, or updated to another parent.
struct EntryWithdrawal {
  std::string id;
  std::string parent_id;  // the parent it was under
  std::string spiffe_id;  // the SPIFFE ID it had (empty in rows from before schema 4)
};

struct EntryChanges {
  std::vector<RegistrationEntry> upserted;
  std::vector<EntryWithdrawal> withdrawn;
  int64_t revision = 0;  // the newest revision included
};

}  // namespace ward::store

#endif  // WARD_STORE_TYPES_H_

// SPIFFE ID and trust domain value types. A constructed value is always valid: the only ways in
// are the parsing factories, which apply SPIFFE-ID.md §2 exactly (no normalisation, no case
// folding, no percent-decoding).
#ifndef WARD_CORE_SPIFFE_ID_H_
#define WARD_CORE_SPIFFE_ID_H_

#include <compare>
#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace ward {

// SPIFFE-ID.md §2.3: implementations must support IDs of this many bytes; Ward refuses longer ones
// so every ID it handles is bounded.
inline constexpr size_t kMaxSpiffeIdBytes = 2048;
// RFC 3986 host limit, adopted by SPIFFE-ID.md §2.3 for trust domain names.
inline constexpr size_t kMaxTrustDomainBytes = 255;

class TrustDomain {
 public:
  // Parses a bare trust domain name such as "example.org".
  static Result<TrustDomain> Parse(std::string_view name);
  // Accepts either a bare name or the trust domain's ID form "spiffe://example.org" (the key form
  // the Workload API uses).
  static Result<TrustDomain> FromNameOrId(std::string_view text);

  const std::string& name() const { return name_; }
  // "spiffe://<name>", the trust domain's own SPIFFE ID.
  std::string IdString() const;

  friend bool operator==(const TrustDomain&, const TrustDomain&) = default;
  friend auto operator<=>(const TrustDomain&, const TrustDomain&) = default;

 private:
  friend class SpiffeId;
  explicit TrustDomain(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class SpiffeId {
 public:
  static Result<SpiffeId> Parse(std::string_view text);
  // Builds "spiffe://<td><path>"; `path` must be empty or start with '/'.
  static Result<SpiffeId> FromPath(const TrustDomain& td, std::string_view path);

  const std::string& str() const { return id_; }
  std::string_view trust_domain_name() const;
  TrustDomain trust_domain() const;
  // Empty for the trust domain's root ID, otherwise starts with '/'.
  std::string_view path() const;
  bool IsRoot() const { return path().empty(); }
  bool MemberOf(const TrustDomain& td) const { return trust_domain_name() == td.name(); }

  // Byte equality, as the standard requires (path comparison is case-sensitive).
  friend bool operator==(const SpiffeId&, const SpiffeId&) = default;
  friend auto operator<=>(const SpiffeId& a, const SpiffeId& b) { return a.id_ <=> b.id_; }

 private:
  SpiffeId(std::string id, size_t td_end) : id_(std::move(id)), td_end_(td_end) {}
  std::string id_;
  size_t td_end_ = 0;  // offset one past the trust domain name inside id_
};

// Checks a path ("" or "/seg/seg") against SPIFFE-ID.md §2.2.
Status ValidateSpiffePath(std::string_view path);

}  // namespace ward

#endif  // WARD_CORE_SPIFFE_ID_H_

#include "core/spiffe_id.h"

#include <array>
#include <cstdio>

namespace ward {
namespace {

constexpr std::string_view kScheme = "spiffe://";

enum CharClass : unsigned char { kTrustDomainChar = 1, kPathChar = 2 };

constexpr std::array<unsigned char, 256> MakeCharTable() {
  std::array<unsigned char, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = kTrustDomainChar | kPathChar;
  for (int c = '0'; c <= '9'; ++c) t[c] = kTrustDomainChar | kPathChar;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = kPathChar;
  for (unsigned char c : {'.', '-', '_'}) t[c] = kTrustDomainChar | kPathChar;
  return t;
}
constexpr std::array<unsigned char, 256> kCharTable = MakeCharTable();

std::string DescribeByte(unsigned char c, size_t offset) {
  char buf[64];
  if (c >= 0x21 && c < 0x7f) {
    std::snprintf(buf, sizeof buf, "'%c' at byte %zu", c, offset);
  } else {
    std::snprintf(buf, sizeof buf, "byte 0x%02x at offset %zu", c, offset);
  }
  return buf;
}

// Explains why `c` cannot appear in a trust domain name; names the URI component it would start
// where that is the likely mistake.
Status TrustDomainCharError(unsigned char c, size_t offset) {
  const std::string where = DescribeByte(c, offset);
  if (c >= 'A' && c <= 'Z') {
    return InvalidArgument("trust domain must be lower case (" + where +
                           "); Ward does not fold case, write the name in lower case");
  }
  switch (c) {
    case '%':
      return InvalidArgument("trust domain must not contain percent-encoding (" + where + ")");
    case '@':
      return InvalidArgument("trust domain must not contain userinfo (" + where + ")");
    case ':':
      return InvalidArgument("trust domain must not contain a port (" + where + ")");
    case '?':
      return InvalidArgument("SPIFFE ID must not contain a query (" + where + ")");
    case '#':
      return InvalidArgument("SPIFFE ID must not contain a fragment (" + where + ")");
    default:
      break;
  }
  return InvalidArgument(
      "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and "
      "underscores (" +
      where + ")");
}

// Validates `name` as a trust domain name; `base` is its offset inside the caller's text, so
// error positions refer to what the user typed.
Status ValidateTrustDomainName(std::string_view name, size_t base) {
  if (name.empty()) return InvalidArgument("trust domain is missing");
  if (name.size() > kMaxTrustDomainBytes) {
    return InvalidArgument("trust domain is " + std::to_string(name.size()) +
                           " bytes long; the limit is 255");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (!(kCharTable[c] & kTrustDomainChar)) return TrustDomainCharError(c, base + i);
  }
  return OkStatus();
}

Status ValidatePathAt(std::string_view path, size_t base) {
  if (path.empty()) return OkStatus();
  if (path[0] != '/') return InvalidArgument("path must have a leading slash");
  size_t seg_start = 1;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') {
      const auto c = static_cast<unsigned char>(path[i]);
      if (kCharTable[c] & kPathChar) continue;
      const std::string where = DescribeByte(c, base + i);
      switch (c) {
        case '%':
          return InvalidArgument("path must not contain percent-encoding (" + where + ")");
        case '?':
          return InvalidArgument("SPIFFE ID must not contain a query (" + where + ")");
        case '#':
          return InvalidArgument("SPIFFE ID must not contain a fragment (" + where + ")");
        default:
          return InvalidArgument(
              "path segment characters are limited to letters, numbers, dots, dashes, and "
              "underscores (" +
              where + ")");
      }
    }
    // End of a segment: path[seg_start, i).
    const std::string_view seg = path.substr(seg_start, i - seg_start);
    if (seg.empty()) {
      if (i == path.size()) return InvalidArgument("path must not have a trailing slash");
      return InvalidArgument("path must not contain empty segments ('//')");
    }
    if (seg == "." || seg == "..") {
      return InvalidArgument("path must not contain dot segments ('.' or '..')");
    }
    seg_start = i + 1;
  }
  return OkStatus();
}

}  // namespace

Result<TrustDomain> TrustDomain::Parse(std::string_view name) {
  if (name.substr(0, kScheme.size()) == kScheme) {
    return InvalidArgument("expected a bare trust domain name, got a SPIFFE ID \"" +
                           std::string(name.substr(0, 300)) + "\"");
  }
  WARD_RETURN_IF_ERROR(ValidateTrustDomainName(name, 0));
  return TrustDomain(std::string(name));
}

Result<TrustDomain> TrustDomain::FromNameOrId(std::string_view text) {
  if (text.substr(0, kScheme.size()) != kScheme) return Parse(text);
  WARD_ASSIGN_OR_RETURN(SpiffeId id, SpiffeId::Parse(text));
  if (!id.IsRoot()) {
    return InvalidArgument("expected a trust domain, got a SPIFFE ID with a path: " + id.str());
  }
  return id.trust_domain();
}

std::string TrustDomain::IdString() const { return std::string(kScheme) + name_; }

Result<SpiffeId> SpiffeId::Parse(std::string_view text) {
  if (text.empty()) return InvalidArgument("SPIFFE ID is empty");
  if (text.size() > kMaxSpiffeIdBytes) {
    return InvalidArgument("SPIFFE ID is " + std::to_string(text.size()) +
                           " bytes long; the limit is 2048");
  }
  if (text.substr(0, kScheme.size()) != kScheme) {
    return InvalidArgument(
        "scheme is missing or invalid: a SPIFFE ID starts with \"spiffe://\" in lower case");
  }
  const std::string_view rest = text.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view td = rest.substr(0, slash);
  WARD_RETURN_IF_ERROR(ValidateTrustDomainName(td, kScheme.size()));
  if (slash != std::string_view::npos) {
    WARD_RETURN_IF_ERROR(ValidatePathAt(rest.substr(slash), kScheme.size() + slash));
  }
  return SpiffeId(std::string(text), kScheme.size() + td.size());
}

Result<SpiffeId> SpiffeId::FromPath(const TrustDomain& td, std::string_view path) {
  WARD_RETURN_IF_ERROR(ValidatePathAt(path, 0));
  std::string id = td.IdString();
  const size_t td_end = id.size();
  id.append(path);
  if (id.size() > kMaxSpiffeIdBytes) {
    return InvalidArgument("SPIFFE ID would be " + std::to_string(id.size()) +
                           " bytes long; the limit is 2048");
  }
  return SpiffeId(std::move(id), td_end);
}

std::string_view SpiffeId::trust_domain_name() const {
  return std::string_view(id_).substr(kScheme.size(), td_end_ - kScheme.size());
}

TrustDomain SpiffeId::trust_domain() const { return TrustDomain(std::string(trust_domain_name())); }

std::string_view SpiffeId::path() const { return std::string_view(id_).substr(td_end_); }

Status ValidateSpiffePath(std::string_view path) { return ValidatePathAt(path, 0); }

}  // namespace ward

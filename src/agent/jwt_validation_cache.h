// Remembers JWT-SVIDs the agent has validated, so a workload that presents the same token again
// (every request of a session, typically) is answered without another signature verification.
// Keyed by the SHA-256 of the token; an answer is reused only while the token has not expired
// (no leeway: past exp the full validation decides), for an audience the token names, and while
// the trust bundle that verified it is still the one in use. Bounded, least recently used first
// out. Only successful validations are kept, so invalid tokens cannot fill it.
#ifndef WARD_AGENT_JWT_VALIDATION_CACHE_H_
#define WARD_AGENT_JWT_VALIDATION_CACHE_H_

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/bundle.h"
#include "core/jwt_svid.h"

namespace ward::agent {

class JwtValidationCache {
 public:
  using Digest = std::array<unsigned char, 32>;
  explicit JwtValidationCache(size_t capacity) : capacity_(capacity) {}

  static Digest Hash(std::string_view token);

  // The bundle a trust domain (by name) has now; null when there is none.
  using CurrentBundle =
      std::function<std::shared_ptr<const TrustBundle>(std::string_view trust_domain)>;

  // The remembered validation of the token with this digest, if it still holds at `now` for
  // `audience` with the bundle its trust domain has now.
  std::optional<ValidatedJwtSvid> Find(const Digest& digest, std::string_view audience,
                                       const CurrentBundle& current, int64_t now);
  void Insert(const Digest& digest, ValidatedJwtSvid validated,
              std::shared_ptr<const TrustBundle> verified_by);
  size_t size() const;

 private:
  struct DigestHash {
    size_t operator()(const Digest& d) const {
      size_t h;
      static_assert(sizeof h <= sizeof(Digest));
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  struct Entry {
    Digest digest;
    ValidatedJwtSvid validated;
    std::shared_ptr<const TrustBundle> verified_by;
  };
  using List = std::list<Entry>;

  const size_t capacity_;
  mutable std::mutex mu_;
  List lru_;  // most recently used first
  std::unordered_map<Digest, List::iterator, DigestHash> index_;
};

}  // namespace ward::agent

#endif  // WARD_AGENT_JWT_VALIDATION_CACHE_H_

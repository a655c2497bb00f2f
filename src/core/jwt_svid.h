// JWT-SVIDs (JWT-SVID.md): minting in compact JWS with "kid" and "typ: JWT", and validation that
// picks the key by "kid" inside the bundle of the subject's own trust domain only.
#ifndef WARD_CORE_JWT_SVID_H_
#define WARD_CORE_JWT_SVID_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bundle.h"
#include "core/certificate.h"
#include "core/keys.h"
#include "core/signer.h"
#include "core/spiffe_id.h"
#include "core/status.h"

namespace ward {

// Allowed clock skew between issuer and validator when checking exp, nbf and iat. go-jose (used
// by SPIRE) allows 60 s; Ward halves that, since its tokens live only 900 s.
inline constexpr int64_t kJwtClockLeewaySeconds = 30;
// Longest token Ward parses; a JWT-SVID with one audience is about 500 bytes.
inline constexpr size_t kMaxJwtBytes = 16 * 1024;

struct JwtSvidParams {
  SpiffeId subject;
  std::vector<std::string> audience;  // at least one
  UnixSeconds issued_at = 0;
  UnixSeconds expires_at = 0;
};

struct MintedJwtSvid {
  std::string token;
  std::string jti;  // random token ID, for audit records
};

// Signs with the key's default algorithm (ES256/ES384/ES512 by curve, RS256 for RSA).
Result<MintedJwtSvid> MintJwtSvid(const JwtSvidParams& params, std::string_view key_id,
                                  const Signer& signer);
Result<MintedJwtSvid> MintJwtSvid(const JwtSvidParams& params, std::string_view key_id,
                                  const PrivateKey& key);

struct ValidatedJwtSvid {
  SpiffeId id;
  std::vector<std::string> audience;
  UnixSeconds expires_at = 0;
  std::string key_id;
  std::string claims_json;  // the verified payload's JSON text, byte for byte as signed
};

// Validates a compact JWS JWT-SVID per JWT-SVID.md for `audience` (which must be non-empty) at
// time `now`.
Result<ValidatedJwtSvid> ValidateJwtSvid(std::string_view token, const TrustBundleSource& bundles,
                                         std::string_view audience, UnixSeconds now,
                                         int64_t leeway_seconds = kJwtClockLeewaySeconds);

// The "sub" of a token WITHOUT verifying anything: only for choosing which trust domain's bundle
// to load before calling ValidateJwtSvid. Never trust the result on its own.
Result<SpiffeId> UnverifiedJwtSubject(std::string_view token);

}  // namespace ward

#endif  // WARD_CORE_JWT_SVID_H_

// Internal to the core library: public keys as RFC 7517/7518 JWK members.
#ifndef WARD_CORE_INTERNAL_JWK_H_
#define WARD_CORE_INTERNAL_JWK_H_

#include <nlohmann/json.hpp>

#include "core/keys.h"
#include "core/status.h"

namespace ward::internal {

// Adds "kty" and the key parameters ("crv","x","y" or "n","e") of `key` to `jwk`.
Status AddPublicKeyToJwk(const PublicKey& key, nlohmann::json& jwk);

// Reads the key parameters of `jwk`. kNotFound means the "kty" is one Ward does not know, which
// bundle consumers must skip rather than reject.
Result<PublicKey> PublicKeyFromJwk(const nlohmann::json& jwk);

}  // namespace ward::internal

#endif  // WARD_CORE_INTERNAL_JWK_H_

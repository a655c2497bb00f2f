// The nine JWS algorithms a JWT-SVID may use (JWT-SVID.md §2.1; RFC 7518 §3.3-3.5) and the
// signing/verification primitives in JOSE encoding (raw r||s for ECDSA).
#ifndef WARD_CORE_JWS_ALGORITHM_H_
#define WARD_CORE_JWS_ALGORITHM_H_

#include <string_view>

#include "core/bytes.h"
#include "core/keys.h"
#include "core/openssl_ptr.h"
#include "core/status.h"

namespace ward {

enum class JwsAlgorithm { kRs256, kRs384, kRs512, kEs256, kEs384, kEs512, kPs256, kPs384, kPs512 };

// Refuses everything outside the nine (none, HS*, EdDSA, ...) with a message naming the value.
Result<JwsAlgorithm> ParseJwsAlgorithm(std::string_view name);
std::string_view JwsAlgorithmName(JwsAlgorithm alg);

// The algorithm Ward signs with for a key: ES256/ES384/ES512 by curve, RS256 for RSA.
Result<JwsAlgorithm> DefaultJwsAlgorithm(const KeyInfo& key);
// Rejects a key that cannot be used with `alg` (e.g. ES256 with a P-384 key, RS256 with EC).
Status CheckKeyMatchesAlgorithm(const KeyInfo& key, JwsAlgorithm alg);

Result<Bytes> JwsSign(const PrivateKey& key, JwsAlgorithm alg, ByteView data);
// JwsSign in two steps, for a signer that signs many messages with one key: setting up a
// context (fetching the signature implementation, binding the key and the algorithm's
// parameters) costs about a tenth of an ECDSA signature, so it is done once. The prepared
// context then signs message after message (each hashed first), one caller at a time.
Result<ossl::PkeyCtxPtr> PrepareJwsSign(const PrivateKey& key, JwsAlgorithm alg);
Result<Bytes> JwsSignWith(EVP_PKEY_CTX* ready, const PrivateKey& key, JwsAlgorithm alg,
                          ByteView data);
// OK only when `signature` is a valid JOSE-encoded signature of `data` under `key`.
Status JwsVerify(const PublicKey& key, JwsAlgorithm alg, ByteView data, ByteView signature);

}  // namespace ward

#endif  // WARD_CORE_JWS_ALGORITHM_H_

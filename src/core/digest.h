// Hashes of small inputs and their hex form. The digests are fetched from OpenSSL once: its
// one-shot SHA256() and SHA1() fetch the algorithm on every call, which costs more than hashing
// the few hundred bytes these callers hash (a key, an audit record, a token).
#ifndef WARD_CORE_DIGEST_H_
#define WARD_CORE_DIGEST_H_

#include <array>
#include <cstdint>
#include <string>

#include "core/bytes.h"

namespace ward {

using Sha256Digest = std::array<uint8_t, 32>;
using Sha1Digest = std::array<uint8_t, 20>;

Sha256Digest Sha256(ByteView data);
// Only where a standard names SHA-1 for a non-security use (RFC 5280 key identifiers).
Sha1Digest Sha1(ByteView data);

// Lower-case hex, two digits per byte.
std::string HexEncode(ByteView data);

}  // namespace ward

#endif  // WARD_CORE_DIGEST_H_

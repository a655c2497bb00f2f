// Hashes of small inputs and their hex form. The digests are fetched from OpenSSL once: its
// one-shot SHA256() and SHA1() fetch the algorithm on every call, which costs more than hashing
// the few hundred bytes these callers hash (a key, an audit record, a token).
#ifndef WARD_CORE_DIGEST_H_
#define WARD_CORE_DIGEST_H_

#include <openssl/types.h>

#include <array>
#include <cstdint>
#include <string>

#include "core/bytes.h"

namespace ward {

enum class DigestAlgorithm { kSha1, kSha256, kSha384, kSha512 };

// The implementation of `alg`, fetched once per process (a fetched EVP_MD is immutable and safe
// to share between threads). EVP_sha256() and friends fetch again on every use. Never null: a
// library without these digests cannot run Ward, and aborts at the first use.
const EVP_MD* FetchedDigest(DigestAlgorithm alg);

using Sha256Digest = std::array<uint8_t, 32>;
using Sha1Digest = std::array<uint8_t, 20>;

Sha256Digest Sha256(ByteView data);
// Only where a standard names SHA-1 for a non-security use (RFC 5280 key identifiers).
Sha1Digest Sha1(ByteView data);

// Lower-case hex, two digits per byte.
std::string HexEncode(ByteView data);

}  // namespace ward

#endif  // WARD_CORE_DIGEST_H_

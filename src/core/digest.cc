#include "core/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace ward {

const EVP_MD* FetchedDigest(DigestAlgorithm alg) {
  static const EVP_MD* const fetched[] = {
      EVP_MD_fetch(nullptr, "SHA1", nullptr), EVP_MD_fetch(nullptr, "SHA256", nullptr),
      EVP_MD_fetch(nullptr, "SHA384", nullptr), EVP_MD_fetch(nullptr, "SHA512", nullptr)};
  const EVP_MD* md = fetched[static_cast<size_t>(alg)];
  if (md == nullptr) std::abort();
  return md;
}

namespace {

template <size_t N>
std::array<uint8_t, N> Hash(DigestAlgorithm alg, ByteView data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  // Hashing a buffer in memory fails only when memory runs out; there is no meaningful way on,
  // and a wrong hash must never be used.
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, FetchedDigest(alg), nullptr) != 1 ||
      len != N) {
    std::abort();
  }
  return out;
}

}  // namespace

Sha256Digest Sha256(ByteView data) { return Hash<32>(DigestAlgorithm::kSha256, data); }
Sha1Digest Sha1(ByteView data) { return Hash<20>(DigestAlgorithm::kSha1, data); }

std::string HexEncode(ByteView data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * data.size(), '0');
  for (size_t i = 0; i < data.size(); ++i) {
    out[2 * i] = kHex[data[i] >> 4];
    out[2 * i + 1] = kHex[data[i] & 15];
  }
  return out;
}

}  // namespace ward

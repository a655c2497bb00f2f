#include "core/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace ward {
namespace {

template <size_t N>
std::array<uint8_t, N> Hash(const EVP_MD* md, ByteView data) {
  std::array<uint8_t, N> out{};
  unsigned int len = 0;
  // Hashing a buffer in memory fails only when the digest is missing from the library or memory
  // runs out; neither leaves a meaningful way on, and a wrong hash must never be used.
  if (md == nullptr || EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr) != 1 ||
      len != N) {
    std::abort();
  }
  return out;
}

}  // namespace

// A fetched EVP_MD is immutable and safe to share between threads.
Sha256Digest Sha256(ByteView data) {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return Hash<32>(md, data);
}
Sha1Digest Sha1(ByteView data) {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return Hash<20>(md, data);
}

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

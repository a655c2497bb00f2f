// Modular inversion of 256-bit numbers by Bernstein and Yang's division steps, 62 at a time on
// machine words, for the ECDSA verifications of internal/p256_check.cc. OpenSSL's
// BN_mod_inverse spends about 9 µs on a 256-bit inverse, a third of such a verification; this
// takes about 2 µs (BM_ModInverseP256Order; a binary extended Euclid before it took 4.8 µs).
//
// Variable time: only for public values (a signature's s), never for a secret.
#ifndef WARD_CORE_INTERNAL_MOD_INVERSE_H_
#define WARD_CORE_INTERNAL_MOD_INVERSE_H_

#include <array>
#include <cstdint>

namespace ward::internal {

using Uint256Bytes = std::array<uint8_t, 32>;  // big-endian

// Sets `inverse` to a⁻¹ mod n and returns true, or returns false when there is none: when n is
// even, a is 0 or not below n, or a and n share a factor.
bool InvertModOdd(const Uint256Bytes& a, const Uint256Bytes& n, Uint256Bytes& inverse);

}  // namespace ward::internal

#endif  // WARD_CORE_INTERNAL_MOD_INVERSE_H_

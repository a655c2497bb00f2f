#include "core/internal/mod_inverse.h"

#include <cstddef>

namespace ward::internal {
namespace {

using Limb = uint64_t;
__extension__ typedef unsigned __int128 Wide;  // GCC and Clang on 64-bit targets

// Four 64-bit limbs, least significant first.
struct Uint256 {
  Limb limb[4];
};

Uint256 FromBytes(const Uint256Bytes& be) {
  Uint256 out{};
  for (int i = 0; i < 4; ++i) {
    Limb v = 0;
    for (int j = 0; j < 8; ++j) v = (v << 8) | be[static_cast<size_t>((3 - i) * 8 + j)];
    out.limb[i] = v;
  }
  return out;
}

Uint256Bytes ToBytes(const Uint256& x) {
  Uint256Bytes out{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) {
      out[static_cast<size_t>((3 - i) * 8 + j)] = static_cast<uint8_t>(x.limb[i] >> (56 - 8 * j));
    }
  }
  return out;
}

bool IsZero(const Uint256& a) { return (a.limb[0] | a.limb[1] | a.limb[2] | a.limb[3]) == 0; }
bool IsOne(const Uint256& a) { return a.limb[0] == 1 && (a.limb[1] | a.limb[2] | a.limb[3]) == 0; }

int Compare(const Uint256& a, const Uint256& b) {
  for (int i = 3; i >= 0; --i) {
    if (a.limb[i] != b.limb[i]) return a.limb[i] < b.limb[i] ? -1 : 1;
  }
  return 0;
}

// r = a - b; returns the borrow out.
Limb Subtract(Uint256& r, const Uint256& a, const Uint256& b) {
  Limb borrow = 0;
  for (int i = 0; i < 4; ++i) {
    const Wide d = static_cast<Wide>(a.limb[i]) - b.limb[i] - borrow;
    r.limb[i] = static_cast<Limb>(d);
    borrow = static_cast<Limb>(d >> 64) & 1;
  }
  return borrow;
}

void Add(Uint256& r, const Uint256& a, const Uint256& b) {
  Limb carry = 0;
  for (int i = 0; i < 4; ++i) {
    const Wide s = static_cast<Wide>(a.limb[i]) + b.limb[i] + carry;
    r.limb[i] = static_cast<Limb>(s);
    carry = static_cast<Limb>(s >> 64);
  }
}

// r = a - b mod n, for a and b below n.
void SubtractMod(Uint256& r, const Uint256& a, const Uint256& b, const Uint256& n) {
  if (Subtract(r, a, b) != 0) Add(r, r, n);  // wraps back below n
}

struct Modulus {
  Uint256 n;
  Limb n_inverse;  // n⁻¹ mod 2⁶⁴
};

// x = x / 2^k mod n, for x < n and 1 <= k <= 64. Adding m·n with m = -x·n⁻¹ mod 2^k makes the sum
// divisible by 2^k; as x < n and m < 2^k, the quotient is below n.
void DivideByPowerOfTwo(Uint256& x, int k, const Modulus& mod) {
  const Limb mask = k == 64 ? ~Limb{0} : (Limb{1} << k) - 1;
  const Limb m = (Limb{0} - x.limb[0] * mod.n_inverse) & mask;
  Limb sum[5];
  Limb carry = 0;
  for (int i = 0; i < 4; ++i) {
    const Wide p = static_cast<Wide>(m) * mod.n.limb[i] + x.limb[i] + carry;
    sum[i] = static_cast<Limb>(p);
    carry = static_cast<Limb>(p >> 64);
  }
  sum[4] = carry;
  for (int i = 0; i < 4; ++i) {
    x.limb[i] = k == 64 ? sum[i + 1] : (sum[i] >> k) | (sum[i + 1] << (64 - k));
  }
}

// Divides u by its largest power-of-two factor, and x (mod n) by the same, keeping x·a ≡ u.
// u must not be zero.
void RemoveFactorsOfTwo(Uint256& u, Uint256& x, const Modulus& mod) {
  while ((u.limb[0] & 1) == 0) {
    int k = 64;
    if (u.limb[0] == 0) {
      u = {{u.limb[1], u.limb[2], u.limb[3], 0}};
    } else {
      k = __builtin_ctzll(u.limb[0]);
      for (int i = 0; i < 3; ++i) u.limb[i] = (u.limb[i] >> k) | (u.limb[i + 1] << (64 - k));
      u.limb[3] >>= k;
    }
    DivideByPowerOfTwo(x, k, mod);
  }
}

}  // namespace

bool InvertModOdd(const Uint256Bytes& a_bytes, const Uint256Bytes& n_bytes, Uint256Bytes& inverse) {
  const Uint256 a = FromBytes(a_bytes);
  Modulus mod{FromBytes(n_bytes), 1};
  if ((mod.n.limb[0] & 1) == 0 || IsZero(a) || Compare(a, mod.n) >= 0) return false;
  // Newton's iteration doubles the correct low bits each step: 1 → 2 → ... → 64 (n is odd, so
  // the starting value 1 is right mod 2).
  for (int i = 0; i < 6; ++i) mod.n_inverse *= 2 - mod.n.limb[0] * mod.n_inverse;

  // Invariants: x1·a ≡ u and x2·a ≡ v (mod n), with x1 and x2 below n. Each round makes u and v
  // odd and subtracts the smaller from the larger, so gcd(u, v) = gcd(a, n) throughout and the
  // pair shrinks until one of them is the gcd.
  Uint256 u = a;
  Uint256 v = mod.n;
  Uint256 x1{{1, 0, 0, 0}};
  Uint256 x2{{0, 0, 0, 0}};
  for (;;) {
    RemoveFactorsOfTwo(u, x1, mod);
    RemoveFactorsOfTwo(v, x2, mod);
    if (IsOne(u)) {
      inverse = ToBytes(x1);
      return true;
    }
    if (IsOne(v)) {
      inverse = ToBytes(x2);
      return true;
    }
    const int order = Compare(u, v);
    if (order == 0) return false;  // u = v = gcd(a, n) > 1
    if (order > 0) {
      Subtract(u, u, v);
      SubtractMod(x1, x1, x2, mod.n);
    } else {
      Subtract(v, v, u);
      SubtractMod(x2, x2, x1, mod.n);
    }
  }
}

}  // namespace ward::internal

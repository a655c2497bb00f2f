#include "core/internal/mod_inverse.h"

#include <cstddef>

namespace ward::internal {
namespace {

using Limb = uint64_t;
__extension__ typedef unsigned __int128 Wide;  // GCC and Clang on 64-bit targets

// The steps of one batch: the low 64 bits of f and g decide 62 steps exactly (each step needs one
// more bit than the steps left), and the batch's matrix entries stay within ±2^62.
constexpr int kBatchSteps = 62;
constexpr Limb kBatchMask = (Limb{1} << kBatchSteps) - 1;
// Bernstein and Yang bound the steps for 256-bit inputs by 741 (12 batches); a batch more than
// twice that many means a bug, and the caller falls back to another inverse.
constexpr int kMaxBatches = 24;

// A signed 320-bit number in two's complement, least significant limb first. The algorithm's
// values stay below 2^319 in magnitude, so arithmetic mod 2^320 is exact.
struct Int320 {
  Limb limb[5];
};

Int320 FromBytes(const Uint256Bytes& be) {
  Int320 out{};
  for (int i = 0; i < 4; ++i) {
    Limb v = 0;
    for (int j = 0; j < 8; ++j) v = (v << 8) | be[static_cast<size_t>((3 - i) * 8 + j)];
    out.limb[i] = v;
  }
  return out;
}

Uint256Bytes ToBytes(const Int320& x) {  // x in [0, 2^256)
  Uint256Bytes out{};
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) {
      out[static_cast<size_t>((3 - i) * 8 + j)] = static_cast<uint8_t>(x.limb[i] >> (56 - 8 * j));
    }
  }
  return out;
}

bool IsNegative(const Int320& x) { return (x.limb[4] >> 63) != 0; }
bool IsZero(const Int320& x) {
  return (x.limb[0] | x.limb[1] | x.limb[2] | x.limb[3] | x.limb[4]) == 0;
}
bool IsOne(const Int320& x) {
  return x.limb[0] == 1 && (x.limb[1] | x.limb[2] | x.limb[3] | x.limb[4]) == 0;
}
bool IsMinusOne(const Int320& x) {
  return (x.limb[0] & x.limb[1] & x.limb[2] & x.limb[3] & x.limb[4]) == ~Limb{0};
}

// Unsigned comparison; for two non-negative values, the numeric one.
int Compare(const Int320& a, const Int320& b) {
  for (int i = 4; i >= 0; --i) {
    if (a.limb[i] != b.limb[i]) return a.limb[i] < b.limb[i] ? -1 : 1;
  }
  return 0;
}

void AddTo(Int320& acc, const Int320& x) {
  Limb carry = 0;
  for (int i = 0; i < 5; ++i) {
    const Wide s = static_cast<Wide>(acc.limb[i]) + x.limb[i] + carry;
    acc.limb[i] = static_cast<Limb>(s);
    carry = static_cast<Limb>(s >> 64);
  }
}

void SubtractFrom(Int320& acc, const Int320& x) {
  Limb borrow = 0;
  for (int i = 0; i < 5; ++i) {
    const Wide d = static_cast<Wide>(acc.limb[i]) - x.limb[i] - borrow;
    acc.limb[i] = static_cast<Limb>(d);
    borrow = static_cast<Limb>(d >> 64) & 1;
  }
}

// acc += x·a (mod 2^320). As a 320-bit number a is its low 64 bits, minus 2^64 when negative, so
// x·a is x times those bits, minus x shifted up a limb.
void MultiplyAdd(Int320& acc, const Int320& x, int64_t a) {
  const Limb bits = static_cast<Limb>(a);
  Int320 product{};
  Limb carry = 0;
  for (int i = 0; i < 5; ++i) {
    const Wide t = static_cast<Wide>(x.limb[i]) * bits + carry;
    product.limb[i] = static_cast<Limb>(t);
    carry = static_cast<Limb>(t >> 64);
  }
  if (a < 0) {
    const Int320 shifted{{0, x.limb[0], x.limb[1], x.limb[2], x.limb[3]}};
    SubtractFrom(product, shifted);
  }
  AddTo(acc, product);
}

// x / 2^62 for an x whose low 62 bits are zero (false otherwise: a bug, reported, not hidden).
bool ExactShift(Int320& x) {
  if ((x.limb[0] & kBatchMask) != 0) return false;
  for (int i = 0; i < 4; ++i) {
    x.limb[i] = (x.limb[i] >> kBatchSteps) | (x.limb[i + 1] << (64 - kBatchSteps));
  }
  x.limb[4] = static_cast<Limb>(static_cast<int64_t>(x.limb[4]) >> kBatchSteps);
  return true;
}

// The matrix of a batch: 2^62·(f', g') = (u·f + v·g, q·f + r·g).
struct Transition {
  int64_t u, v, q, r;
};

// 62 division steps (Bernstein and Yang, "Fast constant-time gcd computation and modular
// inversion", 2019) on the low 64 bits of f (odd) and g:
//   g even:            (δ, f, g) → (1 + δ, f, g / 2)
//   g odd and δ > 0:   (δ, f, g) → (1 − δ, g, (g − f) / 2)
//   g odd otherwise:   (δ, f, g) → (1 + δ, f, (g + f) / 2)
// Runs of even steps go in one shift; the second odd case is the third after swapping f with g
// and negating the new g and δ, done with masks instead of a hard-to-predict branch.
Transition DivideSteps(int64_t& delta, Limb f, Limb g) {
  int64_t u = 1, v = 0, q = 0, r = 1;
  int left = kBatchSteps;
  for (;;) {
    // The bit above the steps left stops the count there, also when g is zero.
    const int zeros = __builtin_ctzll(g | (Limb{1} << left));
    g >>= zeros;
    u = static_cast<int64_t>(static_cast<Limb>(u) << zeros);
    v = static_cast<int64_t>(static_cast<Limb>(v) << zeros);
    delta += zeros;
    left -= zeros;
    if (left == 0) break;
    const Limb swap = delta > 0 ? ~Limb{0} : 0;
    const Limb fg = swap & (f ^ g);
    f ^= fg;
    g = ((g ^ fg) ^ swap) - swap;  // the old f, negated when swapping
    const int64_t mask = static_cast<int64_t>(swap);
    const int64_t uq = mask & (u ^ q);
    const int64_t vr = mask & (v ^ r);
    u ^= uq;
    q = ((q ^ uq) ^ mask) - mask;
    v ^= vr;
    r = ((r ^ vr) ^ mask) - mask;
    delta = (delta ^ mask) - mask;
    g = (g + f) >> 1;
    q += u;
    r += v;
    u = static_cast<int64_t>(static_cast<Limb>(u) << 1);
    v = static_cast<int64_t>(static_cast<Limb>(v) << 1);
    delta += 1;
    left -= 1;
    if (left == 0) break;
  }
  return {u, v, q, r};
}

// (x, y) ← T·(x, y), before the division by 2^62.
void Transform(const Transition& t, Int320& x, Int320& y) {
  Int320 next_x{};
  Int320 next_y{};
  MultiplyAdd(next_x, x, t.u);
  MultiplyAdd(next_x, y, t.v);
  MultiplyAdd(next_y, x, t.q);
  MultiplyAdd(next_y, y, t.r);
  x = next_x;
  y = next_y;
}

// x / 2^62 mod n for x = T-row·(d, e): adding k·n with k = −x·n⁻¹ mod 2^62 clears the low bits.
// With d and e in [0, n) the quotient is in (−n, 2n); it comes back in [0, n).
bool DivideMod(Int320& x, const Int320& n, Limb n_inverse) {
  const Limb k = (Limb{0} - x.limb[0] * n_inverse) & kBatchMask;
  MultiplyAdd(x, n, static_cast<int64_t>(k));
  if (!ExactShift(x)) return false;
  if (IsNegative(x)) AddTo(x, n);
  if (Compare(x, n) >= 0) SubtractFrom(x, n);
  return !IsNegative(x) && Compare(x, n) < 0;
}

// One batch: (f, g) ← T·(f, g) / 2^62 exactly, (d, e) ← T·(d, e) / 2^62 mod n.
bool ApplyBatch(const Transition& t, Int320& f, Int320& g, Int320& d, Int320& e, const Int320& n,
                Limb n_inverse) {
  Transform(t, f, g);
  Transform(t, d, e);
  return ExactShift(f) && ExactShift(g) && DivideMod(d, n, n_inverse) && DivideMod(e, n, n_inverse);
}

}  // namespace

bool InvertModOdd(const Uint256Bytes& a_bytes, const Uint256Bytes& n_bytes, Uint256Bytes& inverse) {
  const Int320 a = FromBytes(a_bytes);
  const Int320 n = FromBytes(n_bytes);
  if ((n.limb[0] & 1) == 0 || IsZero(a) || Compare(a, n) >= 0) return false;
  // Newton's iteration doubles the correct low bits each step: 1 → 2 → ... → 64 (n is odd, so
  // the starting value 1 is right mod 2).
  Limb n_inverse = 1;
  for (int i = 0; i < 6; ++i) n_inverse *= 2 - n.limb[0] * n_inverse;

  // Invariants: f ≡ d·a and g ≡ e·a (mod n), with d and e in [0, n). The steps keep gcd(f, g) =
  // gcd(n, a) and end with g = 0 and f = ±gcd, so f = ±1 means a⁻¹ = ±d.
  int64_t delta = 1;
  Int320 f = n;
  Int320 g = a;
  Int320 d{};
  Int320 e{{1, 0, 0, 0, 0}};
  for (int batch = 0; batch < kMaxBatches && !IsZero(g); ++batch) {
    const Transition t = DivideSteps(delta, f.limb[0], g.limb[0]);
    if (!ApplyBatch(t, f, g, d, e, n, n_inverse)) return false;
  }
  if (!IsZero(g)) return false;
  if (IsOne(f)) {
    inverse = ToBytes(d);
    return true;
  }
  if (IsMinusOne(f)) {
    Int320 negated = n;
    SubtractFrom(negated, d);  // d is not 0: 0 is no inverse, and f ≡ d·a
    inverse = ToBytes(negated);
    return true;
  }
  return false;  // |f| = gcd(a, n) > 1
}

}  // namespace ward::internal

// ECDSA P-256 verification with a precomputed key table, against OpenSSL's own verification:
// for any digest and signature the two must give the same answer. The input is a 32-byte digest
// then a 64-byte r || s; the seeds are valid signatures under the key below, so mutations land
// near the accepting case. Also checks the modular inverse against BN_mod_inverse on s.
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>

#include "core/internal/mod_inverse.h"
#include "core/keys.h"
#include "core/openssl_ptr.h"
#include "core/p256_precomputed_key.h"
#include "fuzz_check.h"

namespace {

constexpr char kPublicKeyPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEQqUqqfMwCGJoC8bWEEMIwnY7PcaJ\n"
    "cQAT/amAXH5lsQTM0a4cessl6BrTZ08cs7W7F4E6MxCpvpVeqK38NHCC6w==\n"
    "-----END PUBLIC KEY-----\n";

constexpr uint8_t kOrder[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
                                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17,
                                0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51};

struct Fixture {
  ward::PublicKey key = ward::PublicKey::FromPem(kPublicKeyPem).value();
  ward::P256PrecomputedKey table = ward::P256PrecomputedKey::Create(Point(key)).value();

  static ward::Bytes Point(const ward::PublicKey& k) {
    ward::Bytes point(65);
    size_t len = 0;
    FUZZ_CHECK(EVP_PKEY_get_octet_string_param(k.get(), "encoded-pub-key", point.data(),
                                               point.size(), &len) == 1);
    point.resize(len);
    return point;
  }
};

bool OpenSslVerifies(const ward::PublicKey& key, const uint8_t* digest, const uint8_t* raw) {
  ward::ossl::EcdsaSigPtr sig(ECDSA_SIG_new());
  FUZZ_CHECK(sig != nullptr);
  FUZZ_CHECK(ECDSA_SIG_set0(sig.get(), BN_bin2bn(raw, 32, nullptr),
                            BN_bin2bn(raw + 32, 32, nullptr)) == 1);
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  FUZZ_CHECK(der_len > 0);
  ward::ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  FUZZ_CHECK(ctx && EVP_PKEY_verify_init(ctx.get()) == 1);
  const int rc = EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(der_len), digest, 32);
  OPENSSL_free(der);
  ERR_clear_error();
  return rc == 1;
}

void CheckInverse(const uint8_t* value) {
  ward::internal::Uint256Bytes a;
  ward::internal::Uint256Bytes n;
  ward::internal::Uint256Bytes ours{};
  std::memcpy(a.data(), value, 32);
  std::memcpy(n.data(), kOrder, 32);
  const bool ok = ward::internal::InvertModOdd(a, n, ours);
  ward::ossl::BnPtr a_bn(BN_bin2bn(value, 32, nullptr));
  ward::ossl::BnPtr n_bn(BN_bin2bn(kOrder, 32, nullptr));
  std::unique_ptr<BN_CTX, ward::ossl::Deleter<BN_CTX_free>> ctx(BN_CTX_new());
  const bool in_range = BN_cmp(a_bn.get(), n_bn.get()) < 0 && !BN_is_zero(a_bn.get());
  ward::ossl::BnPtr theirs(in_range ? BN_mod_inverse(nullptr, a_bn.get(), n_bn.get(), ctx.get())
                                    : nullptr);
  ERR_clear_error();
  FUZZ_CHECK(ok == (theirs != nullptr));
  if (ok) {
    ward::internal::Uint256Bytes expected{};
    FUZZ_CHECK(BN_bn2binpad(theirs.get(), expected.data(), 32) == 32);
    FUZZ_CHECK(ours == expected);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Fixture fixture;
  if (size < 96) {
    // Too short for a digest and a signature: a signature of any length but 64 is refused.
    FUZZ_CHECK(!fixture.table.Verify(ward::ByteView(data, size < 32 ? size : 32),
                                     ward::ByteView(data, size < 63 ? size : 63)));
    return 0;
  }
  const bool ours = fixture.table.Verify(ward::ByteView(data, 32), ward::ByteView(data + 32, 64));
  FUZZ_CHECK(ours == OpenSslVerifies(fixture.key, data, data + 32));
  CheckInverse(data + 64);
  return 0;
}

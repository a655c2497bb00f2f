// The DER helpers the certificate builder relies on, checked against OpenSSL's own decoders.
#include "core/internal/der.h"

#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/ec.h>

#include "core/openssl_ptr.h"

namespace ward {
namespace {

TEST(DerTest, LongLengthsUseTheMinimalForm) {
  EXPECT_EQ(der::Tlv(0x04, Bytes(127)).size(), 129u);
  const Bytes two = der::Tlv(0x04, Bytes(200));
  EXPECT_EQ(two[1], 0x81);
  EXPECT_EQ(two[2], 200);
  const Bytes three = der::Tlv(0x04, Bytes(300));
  EXPECT_EQ(three[1], 0x82);
  EXPECT_EQ(three[2], 0x01);
  EXPECT_EQ(three[3], 0x2c);
}

TEST(DerTest, UnsignedIntegersArePositiveAndMinimal) {
  Bytes out;
  der::AppendUnsignedInteger(out, Bytes{0x00, 0x00, 0x7f});
  EXPECT_EQ(out, (Bytes{0x02, 0x01, 0x7f}));
  out.clear();
  der::AppendUnsignedInteger(out, Bytes{0x80});
  EXPECT_EQ(out, (Bytes{0x02, 0x02, 0x00, 0x80}));
  out.clear();
  der::AppendUnsignedInteger(out, Bytes{0x00});
  EXPECT_EQ(out, (Bytes{0x02, 0x01, 0x00}));
}

TEST(DerTest, TimesSwitchToGeneralizedTimeIn2050) {
  for (const auto& [when, text, tag] :
       {std::tuple<int64_t, std::string, int>{0, "700101000000Z", V_ASN1_UTCTIME},
        {2524607999, "491231235959Z", V_ASN1_UTCTIME},
        {2524608000, "20500101000000Z", V_ASN1_GENERALIZEDTIME}}) {
    Bytes out;
    der::AppendTime(out, when);
    const unsigned char* p = out.data();
    ossl::Asn1TimePtr parsed(d2i_ASN1_TIME(nullptr, &p, static_cast<long>(out.size())));
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(ASN1_STRING_type(parsed.get()), tag);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(parsed.get())),
                          static_cast<size_t>(ASN1_STRING_length(parsed.get()))),
              text);
  }
}

TEST(DerTest, EcdsaSignaturesMatchOpenSslEncoding) {
  Bytes raw(64, 0);
  raw[0] = 0x80;   // r needs a leading zero byte
  raw[63] = 0x05;  // s is the small value 5
  const Bytes encoded = der::EcdsaRawToDer(raw).value();
  const unsigned char* p = encoded.data();
  ossl::EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(encoded.size())));
  ASSERT_TRUE(sig);
  EXPECT_EQ(BN_num_bytes(ECDSA_SIG_get0_r(sig.get())), 32);
  EXPECT_TRUE(BN_is_word(ECDSA_SIG_get0_s(sig.get()), 5));
  EXPECT_FALSE(der::EcdsaRawToDer(Bytes(63)).ok());
  EXPECT_FALSE(der::EcdsaRawToDer(Bytes()).ok());
}

TEST(DerTest, EcdsaSignaturesDecodeToFixedWidthHalves) {
  // OpenSSL's own encoding of r = 0x80 followed by zeros (needs a leading zero byte) and s = 5.
  ossl::EcdsaSigPtr sig(ECDSA_SIG_new());
  Bytes r_bytes(32, 0);
  r_bytes[0] = 0x80;
  BIGNUM* r = BN_bin2bn(r_bytes.data(), 32, nullptr);
  BIGNUM* s = BN_new();
  ASSERT_TRUE(r && s && BN_set_word(s, 5) == 1 && ECDSA_SIG_set0(sig.get(), r, s) == 1);
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  ASSERT_GT(len, 0);
  const Bytes encoded(der, der + len);
  OPENSSL_free(der);

  const Bytes raw = der::EcdsaDerToRaw(encoded, 32).value();
  ASSERT_EQ(raw.size(), 64u);
  EXPECT_EQ(Bytes(raw.begin(), raw.begin() + 32), r_bytes);
  EXPECT_EQ(raw[63], 5);
  EXPECT_EQ(Bytes(raw.begin() + 32, raw.begin() + 63), Bytes(31, 0));
  EXPECT_EQ(der::EcdsaRawToDer(raw).value(), encoded);

  EXPECT_FALSE(der::EcdsaDerToRaw(encoded, 31).ok()) << "r does not fit in 31 bytes";
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(der::EcdsaDerToRaw(trailing, 32).ok());
  const Bytes negative = {0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x05};
  EXPECT_FALSE(der::EcdsaDerToRaw(negative, 32).ok());
  const Bytes one_value = {0x30, 0x03, 0x02, 0x01, 0x05};
  EXPECT_FALSE(der::EcdsaDerToRaw(one_value, 32).ok());
  const Bytes not_sequence = {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x05};
  EXPECT_FALSE(der::EcdsaDerToRaw(not_sequence, 32).ok());
  const Bytes extra_inside = {0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x05, 0x02, 0x01, 0x07};
  EXPECT_FALSE(der::EcdsaDerToRaw(extra_inside, 32).ok());
  // DER has one encoding per value: a leading zero only before a byte with its top bit set.
  const Bytes padded = {0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x05};
  EXPECT_FALSE(der::EcdsaDerToRaw(padded, 32).ok());
  const Bytes needed_zero = {0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x05};
  EXPECT_EQ(der::EcdsaDerToRaw(needed_zero, 32).value()[31], 0x80);
  const Bytes zero = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x05};
  EXPECT_TRUE(der::EcdsaDerToRaw(zero, 32).ok());  // r = 0: well formed, refused by the verifier
}

TEST(DerTest, ReaderRefusesTruncatedAndNonMinimalLengths) {
  const Bytes good = {0x30, 0x03, 0x02, 0x01, 0x05, 0xff};
  ByteView in = good;
  auto e = der::Read(in);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->tag, 0x30);
  EXPECT_EQ(e->content.size(), 3u);
  EXPECT_EQ(in.size(), 1u);
  for (const Bytes& bad :
       {Bytes{0x30}, Bytes{0x30, 0x05, 0x00}, Bytes{0x30, 0x81, 0x05, 0, 0, 0, 0, 0},
        Bytes{0x30, 0x80}, Bytes{0x1f, 0x01, 0x00}, Bytes{0x30, 0x82, 0x00}}) {
    ByteView b = bad;
    EXPECT_FALSE(der::Read(b).ok());
  }
}

}  // namespace
}  // namespace ward

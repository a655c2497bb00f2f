// The few DER encoding and decoding steps Ward needs to assemble certificates itself: building the
// TBSCertificate directly is far cheaper than OpenSSL 3's X509 object model, and it lets any
// Signer (an HSM included) produce the signature.
#ifndef WARD_CORE_INTERNAL_DER_H_
#define WARD_CORE_INTERNAL_DER_H_

#include <cstdint>

#include "core/bytes.h"
#include "core/status.h"

namespace ward::der {

inline constexpr uint8_t kBoolean = 0x01;
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kBitString = 0x03;
inline constexpr uint8_t kOctetString = 0x04;
inline constexpr uint8_t kNull = 0x05;
inline constexpr uint8_t kOid = 0x06;
inline constexpr uint8_t kUtcTime = 0x17;
inline constexpr uint8_t kGeneralizedTime = 0x18;
inline constexpr uint8_t kSequence = 0x30;

// Appends already-encoded DER (out of line: GCC 12 misreports inlined vector inserts).
void Append(Bytes& out, ByteView encoded);
void AppendTlv(Bytes& out, uint8_t tag, ByteView content);
Bytes Tlv(uint8_t tag, ByteView content);
// An INTEGER holding the unsigned big-endian `magnitude` (leading zeros dropped, a zero byte
// added when the top bit is set).
void AppendUnsignedInteger(Bytes& out, ByteView magnitude);
// UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
void AppendTime(Bytes& out, int64_t unix_seconds);

// Raw r||s (two equal halves) to a DER ECDSA-Sig-Value.
Result<Bytes> EcdsaRawToDer(ByteView raw);
// A DER ECDSA-Sig-Value to raw r||s, each half `n` bytes (JOSE, RFC 7518 §3.4).
Result<Bytes> EcdsaDerToRaw(ByteView der, size_t n);

struct Element {
  uint8_t tag = 0;
  ByteView content;
};
// Reads one element with a single-byte tag and a definite length from the front of `in`, and
// advances `in` past it.
Result<Element> Read(ByteView& in);

}  // namespace ward::der

#endif  // WARD_CORE_INTERNAL_DER_H_

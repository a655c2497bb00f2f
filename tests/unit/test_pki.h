// Test-only certificate factory. It bypasses Ward's SVID builders on purpose so tests can make
// certificates that break the rules (two URI SANs, CA leaves, bad key usage, ...).
#ifndef WARD_TESTS_UNIT_TEST_PKI_H_
#define WARD_TESTS_UNIT_TEST_PKI_H_

#include <string>
#include <vector>

#include "core/certificate.h"
#include "core/keys.h"

namespace ward::testing {

struct CertSpec {
  std::string subject_cn = "test";
  std::vector<std::string> uri_sans;
  // OpenSSL extension config values; empty means "omit the extension".
  std::string basic_constraints = "critical,CA:FALSE";
  std::string key_usage = "critical,digitalSignature";
  std::string ext_key_usage = "serverAuth,clientAuth";
  UnixSeconds not_before = 0;  // 0: now - 60
  UnixSeconds not_after = 0;   // 0: now + 3600
};

// Signs `spec` for `subject_key` with `issuer_key`; `issuer` null means self-signed.
Certificate MakeCert(const CertSpec& spec, const PublicKey& subject_key,
                     const PrivateKey& issuer_key, const Certificate* issuer);

// A CA spec for trust domain `td` ("spiffe://td" URI SAN, CA:TRUE, keyCertSign+cRLSign).
CertSpec CaSpec(const std::string& td);

PrivateKey NewKey(KeyType type = KeyType::kEcP256);
// `key` as an SVID's subject key (SubjectPublicKey::Of, which must succeed).
SubjectPublicKey Subject(const PublicKey& key);
UnixSeconds Now();

}  // namespace ward::testing

#endif  // WARD_TESTS_UNIT_TEST_PKI_H_

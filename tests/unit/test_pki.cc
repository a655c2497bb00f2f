#include "test_pki.h"

#include <openssl/x509v3.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

namespace ward::testing {
namespace {

void Check(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "test PKI: " << what << " failed: " << ossl::DrainErrors() << "\n";
    std::abort();
  }
}

void AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  if (value.empty()) return;
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  Check(ext != nullptr, "extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace

UnixSeconds Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SubjectPublicKey Subject(const PublicKey& key) { return SubjectPublicKey::Of(key).value(); }

PrivateKey NewKey(KeyType type) {
  auto key = PrivateKey::Generate(type);
  Check(key.ok(), "key generation");
  return std::move(key).value();
}

CertSpec CaSpec(const std::string& td) {
  CertSpec spec;
  spec.subject_cn = "CA " + td;
  spec.uri_sans = {"spiffe://" + td};
  spec.basic_constraints = "critical,CA:TRUE";
  spec.key_usage = "critical,keyCertSign,cRLSign";
  spec.ext_key_usage = "";
  return spec;
}

Certificate MakeCert(const CertSpec& spec, const PublicKey& subject_key,
                     const PrivateKey& issuer_key, const Certificate* issuer) {
  ossl::X509Ptr cert(X509_new());
  Check(X509_set_version(cert.get(), X509_VERSION_3) == 1, "version");
  static long serial = 1000;
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), ++serial);
  const UnixSeconds now = Now();
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), spec.not_before ? spec.not_before : now - 60);
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), spec.not_after ? spec.not_after : now + 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(spec.subject_cn.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer->get()) : name);
  Check(X509_set_pubkey(cert.get(), subject_key.get()) == 1, "pubkey");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer->get() : cert.get(), cert.get(), nullptr, nullptr, 0);
  AddExt(cert.get(), &ctx, NID_basic_constraints, spec.basic_constraints);
  AddExt(cert.get(), &ctx, NID_key_usage, spec.key_usage);
  AddExt(cert.get(), &ctx, NID_ext_key_usage, spec.ext_key_usage);
  std::string san;
  for (const auto& uri : spec.uri_sans) san += (san.empty() ? "URI:" : ",URI:") + uri;
  AddExt(cert.get(), &ctx, NID_subject_alt_name, san);
  AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (issuer) AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
  Check(X509_sign(cert.get(), issuer_key.get(), EVP_sha256()) > 0, "sign");
  return Certificate(std::move(cert));
}

}  // namespace ward::testing

#include "core/csr.h"

#include <openssl/pem.h>

namespace ward {
namespace {

Result<CertificateRequest> Inspect(ossl::X509ReqPtr req) {
  ossl::PkeyPtr pkey(X509_REQ_get_pubkey(req.get()));
  if (!pkey) return InvalidArgument("CSR carries no usable public key: " + ossl::DrainErrors());
  // Proof of possession: the request is signed by the private half of the key it carries.
  if (X509_REQ_verify(req.get(), pkey.get()) != 1) {
    ossl::DrainErrors();
    return InvalidArgument("CSR signature does not verify (no proof of possession of its key)");
  }
  PublicKey key(std::move(pkey));
  WARD_RETURN_IF_ERROR(CheckAcceptableKey(key.info()).WithContext("CSR key"));
  CertificateRequest out{std::move(key), {}, {}};
  // The SubjectPublicKeyInfo as it arrived; re-encoding the parsed key would go through
  // OpenSSL 3's encoder framework, several times the cost of the signature.
  unsigned char* spki = nullptr;
  const int spki_len = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req.get()), &spki);
  if (spki_len > 0) out.spki_der.assign(spki, spki + spki_len);
  OPENSSL_free(spki);
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req.get());
  if (exts != nullptr) {
    const int idx = X509v3_get_ext_by_NID(exts, NID_subject_alt_name, -1);
    if (idx >= 0) {
      ossl::GeneralNamesPtr names(
          static_cast<GENERAL_NAMES*>(X509V3_EXT_d2i(X509v3_get_ext(exts, idx))));
      for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
        if (gn->type != GEN_URI) continue;
        const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
        out.uri_sans.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  static_cast<size_t>(ASN1_STRING_length(s)));
      }
    }
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  ossl::DrainErrors();
  return out;
}

}  // namespace

Result<CertificateRequest> ParseCsrDer(ByteView der) {
  if (der.empty()) return InvalidArgument("CSR is empty");
  if (der.size() > kMaxCsrBytes) return InvalidArgument("CSR is larger than 32 KiB");
  const unsigned char* p = der.data();
  ossl::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
  if (!req) {
    ossl::DrainErrors();
    return InvalidArgument("CSR is not valid DER PKCS#10");
  }
  if (p != der.data() + der.size()) return InvalidArgument("trailing bytes after CSR");
  return Inspect(std::move(req));
}

Result<CertificateRequest> ParseCsrPem(std::string_view pem) {
  if (pem.size() > 2 * kMaxCsrBytes) return InvalidArgument("CSR is larger than 64 KiB of PEM");
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  ossl::X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) {
    ossl::DrainErrors();
    return InvalidArgument("no valid PEM CERTIFICATE REQUEST found");
  }
  return Inspect(std::move(req));
}

Result<Bytes> CreateCsrDer(const PrivateKey& key, std::string_view uri_san) {
  ossl::X509ReqPtr req(X509_REQ_new());
  if (!req || X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_pubkey(req.get(), key.get()) != 1) {
    return Internal("cannot build CSR: " + ossl::DrainErrors());
  }
  if (!uri_san.empty()) {
    ossl::GeneralNamesPtr names(GENERAL_NAMES_new());
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    ASN1_STRING_set(ia5, uri_san.data(), static_cast<int>(uri_san.size()));
    GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
    sk_GENERAL_NAME_push(names.get(), gn);
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names.get());
    sk_X509_EXTENSION_push(exts, ext);
    const int ok = X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    if (ok != 1) return Internal("cannot add CSR SAN: " + ossl::DrainErrors());
  }
  const EVP_MD* md = key.info().curve == "P-384" ? EVP_sha384() : EVP_sha256();
  if (X509_REQ_sign(req.get(), key.get(), md) <= 0) {
    return Internal("cannot sign CSR: " + ossl::DrainErrors());
  }
  unsigned char* der = nullptr;
  const int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0) return Internal("cannot encode CSR");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

}  // namespace ward

#include "core/certificate.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <cstring>

namespace ward {
namespace {

UnixSeconds ToUnix(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<UnixSeconds>(timegm(&tm));
}

std::vector<std::string> SansOfType(X509* x509, int type) {
  std::vector<std::string> out;
  ossl::GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != type) continue;
    const ASN1_IA5STRING* s = type == GEN_URI ? gn->d.uniformResourceIdentifier : gn->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

// Every Certificate Ward parses has a public key OpenSSL can decode, so public_key() can never
// return an empty key.
Status CheckPublicKeyDecodes(X509* x509) {
  if (X509_get0_pubkey(x509) == nullptr) {
    ossl::DrainErrors();
    return InvalidArgument("certificate public key cannot be decoded");
  }
  return OkStatus();
}

}  // namespace

Certificate::Certificate(ossl::X509Ptr x509) : x509_(std::move(x509)) {}

Certificate::Certificate(const Certificate& other) : x509_(nullptr) {
  X509_up_ref(other.x509_.get());
  x509_.reset(other.x509_.get());
}

Certificate& Certificate::operator=(const Certificate& other) {
  if (this != &other) {
    X509_up_ref(other.x509_.get());
    x509_.reset(other.x509_.get());
  }
  return *this;
}

Result<Certificate> Certificate::FromDer(ByteView der) {
  if (der.size() > kMaxCertificateBytes) {
    return InvalidArgument("certificate is larger than 64 KiB");
  }
  const unsigned char* p = der.data();
  ossl::X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x509) return InvalidArgument("certificate is not valid DER: " + ossl::DrainErrors());
  if (p != der.data() + der.size()) return InvalidArgument("trailing bytes after certificate");
  WARD_RETURN_IF_ERROR(CheckPublicKeyDecodes(x509.get()));
  return Certificate(std::move(x509));
}

Bytes Certificate::ToDer() const {
  unsigned char* der = nullptr;
  const int len = i2d_X509(x509_.get(), &der);
  if (len <= 0) return {};
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

std::string Certificate::ToPem() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x509_.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

PublicKey Certificate::public_key() const {
  // X509_get_pubkey returns a new reference that the PublicKey takes over.
  return PublicKey(ossl::PkeyPtr(X509_get_pubkey(x509_.get())));
}

std::vector<std::string> Certificate::UriSans() const { return SansOfType(x509_.get(), GEN_URI); }
std::vector<std::string> Certificate::DnsSans() const { return SansOfType(x509_.get(), GEN_DNS); }
UnixSeconds Certificate::not_before() const { return ToUnix(X509_get0_notBefore(x509_.get())); }
UnixSeconds Certificate::not_after() const { return ToUnix(X509_get0_notAfter(x509_.get())); }

std::string Certificate::SerialHex() const {
  ossl::BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509_.get()), nullptr));
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out(hex ? hex : "");
  OPENSSL_free(hex);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Certificate::SubjectString() const {
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(x509_.get()), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

bool Certificate::IsCa() const { return X509_check_ca(x509_.get()) != 0; }

Result<std::vector<Certificate>> ParsePemCertificates(std::string_view pem) {
  if (pem.size() > kMaxCertificateListBytes) {
    return InvalidArgument("PEM input is larger than 4 MiB");
  }
  std::vector<Certificate> out;
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(bio.get(), &name, &header, &data, &len) != 1) {
      // OpenSSL reports the end of the input as "no start line"; anything else is a bad block.
      const unsigned long err = ERR_peek_last_error();
      const bool at_end =
          ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
      ossl::DrainErrors();
      if (at_end) break;
      return InvalidArgument("malformed PEM block after certificate " + std::to_string(out.size()));
    }
    const bool is_cert = std::strcmp(name, "CERTIFICATE") == 0;
    Result<Certificate> cert = InvalidArgument("");
    if (is_cert) cert = Certificate::FromDer(ByteView(data, static_cast<size_t>(len)));
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    if (!is_cert) continue;  // private keys or parameters beside certificates are skipped
    if (!cert.ok()) {
      return cert.status().WithContext("PEM certificate " + std::to_string(out.size() + 1));
    }
    out.push_back(std::move(cert).value());
  }
  if (out.empty()) return InvalidArgument("no PEM CERTIFICATE block found");
  return out;
}

Result<std::vector<Certificate>> ParseDerCertificates(ByteView der) {
  if (der.size() > kMaxCertificateListBytes) {
    return InvalidArgument("DER certificate list is larger than 4 MiB");
  }
  std::vector<Certificate> out;
  const unsigned char* p = der.data();
  const unsigned char* end = der.data() + der.size();
  while (p < end) {
    const unsigned char* start = p;
    ossl::X509Ptr x509(d2i_X509(nullptr, &p, static_cast<long>(end - p)));
    if (!x509 || p <= start) {
      ossl::DrainErrors();
      return InvalidArgument("DER certificate " + std::to_string(out.size() + 1) + " at offset " +
                             std::to_string(start - der.data()) + " does not parse");
    }
    WARD_RETURN_IF_ERROR(CheckPublicKeyDecodes(x509.get())
                             .WithContext("DER certificate " + std::to_string(out.size() + 1)));
    out.emplace_back(std::move(x509));
  }
  if (out.empty()) return InvalidArgument("no certificate in DER input");
  return out;
}

std::string CertificatesToPem(const std::vector<Certificate>& certs) {
  std::string out;
  for (const auto& c : certs) out += c.ToPem();
  return out;
}

Bytes CertificatesToDer(const std::vector<Certificate>& certs) {
  Bytes out;
  for (const auto& c : certs) {
    const Bytes der = c.ToDer();
    out.insert(out.end(), der.begin(), der.end());
  }
  return out;
}

}  // namespace ward

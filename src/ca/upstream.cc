#include "ca/upstream.h"

#include <fcntl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>

#include "core/openssl_ptr.h"

namespace ward::ca {
namespace {

constexpr size_t kMaxFileBytes = 1024 * 1024;

Result<std::string> ReadFile(const std::string& path, bool secret) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FailedPrecondition("cannot read " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > static_cast<off_t>(kMaxFileBytes)) {
    ::close(fd);
    return FailedPrecondition(path + " is not a regular file of at most 1 MiB");
  }
  if (secret && (st.st_mode & 077) != 0) {
    ::close(fd);
    return FailedPrecondition("upstream CA key file " + path +
                              " is accessible by group or others; chmod 600 it");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

bool SelfSigned(const Certificate& c) {
  const bool ok = X509_check_issued(c.get(), c.get()) == X509_V_OK;
  ossl::DrainErrors();
  return ok;
}

}  // namespace

Result<UpstreamCa> LoadUpstreamCa(const std::string& cert_path, const std::string& key_path,
                                  const std::string& bundle_path, UnixSeconds now) {
  if (cert_path.empty() || key_path.empty()) {
    return InvalidArgument("an upstream CA needs both its certificate and its key file");
  }
  WARD_ASSIGN_OR_RETURN(std::string cert_pem, ReadFile(cert_path, false));
  auto certs = ParsePemCertificates(cert_pem);
  if (!certs.ok()) return certs.status().WithContext("upstream CA certificate file " + cert_path);
  WARD_ASSIGN_OR_RETURN(std::string key_pem, ReadFile(key_path, true));
  auto key = PrivateKey::FromPem(key_pem);
  SecureWipe(key_pem.data(), key_pem.size());
  if (!key.ok()) return key.status().WithContext("upstream CA key file " + key_path);

  UpstreamCa up{.signer = std::make_shared<LocalSigner>(
                    std::make_shared<const PrivateKey>(std::move(key).value())),
                .certificate = certs->front()};
  const Certificate& ca = up.certificate;
  if (!ca.IsCa()) {
    return InvalidArgument("the upstream certificate (" + ca.SubjectString() +
                           ") is not a CA (basicConstraints cA=false)");
  }
  if ((X509_get_extension_flags(ca.get()) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN) == 0) {
    return InvalidArgument("the upstream certificate lacks the keyCertSign key usage");
  }
  if (!up.signer->HasPublicKey(ca.public_key())) {
    return InvalidArgument("the upstream key does not match the upstream certificate");
  }
  up.certificate_is_root = SelfSigned(ca);
  for (size_t i = 1; i < certs->size(); ++i) {
    if (SelfSigned((*certs)[i])) {
      if (bundle_path.empty()) up.roots.push_back((*certs)[i]);
    } else {
      up.chain.push_back((*certs)[i]);
    }
  }
  if (up.certificate_is_root && bundle_path.empty()) up.roots.insert(up.roots.begin(), ca);
  if (!bundle_path.empty()) {
    WARD_ASSIGN_OR_RETURN(std::string bundle_pem, ReadFile(bundle_path, false));
    auto roots = ParsePemCertificates(bundle_pem);
    if (!roots.ok()) return roots.status().WithContext("upstream bundle " + bundle_path);
    up.roots = std::move(roots).value();
  }
  if (up.roots.empty()) {
    return InvalidArgument(
        "no upstream trust anchor: append the root to the upstream certificate file or give an "
        "upstream bundle file");
  }

  // The upstream certificate must chain to the anchors now, or nothing Ward signs will verify.
  ossl::X509StorePtr store(X509_STORE_new());
  for (const auto& r : up.roots) X509_STORE_add_cert(store.get(), r.get());
  ossl::X509StackPtr untrusted(sk_X509_new_null());
  for (const auto& c : up.chain) {
    X509_up_ref(c.get());
    sk_X509_push(untrusted.get(), c.get());
  }
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), ca.get(), untrusted.get()) != 1) {
    return Internal("cannot check the upstream chain: " + ossl::DrainErrors());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    ossl::DrainErrors();
    return InvalidArgument(std::string("the upstream certificate does not chain to its trust "
                                       "anchors: ") +
                           X509_verify_cert_error_string(err));
  }
  return up;
}

}  // namespace ward::ca

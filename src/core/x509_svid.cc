#include "core/x509_svid.h"

#include <openssl/rand.h>

#include <algorithm>
#include <ctime>

namespace ward {
namespace {

const EVP_MD* DigestFor(const PrivateKey& key) {
  const KeyInfo info = key.info();
  if (info.curve == "P-384") return EVP_sha384();
  if (info.curve == "P-521") return EVP_sha512();
  return EVP_sha256();
}

// Adds an extension from its decoded form; OpenSSL copies it into the certificate.
Status AddExtension(X509* x509, int nid, void* value, bool critical) {
  if (X509_add1_ext_i2d(x509, nid, value, critical ? 1 : 0, X509V3_ADD_REPLACE) != 1) {
    return Internal("cannot add extension " + std::string(OBJ_nid2sn(nid)) + ": " +
                    ossl::DrainErrors());
  }
  return OkStatus();
}

Status AddBasicConstraints(X509* x509, bool ca, std::optional<int> path_len) {
  ossl::BasicConstraintsPtr bc(BASIC_CONSTRAINTS_new());
  bc->ca = ca ? 0xff : 0;
  if (ca && path_len) {
    bc->pathlen = ASN1_INTEGER_new();
    ASN1_INTEGER_set(bc->pathlen, *path_len);
  }
  return AddExtension(x509, NID_basic_constraints, bc.get(), /*critical=*/true);
}

Status AddKeyUsage(X509* x509, std::initializer_list<int> bits) {
  ossl::Asn1BitStringPtr usage(ASN1_BIT_STRING_new());
  for (int bit : bits) ASN1_BIT_STRING_set_bit(usage.get(), bit, 1);
  return AddExtension(x509, NID_key_usage, usage.get(), /*critical=*/true);
}

Status AddSubjectAltNames(X509* x509, const std::string& uri,
                          const std::vector<std::string>& dns_names, bool critical) {
  ossl::GeneralNamesPtr names(GENERAL_NAMES_new());
  auto push = [&](int type, const std::string& value) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
    ASN1_STRING_set(ia5, value.data(), static_cast<int>(value.size()));
    GENERAL_NAME_set0_value(gn, type, ia5);
    sk_GENERAL_NAME_push(names.get(), gn);
  };
  push(GEN_URI, uri);
  for (const auto& dns : dns_names) push(GEN_DNS, dns);
  return AddExtension(x509, NID_subject_alt_name, names.get(), critical);
}

Status AddKeyIdentifiers(X509* x509, const Issuer& issuer) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_pubkey_digest(x509, EVP_sha1(), digest, &len) != 1) {
    return Internal("cannot hash public key: " + ossl::DrainErrors());
  }
  ossl::Asn1OctetStringPtr ski(ASN1_OCTET_STRING_new());
  ASN1_OCTET_STRING_set(ski.get(), digest, static_cast<int>(len));
  WARD_RETURN_IF_ERROR(AddExtension(x509, NID_subject_key_identifier, ski.get(), false));
  const ASN1_OCTET_STRING* issuer_kid =
      issuer.certificate ? X509_get0_subject_key_id(issuer.certificate->get()) : ski.get();
  if (issuer_kid == nullptr) return OkStatus();
  ossl::AuthorityKeyIdPtr aki(AUTHORITY_KEYID_new());
  aki->keyid = ASN1_OCTET_STRING_dup(issuer_kid);
  return AddExtension(x509, NID_authority_key_identifier, aki.get(), false);
}

Status SetSerial(X509* x509) {
  // 128 random bits, top bit clear so the DER INTEGER is positive and at most 16 bytes.
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return Internal("random generator failed");
  raw[0] &= 0x7f;
  raw[0] |= 0x01 << 6;  // never a short serial
  ossl::BnPtr bn(BN_bin2bn(raw, sizeof raw, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(x509)) == nullptr) {
    return Internal("cannot set serial: " + ossl::DrainErrors());
  }
  return OkStatus();
}

Result<ossl::X509Ptr> NewCertificate(const PublicKey& key, UnixSeconds not_before,
                                     UnixSeconds not_after, X509_NAME* subject,
                                     const Issuer& issuer) {
  if (not_after <= not_before) return InvalidArgument("notAfter must be later than notBefore");
  ossl::X509Ptr x509(X509_new());
  if (!x509 || X509_set_version(x509.get(), X509_VERSION_3) != 1) {
    return Internal("cannot allocate certificate");
  }
  WARD_RETURN_IF_ERROR(SetSerial(x509.get()));
  if (X509_set_pubkey(x509.get(), key.get()) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(x509.get()), static_cast<time_t>(not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x509.get()), static_cast<time_t>(not_after)) == nullptr ||
      X509_set_subject_name(x509.get(), subject) != 1) {
    return Internal("cannot fill certificate: " + ossl::DrainErrors());
  }
  X509_NAME* issuer_name =
      issuer.certificate ? X509_get_subject_name(issuer.certificate->get()) : subject;
  if (X509_set_issuer_name(x509.get(), issuer_name) != 1) {
    return Internal("cannot set issuer: " + ossl::DrainErrors());
  }
  return x509;
}

Result<Certificate> Sign(ossl::X509Ptr x509, const Issuer& issuer) {
  if (issuer.certificate != nullptr &&
      X509_check_private_key(issuer.certificate->get(), issuer.key.get()) != 1) {
    ossl::DrainErrors();
    return InvalidArgument("issuer key does not match the issuer certificate");
  }
  if (X509_sign(x509.get(), issuer.key.get(), DigestFor(issuer.key)) <= 0) {
    return Internal("cannot sign certificate: " + ossl::DrainErrors());
  }
  return Certificate(std::move(x509));
}

Status AddNameEntry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return OkStatus();
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(value.data()),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return InvalidArgument(std::string("invalid subject ") + field + ": " + ossl::DrainErrors());
  }
  return OkStatus();
}

Status ValidateDnsName(const std::string& name) {
  if (name.empty() || name.size() > 253) return InvalidArgument("DNS name must be 1-253 bytes");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '*';
    if (!ok)
      return InvalidArgument("DNS name \"" + name.substr(0, 64) + "\" has an invalid character");
  }
  return OkStatus();
}

bool HasFlag(const Certificate& cert, uint32_t flag) {
  return (X509_get_extension_flags(cert.get()) & flag) != 0;
}

}  // namespace

Result<Certificate> IssueCaCertificate(const CaCertificateParams& params, const Issuer& issuer) {
  if (!params.id.IsRoot()) {
    return InvalidArgument("a CA certificate's SPIFFE ID must not have a path: " + params.id.str());
  }
  if (params.common_name.empty() && params.organization.empty()) {
    return InvalidArgument("a CA certificate needs a subject (common name or organization)");
  }
  ossl::X509NamePtr subject(X509_NAME_new());
  WARD_RETURN_IF_ERROR(AddNameEntry(subject.get(), "O", params.organization));
  WARD_RETURN_IF_ERROR(AddNameEntry(subject.get(), "CN", params.common_name));
  WARD_ASSIGN_OR_RETURN(ossl::X509Ptr x509,
                        NewCertificate(params.public_key, params.not_before, params.not_after,
                                       subject.get(), issuer));
  WARD_RETURN_IF_ERROR(AddBasicConstraints(x509.get(), true, params.path_len));
  WARD_RETURN_IF_ERROR(AddKeyUsage(x509.get(), {5 /*keyCertSign*/, 6 /*cRLSign*/}));
  WARD_RETURN_IF_ERROR(AddSubjectAltNames(x509.get(), params.id.str(), {}, false));
  WARD_RETURN_IF_ERROR(AddKeyIdentifiers(x509.get(), issuer));
  return Sign(std::move(x509), issuer);
}

Result<Certificate> IssueX509Svid(const X509SvidParams& params, const Issuer& issuer) {
  if (params.id.IsRoot()) {
    return InvalidArgument("an X.509-SVID's SPIFFE ID must have a path: " + params.id.str());
  }
  if (issuer.certificate == nullptr) {
    return InvalidArgument("an X.509-SVID must be issued by a CA certificate");
  }
  for (const auto& dns : params.dns_names) WARD_RETURN_IF_ERROR(ValidateDnsName(dns));
  WARD_RETURN_IF_ERROR(CheckAcceptableKey(params.public_key.info()).WithContext("SVID key"));
  const UnixSeconds not_after = std::min(params.not_after, issuer.certificate->not_after());
  ossl::X509NamePtr subject(X509_NAME_new());
  WARD_RETURN_IF_ERROR(AddNameEntry(subject.get(), "CN", params.common_name));
  WARD_ASSIGN_OR_RETURN(ossl::X509Ptr x509, NewCertificate(params.public_key, params.not_before,
                                                           not_after, subject.get(), issuer));
  WARD_RETURN_IF_ERROR(AddBasicConstraints(x509.get(), false, std::nullopt));
  WARD_RETURN_IF_ERROR(
      AddKeyUsage(x509.get(), {0 /*digitalSignature*/, 2 /*keyEncipherment*/, 4 /*keyAgreement*/}));
  ossl::ExtKeyUsagePtr eku(sk_ASN1_OBJECT_new_null());
  sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_server_auth));
  sk_ASN1_OBJECT_push(eku.get(), OBJ_nid2obj(NID_client_auth));
  WARD_RETURN_IF_ERROR(AddExtension(x509.get(), NID_ext_key_usage, eku.get(), false));
  // RFC 5280 §4.1.2.6: with an empty subject the SAN extension is critical.
  WARD_RETURN_IF_ERROR(AddSubjectAltNames(x509.get(), params.id.str(), params.dns_names,
                                          /*critical=*/params.common_name.empty()));
  WARD_RETURN_IF_ERROR(AddKeyIdentifiers(x509.get(), issuer));
  return Sign(std::move(x509), issuer);
}

Result<SpiffeId> SpiffeIdFromCertificate(const Certificate& cert) {
  const std::vector<std::string> uris = cert.UriSans();
  if (uris.empty()) return InvalidArgument("certificate contains no URI SAN");
  if (uris.size() > 1) return InvalidArgument("certificate contains more than one URI SAN");
  auto id = SpiffeId::Parse(uris[0]);
  if (!id.ok()) return id.status().WithContext("URI SAN is not a valid SPIFFE ID");
  return id;
}

Result<VerifiedX509Svid> VerifyX509Svid(const std::vector<Certificate>& chain,
                                        const TrustBundleSource& bundles, UnixSeconds now) {
  if (chain.empty()) return InvalidArgument("certificate chain is empty");
  const Certificate& leaf = chain[0];
  WARD_ASSIGN_OR_RETURN(SpiffeId id, SpiffeIdFromCertificate(leaf));
  if (id.IsRoot()) {
    return InvalidArgument("leaf SPIFFE ID " + id.str() +
                           " has no path; it names a trust domain, not a workload");
  }
  if (HasFlag(leaf, EXFLAG_CA)) return InvalidArgument("leaf certificate is a CA (cA=true)");
  const uint32_t usage = X509_get_key_usage(leaf.get());
  if (!HasFlag(leaf, EXFLAG_KUSAGE)) return InvalidArgument("leaf certificate has no key usage");
  if (usage & KU_KEY_CERT_SIGN) return InvalidArgument("leaf certificate has keyCertSign");
  if (usage & KU_CRL_SIGN) return InvalidArgument("leaf certificate has cRLSign");
  if (!(usage & KU_DIGITAL_SIGNATURE)) {
    return InvalidArgument("leaf certificate lacks digitalSignature key usage");
  }
  for (size_t i = 1; i < chain.size(); ++i) {
    const Certificate& ca = chain[i];
    const std::string which = "intermediate certificate " + std::to_string(i);
    if (!HasFlag(ca, EXFLAG_CA)) return InvalidArgument(which + " is not a CA (cA=false)");
    if (HasFlag(ca, EXFLAG_KUSAGE) && !(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN)) {
      return InvalidArgument(which + " lacks keyCertSign");
    }
  }
  const TrustBundle* bundle = bundles.FindBundle(id.trust_domain_name());
  if (bundle == nullptr) {
    return InvalidArgument("no bundle for trust domain \"" + std::string(id.trust_domain_name()) +
                           "\"");
  }
  if (bundle->x509_authorities().empty()) {
    return InvalidArgument("the bundle of trust domain \"" + std::string(id.trust_domain_name()) +
                           "\" has no X.509 authorities");
  }

  ossl::X509StackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx ||
      X509_STORE_CTX_init(ctx.get(), bundle->x509_store(), leaf.get(), untrusted.get()) != 1) {
    return Internal("cannot start path validation: " + ossl::DrainErrors());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  // Bundle authorities are trust anchors even when they are not self-signed (as in go-spiffe).
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    ossl::DrainErrors();
    std::string reason = X509_verify_cert_error_string(err);
    if (err == X509_V_ERR_CERT_HAS_EXPIRED && depth == 0) {
      reason = "leaf certificate expired at " + FormatUtc(leaf.not_after());
    } else if (err == X509_V_ERR_CERT_NOT_YET_VALID && depth == 0) {
      reason = "leaf certificate is not valid before " + FormatUtc(leaf.not_before());
    } else if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
               err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
      reason += " (the chain does not lead to an authority in the bundle of " +
                id.trust_domain().name() + ")";
    } else {
      reason += " (certificate at depth " + std::to_string(depth) + ")";
    }
    return InvalidArgument("X.509-SVID verification failed: " + reason);
  }
  VerifiedX509Svid out{std::move(id), leaf.not_after(), {}};
  STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 0; i < sk_X509_num(verified); ++i) {
    X509* c = sk_X509_value(verified, i);
    X509_up_ref(c);
    out.verified_chain.emplace_back(ossl::X509Ptr(c));
  }
  return out;
}

}  // namespace ward

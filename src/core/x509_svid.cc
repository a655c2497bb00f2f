#include "core/x509_svid.h"

#include <algorithm>
#include <ctime>
#include <iterator>

#include "core/digest.h"
#include "core/internal/der.h"
#include "core/random.h"

namespace ward {
namespace {

// DER of the extension OIDs (id-ce arc, 2.5.29.x) and other fixed encodings.
constexpr uint8_t kOidBasicConstraints[] = {0x55, 0x1d, 0x13};
constexpr uint8_t kOidKeyUsage[] = {0x55, 0x1d, 0x0f};
constexpr uint8_t kOidExtKeyUsage[] = {0x55, 0x1d, 0x25};
constexpr uint8_t kOidSubjectAltName[] = {0x55, 0x1d, 0x11};
constexpr uint8_t kOidSubjectKeyId[] = {0x55, 0x1d, 0x0e};
constexpr uint8_t kOidAuthorityKeyId[] = {0x55, 0x1d, 0x23};
// SEQUENCE { id-kp-serverAuth, id-kp-clientAuth }
constexpr uint8_t kServerAndClientAuth[] = {0x30, 0x14, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05,
                                            0x05, 0x07, 0x03, 0x01, 0x06, 0x08, 0x2b, 0x06,
                                            0x01, 0x05, 0x05, 0x07, 0x03, 0x02};
// KeyUsage BIT STRINGs: keyCertSign|cRLSign, and digitalSignature|keyEncipherment|keyAgreement.
constexpr uint8_t kCaKeyUsage[] = {0x03, 0x02, 0x01, 0x06};
constexpr uint8_t kLeafKeyUsage[] = {0x03, 0x02, 0x03, 0xa8};

// AlgorithmIdentifier DER for each signature algorithm Ward signs certificates with.
constexpr uint8_t kEcdsaSha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
constexpr uint8_t kEcdsaSha384[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
constexpr uint8_t kEcdsaSha512[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x04, 0x03, 0x04};
constexpr uint8_t kRsaSha256[] = {0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                  0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};

struct SignatureAlgorithm {
  JwsAlgorithm jws;
  ByteView identifier;
  bool ecdsa;
};

Result<SignatureAlgorithm> SignatureAlgorithmFor(const KeyInfo& info) {
  WARD_ASSIGN_OR_RETURN(JwsAlgorithm jws, DefaultJwsAlgorithm(info));
  switch (jws) {
    case JwsAlgorithm::kEs256:
      return SignatureAlgorithm{jws, kEcdsaSha256, true};
    case JwsAlgorithm::kEs384:
      return SignatureAlgorithm{jws, kEcdsaSha384, true};
    case JwsAlgorithm::kEs512:
      return SignatureAlgorithm{jws, kEcdsaSha512, true};
    case JwsAlgorithm::kRs256:
      return SignatureAlgorithm{jws, kRsaSha256, false};
    default:
      return InvalidArgument("no certificate signature algorithm for this key");
  }
}

void AppendExtension(Bytes& out, ByteView oid, bool critical, ByteView value) {
  Bytes body;
  body.reserve(oid.size() + value.size() + 10);
  der::AppendTlv(body, der::kOid, oid);
  if (critical) {
    const uint8_t true_value = 0xff;
    der::AppendTlv(body, der::kBoolean, ByteView(&true_value, 1));
  }
  der::AppendTlv(body, der::kOctetString, value);
  der::AppendTlv(out, der::kSequence, body);
}

Bytes BasicConstraints(bool ca, std::optional<int> path_len) {
  Bytes body;
  if (ca) {
    const uint8_t true_value = 0xff;
    der::AppendTlv(body, der::kBoolean, ByteView(&true_value, 1));
    if (path_len) {
      const uint8_t len = static_cast<uint8_t>(*path_len);
      der::AppendUnsignedInteger(body, ByteView(&len, 1));
    }
  }
  return der::Tlv(der::kSequence, body);
}

Bytes SubjectAltNames(const std::string& uri, const std::vector<std::string>& dns_names) {
  Bytes body;
  der::AppendTlv(body, 0x86 /*[6] uniformResourceIdentifier*/, AsBytes(uri));
  for (const auto& dns : dns_names) der::AppendTlv(body, 0x82 /*[2] dNSName*/, AsBytes(dns));
  return der::Tlv(der::kSequence, body);
}

// RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING's value.
Result<Bytes> KeyIdentifier(ByteView spki) {
  ByteView in = spki;
  WARD_ASSIGN_OR_RETURN(der::Element outer, der::Read(in));
  if (outer.tag != der::kSequence || !in.empty()) {
    return InvalidArgument("SubjectPublicKeyInfo is not one SEQUENCE");
  }
  ByteView fields = outer.content;
  WARD_ASSIGN_OR_RETURN(der::Element algorithm, der::Read(fields));
  WARD_ASSIGN_OR_RETURN(der::Element key, der::Read(fields));
  if (algorithm.tag != der::kSequence || key.tag != der::kBitString || key.content.empty() ||
      key.content[0] != 0 || !fields.empty()) {
    return InvalidArgument("SubjectPublicKeyInfo is malformed");
  }
  const Sha1Digest digest = Sha1(key.content.subspan(1));
  return Bytes(digest.begin(), digest.end());
}

Result<Bytes> NameDer(const X509_NAME* name) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_NAME(name, &der);
  if (len < 0) return Internal("cannot encode name: " + ossl::DrainErrors());
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

Bytes RandomSerial() {
  // 128 random bits, top bit clear so the DER INTEGER is positive and exactly 16 bytes, and the
  // second bit set so it is never short.
  uint8_t raw[16];
  if (!FillRandomValue(raw, sizeof raw).ok()) return {};
  raw[0] &= 0x7f;
  raw[0] |= 0x40;
  return Bytes(raw, raw + sizeof raw);
}

struct CertificateFields {
  ByteView issuer_name;
  ByteView subject_name;
  UnixSeconds not_before = 0;
  UnixSeconds not_after = 0;
  ByteView spki;
  ByteView extensions;  // the concatenated Extension SEQUENCEs
};

// Assembles the TBSCertificate, has the issuer's signer sign it, and returns the certificate's
// DER with the facts a caller records about it.
Result<IssuedCertificate> AssembleAndSignDer(const CertificateFields& f, const Signer& signer) {
  if (f.not_after <= f.not_before) return InvalidArgument("notAfter must be later than notBefore");
  WARD_ASSIGN_OR_RETURN(SignatureAlgorithm alg, SignatureAlgorithmFor(signer.key_info()));
  const Bytes serial = RandomSerial();
  if (serial.empty()) return Internal("random generator failed");

  Bytes tbs_body;
  tbs_body.reserve(f.issuer_name.size() + f.subject_name.size() + f.spki.size() +
                   f.extensions.size() + 96);
  static constexpr uint8_t kVersion3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
  der::Append(tbs_body, kVersion3);
  der::AppendUnsignedInteger(tbs_body, serial);
  der::Append(tbs_body, alg.identifier);
  der::Append(tbs_body, f.issuer_name);
  Bytes validity;
  der::AppendTime(validity, f.not_before);
  der::AppendTime(validity, f.not_after);
  der::AppendTlv(tbs_body, der::kSequence, validity);
  der::Append(tbs_body, f.subject_name);
  der::Append(tbs_body, f.spki);
  der::AppendTlv(tbs_body, 0xa3 /*[3] extensions*/, der::Tlv(der::kSequence, f.extensions));
  const Bytes tbs = der::Tlv(der::kSequence, tbs_body);

  WARD_ASSIGN_OR_RETURN(Bytes signature, signer.Sign(alg.jws, tbs));
  if (alg.ecdsa) {
    WARD_ASSIGN_OR_RETURN(signature, der::EcdsaRawToDer(signature));
  }
  Bytes bits;
  bits.reserve(signature.size() + 1);
  bits.push_back(0);  // no unused bits
  der::Append(bits, signature);

  Bytes cert_body = tbs;
  der::Append(cert_body, alg.identifier);
  der::AppendTlv(cert_body, der::kBitString, bits);
  // The serial's first byte is 0x40-0x7f, so its hex has no leading zero: the same text as
  // Certificate::SerialHex().
  return IssuedCertificate{der::Tlv(der::kSequence, cert_body), HexEncode(serial), f.not_after};
}

Result<Certificate> AssembleAndSign(const CertificateFields& f, const Signer& signer) {
  WARD_ASSIGN_OR_RETURN(IssuedCertificate issued, AssembleAndSignDer(f, signer));
  auto parsed = Certificate::FromDer(issued.der);
  if (!parsed.ok()) {
    return Internal("issued certificate does not parse: " + parsed.status().message());
  }
  return parsed;
}

Result<Bytes> SpkiOf(const PublicKey& key) {
  Bytes spki = key.ToSpkiDer();
  if (spki.empty()) return Internal("cannot encode public key: " + ossl::DrainErrors());
  return spki;
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

Issuer::Issuer(const Signer& signer, const Certificate* cert)
    : certificate(cert), signer_(&signer) {}

Issuer::Issuer(const PrivateKey& key, const Certificate* cert)
    : certificate(cert), local_(std::in_place, key), signer_(&*local_) {}

Result<Certificate> IssueCaCertificate(const CaCertificateParams& params, const Issuer& issuer) {
  if (!params.id.IsRoot()) {
    return InvalidArgument("a CA certificate's SPIFFE ID must not have a path: " + params.id.str());
  }
  if (params.common_name.empty() && params.organization.empty()) {
    return InvalidArgument("a CA certificate needs a subject (common name or organization)");
  }
  if (params.path_len && (*params.path_len < 0 || *params.path_len > 127)) {
    return InvalidArgument("pathLenConstraint must be 0-127");
  }
  const Signer& signer = issuer.signer();
  if (issuer.certificate != nullptr && !signer.HasPublicKey(issuer.certificate->public_key())) {
    return InvalidArgument("issuer key does not match the issuer certificate");
  }
  ossl::X509NamePtr subject(X509_NAME_new());
  WARD_RETURN_IF_ERROR(AddNameEntry(subject.get(), "O", params.organization));
  WARD_RETURN_IF_ERROR(AddNameEntry(subject.get(), "CN", params.common_name));
  WARD_ASSIGN_OR_RETURN(Bytes subject_der, NameDer(subject.get()));
  Bytes issuer_der = subject_der;
  if (issuer.certificate != nullptr) {
    WARD_ASSIGN_OR_RETURN(issuer_der, NameDer(X509_get_subject_name(issuer.certificate->get())));
  }
  WARD_ASSIGN_OR_RETURN(Bytes spki, SpkiOf(params.public_key));
  WARD_ASSIGN_OR_RETURN(Bytes key_id, KeyIdentifier(spki));

  Bytes extensions;
  AppendExtension(extensions, kOidBasicConstraints, true, BasicConstraints(true, params.path_len));
  AppendExtension(extensions, kOidKeyUsage, true, kCaKeyUsage);
  AppendExtension(extensions, kOidSubjectAltName, false, SubjectAltNames(params.id.str(), {}));
  AppendExtension(extensions, kOidSubjectKeyId, false, der::Tlv(der::kOctetString, key_id));
  ByteView authority_key_id = key_id;
  if (issuer.certificate != nullptr) {
    const ASN1_OCTET_STRING* kid = X509_get0_subject_key_id(issuer.certificate->get());
    authority_key_id =
        kid ? ByteView(ASN1_STRING_get0_data(kid), static_cast<size_t>(ASN1_STRING_length(kid)))
            : ByteView();
  }
  if (!authority_key_id.empty()) {
    AppendExtension(extensions, kOidAuthorityKeyId, false,
                    der::Tlv(der::kSequence, der::Tlv(0x80, authority_key_id)));
  }
  UnixSeconds not_after = params.not_after;
  if (issuer.certificate != nullptr)
    not_after = std::min(not_after, issuer.certificate->not_after());
  return AssembleAndSign({.issuer_name = issuer_der,
                          .subject_name = subject_der,
                          .not_before = params.not_before,
                          .not_after = not_after,
                          .spki = spki,
                          .extensions = extensions},
                         signer);
}

namespace {

// What an SVID copies from its issuer.
struct IssuerFacts {
  const Signer& signer;
  ByteView name_der;
  ByteView key_id;  // becomes the SVID's authority key ID; empty: none
  UnixSeconds not_after;
};

ByteView SubjectKeyId(const Certificate& cert) {
  const ASN1_OCTET_STRING* kid = X509_get0_subject_key_id(cert.get());
  if (kid == nullptr) return {};
  return ByteView(ASN1_STRING_get0_data(kid), static_cast<size_t>(ASN1_STRING_length(kid)));
}

Result<IssuedCertificate> IssueSvid(const X509SvidParams& params, const IssuerFacts& issuer) {
  if (params.id.IsRoot()) {
    return InvalidArgument("an X.509-SVID's SPIFFE ID must have a path: " + params.id.str());
  }
  for (const auto& dns : params.dns_names) WARD_RETURN_IF_ERROR(ValidateDnsName(dns));
  WARD_RETURN_IF_ERROR(CheckAcceptableKey(params.key.info).WithContext("SVID key"));
  const UnixSeconds not_after = std::min(params.not_after, issuer.not_after);
  Bytes subject_der = {0x30, 0x00};  // the empty Name
  if (!params.common_name.empty()) {
    ossl::X509NamePtr subject(X509_NAME_new());
    WARD_RETURN_IF_ERROR(AddNameEntry(subject.get(), "CN", params.common_name));
    WARD_ASSIGN_OR_RETURN(subject_der, NameDer(subject.get()));
  }
  WARD_ASSIGN_OR_RETURN(Bytes key_id, KeyIdentifier(params.key.spki_der));

  Bytes extensions;
  extensions.reserve(256 + params.id.str().size());
  AppendExtension(extensions, kOidBasicConstraints, true, BasicConstraints(false, std::nullopt));
  AppendExtension(extensions, kOidKeyUsage, true, kLeafKeyUsage);
  AppendExtension(extensions, kOidExtKeyUsage, false, kServerAndClientAuth);
  // RFC 5280 §4.1.2.6: with an empty subject the SAN extension is critical.
  AppendExtension(extensions, kOidSubjectAltName, params.common_name.empty(),
                  SubjectAltNames(params.id.str(), params.dns_names));
  AppendExtension(extensions, kOidSubjectKeyId, false, der::Tlv(der::kOctetString, key_id));
  if (!issuer.key_id.empty()) {
    AppendExtension(extensions, kOidAuthorityKeyId, false,
                    der::Tlv(der::kSequence, der::Tlv(0x80, issuer.key_id)));
  }
  return AssembleAndSignDer({.issuer_name = issuer.name_der,
                             .subject_name = subject_der,
                             .not_before = params.not_before,
                             .not_after = not_after,
                             .spki = params.key.spki_der,
                             .extensions = extensions},
                            issuer.signer);
}

}  // namespace

Result<IssuedCertificate> IssueX509SvidDer(const X509SvidParams& params, const Issuer& issuer) {
  if (issuer.certificate == nullptr) {
    return InvalidArgument("an X.509-SVID must be issued by a CA certificate");
  }
  if (!issuer.signer().HasPublicKey(issuer.certificate->public_key())) {
    return InvalidArgument("issuer key does not match the issuer certificate");
  }
  WARD_ASSIGN_OR_RETURN(Bytes name_der, NameDer(X509_get_subject_name(issuer.certificate->get())));
  return IssueSvid(params, {issuer.signer(), name_der, SubjectKeyId(*issuer.certificate),
                            issuer.certificate->not_after()});
}

PreparedIssuer::PreparedIssuer(std::shared_ptr<const Signer> signer, Certificate cert,
                               Bytes name_der, Bytes key_id)
    : signer_(std::move(signer)),
      certificate_(std::move(cert)),
      name_der_(std::move(name_der)),
      key_id_(std::move(key_id)),
      not_after_(certificate_.not_after()) {}

Result<PreparedIssuer> PreparedIssuer::Create(std::shared_ptr<const Signer> signer,
                                              Certificate cert) {
  if (signer == nullptr) return InvalidArgument("an issuer needs a signer");
  if (!signer->HasPublicKey(cert.public_key())) {
    return InvalidArgument("issuer key does not match the issuer certificate");
  }
  WARD_ASSIGN_OR_RETURN(Bytes name_der, NameDer(X509_get_subject_name(cert.get())));
  const ByteView key_id = SubjectKeyId(cert);
  Bytes key_id_copy(key_id.begin(), key_id.end());
  return PreparedIssuer(std::move(signer), std::move(cert), std::move(name_der),
                        std::move(key_id_copy));
}

Result<IssuedCertificate> IssueX509SvidDer(const X509SvidParams& params,
                                           const PreparedIssuer& issuer) {
  return IssueSvid(params,
                   {issuer.signer(), issuer.name_der(), issuer.key_id(), issuer.not_after()});
}

Result<Certificate> IssueX509Svid(const X509SvidParams& params, const Issuer& issuer) {
  WARD_ASSIGN_OR_RETURN(IssuedCertificate issued, IssueX509SvidDer(params, issuer));
  auto parsed = Certificate::FromDer(issued.der);
  if (!parsed.ok()) {
    return Internal("issued certificate does not parse: " + parsed.status().message());
  }
  return parsed;
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

// Certificate list parsing (DER and PEM) and X.509-SVID validation against a fixed bundle.
#include <string_view>

#include "core/x509_svid.h"
#include "fuzz_check.h"

namespace {

const ward::BundleSet& Bundles() {
  static const ward::BundleSet* set = [] {
    auto* s = new ward::BundleSet();  // lives for the whole fuzzing process
    auto key = ward::PrivateKey::Generate(ward::KeyType::kEcP256);
    auto id = ward::SpiffeId::Parse("spiffe://example.org").value();
    auto ca = ward::IssueCaCertificate({.id = id,
                                        .public_key = key->public_key(),
                                        .common_name = "fuzz",
                                        .not_before = 0,
                                        .not_after = 4000000000},
                                       ward::Issuer{*key});
    s->Put(ward::TrustBundle::Create(id.trust_domain(), {*ca}, {}).value());
    return s;
  }();
  return *set;
}

void Exercise(const std::vector<ward::Certificate>& certs) {
  for (const auto& c : certs) {
    (void)c.UriSans();
    (void)c.DnsSans();
    (void)c.SerialHex();
    (void)c.SubjectString();
    (void)c.not_after();
    (void)c.public_key();
  }
  auto v = ward::VerifyX509Svid(certs, Bundles(), 1800000000);
  if (v.ok()) FUZZ_CHECK(!v->id.IsRoot());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto der = ward::ParseDerCertificates(ward::ByteView(data, size));
  if (der.ok()) {
    Exercise(*der);
    auto again = ward::ParseDerCertificates(ward::CertificatesToDer(*der));
    FUZZ_CHECK(again.ok() && again->size() == der->size());
  }
  auto pem =
      ward::ParsePemCertificates(std::string_view(reinterpret_cast<const char*>(data), size));
  if (pem.ok()) Exercise(*pem);
  return 0;
}

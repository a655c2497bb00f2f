// JWT-SVID parsing and validation against a fixed bundle. Invariant: a token that validates has
// a subject in the only trust domain the bundle holds.
#include <string_view>

#include "core/jwt_svid.h"
#include "fuzz_check.h"

namespace {

const ward::BundleSet& Bundles() {
  static const ward::BundleSet* set = [] {
    auto* s = new ward::BundleSet();  // lives for the whole fuzzing process
    auto key = ward::PrivateKey::Generate(ward::KeyType::kEcP256);
    s->Put(ward::TrustBundle::Create(ward::TrustDomain::Parse("example.org").value(), {},
                                     {{"k1", key->public_key()}})
               .value());
    return s;
  }();
  return *set;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  (void)ward::UnverifiedJwtSubject(token);
  auto v = ward::ValidateJwtSvid(token, Bundles(), "aud", 1800000000);
  if (v.ok()) FUZZ_CHECK(v->id.trust_domain_name() == "example.org");
  return 0;
}

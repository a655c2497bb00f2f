// ward-samplegen: writes a complete sample trust domain into a folder, using only the core
// library: root CA -> intermediate CA -> X.509-SVID, a JWT-SVID, and the bundle in every form.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "cli/cli_io.h"
#include "core/bundle.h"
#include "core/jwt_svid.h"
#include "core/x509_svid.h"

namespace {

using namespace ward;

Status WriteFile(const std::string& path, std::string_view data, mode_t mode = 0644) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Internal("cannot write " + path);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out || chmod(path.c_str(), mode) != 0) return Internal("cannot write " + path);
  return OkStatus();
}

struct Options {
  std::string dir;
  std::string trust_domain = "example.org";
  std::string spiffe_id;
  std::string audience = "demo";
  std::string key_type = "ec-p256";
  int64_t ttl = 3600;
  int64_t jwt_ttl = 900;
};

Status Generate(const Options& o) {
  WARD_ASSIGN_OR_RETURN(TrustDomain td, TrustDomain::Parse(o.trust_domain));
  WARD_ASSIGN_OR_RETURN(SpiffeId td_id, SpiffeId::FromPath(td, ""));
  WARD_ASSIGN_OR_RETURN(
      SpiffeId workload,
      SpiffeId::Parse(o.spiffe_id.empty() ? td.IdString() + "/workload" : o.spiffe_id));
  WARD_ASSIGN_OR_RETURN(KeyType key_type, ParseKeyType(o.key_type));
  const UnixSeconds now = UnixNow();

  WARD_ASSIGN_OR_RETURN(PrivateKey root_key, PrivateKey::Generate(key_type));
  const CaCertificateParams root_params{.id = td_id,
                                        .public_key = root_key.public_key(),
                                        .common_name = "Ward sample root CA",
                                        .not_before = now - 60,
                                        .not_after = now + 30 * 24 * 3600};
  WARD_ASSIGN_OR_RETURN(Certificate root, IssueCaCertificate(root_params, Issuer{root_key}));

  WARD_ASSIGN_OR_RETURN(PrivateKey int_key, PrivateKey::Generate(key_type));
  const CaCertificateParams int_params{.id = td_id,
                                       .public_key = int_key.public_key(),
                                       .common_name = "Ward sample intermediate CA",
                                       .not_before = now - 60,
                                       .not_after = now + 7 * 24 * 3600,
                                       .path_len = 0};
  WARD_ASSIGN_OR_RETURN(Certificate intermediate,
                        IssueCaCertificate(int_params, Issuer{root_key, &root}));

  WARD_ASSIGN_OR_RETURN(PrivateKey svid_key, PrivateKey::Generate(key_type));
  WARD_ASSIGN_OR_RETURN(SubjectPublicKey svid_subject, SubjectPublicKey::Of(svid_key.public_key()));
  const X509SvidParams leaf_params{.id = workload,
                                   .key = std::move(svid_subject),
                                   .not_before = now - 10,
                                   .not_after = now + o.ttl};
  WARD_ASSIGN_OR_RETURN(Certificate leaf,
                        IssueX509Svid(leaf_params, Issuer{int_key, &intermediate}));

  WARD_ASSIGN_OR_RETURN(PrivateKey jwt_key, PrivateKey::Generate(key_type));
  const std::string kid = "ward-sample-1";
  WARD_ASSIGN_OR_RETURN(MintedJwtSvid jwt,
                        MintJwtSvid({workload, {o.audience}, now, now + o.jwt_ttl}, kid, jwt_key));

  WARD_ASSIGN_OR_RETURN(TrustBundle bundle,
                        TrustBundle::Create(td, {root}, {{kid, jwt_key.public_key()}}, 1, 300));
  BundleSet set;
  set.Put(bundle);
  WARD_ASSIGN_OR_RETURN(SecureBytes svid_key_pem, svid_key.ToPkcs8Pem());

  const std::string& d = o.dir;
  WARD_RETURN_IF_ERROR(WriteFile(d + "/root.pem", root.ToPem()));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/bundle.pem", bundle.ToPem()));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/intermediate.pem", intermediate.ToPem()));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/leaf.pem", leaf.ToPem()));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/svid.pem", leaf.ToPem() + intermediate.ToPem()));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/svid.key.pem", svid_key_pem.str(), 0600));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/bundle.json", bundle.ToSpiffeJson() + "\n"));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/bundle-map.json", set.ToBundleMapJson() + "\n"));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/jwks.json", bundle.ToJwks() + "\n"));
  WARD_RETURN_IF_ERROR(WriteFile(d + "/jwt.txt", jwt.token + "\n"));
  std::cout << "wrote a sample trust domain for " << td.name() << " to " << d << "\n"
            << "  X.509-SVID " << workload.str() << " serial " << leaf.SerialHex() << "\n"
            << "  JWT-SVID   " << workload.str() << " aud " << o.audience << " jti " << jwt.jti
            << "\n";
  return OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Writes a sample trust domain (CA chain, SVIDs, bundles) into a folder",
               "ward-samplegen");
  Options o;
  app.add_option("--dir", o.dir, "output folder (must exist)")->required();
  app.add_option("--trust-domain", o.trust_domain, "trust domain name");
  app.add_option("--spiffe-id", o.spiffe_id, "workload SPIFFE ID (default spiffe://<td>/workload)");
  app.add_option("--audience", o.audience, "JWT-SVID audience");
  app.add_option("--key-type", o.key_type, "ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096");
  app.add_option("--ttl", o.ttl, "X.509-SVID lifetime in seconds");
  app.add_option("--jwt-ttl", o.jwt_ttl, "JWT-SVID lifetime in seconds");
  CLI11_PARSE(app, argc, argv);
  const Status s = Generate(o);
  if (!s.ok()) return ward::cli::Fail(ward::cli::kExitInvalid, s.message());
  return 0;
}

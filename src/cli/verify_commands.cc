#include "cli/verify_commands.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/cli_io.h"
#include "core/bundle.h"
#include "core/jwt_svid.h"
#include "core/spiffe_id.h"
#include "core/x509_svid.h"

namespace ward::cli {
namespace {

struct BundleOptions {
  std::string bundle_path;
  std::string trust_domain;
};

void AddBundleOptions(CLI::App* cmd, BundleOptions* opts) {
  cmd->add_option("--bundle", opts->bundle_path,
                  "trust bundle: PEM CA certificates, a SPIFFE bundle (JWKS JSON) or a bundle map")
      ->required();
  cmd->add_option("--trust-domain", opts->trust_domain,
                  "whose bundle a PEM file or single SPIFFE bundle is (default: the trust domain "
                  "of the SVID being checked)");
}

// Loads the bundle file. A PEM or single bundle is bound to --trust-domain, or when that is
// absent to `svid_td`, the trust domain the SVID claims; the verdict then depends only on whether
// the chain or signature leads to these authorities.
Result<BundleSet> LoadBundles(const BundleOptions& opts, const TrustDomain& svid_td, int* usage) {
  *usage = kExitUsage;
  std::optional<TrustDomain> td;
  if (!opts.trust_domain.empty()) {
    auto parsed = TrustDomain::FromNameOrId(opts.trust_domain);
    if (!parsed.ok()) return parsed.status().WithContext("--trust-domain");
    td = std::move(parsed).value();
  }
  WARD_ASSIGN_OR_RETURN(std::string content, ReadInput(opts.bundle_path, kMaxBundleBytes));
  auto set = ParseAnyBundle(content, td ? &*td : &svid_td);
  if (!set.ok()) return set.status().WithContext("invalid bundle " + opts.bundle_path);
  *usage = kExitOk;
  return set;
}

int RunIdCheck(const std::string& text) {
  auto id = SpiffeId::Parse(text);
  if (!id.ok()) return Fail(kExitInvalid, "invalid SPIFFE ID: " + id.status().message());
  std::cout << id->str() << "\n";
  return kExitOk;
}

int RunX509Verify(const BundleOptions& opts, const std::string& chain_path) {
  auto content = ReadInput(chain_path, kMaxCertificateListBytes);
  if (!content.ok()) return Fail(kExitUsage, content.status().message());
  const bool is_pem = content->find("-----BEGIN") != std::string::npos;
  auto chain = is_pem ? ParsePemCertificates(*content) : ParseDerCertificates(AsBytes(*content));
  if (!chain.ok()) return Fail(kExitInvalid, "invalid X.509-SVID: " + chain.status().message());
  auto claimed = SpiffeIdFromCertificate(chain->front());
  if (!claimed.ok()) return Fail(kExitInvalid, "invalid X.509-SVID: " + claimed.status().message());
  int code = kExitOk;
  auto bundles = LoadBundles(opts, claimed->trust_domain(), &code);
  if (!bundles.ok()) return Fail(code, bundles.status().message());
  auto verified = VerifyX509Svid(*chain, *bundles, UnixNow());
  if (!verified.ok())
    return Fail(kExitInvalid, "invalid X.509-SVID: " + verified.status().message());
  std::cout << verified->id.str() << "\n";
  return kExitOk;
}

int RunJwtVerify(const BundleOptions& opts, const std::string& audience, std::string token) {
  if (token == "-") {
    auto in = ReadInput("-", kMaxJwtBytes + 2);
    if (!in.ok()) return Fail(kExitUsage, in.status().message());
    token = std::move(in).value();
  }
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) {
    token.pop_back();
  }
  if (audience.empty()) return Fail(kExitUsage, "--audience must not be empty");
  auto claimed = UnverifiedJwtSubject(token);
  if (!claimed.ok()) return Fail(kExitInvalid, "invalid JWT-SVID: " + claimed.status().message());
  int code = kExitOk;
  auto bundles = LoadBundles(opts, claimed->trust_domain(), &code);
  if (!bundles.ok()) return Fail(code, bundles.status().message());
  auto validated = ValidateJwtSvid(token, *bundles, audience, UnixNow());
  if (!validated.ok()) {
    return Fail(kExitInvalid, "invalid JWT-SVID: " + validated.status().message());
  }
  nlohmann::json out = {{"spiffe_id", validated->id.str()},
                        {"claims", nlohmann::json::parse(validated->claims_json)}};
  std::cout << out.dump() << "\n";
  return kExitOk;
}

}  // namespace

void RegisterVerifyCommands(CLI::App& app, int* exit_code) {
  // Option values must outlive parsing: each verb's storage is shared with its callback.
  CLI::App* id = app.add_subcommand("id", "SPIFFE ID tools")->require_subcommand(1);
  auto id_text = std::make_shared<std::string>();
  CLI::App* check = id->add_subcommand("check", "check a SPIFFE ID against the standard");
  check->add_option("ID", *id_text, "the SPIFFE ID")->required();
  check->callback([=] { *exit_code = RunIdCheck(*id_text); });

  CLI::App* x509 = app.add_subcommand("x509", "X.509-SVID tools")->require_subcommand(1);
  auto x509_opts = std::make_shared<BundleOptions>();
  auto chain_path = std::make_shared<std::string>();
  CLI::App* x509_verify =
      x509->add_subcommand("verify", "verify an X.509-SVID chain (PEM, leaf first)");
  AddBundleOptions(x509_verify, x509_opts.get());
  x509_verify->add_option("CHAIN", *chain_path, "PEM (or concatenated DER) chain, leaf first")
      ->required();
  x509_verify->callback([=] { *exit_code = RunX509Verify(*x509_opts, *chain_path); });

  CLI::App* jwt = app.add_subcommand("jwt", "JWT-SVID tools")->require_subcommand(1);
  auto jwt_opts = std::make_shared<BundleOptions>();
  auto audience = std::make_shared<std::string>();
  auto token = std::make_shared<std::string>();
  CLI::App* jwt_verify = jwt->add_subcommand("verify", "validate a JWT-SVID");
  AddBundleOptions(jwt_verify, jwt_opts.get());
  jwt_verify->add_option("--audience", *audience, "the audience this validator expects")
      ->required();
  jwt_verify->add_option("TOKEN", *token, "the compact JWS, or - to read it from stdin")
      ->required();
  jwt_verify->callback([=] { *exit_code = RunJwtVerify(*jwt_opts, *audience, *token); });
}

}  // namespace ward::cli

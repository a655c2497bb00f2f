#include "cli/agent_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/workload_client.h"
#include "cli/cli_io.h"
#include "cli/config_apply.h"
#include "core/base64.h"
#include "core/certificate.h"
#include "core/clock.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;
constexpr auto kTimeout = std::chrono::seconds(30);

struct ApiOptions {
  std::string socket;
  std::string output = "text";
};

void AddApiOptions(CLI::App* cmd, ApiOptions* o) {
  cmd->add_option("--socket", o->socket,
                  "Workload API address: unix:///path, tcp://IP:port or a socket path "
                  "(default $SPIFFE_ENDPOINT_SOCKET)");
  cmd->add_option("--output", o->output, "text or json")->check(CLI::IsMember({"text", "json"}));
}

Result<std::unique_ptr<agent::WorkloadClient>> Connect(const ApiOptions& o) {
  std::string address = o.socket;
  if (address.empty()) {
    const char* env = std::getenv("SPIFFE_ENDPOINT_SOCKET");
    if (env == nullptr || *env == '\0') {
      return InvalidArgument(
          "no Workload API address: pass --socket or set SPIFFE_ENDPOINT_SOCKET "
          "(e.g. unix:///run/ward/api.sock)");
    }
    address = env;
  }
  return agent::WorkloadClient::Create(address);
}

// Exit 2 for a bad address, 1 for anything the agent refused or could not do.
int FailStatus(const Status& s) {
  return Fail(
      s.code() == StatusCode::kInvalidArgument && s.message().find("endpoint") != std::string::npos
          ? kExitUsage
          : kExitInvalid,
      s.message());
}

std::string DerToPem(ByteView der) {
  auto certs = ParseDerCertificates(der);
  return certs.ok() ? CertificatesToPem(*certs) : "";
}

Result<SecureBytes> KeyToPem(ByteView pkcs8) {
  WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromPkcs8Der(pkcs8));
  return key.ToPkcs8Pem();
}

void PrintX509(const agent::FetchedX509Context& ctx, const std::string& output) {
  if (output == "json") {
    json svids = json::array();
    for (const auto& s : ctx.svids) {
      auto chain = ParseDerCertificates(s.chain_der);
      json certs = json::array();
      int64_t expires = 0;
      if (chain.ok()) {
        expires = chain->front().not_after();
        for (const auto& c : *chain)
          certs.push_back({{"subject", c.SubjectString()},
                           {"serial", c.SerialHex()},
                           {"not_after", c.not_after()}});
      }
      svids.push_back({{"spiffe_id", s.spiffe_id},
                       {"expires_at", expires},
                       {"chain", certs},
                       {"hint", s.hint}});
    }
    json federated = json::array();
    for (const auto& [td, der] : ctx.federated_bundles) federated.push_back(td);
    std::cout << json{{"svids", svids}, {"federated_bundles", federated}}.dump() << "\n";
    return;
  }
  for (const auto& s : ctx.svids) {
    std::cout << "SPIFFE ID     : " << s.spiffe_id << "\n";
    auto chain = ParseDerCertificates(s.chain_der);
    if (chain.ok()) {
      std::cout << "Expires       : " << FormatUtc(chain->front().not_after()) << "\n";
      for (size_t i = 0; i < chain->size(); ++i) {
        std::cout << (i == 0 ? "Chain         : " : "                ") << "[" << i << "] serial "
                  << (*chain)[i].SerialHex() << ", subject "
                  << ((*chain)[i].SubjectString().empty() ? "(empty)" : (*chain)[i].SubjectString())
                  << ", expires " << FormatUtc((*chain)[i].not_after()) << "\n";
      }
    }
    auto bundle = ParseDerCertificates(s.bundle_der);
    std::cout << "Bundle        : " << (bundle.ok() ? bundle->size() : 0) << " CA certificate(s)\n";
    if (!ctx.federated_bundles.empty()) {
      std::cout << "Federated with:";
      for (const auto& [td, der] : ctx.federated_bundles) std::cout << " " << td;
      std::cout << "\n";
    }
    std::cout << "\n";
  }
}

}  // namespace

void RegisterAgentCommands(CLI::App& app, int* exit_code) {
  CLI::App* agent_cmd = app.get_subcommand("agent");
  auto config = std::make_shared<agent::AgentConfig>();
  auto config_file = std::make_shared<std::string>();
  CLI::App* run = agent_cmd->add_subcommand("run", "run the agent until SIGINT/SIGTERM");
  run->add_option("--config", *config_file,
                  "YAML configuration: these flags in snake_case, at the top level or under "
                  "agent:; flags given here win");
  run->add_option("--server-address", config->server_address, "server address (agent API)");
  run->add_option("--server-port", config->server_port, "server agent API port");
  run->add_option("--trust-domain", config->trust_domain, "trust domain name");
  run->add_option("--trust-bundle", config->trust_bundle,
                  "bootstrap bundle (PEM or SPIFFE JSON) to authenticate the server at first "
                  "attestation");
  run->add_option("--join-token", config->join_token, "join token from `ward token generate`");
  run->add_option("--x509pop-cert", config->x509pop_cert, "x509pop: node certificate chain (PEM)");
  run->add_option("--x509pop-key", config->x509pop_key, "x509pop: node key (PEM)");
  run->add_option("--socket", config->socket,
                  "Workload API socket path (default <data-dir>/public/api.sock)");
  run->add_option("--data-dir", config->data_dir, "agent state: key and SVID (0600 files)");
  run->add_option("--log-level", config->log_level, "debug, info, warn or error");
  run->add_option("--svid-cache-size", config->svid_cache_size,
                  "pre-issue SVIDs while at most this many entries are authorized; beyond it, "
                  "sign on demand and keep this many");
  run->add_option("--jwt-validation-cache-size", config->jwt_validation_cache_size,
                  "JWT-SVIDs whose validation is remembered until they expire (0: none)");
  run->add_option("--sync-wait", config->sync_wait_seconds,
                  "seconds a sync long poll waits on the server (1-30)")
      ->check(CLI::Range(1, 30));
  run->callback([=] {
    if (!config_file->empty()) {
      const Status applied = ApplyConfigFile(*run, *config_file, "agent");
      if (!applied.ok()) {
        *exit_code = Fail(kExitUsage, applied.message());
        return;
      }
    }
    *exit_code = agent::RunAgent(*config);
  });

  CLI::App* api = app.add_subcommand("api", "Workload API client (talks to a ward agent)")
                      ->require_subcommand(1);
  CLI::App* fetch = api->add_subcommand("fetch", "fetch SVIDs")->require_subcommand(1);

  auto x509 = std::make_shared<ApiOptions>();
  auto write_dir = std::make_shared<std::string>();
  CLI::App* fx = fetch->add_subcommand("x509", "fetch X.509-SVIDs (FetchX509SVID)");
  AddApiOptions(fx, x509.get());
  fx->add_option("--write", *write_dir,
                 "write svid.N.pem (chain), svid.N.key (0600) and bundle.N.pem for each SVID");
  fx->callback([=] {
    auto client = Connect(*x509);
    if (!client.ok()) {
      *exit_code = FailStatus(client.status());
      return;
    }
    auto ctx = (*client)->FetchX509(kTimeout);
    if (!ctx.ok()) {
      *exit_code = FailStatus(ctx.status());
      return;
    }
    if (!write_dir->empty()) {
      if (::mkdir(write_dir->c_str(), 0700) != 0 && errno != EEXIST) {
        *exit_code =
            Fail(kExitInvalid, "cannot create " + *write_dir + ": " + std::strerror(errno));
        return;
      }
      for (size_t i = 0; i < ctx->svids.size(); ++i) {
        const auto& s = ctx->svids[i];
        const std::string n = std::to_string(i);
        Status st = WriteFile(*write_dir + "/svid." + n + ".pem", DerToPem(s.chain_der), 0644);
        if (st.ok()) {
          auto key_pem = KeyToPem(s.key_der.view());
          st = key_pem.ok() ? WriteFile(*write_dir + "/svid." + n + ".key", key_pem->str(), 0600)
                            : key_pem.status();
        }
        if (st.ok())
          st = WriteFile(*write_dir + "/bundle." + n + ".pem", DerToPem(s.bundle_der), 0644);
        if (!st.ok()) {
          *exit_code = Fail(kExitInvalid, st.message());
          return;
        }
      }
    }
    PrintX509(*ctx, x509->output);
    *exit_code = kExitOk;
  });

  auto jwt = std::make_shared<ApiOptions>();
  auto audience = std::make_shared<std::vector<std::string>>();
  auto spiffe_id = std::make_shared<std::string>();
  CLI::App* fj = fetch->add_subcommand("jwt", "fetch JWT-SVIDs (FetchJWTSVID)");
  AddApiOptions(fj, jwt.get());
  fj->add_option("--audience", *audience, "audience, repeatable")->required();
  fj->add_option("--spiffe-id", *spiffe_id, "only this identity");
  fj->callback([=] {
    auto client = Connect(*jwt);
    if (!client.ok()) {
      *exit_code = FailStatus(client.status());
      return;
    }
    auto svids = (*client)->FetchJwt(*audience, *spiffe_id, kTimeout);
    if (!svids.ok()) {
      *exit_code = FailStatus(svids.status());
      return;
    }
    if (jwt->output == "json") {
      json out = json::array();
      for (const auto& s : *svids) out.push_back({{"spiffe_id", s.spiffe_id}, {"token", s.token}});
      std::cout << json{{"svids", out}}.dump() << "\n";
    } else {
      for (const auto& s : *svids) {
        std::cout << "SPIFFE ID: " << s.spiffe_id << "\n" << s.token << "\n";
      }
    }
    *exit_code = kExitOk;
  });

  auto bundles = std::make_shared<ApiOptions>();
  CLI::App* fb = fetch->add_subcommand("bundles", "fetch X.509 and JWT bundles");
  AddApiOptions(fb, bundles.get());
  fb->callback([=] {
    auto client = Connect(*bundles);
    if (!client.ok()) {
      *exit_code = FailStatus(client.status());
      return;
    }
    auto x = (*client)->FetchX509Bundles(kTimeout);
    auto j = (*client)->FetchJwtBundles(kTimeout);
    if (!x.ok() || !j.ok()) {
      *exit_code = FailStatus(!x.ok() ? x.status() : j.status());
      return;
    }
    json out = json::object();
    for (const auto& [td, der] : *x) out[td]["x509_pem"] = DerToPem(der);
    for (const auto& [td, jwks] : *j) out[td]["jwks"] = json::parse(jwks, nullptr, false);
    std::cout << out.dump(bundles->output == "json" ? -1 : 2) << "\n";
    *exit_code = kExitOk;
  });

  auto validate = std::make_shared<ApiOptions>();
  auto v_audience = std::make_shared<std::string>();
  auto token = std::make_shared<std::string>();
  CLI::App* val = api->add_subcommand("validate", "validate credentials")->require_subcommand(1);
  CLI::App* vj = val->add_subcommand("jwt", "validate a JWT-SVID (ValidateJWTSVID)");
  AddApiOptions(vj, validate.get());
  vj->add_option("--audience", *v_audience, "the audience expected")->required();
  vj->add_option("TOKEN", *token, "the JWT-SVID")->required();
  vj->callback([=] {
    auto client = Connect(*validate);
    if (!client.ok()) {
      *exit_code = FailStatus(client.status());
      return;
    }
    auto result = (*client)->ValidateJwt(*token, *v_audience, kTimeout);
    if (!result.ok()) {
      *exit_code = FailStatus(result.status());
      return;
    }
    json claims = json::parse(result->claims_json, nullptr, false);
    std::cout << json{{"spiffe_id", result->spiffe_id}, {"claims", claims}}.dump() << "\n";
    *exit_code = kExitOk;
  });

  auto watch = std::make_shared<ApiOptions>();
  CLI::App* w = api->add_subcommand("watch", "print every X.509-SVID update until interrupted");
  AddApiOptions(w, watch.get());
  w->callback([=] {
    auto client = Connect(*watch);
    if (!client.ok()) {
      *exit_code = FailStatus(client.status());
      return;
    }
    const Status s = (*client)->WatchX509([&](const agent::FetchedX509Context& ctx) {
      if (watch->output == "text") std::cout << "--- update at " << FormatUtc(UnixNow()) << "\n";
      PrintX509(ctx, watch->output);
      std::cout.flush();
      return true;
    });
    *exit_code = s.ok() ? kExitOk : FailStatus(s);
  });
}

}  // namespace ward::cli

#include "cli/server_commands.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_client.h"
#include "cli/cli_io.h"
#include "cli/config_apply.h"
#include "core/base64.h"
#include "core/bundle.h"
#include "core/csr.h"
#include "server/http_server.h"
#include "server/server.h"

namespace ward::cli {
namespace {

using nlohmann::json;

std::string Time(int64_t t) { return t == 0 ? "never" : FormatUtc(t); }

std::string Query(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

struct Common {
  std::string socket;
  std::string output = "text";
};

void AddCommon(CLI::App* cmd, Common* c, bool with_output = true) {
  cmd->add_option(
      "--socket", c->socket,
      "the server's admin socket (default $WARD_SERVER_SOCKET or ward-data/admin.sock)");
  if (with_output) {
    cmd->add_option("--output", c->output, "text or json")->check(CLI::IsMember({"text", "json"}));
  }
}

// Runs a call and turns transport failures and API errors into the CLI's exit codes. On success
// `*out` holds the parsed JSON body (or raw text for non-JSON replies).
int Call(const Common& c, const std::string& method, const std::string& target, const json& body,
         json* out, std::string* raw = nullptr) {
  auto reply =
      AdminCall(AdminSocketPath(c.socket), method, target, body.is_null() ? "" : body.dump());
  if (!reply.ok()) return Fail(kExitInvalid, reply.status().message());
  if (raw != nullptr) *raw = reply->body;
  json parsed = json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (reply->status != 200) {
    const std::string msg = parsed.is_object() && parsed.contains("error")
                                ? parsed["error"].get<std::string>()
                                : "HTTP " + std::to_string(reply->status);
    return Fail(kExitInvalid, msg);
  }
  if (out != nullptr) *out = std::move(parsed);
  return kExitOk;
}

void PrintEntry(const json& e) {
  std::cout << "Entry ID         : " << e.value("id", "") << "\n"
            << "SPIFFE ID        : " << e.value("spiffe_id", "") << "\n"
            << "Parent ID        : " << e.value("parent_id", "") << "\n"
            << "Revision         : " << e.value("revision", 0) << "\n"
            << "X509-SVID TTL    : " << e.value("x509_svid_ttl", 0) << "\n"
            << "JWT-SVID TTL     : " << e.value("jwt_svid_ttl", 0) << "\n";
  for (const auto& s : e.value("selectors", json::array())) {
    std::cout << "Selector         : " << s.get<std::string>() << "\n";
  }
  for (const auto& d : e.value("dns_names", json::array())) {
    std::cout << "DNS name         : " << d.get<std::string>() << "\n";
  }
  for (const auto& f : e.value("federates_with", json::array())) {
    std::cout << "FederatesWith    : " << f.get<std::string>() << "\n";
  }
  if (e.value("admin", false)) std::cout << "Admin            : true\n";
  if (e.value("expires_at", 0) != 0)
    std::cout << "Expires at       : " << Time(e["expires_at"]) << "\n";
  std::cout << "\n";
}

struct EntryFields {
  std::string id, spiffe_id, parent_id;
  std::vector<std::string> selectors, dns, federates_with;
  int x509_ttl = 3600, jwt_ttl = 900;
  bool admin = false;
  int64_t expires_at = 0;

  json ToJson() const {
    return {{"spiffe_id", spiffe_id},  {"parent_id", parent_id},
            {"selectors", selectors},  {"x509_svid_ttl", x509_ttl},
            {"jwt_svid_ttl", jwt_ttl}, {"dns_names", dns},
            {"admin", admin},          {"federates_with", federates_with},
            {"expires_at", expires_at}};
  }
};

void AddEntryFields(CLI::App* cmd, EntryFields* f) {
  cmd->add_option("--spiffe-id", f->spiffe_id, "the workload's SPIFFE ID")->required();
  cmd->add_option("--parent-id", f->parent_id, "the agent (or alias) that may serve it")
      ->required();
  cmd->add_option("--selector", f->selectors, "type:value, repeatable (e.g. unix:uid:1000)");
  cmd->add_option("--x509-ttl", f->x509_ttl, "X.509-SVID lifetime in seconds");
  cmd->add_option("--jwt-ttl", f->jwt_ttl, "JWT-SVID lifetime in seconds");
  cmd->add_option("--dns", f->dns, "DNS name for the X.509-SVID, repeatable");
  cmd->add_option("--federates-with", f->federates_with, "trust domain, repeatable");
  cmd->add_flag("--admin", f->admin, "the workload may use the admin API over mTLS");
  cmd->add_option("--expires-at", f->expires_at, "entry expiry, Unix seconds (0: never)");
}

}  // namespace

void RegisterServerCommands(CLI::App& app, int* exit_code) {
  CLI::App* server = app.add_subcommand("server", "the Ward server")->require_subcommand(1);
  auto config = std::make_shared<server::ServerConfig>();
  auto admin_uids = std::make_shared<std::vector<unsigned>>();
  auto admin_ids = std::make_shared<std::vector<std::string>>();
  auto config_file = std::make_shared<std::string>();
  CLI::App* run = server->add_subcommand("run", "run the server until SIGINT/SIGTERM");
  run->add_option("--config", *config_file,
                  "YAML configuration: these flags in snake_case, at the top level or under "
                  "server:; flags given here win");
  run->add_option("--trust-domain", config->trust_domain, "trust domain name");
  run->add_option("--data-dir", config->data_dir, "data folder (database, keys), created 0700");
  run->add_option("--bind-address", config->bind_address, "agent API address (TLS 1.3)");
  run->add_option("--port", config->port, "agent API port (0 picks one)");
  run->add_option("--x509pop-ca", config->x509pop_ca, "PEM CA for x509pop node attestation");
  run->add_option("--agent-svid-ttl", config->agent_svid_ttl, "agent SVID lifetime in seconds");
  run->add_option("--agent-rate-limit", config->agent_rate_limit,
                  "agent API requests per second allowed to each agent (bursts of twice that)")
      ->check(CLI::Range(1.0, 1e6));
  run->add_option("--federation-bind-address", config->federation_bind_address,
                  "federation bundle endpoint address");
  run->add_option("--federation-port", config->federation_port,
                  "federation bundle endpoint port (default off; 0 picks one)");
  run->add_option("--federation-profile", config->federation_profile, "https_spiffe or https_web")
      ->check(CLI::IsMember({"https_spiffe", "https_web"}));
  run->add_option("--federation-cert", config->federation_cert, "https_web: PEM certificate chain");
  run->add_option("--federation-key", config->federation_key, "https_web: PEM private key");
  run->add_option("--bundle-refresh-hint", config->bundle_refresh_hint,
                  "spiffe_refresh_hint published in the bundle, seconds");
  run->add_option("--admin-socket", config->admin_socket,
                  "admin socket (default <data-dir>/admin.sock)");
  run->add_option("--metrics-address", config->metrics_address,
                  "metrics/health host:port, empty for none");
  run->add_option("--audit-log", config->audit_log, "audit log file, or - for stdout");
  run->add_option("--log-level", config->log_level, "debug, info, warn or error");
  run->add_option("--key-manager", config->key_manager, "memory, disk or pkcs11");
  run->add_option("--kek-file", config->kek_file,
                  "disk key manager: key encryption key file (0600, 64 hex)");
  run->add_option("--pkcs11-module", config->pkcs11_module,
                  "pkcs11 key manager: the token's PKCS#11 library");
  run->add_option("--pkcs11-token", config->pkcs11_token, "pkcs11 key manager: token label");
  run->add_option("--upstream-ca-cert", config->upstream_ca_cert,
                  "intermediate mode: PEM upstream CA certificate, then its chain");
  run->add_option("--upstream-ca-key", config->upstream_ca_key,
                  "intermediate mode: the upstream CA's PEM key (0600)");
  run->add_option("--upstream-bundle", config->upstream_bundle,
                  "intermediate mode: PEM trust anchors (default: the self-signed certificates "
                  "of --upstream-ca-cert)");
  run->add_option("--pkcs11-pin-file", config->pkcs11_pin_file,
                  "pkcs11 key manager: PIN file (0600); else $WARD_PKCS11_PIN");
  run->add_option("--key-type", config->key_type, "CA key type: ec-p256, ec-p384, rsa-2048, ...");
  run->add_option("--admin-uid", *admin_uids, "uid allowed on the admin socket, repeatable");
  run->add_option("--admin-spiffe-id", *admin_ids,
                  "SPIFFE ID allowed on the admin API over mTLS (agent API port), repeatable");
  run->add_option("--x509-ca-rotation", config->x509_ca_rotation,
                  "seconds between CA certificates");
  run->add_option("--key-rotation", config->key_rotation, "seconds between signing keys");
  run->add_option("--rotation-grace", config->rotation_grace,
                  "seconds a successor is published before it signs");
  run->add_option("--max-x509-ttl", config->max_x509_svid_ttl, "longest X.509-SVID lifetime");
  run->add_option("--max-jwt-ttl", config->max_jwt_svid_ttl, "longest JWT-SVID lifetime");
  run->callback([=] {
    if (!config_file->empty()) {
      const Status applied = ApplyConfigFile(*run, *config_file, "server");
      if (!applied.ok()) {
        *exit_code = Fail(kExitUsage, applied.message());
        return;
      }
    }
    for (unsigned uid : *admin_uids) config->admin_uids.insert(static_cast<uid_t>(uid));
    for (const auto& id : *admin_ids) {
      auto parsed = SpiffeId::Parse(id);
      if (!parsed.ok()) {
        *exit_code = Fail(kExitUsage, "--admin-spiffe-id: " + parsed.status().message());
        return;
      }
      config->admin_spiffe_ids.insert(parsed->str());
    }
    *exit_code = server::RunServer(*config);
  });
}

void RegisterAdminCommands(CLI::App& app, int* exit_code) {
  // healthcheck
  auto health = std::make_shared<Common>();
  CLI::App* hc = app.add_subcommand("healthcheck", "check that the server answers");
  AddCommon(hc, health.get(), false);
  hc->callback([=] {
    json out;
    *exit_code = Call(*health, "GET", "/v1/health", nullptr, &out);
    if (*exit_code == kExitOk) std::cout << "server is healthy\n";
  });

  // bundle show
  CLI::App* bundle = app.add_subcommand("bundle", "trust bundle")->require_subcommand(1);
  auto bundle_opts = std::make_shared<Common>();
  auto format = std::make_shared<std::string>("pem");
  CLI::App* bshow = bundle->add_subcommand("show", "print the trust domain's bundle");
  AddCommon(bshow, bundle_opts.get(), false);
  bshow->add_option("--format", *format, "pem or spiffe")->check(CLI::IsMember({"pem", "spiffe"}));
  bshow->callback([=] {
    std::string raw;
    *exit_code = Call(*bundle_opts, "GET", "/v1/bundle?format=" + *format, nullptr, nullptr, &raw);
    if (*exit_code == kExitOk) std::cout << raw << (raw.ends_with("\n") ? "" : "\n");
  });

  // bundle list|set|delete: federated bundles
  auto fed_opts = std::make_shared<Common>();
  CLI::App* blist = bundle->add_subcommand("list", "list federated bundles");
  AddCommon(blist, fed_opts.get());
  blist->callback([=] {
    json out;
    *exit_code = Call(*fed_opts, "GET", "/v1/bundles", nullptr, &out);
    if (*exit_code != kExitOk) return;
    if (fed_opts->output == "json") {
      std::cout << out.dump() << "\n";
      return;
    }
    std::cout << "Found " << out["bundles"].size() << " federated bundles\n";
    for (const auto& b : out["bundles"]) {
      std::cout << b["trust_domain"].get<std::string>() << " (sequence " << b["sequence"] << ")\n";
    }
  });
  struct BundleSetArgs {
    Common common;
    std::string trust_domain, file;
  };
  auto bset = std::make_shared<BundleSetArgs>();
  CLI::App* bset_cmd = bundle->add_subcommand("set", "store another trust domain's bundle");
  AddCommon(bset_cmd, &bset->common, false);
  bset_cmd->add_option("--trust-domain", bset->trust_domain, "whose bundle it is")->required();
  bset_cmd->add_option("--file", bset->file, "SPIFFE bundle JSON or PEM (- for stdin)")->required();
  bset_cmd->callback([=] {
    auto content = ReadInput(bset->file, kMaxBundleBytes);
    if (!content.ok()) {
      *exit_code = Fail(kExitUsage, content.status().message());
      return;
    }
    json out;
    *exit_code = Call(bset->common, "POST", "/v1/bundles",
                      {{"trust_domain", bset->trust_domain}, {"bundle", *content}}, &out);
    if (*exit_code == kExitOk)
      std::cout << "bundle of " << out["trust_domain"].get<std::string>() << " set\n";
  });
  auto bdel = std::make_shared<BundleSetArgs>();
  CLI::App* bdel_cmd = bundle->add_subcommand("delete", "delete a federated bundle");
  AddCommon(bdel_cmd, &bdel->common, false);
  bdel_cmd->add_option("--trust-domain", bdel->trust_domain, "trust domain")->required();
  bdel_cmd->callback([=] {
    json out;
    *exit_code =
        Call(bdel->common, "DELETE", "/v1/bundles/" + Query(bdel->trust_domain), nullptr, &out);
    if (*exit_code == kExitOk) std::cout << "bundle of " << bdel->trust_domain << " deleted\n";
  });

  // federation create|list|delete
  CLI::App* federation =
      app.add_subcommand("federation", "federation relationships")->require_subcommand(1);
  struct FederationArgs {
    Common common;
    std::string trust_domain, url, profile = "https_spiffe", endpoint_id, ca_file, bundle_file;
  };
  auto fc = std::make_shared<FederationArgs>();
  CLI::App* fcreate = federation->add_subcommand("create", "federate with another trust domain");
  AddCommon(fcreate, &fc->common, false);
  fcreate->add_option("--trust-domain", fc->trust_domain, "the other trust domain")->required();
  fcreate->add_option("--url", fc->url, "its bundle endpoint (https://...)")->required();
  fcreate->add_option("--profile", fc->profile, "https_spiffe or https_web")
      ->check(CLI::IsMember({"https_spiffe", "https_web"}));
  fcreate->add_option("--endpoint-spiffe-id", fc->endpoint_id,
                      "https_spiffe: the endpoint's SPIFFE ID");
  fcreate->add_option("--ca-file", fc->ca_file,
                      "https_web: PEM roots for the endpoint (default: system)");
  fcreate->add_option("--bundle-file", fc->bundle_file, "the other trust domain's current bundle");
  fcreate->callback([=] {
    std::string ca, bundle_text;
    for (auto [path, out] : {std::pair{&fc->ca_file, &ca}, {&fc->bundle_file, &bundle_text}}) {
      if (path->empty()) continue;
      auto content = ReadInput(*path, kMaxBundleBytes);
      if (!content.ok()) {
        *exit_code = Fail(kExitUsage, content.status().message());
        return;
      }
      *out = std::move(content).value();
    }
    json out;
    *exit_code = Call(fc->common, "POST", "/v1/federation",
                      {{"trust_domain", fc->trust_domain},
                       {"url", fc->url},
                       {"profile", fc->profile},
                       {"endpoint_spiffe_id", fc->endpoint_id},
                       {"ca_pem", ca},
                       {"bundle", bundle_text}},
                      &out);
    if (*exit_code == kExitOk)
      std::cout << "federating with " << out["trust_domain"].get<std::string>() << "\n";
  });
  auto fl = std::make_shared<Common>();
  CLI::App* flist = federation->add_subcommand("list", "list federation relationships");
  AddCommon(flist, fl.get());
  flist->callback([=] {
    json out;
    *exit_code = Call(*fl, "GET", "/v1/federation", nullptr, &out);
    if (*exit_code != kExitOk) return;
    if (fl->output == "json") {
      std::cout << out.dump() << "\n";
      return;
    }
    for (const auto& r : out["relationships"]) {
      std::cout << r["trust_domain"].get<std::string>() << "  " << r["profile"].get<std::string>()
                << "  " << r["url"].get<std::string>() << "\n";
    }
  });
  auto fd = std::make_shared<FederationArgs>();
  CLI::App* fdelete = federation->add_subcommand("delete", "end a federation relationship");
  AddCommon(fdelete, &fd->common, false);
  fdelete->add_option("--trust-domain", fd->trust_domain, "the other trust domain")->required();
  fdelete->callback([=] {
    json out;
    *exit_code =
        Call(fd->common, "DELETE", "/v1/federation/" + Query(fd->trust_domain), nullptr, &out);
    if (*exit_code == kExitOk) std::cout << "stopped federating with " << fd->trust_domain << "\n";
  });

  // token generate
  CLI::App* token = app.add_subcommand("token", "join tokens")->require_subcommand(1);
  auto token_opts = std::make_shared<Common>();
  auto token_id = std::make_shared<std::string>();
  auto token_ttl = std::make_shared<int64_t>(600);
  CLI::App* tgen = token->add_subcommand("generate", "create a single-use join token for an agent");
  AddCommon(tgen, token_opts.get());
  tgen->add_option("--spiffe-id", *token_id, "also register this ID as an alias of the agent");
  tgen->add_option("--ttl", *token_ttl, "seconds the token stays valid (default 600)");
  tgen->callback([=] {
    json out;
    *exit_code = Call(*token_opts, "POST", "/v1/tokens",
                      {{"ttl", *token_ttl}, {"spiffe_id", *token_id}}, &out);
    if (*exit_code != kExitOk) return;
    if (token_opts->output == "json") {
      std::cout << out.dump() << "\n";
      return;
    }
    std::cout << "Agent ID   : " << out["agent_id"].get<std::string>() << "\n"
              << "Expires at : " << Time(out["expires_at"]) << "\n"
              << out["token"].get<std::string>() << "\n";
  });

  // entry create|show|update|delete|count
  CLI::App* entry = app.add_subcommand("entry", "registration entries")->require_subcommand(1);
  auto create = std::make_shared<std::pair<Common, EntryFields>>();
  CLI::App* ecreate = entry->add_subcommand("create", "register a workload");
  AddCommon(ecreate, &create->first);
  AddEntryFields(ecreate, &create->second);
  ecreate->callback([=] {
    json out;
    *exit_code =
        Call(create->first, "POST", "/v1/entries", {{"entries", {create->second.ToJson()}}}, &out);
    if (*exit_code != kExitOk) return;
    const json& result = out["results"][0];
    if (result.contains("error")) {
      *exit_code = Fail(kExitInvalid, result["error"].get<std::string>());
      return;
    }
    if (create->first.output == "json") {
      std::cout << result["entry"].dump() << "\n";
    } else {
      PrintEntry(result["entry"]);
    }
  });

  auto show = std::make_shared<std::pair<Common, EntryFields>>();
  CLI::App* eshow = entry->add_subcommand("show", "list entries, optionally filtered");
  AddCommon(eshow, &show->first);
  eshow->add_option("--id", show->second.id, "one entry by ID");
  eshow->add_option("--spiffe-id", show->second.spiffe_id, "only entries with this SPIFFE ID");
  eshow->add_option("--parent-id", show->second.parent_id, "only entries with this parent");
  eshow->callback([=] {
    json all = json::array();
    if (!show->second.id.empty()) {
      json e;
      *exit_code = Call(show->first, "GET", "/v1/entries/" + Query(show->second.id), nullptr, &e);
      if (*exit_code != kExitOk) return;
      all.push_back(e);
    } else {
      std::string page_token;
      do {
        std::string target = "/v1/entries?page_size=1000&page_token=" + Query(page_token);
        if (!show->second.spiffe_id.empty())
          target += "&spiffe_id=" + Query(show->second.spiffe_id);
        if (!show->second.parent_id.empty())
          target += "&parent_id=" + Query(show->second.parent_id);
        json page;
        *exit_code = Call(show->first, "GET", target, nullptr, &page);
        if (*exit_code != kExitOk) return;
        for (auto& e : page["entries"]) all.push_back(std::move(e));
        page_token = page.value("next_page_token", "");
      } while (!page_token.empty());
    }
    if (show->first.output == "json") {
      std::cout << json{{"entries", all}}.dump() << "\n";
      return;
    }
    std::cout << "Found " << all.size() << (all.size() == 1 ? " entry\n" : " entries\n");
    for (const auto& e : all) PrintEntry(e);
  });

  auto update = std::make_shared<std::pair<Common, EntryFields>>();
  CLI::App* eupdate = entry->add_subcommand("update", "replace an entry's fields");
  AddCommon(eupdate, &update->first);
  eupdate->add_option("--id", update->second.id, "entry ID")->required();
  AddEntryFields(eupdate, &update->second);
  eupdate->callback([=] {
    json out;
    *exit_code = Call(update->first, "PUT", "/v1/entries/" + Query(update->second.id),
                      update->second.ToJson(), &out);
    if (*exit_code != kExitOk) return;
    if (update->first.output == "json") {
      std::cout << out.dump() << "\n";
    } else {
      PrintEntry(out);
    }
  });

  auto del = std::make_shared<std::pair<Common, std::vector<std::string>>>();
  CLI::App* edelete = entry->add_subcommand("delete", "delete entries");
  AddCommon(edelete, &del->first);
  edelete->add_option("--id", del->second, "entry ID, repeatable")->required();
  edelete->callback([=] {
    json out;
    *exit_code = Call(del->first, "POST", "/v1/entries/delete", {{"ids", del->second}}, &out);
    if (*exit_code != kExitOk) return;
    for (const auto& r : out["results"]) {
      if (r.contains("error")) {
        *exit_code = Fail(kExitInvalid, r["error"].get<std::string>());
      } else if (del->first.output != "json") {
        std::cout << "Deleted entry " << r["deleted"].get<std::string>() << "\n";
      }
    }
    if (del->first.output == "json") std::cout << out.dump() << "\n";
  });

  auto count = std::make_shared<Common>();
  CLI::App* ecount = entry->add_subcommand("count", "count entries");
  AddCommon(ecount, count.get());
  ecount->callback([=] {
    json out;
    *exit_code = Call(*count, "GET", "/v1/entries/count", nullptr, &out);
    if (*exit_code != kExitOk) return;
    if (count->output == "json") {
      std::cout << out.dump() << "\n";
    } else {
      std::cout << out["count"].get<int64_t>() << " registration entries\n";
    }
  });

  // agent list|show|evict|ban
  CLI::App* agent = app.get_subcommand("agent");
  auto agent_opts = std::make_shared<std::pair<Common, std::string>>();
  auto print_agent = [](const json& a) {
    std::cout << "Agent ID         : " << a["spiffe_id"].get<std::string>() << "\n"
              << "Attestation type : " << a["attestation_type"].get<std::string>() << "\n"
              << "SVID serial      : " << a["serial"].get<std::string>() << "\n"
              << "SVID expires at  : " << Time(a["expires_at"]) << "\n"
              << "Banned           : " << (a["banned"].get<bool>() ? "true" : "false") << "\n\n";
  };
  CLI::App* alist = agent->add_subcommand("list", "list attested agents");
  AddCommon(alist, &agent_opts->first);
  alist->callback([=] {
    json out;
    *exit_code = Call(agent_opts->first, "GET", "/v1/agents", nullptr, &out);
    if (*exit_code != kExitOk) return;
    if (agent_opts->first.output == "json") {
      std::cout << out.dump() << "\n";
      return;
    }
    std::cout << "Found " << out["agents"].size() << " attested agents\n\n";
    for (const auto& a : out["agents"]) print_agent(a);
  });
  for (const char* action : {"show", "evict", "ban"}) {
    CLI::App* sub = agent->add_subcommand(action, std::string(action) + " an attested agent");
    AddCommon(sub, &agent_opts->first);
    sub->add_option("--id", agent_opts->second, "the agent's SPIFFE ID")->required();
    const std::string name = action;
    sub->callback([=] {
      json out;
      if (name == "show") {
        *exit_code = Call(agent_opts->first, "GET",
                          "/v1/agents/show?id=" + Query(agent_opts->second), nullptr, &out);
        if (*exit_code == kExitOk) {
          if (agent_opts->first.output == "json") {
            std::cout << out.dump() << "\n";
          } else {
            print_agent(out);
          }
        }
        return;
      }
      *exit_code =
          Call(agent_opts->first, "POST", "/v1/agents/" + name, {{"id", agent_opts->second}}, &out);
      if (*exit_code == kExitOk) {
        std::cout << (name == "ban" ? "Agent banned: " : "Agent evicted: ") << agent_opts->second
                  << "\n";
      }
    });
  }

  // x509 mint
  CLI::App* x509 = app.get_subcommand("x509");
  auto x509_mint = std::make_shared<Common>();
  struct X509MintArgs {
    std::string spiffe_id, dir;
    int64_t ttl = 0;
    std::vector<std::string> dns;
  };
  auto xm = std::make_shared<X509MintArgs>();
  CLI::App* xmint = x509->add_subcommand("mint", "issue an X.509-SVID (key generated locally)");
  AddCommon(xmint, x509_mint.get(), false);
  xmint->add_option("--spiffe-id", xm->spiffe_id, "SPIFFE ID")->required();
  xmint->add_option("--ttl", xm->ttl, "lifetime in seconds (default: the server's maximum)");
  xmint->add_option("--dns", xm->dns, "DNS name, repeatable");
  xmint->add_option("--write", xm->dir, "folder for svid.pem, key.pem, bundle.pem")->required();
  xmint->callback([=] {
    auto key = PrivateKey::Generate(KeyType::kEcP256);
    auto csr = key.ok() ? CreateCsrDer(*key) : Result<Bytes>(key.status());
    if (!csr.ok()) {
      *exit_code = Fail(kExitInvalid, csr.status().message());
      return;
    }
    json out;
    *exit_code = Call(*x509_mint, "POST", "/v1/x509/mint",
                      {{"spiffe_id", xm->spiffe_id},
                       {"ttl", xm->ttl},
                       {"dns_names", xm->dns},
                       {"csr", Base64Encode(*csr)}},
                      &out);
    if (*exit_code != kExitOk) return;
    // The folder is created (owner-only) when missing.
    if (::mkdir(xm->dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *exit_code = Fail(kExitInvalid, "cannot create " + xm->dir + ": " + std::strerror(errno));
      return;
    }
    auto key_pem = key->ToPkcs8Pem();
    Status s =
        key_pem.ok() ? WriteFile(xm->dir + "/key.pem", key_pem->str(), 0600) : key_pem.status();
    if (s.ok()) s = WriteFile(xm->dir + "/svid.pem", out["svid_pem"].get<std::string>(), 0644);
    if (s.ok()) s = WriteFile(xm->dir + "/bundle.pem", out["bundle_pem"].get<std::string>(), 0644);
    if (!s.ok()) {
      *exit_code = Fail(kExitInvalid, s.message());
      return;
    }
    std::cout << "X.509-SVID for " << xm->spiffe_id << " (serial "
              << out["serial"].get<std::string>() << ", expires " << Time(out["expires_at"])
              << ") written to " << xm->dir << ": svid.pem, key.pem, bundle.pem\n";
  });

  // jwt mint
  CLI::App* jwt = app.get_subcommand("jwt");
  auto jwt_mint = std::make_shared<Common>();
  struct JwtMintArgs {
    std::string spiffe_id;
    std::vector<std::string> audience;
    int64_t ttl = 0;
  };
  auto jm = std::make_shared<JwtMintArgs>();
  CLI::App* jmint = jwt->add_subcommand("mint", "issue a JWT-SVID");
  AddCommon(jmint, jwt_mint.get(), false);
  jmint->add_option("--spiffe-id", jm->spiffe_id, "SPIFFE ID")->required();
  jmint->add_option("--audience", jm->audience, "audience, repeatable")->required();
  jmint->add_option("--ttl", jm->ttl, "lifetime in seconds (default 900)");
  jmint->callback([=] {
    json out;
    *exit_code =
        Call(*jwt_mint, "POST", "/v1/jwt/mint",
             {{"spiffe_id", jm->spiffe_id}, {"audience", jm->audience}, {"ttl", jm->ttl}}, &out);
    if (*exit_code == kExitOk) std::cout << out["token"].get<std::string>() << "\n";
  });

  // authority x509|jwt show|prepare|activate|taint|revoke
  CLI::App* authority =
      app.add_subcommand("authority", "CA signing authorities")->require_subcommand(1);
  for (const char* kind : {"x509", "jwt"}) {
    CLI::App* k =
        authority->add_subcommand(kind, std::string(kind) + " authorities")->require_subcommand(1);
    for (const char* action : {"show", "prepare", "activate", "taint", "revoke"}) {
      auto opts = std::make_shared<std::pair<Common, std::string>>();
      CLI::App* sub = k->add_subcommand(action, action);
      AddCommon(sub, &opts->first);
      if (std::string(action) == "taint" || std::string(action) == "revoke") {
        sub->add_option("--id", opts->second, "authority ID (see show)")->required();
      }
      const std::string kind_name = kind, action_name = action;
      sub->callback([=] {
        json out;
        if (action_name == "show") {
          *exit_code = Call(opts->first, "GET", "/v1/authority/" + kind_name, nullptr, &out);
        } else {
          *exit_code = Call(opts->first, "POST", "/v1/authority/" + kind_name + "/" + action_name,
                            {{"id", opts->second}}, &out);
        }
        if (*exit_code != kExitOk) return;
        if (opts->first.output == "json") {
          std::cout << out.dump() << "\n";
          return;
        }
        const json list = out.contains("authorities") ? out["authorities"] : json::array({out});
        for (const auto& a : list) {
          std::cout << "Authority ID : " << a["id"].get<std::string>() << "\n"
                    << "State        : " << a["state"].get<std::string>()
                    << (a["tainted"].get<bool>() ? " (tainted)" : "") << "\n"
                    << "Created at   : " << Time(a["created_at"]) << "\n";
          if (a["activated_at"].get<int64_t>() != 0)
            std::cout << "Activated at : " << Time(a["activated_at"]) << "\n";
          if (a["not_after"].get<int64_t>() != 0)
            std::cout << "Expires at   : " << Time(a["not_after"]) << "\n";
          std::cout << "\n";
        }
      });
    }
  }
}

}  // namespace ward::cli

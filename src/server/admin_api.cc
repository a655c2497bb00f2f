#include "server/admin_api.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/csr.h"
#include "core/digest.h"
#include "net/https_client.h"
#include "server/api_util.h"
#include "server/entry_json.h"

namespace ward::server {
namespace {

using nlohmann::json;

json AgentToJson(const store::AttestedAgent& a) {
  return {{"spiffe_id", a.spiffe_id.str()},
          {"attestation_type", a.attestation_type},
          {"serial", a.serial},
          {"expires_at", a.expires_at},
          {"banned", a.banned},
          {"created_at", a.created_at}};
}

json AuthorityToJson(const ca::AuthorityInfo& a) {
  return {{"id", a.id},
          {"state", ca::AuthorityStateName(a.state)},
          {"created_at", a.created_at},
          {"activated_at", a.activated_at},
          {"retired_at", a.retired_at},
          {"not_after", a.not_after},
          {"tainted", a.tainted}};
}

std::string CallerOf(const Peer& peer) {
  if (!peer.spiffe_id.empty()) return peer.spiffe_id;
  return peer.is_unix ? "uid:" + std::to_string(peer.uid) + " pid:" + std::to_string(peer.pid)
                      : peer.address;
}

// Metric label for a request: its route shape from a fixed set, so entry IDs or junk paths sent
// by any local user cannot grow the number of series.
std::string RouteLabel(const HttpRequest& r) {
  static const char* const kExact[] = {"/v1/health",        "/v1/bundle",         "/v1/entries",
                                       "/v1/entries/count", "/v1/entries/delete", "/v1/agents",
                                       "/v1/agents/show",   "/v1/agents/evict",   "/v1/agents/ban",
                                       "/v1/tokens",        "/v1/x509/mint",      "/v1/jwt/mint"};
  static const char* const kMethods[] = {"GET", "POST", "PUT", "DELETE"};
  std::string method = "OTHER";
  for (const char* m : kMethods) {
    if (r.method == m) method = m;
  }
  for (const char* p : kExact) {
    if (r.path == p) return method + " " + p;
  }
  if (r.path.starts_with("/v1/entries/")) return method + " /v1/entries/{id}";
  if (r.path.starts_with("/v1/authority/")) return method + " /v1/authority/{kind}/{action}";
  if (r.path == "/v1/bundles" || r.path == "/v1/federation") return method + " " + r.path;
  if (r.path.starts_with("/v1/bundles/")) return method + " /v1/bundles/{td}";
  if (r.path.starts_with("/v1/federation/")) return method + " /v1/federation/{td}";
  return method + " other";
}

}  // namespace

AdminApi::AdminApi(AdminDeps deps)
    : deps_(std::move(deps)),
      requests_(deps_.metrics.AddCounter("ward_admin_requests_total",
                                         "Admin API requests by method and HTTP status.",
                                         {"method", "code"})),
      issued_(
          deps_.metrics.AddCounter("ward_svids_issued_total", "SVIDs issued, by type.", {"type"})),
      signing_(deps_.metrics.AddHistogram("ward_signing_duration_seconds",
                                          "Time to sign one SVID, by type.", {"type"},
                                          telemetry::LatencyBuckets())) {}

// One route: a method, a path (exact, or a prefix when it ends in '/'), and what it does.
struct AdminApi::Routes {
  AdminApi& api;
  const Peer& peer;
  const HttpRequest& req;
  std::string caller;

  Status Audit(audit::AuditEvent event) {
    event.Set("caller", caller);
    return api.deps_.audit.Record(event);
  }
  // Records an admin change after it happened; a failed record fails the call.
  HttpResponse Changed(const std::string& what, const std::string& target, HttpResponse ok) {
    const Status s = Audit(audit::AuditEvent(audit::kAdminChange)
                               .Set("change", what)
                               .Set("target", target)
                               .Set("status", int64_t{ok.status}));
    return s.ok() ? ok : ErrorResponse(s);
  }

  HttpResponse Dispatch() {
    const std::string& m = req.method;
    const std::string& p = req.path;
    if (m == "GET" && p == "/v1/health") return JsonResponse({{"status", "ok"}});
    if (m == "GET" && p == "/v1/bundle") return Bundle();
    if (m == "POST" && p == "/v1/entries") return CreateEntries();
    if (m == "GET" && p == "/v1/entries") return ListEntries();
    if (m == "GET" && p == "/v1/entries/count") return CountEntries();
    if (m == "POST" && p == "/v1/entries/delete") return DeleteEntries();
    if (p.starts_with("/v1/entries/")) {
      const std::string id = p.substr(std::string_view("/v1/entries/").size());
      if (m == "GET") return GetEntry(id);
      if (m == "PUT") return UpdateEntry(id);
      if (m == "DELETE") return DeleteOne(id);
    }
    if (m == "GET" && p == "/v1/agents") return ListAgents();
    if (m == "GET" && p == "/v1/agents/show") return ShowAgent();
    if (m == "POST" && (p == "/v1/agents/evict" || p == "/v1/agents/ban")) return AgentAction(p);
    if (m == "POST" && p == "/v1/tokens") return CreateToken();
    if (m == "POST" && p == "/v1/x509/mint") return MintX509();
    if (m == "POST" && p == "/v1/jwt/mint") return MintJwt();
    if (p.starts_with("/v1/authority/")) return Authority();
    if (m == "GET" && p == "/v1/bundles") return ListBundles();
    if (m == "POST" && p == "/v1/bundles") return SetBundle();
    if (m == "DELETE" && p.starts_with("/v1/bundles/")) return DeleteBundle(p.substr(12));
    if (m == "GET" && p == "/v1/federation") return ListFederation();
    if (m == "POST" && p == "/v1/federation") return CreateFederation();
    if (m == "DELETE" && p.starts_with("/v1/federation/")) return DeleteFederation(p.substr(15));
    return ErrorResponse(NotFound("no such admin API method: " + m + " " + p));
  }

  HttpResponse Bundle() {
    const TrustBundle bundle = api.deps_.ca.Bundle();
    const auto format = req.query.find("format");
    if (format != req.query.end() && format->second == "pem") {
      return {200, "application/x-pem-file", bundle.ToPem()};
    }
    if (format != req.query.end() && format->second != "spiffe") {
      return ErrorResponse(InvalidArgument("format must be pem or spiffe"));
    }
    return {200, "application/json", bundle.ToSpiffeJson()};
  }

  HttpResponse CreateEntries() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    const auto entries = body->find("entries");
    if (entries == body->end() || !entries->is_array()) {
      return ErrorResponse(InvalidArgument("body needs an \"entries\" array"));
    }
    if (entries->size() > 1000)
      return ErrorResponse(InvalidArgument("at most 1000 entries per call"));
    // Validate all, create the valid ones in one batch, audit them with one write.
    std::vector<Status> outcome;
    std::vector<store::RegistrationEntry> valid;
    for (const auto& j : *entries) {
      auto entry = EntryFromJson(j);
      Status s = entry.ok() ? ValidateEntry(*entry, api.deps_.trust_domain, api.deps_.limits)
                            : entry.status();
      if (s.ok()) valid.push_back(std::move(entry).value());
      outcome.push_back(std::move(s));
    }
    std::vector<Result<store::RegistrationEntry>> created =
        api.deps_.store.CreateEntries(std::move(valid));
    std::vector<audit::AuditEvent> changes;
    for (const auto& c : created) {
      if (!c.ok()) continue;
      changes.push_back(audit::AuditEvent(audit::kAdminChange)
                            .Set("change", "entry.create")
                            .Set("target", c->id)
                            .Set("spiffe_id", c->spiffe_id.str())
                            .Set("caller", caller));
    }
    const Status audited = changes.empty() ? OkStatus() : api.deps_.audit.RecordAll(changes);
    json results = json::array();
    size_t next_created = 0;
    for (const Status& s : outcome) {
      Status shown = s;
      if (s.ok()) {
        const auto& c = created[next_created++];
        shown = !c.ok() ? c.status() : audited;
        if (shown.ok()) {
          results.push_back({{"entry", EntryToJson(*c)}});
          continue;
        }
      }
      results.push_back({{"error", shown.message()}, {"code", StatusCodeName(shown.code())}});
    }
    return JsonResponse({{"results", results}});
  }

  HttpResponse ListEntries() {
    int page_size = 500;
    if (auto it = req.query.find("page_size"); it != req.query.end()) {
      try {
        page_size = std::stoi(it->second);
      } catch (const std::exception&) {
        return ErrorResponse(InvalidArgument("page_size must be a number"));
      }
    }
    auto opt = [&](const char* k) -> std::optional<std::string> {
      const auto it = req.query.find(k);
      return it == req.query.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto page = api.deps_.store.ListEntries(opt("page_token").value_or(""), page_size,
                                            opt("spiffe_id"), opt("parent_id"));
    if (!page.ok()) return ErrorResponse(page.status());
    json entries = json::array();
    for (const auto& e : page->entries) entries.push_back(EntryToJson(e));
    return JsonResponse({{"entries", entries}, {"next_page_token", page->next_page_token}});
  }

  HttpResponse CountEntries() {
    auto n = api.deps_.store.CountEntries();
    return n.ok() ? JsonResponse({{"count", *n}}) : ErrorResponse(n.status());
  }

  HttpResponse GetEntry(const std::string& id) {
    auto e = api.deps_.store.GetEntry(id);
    return e.ok() ? JsonResponse(EntryToJson(*e)) : ErrorResponse(e.status());
  }

  HttpResponse UpdateEntry(const std::string& id) {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto entry = EntryFromJson(*body);
    if (!entry.ok()) return ErrorResponse(entry.status());
    entry->id = id;
    const Status valid = ValidateEntry(*entry, api.deps_.trust_domain, api.deps_.limits);
    if (!valid.ok()) return ErrorResponse(valid);
    auto updated = api.deps_.store.UpdateEntry(std::move(entry).value());
    if (!updated.ok()) return ErrorResponse(updated.status());
    return Changed("entry.update", id, JsonResponse(EntryToJson(*updated)));
  }

  HttpResponse DeleteOne(const std::string& id) {
    const Status s = api.deps_.store.DeleteEntry(id);
    if (!s.ok()) return ErrorResponse(s);
    return Changed("entry.delete", id, JsonResponse({{"deleted", id}}));
  }

  HttpResponse DeleteEntries() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto ids = Field<std::vector<std::string>>(*body, "ids", {});
    if (!ids.ok()) return ErrorResponse(ids.status());
    json results = json::array();
    for (const auto& id : *ids) {
      Status s = api.deps_.store.DeleteEntry(id);
      if (s.ok()) {
        s = Audit(
            audit::AuditEvent(audit::kAdminChange).Set("change", "entry.delete").Set("target", id));
      }
      results.push_back(
          s.ok() ? json{{"deleted", id}}
                 : json{{"id", id}, {"error", s.message()}, {"code", StatusCodeName(s.code())}});
    }
    return JsonResponse({{"results", results}});
  }

  HttpResponse ListAgents() {
    auto agents = api.deps_.store.ListAgents();
    if (!agents.ok()) return ErrorResponse(agents.status());
    json out = json::array();
    for (const auto& a : *agents) out.push_back(AgentToJson(a));
    return JsonResponse({{"agents", out}});
  }

  HttpResponse ShowAgent() {
    const auto it = req.query.find("id");
    if (it == req.query.end()) return ErrorResponse(InvalidArgument("id is required"));
    auto a = api.deps_.store.GetAgent(it->second);
    return a.ok() ? JsonResponse(AgentToJson(*a)) : ErrorResponse(a.status());
  }

  HttpResponse AgentAction(const std::string& path) {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto id = Field<std::string>(*body, "id", "");
    if (!id.ok()) return ErrorResponse(id.status());
    const bool ban = path.ends_with("/ban");
    const Status s =
        ban ? api.deps_.store.SetAgentBanned(*id, true) : api.deps_.store.DeleteAgent(*id);
    if (!s.ok()) return ErrorResponse(s);
    return Changed(ban ? "agent.ban" : "agent.evict", *id,
                   JsonResponse({{ban ? "banned" : "evicted", *id}}));
  }

  HttpResponse CreateToken() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto ttl = Field<int64_t>(*body, "ttl", 600);
    auto alias = Field<std::string>(*body, "spiffe_id", "");
    if (!ttl.ok()) return ErrorResponse(ttl.status());
    if (!alias.ok()) return ErrorResponse(alias.status());
    if (*ttl < 1 || *ttl > 7 * 24 * 3600) {
      return ErrorResponse(InvalidArgument("ttl must be between 1 second and 7 days"));
    }
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
      return ErrorResponse(Internal("the random generator failed; no token was made"));
    }
    const std::string token = HexEncode(ByteView(raw, sizeof raw));
    const Sha256Digest digest = Sha256(ByteView(raw, sizeof raw));
    SecureWipe(raw, sizeof raw);
    // The agent's ID derives from the token's hash, so the secret never appears in an ID or log.
    const std::string token_id = HexEncode(ByteView(digest.data(), 8));
    const std::string agent_path = std::string(kAgentPathPrefix) + "join_token/" + token_id;
    auto agent_id = SpiffeId::FromPath(api.deps_.trust_domain, agent_path);
    if (!agent_id.ok()) return ErrorResponse(agent_id.status());
    if (!alias->empty()) {
      // Like SPIRE: an entry naming the agent that attests with this token by `spiffe_id`.
      auto id = SpiffeId::Parse(*alias);
      if (!id.ok()) return ErrorResponse(id.status().WithContext("spiffe_id"));
      store::RegistrationEntry e{.spiffe_id = *id, .parent_id = *agent_id};
      const Status valid = ValidateEntry(e, api.deps_.trust_domain, api.deps_.limits);
      if (!valid.ok()) return ErrorResponse(valid);
      auto created = api.deps_.store.CreateEntry(e);
      if (!created.ok()) return ErrorResponse(created.status());
    }
    const int64_t expires_at = UnixNow() + *ttl;
    const Status s = api.deps_.store.CreateJoinToken({token, agent_path, expires_at});
    if (!s.ok()) return ErrorResponse(s);
    return Changed(
        "join_token.create", agent_id->str(),
        JsonResponse(
            {{"token", token}, {"agent_id", agent_id->str()}, {"expires_at", expires_at}}));
  }

  HttpResponse MintX509() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto spiffe_id = Field<std::string>(*body, "spiffe_id", "");
    auto ttl = Field<int64_t>(*body, "ttl", 0);
    auto csr_b64 = Field<std::string>(*body, "csr", "");
    auto dns = Field<std::vector<std::string>>(*body, "dns_names", {});
    for (const Status& s : {spiffe_id.status(), ttl.status(), csr_b64.status(), dns.status()}) {
      if (!s.ok()) return ErrorResponse(s);
    }
    auto id = SpiffeId::Parse(*spiffe_id);
    if (!id.ok()) return ErrorResponse(id.status().WithContext("spiffe_id"));
    auto csr_der = Base64Decode(*csr_b64);
    if (!csr_der.ok()) return ErrorResponse(csr_der.status().WithContext("csr"));
    auto csr = ParseCsrDer(*csr_der);
    if (!csr.ok()) return ErrorResponse(csr.status());
    const auto start = std::chrono::steady_clock::now();
    auto issued = api.deps_.ca.SignX509Svid(*id, csr->key, *ttl, *dns, UnixNow());
    if (!issued.ok()) return ErrorResponse(issued.status());
    api.signing_.Observe(
        {"x509"}, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const Status s = Audit(audit::AuditEvent(audit::kIdentityIssued)
                               .Set("type", "x509-svid")
                               .Set("spiffe_id", id->str())
                               .Set("serial", issued->leaf.SerialHex())
                               .Set("expires_at", issued->leaf.not_after())
                               .Set("authority", issued->authority_id));
    if (!s.ok()) return ErrorResponse(s);
    api.issued_.Inc({"x509"});
    return JsonResponse({{"svid_pem", CertificatesToPem(issued->chain)},
                         {"bundle_pem", api.deps_.ca.Bundle().ToPem()},
                         {"serial", issued->leaf.SerialHex()},
                         {"expires_at", issued->leaf.not_after()}});
  }

  HttpResponse MintJwt() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto spiffe_id = Field<std::string>(*body, "spiffe_id", "");
    auto audience = Field<std::vector<std::string>>(*body, "audience", {});
    auto ttl = Field<int64_t>(*body, "ttl", 0);
    for (const Status& s : {spiffe_id.status(), audience.status(), ttl.status()}) {
      if (!s.ok()) return ErrorResponse(s);
    }
    auto id = SpiffeId::Parse(*spiffe_id);
    if (!id.ok()) return ErrorResponse(id.status().WithContext("spiffe_id"));
    if (audience->empty()) return ErrorResponse(InvalidArgument("audience must be specified"));
    const auto start = std::chrono::steady_clock::now();
    auto issued = api.deps_.ca.MintJwtSvid(*id, *audience, *ttl, UnixNow());
    if (!issued.ok()) return ErrorResponse(issued.status());
    api.signing_.Observe(
        {"jwt"}, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const int64_t expires_at = issued->expires_at;
    const Status s = Audit(audit::AuditEvent(audit::kIdentityIssued)
                               .Set("type", "jwt-svid")
                               .Set("spiffe_id", id->str())
                               .Set("jti", issued->minted.jti)
                               .Set("expires_at", expires_at)
                               .Set("authority", issued->authority_id));
    if (!s.ok()) return ErrorResponse(s);
    api.issued_.Inc({"jwt"});
    return JsonResponse(
        {{"token", issued->minted.token}, {"jti", issued->minted.jti}, {"expires_at", expires_at}});
  }

  // Federated bundles: every stored bundle except the trust domain's own.
  HttpResponse ListBundles() {
    auto stored = api.deps_.store.ListBundles();
    if (!stored.ok()) return ErrorResponse(stored.status());
    json out = json::array();
    for (const auto& b : *stored) {
      if (b.trust_domain == api.deps_.trust_domain.name()) continue;
      out.push_back({{"trust_domain", b.trust_domain},
                     {"sequence", b.sequence},
                     {"bundle", json::parse(b.spiffe_json, nullptr, false)}});
    }
    return JsonResponse({{"bundles", out}});
  }

  HttpResponse SetBundle() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto td_name = Field<std::string>(*body, "trust_domain", "");
    auto text = Field<std::string>(*body, "bundle", "");
    if (!td_name.ok()) return ErrorResponse(td_name.status());
    if (!text.ok()) return ErrorResponse(text.status());
    auto td = TrustDomain::FromNameOrId(*td_name);
    if (!td.ok()) return ErrorResponse(td.status().WithContext("trust_domain"));
    if (*td == api.deps_.trust_domain) {
      return ErrorResponse(
          InvalidArgument("the trust domain's own bundle is the CA's; it cannot be set"));
    }
    auto set = ParseAnyBundle(*text, &*td);
    if (!set.ok()) return ErrorResponse(set.status().WithContext("bundle"));
    const TrustBundle* bundle = set->FindBundle(td->name());
    if (bundle == nullptr) {
      return ErrorResponse(InvalidArgument("bundle map has no entry for " + td->name()));
    }
    const Status s = api.deps_.store.PutBundle(
        {td->name(), bundle->ToSpiffeJson(), bundle->sequence().value_or(0)});
    if (!s.ok()) return ErrorResponse(s);
    return Changed("bundle.set", td->name(), JsonResponse({{"trust_domain", td->name()}}));
  }

  HttpResponse DeleteBundle(const std::string& td_name) {
    if (td_name == api.deps_.trust_domain.name()) {
      return ErrorResponse(InvalidArgument("the trust domain's own bundle cannot be deleted"));
    }
    const Status s = api.deps_.store.DeleteBundle(td_name);
    if (!s.ok()) return ErrorResponse(s);
    return Changed("bundle.delete", td_name, JsonResponse({{"deleted", td_name}}));
  }

  HttpResponse ListFederation() {
    auto all = api.deps_.store.ListFederations();
    if (!all.ok()) return ErrorResponse(all.status());
    json out = json::array();
    for (const auto& f : *all) {
      out.push_back({{"trust_domain", f.trust_domain},
                     {"url", f.url},
                     {"profile", f.profile},
                     {"endpoint_spiffe_id", f.endpoint_spiffe_id},
                     {"has_ca", !f.ca_pem.empty()}});
    }
    return JsonResponse({{"relationships", out}});
  }

  HttpResponse CreateFederation() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    store::FederationRelationship f;
    const std::pair<const char*, std::string*> fields[] = {
        {"trust_domain", &f.trust_domain},
        {"url", &f.url},
        {"profile", &f.profile},
        {"endpoint_spiffe_id", &f.endpoint_spiffe_id},
        {"ca_pem", &f.ca_pem}};
    for (const auto& [name, field] : fields) {
      auto v = Field<std::string>(*body, name, "");
      if (!v.ok()) return ErrorResponse(v.status());
      *field = *v;
    }
    auto td = TrustDomain::FromNameOrId(f.trust_domain);
    if (!td.ok()) return ErrorResponse(td.status().WithContext("trust_domain"));
    if (*td == api.deps_.trust_domain) {
      return ErrorResponse(InvalidArgument("a trust domain cannot federate with itself"));
    }
    f.trust_domain = td->name();
    auto url = net::HttpsUrl::Parse(f.url);
    if (!url.ok()) return ErrorResponse(url.status().WithContext("url"));
    if (f.profile == "https_spiffe") {
      auto id = SpiffeId::Parse(f.endpoint_spiffe_id);
      if (!id.ok()) return ErrorResponse(id.status().WithContext("endpoint_spiffe_id"));
    } else if (f.profile == "https_web") {
      if (!f.endpoint_spiffe_id.empty()) {
        return ErrorResponse(
            InvalidArgument("endpoint_spiffe_id belongs to the https_spiffe profile"));
      }
      if (!f.ca_pem.empty()) {
        auto roots = ParsePemCertificates(f.ca_pem);
        if (!roots.ok()) return ErrorResponse(roots.status().WithContext("ca_pem"));
      }
    } else {
      return ErrorResponse(InvalidArgument("profile must be https_web or https_spiffe"));
    }
    // An optional first bundle (needed to authenticate a self-serving https_spiffe endpoint).
    auto bootstrap = Field<std::string>(*body, "bundle", "");
    if (!bootstrap.ok()) return ErrorResponse(bootstrap.status());
    if (!bootstrap->empty()) {
      auto set = ParseAnyBundle(*bootstrap, &*td);
      if (!set.ok()) return ErrorResponse(set.status().WithContext("bundle"));
      const TrustBundle* b = set->FindBundle(td->name());
      if (b == nullptr) {
        return ErrorResponse(InvalidArgument("bundle has no entry for " + td->name()));
      }
      const Status s =
          api.deps_.store.PutBundle({td->name(), b->ToSpiffeJson(), b->sequence().value_or(0)});
      if (!s.ok()) return ErrorResponse(s);
    }
    const Status s = api.deps_.store.PutFederation(f);
    if (!s.ok()) return ErrorResponse(s);
    if (api.deps_.on_federation_change) api.deps_.on_federation_change();
    return Changed("federation.create", f.trust_domain,
                   JsonResponse({{"trust_domain", f.trust_domain}}));
  }

  // Ending a relationship deletes its bundle too, so validators stop trusting it.
  HttpResponse DeleteFederation(const std::string& td_name) {
    const Status s = api.deps_.store.DeleteFederation(td_name);
    if (!s.ok()) return ErrorResponse(s);
    const Status b = api.deps_.store.DeleteBundle(td_name);
    if (!b.ok() && b.code() != StatusCode::kNotFound) return ErrorResponse(b);
    if (api.deps_.on_federation_change) api.deps_.on_federation_change();
    return Changed("federation.delete", td_name, JsonResponse({{"deleted", td_name}}));
  }

  HttpResponse Authority() {
    // /v1/authority/<x509|jwt>[/<action>]
    const std::string rest = req.path.substr(std::string_view("/v1/authority/").size());
    const size_t slash = rest.find('/');
    const std::string kind_name = rest.substr(0, slash);
    const std::string action = slash == std::string::npos ? "" : rest.substr(slash + 1);
    ca::AuthorityKind kind;
    if (kind_name == "x509") {
      kind = ca::AuthorityKind::kX509;
    } else if (kind_name == "jwt") {
      kind = ca::AuthorityKind::kJwt;
    } else {
      return ErrorResponse(NotFound("authority kind must be x509 or jwt"));
    }
    ca::CertificateAuthority& ca = api.deps_.ca;
    if (req.method == "GET" && action.empty()) {
      json out = json::array();
      for (const auto& a : ca.Authorities(kind)) out.push_back(AuthorityToJson(a));
      return JsonResponse({{"authorities", out}});
    }
    if (req.method != "POST") return ErrorResponse(NotFound("use POST for authority actions"));
    auto body = ParseJsonBody(req);
    if (!body.ok()) return ErrorResponse(body.status());
    auto id = Field<std::string>(*body, "id", "");
    if (!id.ok()) return ErrorResponse(id.status());
    const int64_t now = UnixNow();
    Result<ca::AuthorityInfo> result = InvalidArgument("unknown authority action: " + action);
    if (action == "prepare") result = ca.Prepare(kind, now);
    if (action == "activate") result = ca.Activate(kind, now);
    if (action == "taint") result = ca.Taint(kind, *id, now);
    if (action == "revoke") result = ca.Revoke(kind, *id, now);
    if (!result.ok()) return ErrorResponse(result.status());
    if (action == "revoke") {
      const Status s = Audit(audit::AuditEvent(audit::kIdentityRevoked)
                                 .Set("type", kind_name + "-authority")
                                 .Set("authority", result->id));
      if (!s.ok()) return ErrorResponse(s);
    }
    return Changed("authority." + kind_name + "." + action, result->id,
                   JsonResponse(AuthorityToJson(*result)));
  }
};

bool AdminApi::Authorized(const Peer& peer) {
  if (peer.is_unix) return peer.uid == ::geteuid() || deps_.admin_uids.count(peer.uid) > 0;
  if (peer.spiffe_id.empty()) return false;
  if (deps_.admin_spiffe_ids.count(peer.spiffe_id)) return true;
  // A workload registered with the admin flag (and not expired) may administer.
  auto entries = deps_.store.ListEntries("", 100, peer.spiffe_id, std::nullopt);
  if (!entries.ok()) return false;
  const int64_t now = UnixNow();
  for (const auto& e : entries->entries) {
    if (e.admin && (e.expires_at == 0 || e.expires_at > now)) return true;
  }
  return false;
}

HttpResponse AdminApi::Handle(const Peer& peer, const HttpRequest& request) {
  Routes routes{*this, peer, request, CallerOf(peer)};
  const std::string method = request.method + " " + request.path;
  const bool allowed = Authorized(peer);
  // The decision is recorded before anything runs; no record, no operation.
  const Status audited =
      routes.Audit(audit::AuditEvent(allowed ? audit::kAccessGranted : audit::kAccessDenied)
                       .Set("api", "admin")
                       .Set("method", method));
  HttpResponse response;
  if (!audited.ok()) {
    response = ErrorResponse(audited);
  } else if (!allowed) {
    response =
        ErrorResponse(PermissionDenied(
            CallerOf(peer) + " may not use the admin API; ask an operator to add it to admin_uids "
                             "(Unix socket) or admin_spiffe_ids / an admin entry (mTLS)"));
  } else {
    response = routes.Dispatch();
  }
  requests_.Inc({RouteLabel(request), std::to_string(response.status)});
  // Any write call may change what agents hold, a failed one too (a change can be committed
  // before its audit record fails): parked agent syncs and the entry index re-check.
  if (request.method != "GET" && deps_.hub != nullptr) deps_.hub->Bump();
  return response;
}

}  // namespace ward::server

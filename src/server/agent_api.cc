#include "server/agent_api.h"

#include <openssl/x509_vfy.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <unordered_set>

#include "core/base64.h"
#include "core/csr.h"
#include "core/digest.h"
#include "core/json_writer.h"
#include "server/api_util.h"
#include "server/entry_json.h"
#include "server/entry_rules.h"

namespace ward::server {
namespace {

using nlohmann::json;

std::string Sha256Hex(ByteView data) { return HexEncode(Sha256(data)); }

json ChainJson(const std::vector<Certificate>& chain) {
  json out = json::array();
  for (const auto& c : chain) out.push_back(Base64Encode(c.ToDer()));
  return out;
}

// The entries an incremental sync withdraws from an agent: withdrawals from a parent it serves,
// and everything that was nested under a withdrawn or renamed entry and is no longer authorized
// (a nested entry does not change when the entry above it goes, so it has no withdrawal row of
// its own). `mine` and `parents` describe what the agent is authorized for now.
std::vector<std::string> WithdrawnFromAgent(const std::vector<store::EntryWithdrawal>& withdrawals,
                                            const std::unordered_set<std::string_view>& mine,
                                            const std::unordered_set<std::string_view>& parents,
                                            const EntryIndex::View& view) {
  std::multimap<std::string, const store::EntryWithdrawal*> withdrawn_under;
  for (const auto& w : withdrawals) withdrawn_under.emplace(w.parent_id, &w);
  std::vector<std::string> out;
  std::set<std::string> sent;
  std::set<std::string> visited;                 // SPIFFE IDs whose former children were examined
  std::deque<std::pair<std::string, int>> lost;  // names that no longer anchor anything here
  auto withdraw = [&](const std::string& id) {
    if (!mine.count(id) && sent.insert(id).second) out.push_back(id);
  };
  auto lose = [&](const std::string& spiffe_id, int depth) {
    if (!spiffe_id.empty() && !parents.count(spiffe_id) && depth < 8 &&
        visited.insert(spiffe_id).second) {
      lost.push_back({spiffe_id, depth});
    }
  };
  for (const auto& w : withdrawals) {
    if (!parents.count(w.parent_id)) continue;
    withdraw(w.id);
    lose(w.spiffe_id, 0);
  }
  while (!lost.empty()) {
    auto [name, depth] = lost.front();
    lost.pop_front();
    const auto [first, last] = withdrawn_under.equal_range(name);
    for (auto it = first; it != last; ++it) {
      withdraw(it->second->id);
      lose(it->second->spiffe_id, depth + 1);
    }
    for (const EntryPtr& e : view.Children(name)) {
      withdraw(e->id);
      lose(e->spiffe_id.str(), depth + 1);
    }
  }
  return out;
}

struct AuthenticatedAgent {
  SpiffeId id;
  store::AttestedAgent record;
};

}  // namespace

// One request in flight: the peer, the request, and how to answer it.
struct AgentApi::Call : std::enable_shared_from_this<AgentApi::Call> {
  AgentApi& api;
  Peer peer;
  HttpRequest req;
  HttpReply reply;
  std::string caller;

  Call(AgentApi& a, const Peer& p, HttpRequest r, HttpReply rep)
      : api(a), peer(p), req(std::move(r)), reply(std::move(rep)), caller(p.address) {}

  std::string Method() const { return req.method + " " + req.path; }

  void Respond(const HttpResponse& r) {
    api.requests_.Inc({RouteLabel(), std::to_string(r.status)});
    reply(r);
  }

  std::string RouteLabel() const {
    static const char* const kRoutes[] = {"/v1/agent/attest", "/v1/agent/renew",
                                          "/v1/agent/sync",   "/v1/agent/svids",
                                          "/v1/agent/jwt",    "/v1/agent/bundle"};
    for (const char* r : kRoutes) {
      if (req.path == r) return r;
    }
    if (req.path.starts_with("/v1/admin/")) return "/v1/admin";
    return "other";
  }

  // Refuses the call, recording why; a failed record turns into 503.
  void Deny(const Status& why) {
    const Status audited = api.deps_.audit.Record(audit::AuditEvent(audit::kAccessDenied)
                                                      .Set("api", "agent")
                                                      .Set("method", Method())
                                                      .Set("caller", caller)
                                                      .Set("reason", why.message()));
    Respond(ErrorResponse(audited.ok() ? why : audited));
  }

  Status Grant() {
    return api.deps_.audit.Record(audit::AuditEvent(audit::kAccessGranted)
                                      .Set("api", "agent")
                                      .Set("method", Method())
                                      .Set("caller", caller));
  }

  audit::AuditEvent IssuedEvent(const std::string& type, const SpiffeId& id,
                                const std::string& serial_or_jti, int64_t expires_at,
                                const std::string& authority) const {
    audit::AuditEvent e(audit::kIdentityIssued);
    e.Set("type", type).Set("spiffe_id", id.str()).Set("caller", caller);
    e.Set(type == "jwt-svid" ? "jti" : "serial", serial_or_jti);
    e.Set("expires_at", expires_at).Set("authority", authority);
    return e;
  }
  Status AuditIssued(const std::string& type, const SpiffeId& id, const std::string& serial_or_jti,
                     int64_t expires_at, const std::string& authority) {
    return api.deps_.audit.Record(IssuedEvent(type, id, serial_or_jti, expires_at, authority));
  }

  // mTLS with the agent's current SVID, the agent still attested and not banned.
  Result<AuthenticatedAgent> Authenticate() {
    if (peer.tls_chain.empty()) {
      return Status(StatusCode::kUnauthenticated,
                    "this call needs mTLS with the agent's X.509-SVID; attest first");
    }
    WARD_ASSIGN_OR_RETURN(SpiffeId id, api.VerifiedClient(peer));
    caller = id.str();
    if (!id.path().starts_with(kAgentPathPrefix)) {
      return PermissionDenied(id.str() + " is not an agent");
    }
    // The agent record is read on every call: an eviction or a ban takes effect at once.
    auto agent = api.deps_.store.GetAgent(id.str());
    if (!agent.ok() && agent.status().code() == StatusCode::kNotFound) {
      return PermissionDenied("agent " + id.str() + " was evicted; attest again");
    }
    if (!agent.ok()) return agent.status();
    if (agent->banned) return PermissionDenied("agent " + id.str() + " is banned");
    if (agent->serial != peer.tls_chain[0].SerialHex()) {
      return PermissionDenied("this agent SVID was superseded; use the newest one");
    }
    return AuthenticatedAgent{std::move(id), std::move(agent).value()};
  }

  // Signs an agent SVID for `id` and records the agent; shared by attest and renew.
  void IssueAgentSvid(const SpiffeId& id, const std::string& attestation_type,
                      const SubjectPublicKey& key, bool include_id) {
    auto existing = api.deps_.store.GetAgent(id.str());
    if (existing.ok() && existing->banned)
      return Deny(PermissionDenied("agent " + id.str() + " is banned"));
    const Status granted = Grant();
    if (!granted.ok()) return Respond(ErrorResponse(granted));
    auto issued =
        api.deps_.ca.SignX509Svid(id, key, api.deps_.config.agent_svid_ttl, {}, UnixNow());
    if (!issued.ok()) return Respond(ErrorResponse(issued.status()));
    const Status stored = api.deps_.store.UpsertAgent(
        {id, attestation_type, issued->leaf.SerialHex(), issued->leaf.not_after()});
    if (!stored.ok()) return Respond(ErrorResponse(stored));
    const Status audited = AuditIssued("agent-x509-svid", id, issued->leaf.SerialHex(),
                                       issued->leaf.not_after(), issued->authority_id);
    if (!audited.ok()) return Respond(ErrorResponse(audited));
    api.issued_.Inc({"agent-x509"});
    json out = {{"svid", ChainJson(issued->chain)},
                {"expires_at", issued->leaf.not_after()},
                {"bundle", json::parse(*api.deps_.ca.Published().spiffe_json)}};
    if (include_id) out["agent_id"] = id.str();
    Respond(JsonResponse(out));
  }

  Result<CertificateRequest> Csr(const json& body) {
    WARD_ASSIGN_OR_RETURN(std::string csr_b64, Field<std::string>(body, "csr", ""));
    if (csr_b64.empty()) return InvalidArgument("csr is required (base64 DER PKCS#10)");
    auto der = Base64Decode(csr_b64);
    if (!der.ok()) return der.status().WithContext("csr");
    return ParseCsrDer(*der);
  }
  Result<SubjectPublicKey> CsrKey(const json& body) {
    WARD_ASSIGN_OR_RETURN(CertificateRequest csr, Csr(body));
    return std::move(csr.key);
  }

  void Attest() {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return Deny(body.status());
    auto key = CsrKey(*body);
    if (!key.ok()) return Deny(key.status());
    auto token = Field<std::string>(*body, "join_token", "");
    if (!token.ok()) return Deny(token.status());
    if (!token->empty()) {
      if (token->size() > 256) return Deny(InvalidArgument("join token is too long"));
      auto used = api.deps_.store.ConsumeJoinToken(*token, UnixNow());
      if (!used.ok()) {
        return Deny(PermissionDenied(used.status().code() == StatusCode::kNotFound
                                         ? used.status().message()
                                         : "join token could not be checked"));
      }
      auto id = SpiffeId::FromPath(api.deps_.trust_domain, used->agent_path);
      if (!id.ok()) return Deny(id.status());
      caller = id->str();
      return IssueAgentSvid(*id, "join_token", *key, true);
    }
    // x509pop: the TLS handshake proved possession of the certificate's key.
    if (api.deps_.x509pop_roots == nullptr) {
      return Deny(InvalidArgument("give a join_token (x509pop attestation is not configured)"));
    }
    if (peer.tls_chain.empty()) {
      return Deny(
          InvalidArgument("x509pop attestation needs the node certificate as the TLS client "
                          "certificate, or give a join_token"));
    }
    ossl::X509StackPtr untrusted(sk_X509_new_null());
    for (size_t i = 1; i < peer.tls_chain.size(); ++i) {
      X509_up_ref(peer.tls_chain[i].get());
      sk_X509_push(untrusted.get(), peer.tls_chain[i].get());
    }
    ossl::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), api.deps_.x509pop_roots, peer.tls_chain[0].get(),
                                    untrusted.get()) != 1) {
      return Respond(ErrorResponse(Internal("cannot start x509pop verification")));
    }
    if (X509_verify_cert(ctx.get()) != 1) {
      const int err = X509_STORE_CTX_get_error(ctx.get());
      ossl::DrainErrors();
      return Deny(
          PermissionDenied(std::string("node certificate does not chain to the x509pop CA: ") +
                           X509_verify_cert_error_string(err)));
    }
    auto id =
        SpiffeId::FromPath(api.deps_.trust_domain, std::string(kAgentPathPrefix) + "x509pop/" +
                                                       Sha256Hex(peer.tls_chain[0].ToDer()));
    if (!id.ok()) return Deny(id.status());
    caller = id->str();
    IssueAgentSvid(*id, "x509pop", *key, true);
  }

  void Renew(const AuthenticatedAgent& agent) {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return Deny(body.status());
    auto key = CsrKey(*body);
    if (!key.ok()) return Deny(key.status());
    IssueAgentSvid(agent.id, agent.record.attestation_type, *key, false);
  }

  // Builds the sync answer; `has_changes` tells whether there is anything to send.
  Result<json> SyncState(const AuthenticatedAgent& agent, int64_t since, uint64_t bundle_seq,
                         bool* has_changes) {
    const int64_t now = UnixNow();
    WARD_RETURN_IF_ERROR(api.deps_.entries.CatchUp(api.deps_.hub.version()));
    // One view: the authorized set and the changes describe the same revision.
    const EntryIndex::View view = api.deps_.entries.Read();
    const int64_t revision = view.revision();
    const std::vector<EntryPtr> authorized = view.AuthorizedFor(agent.id.str(), now);
    std::optional<IndexedChanges> changes;
    if (since >= 0) changes = view.ChangesSince(since);
    // No revision asks for everything; so does one the change log no longer reaches (or one
    // ahead of the datastore, which was replaced): the agent then replaces what it holds.
    const bool full = !changes.has_value();
    json entries = json::array();
    json deleted = json::array();
    if (full) {
      for (const auto& e : authorized) entries.push_back(EntryToJson(*e));
    } else {
      // What concerns this agent: changed entries it is authorized for, and withdrawals from
      // parents it serves (itself, or entries it holds). Other agents' changes are not sent.
      std::unordered_set<std::string_view> mine, parents = {agent.id.str()};
      for (const auto& e : authorized) {
        mine.insert(e->id);
        parents.insert(e->spiffe_id.str());
      }
      for (const auto& e : changes->upserted) {
        if (mine.count(e->id)) entries.push_back(EntryToJson(*e));
      }
      for (auto& id : WithdrawnFromAgent(changes->withdrawn, mine, parents, view)) {
        deleted.push_back(std::move(id));
      }
    }
    const ca::CertificateAuthority::PublishedBundle published = api.deps_.ca.Published();
    const TrustBundle& bundle = *published.bundle;
    json out = {{"revision", revision},
                {"full", full},
                {"entries", entries},
                {"deleted", deleted},
                {"bundle_sequence", bundle.sequence().value_or(0)}};
    const bool bundle_changed = bundle.sequence().value_or(0) != bundle_seq;
    if (bundle_changed) out["bundle"] = json::parse(*published.spiffe_json);
    json tainted = {{"x509", json::array()}, {"jwt", json::array()}};
    for (auto kind : {ca::AuthorityKind::kX509, ca::AuthorityKind::kJwt}) {
      for (const auto& a : api.deps_.ca.Authorities(kind)) {
        if (a.tainted) tainted[kind == ca::AuthorityKind::kX509 ? "x509" : "jwt"].push_back(a.id);
      }
    }
    out["tainted"] = tainted;
    // The agent echoes the digest of the tainted set it holds (`tainted=`), so a taint, which
    // changes neither entries nor the bundle, still answers its long poll at once.
    uint64_t digest = 1469598103934665603ULL;  // FNV-1a over the tainted IDs
    for (const char c : tainted.dump()) {
      digest = (digest ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
    }
    char digest_hex[17];
    std::snprintf(digest_hex, sizeof digest_hex, "%016llx",
                  static_cast<unsigned long long>(digest));
    out["tainted_digest"] = digest_hex;
    const auto known = req.query.find("tainted");
    const bool tainted_changed = known != req.query.end() && known->second != digest_hex;
    *has_changes =
        full || !entries.empty() || !deleted.empty() || bundle_changed || tainted_changed;
    return out;
  }

  void Sync(const AuthenticatedAgent& agent) {
    // No revision (or a negative one) asks for the full state; revision=0 is an incremental
    // sync from an empty datastore, which can wait like any other.
    int64_t since = -1, wait = 0;
    uint64_t bundle_seq = 0;
    try {
      if (auto it = req.query.find("revision"); it != req.query.end())
        since = std::stoll(it->second);
      if (auto it = req.query.find("bundle_sequence"); it != req.query.end()) {
        bundle_seq = std::stoull(it->second);
      }
      if (auto it = req.query.find("wait"); it != req.query.end()) wait = std::stoll(it->second);
    } catch (const std::exception&) {
      return Deny(InvalidArgument("revision, bundle_sequence and wait must be numbers"));
    }
    wait = std::clamp<int64_t>(wait, 0, api.deps_.config.max_sync_wait_seconds);
    const Status granted = Grant();
    if (!granted.ok()) return Respond(ErrorResponse(granted));
    const auto deadline = SyncHub::Clock::now() + std::chrono::seconds(wait);
    SyncOnce(agent, since, bundle_seq, deadline);
  }

  // Answers now if anything changed (or the deadline passed); otherwise parks on the hub and
  // tries again when something changes.
  void SyncOnce(const AuthenticatedAgent& agent, int64_t since, uint64_t bundle_seq,
                SyncHub::Clock::time_point deadline) {
    const uint64_t version = api.deps_.hub.version();
    bool has_changes = false;
    auto state = SyncState(agent, since, bundle_seq, &has_changes);
    if (!state.ok()) return Respond(ErrorResponse(state.status()));
    if (has_changes || SyncHub::Clock::now() >= deadline) return Respond(JsonResponse(*state));
    auto self = shared_from_this();
    api.deps_.hub.Wait(version, deadline, [self, agent, since, bundle_seq, deadline] {
      self->SyncOnce(agent, since, bundle_seq, deadline);
    });
  }

  void SignSvids(const AuthenticatedAgent& agent) {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return Deny(body.status());
    const auto csrs = body->find("csrs");
    if (csrs == body->end() || !csrs->is_array()) {
      return Deny(InvalidArgument("body needs a \"csrs\" array of {entry_id, csr}"));
    }
    if (csrs->size() > api.deps_.config.max_csrs_per_call) {
      return Deny(ResourceExhausted(
          "at most " + std::to_string(api.deps_.config.max_csrs_per_call) + " CSRs per call"));
    }
    const Status granted = Grant();
    if (!granted.ok()) return Respond(ErrorResponse(granted));
    const int64_t now = UnixNow();
    const Status caught_up = api.deps_.entries.CatchUp(api.deps_.hub.version());
    if (!caught_up.ok()) return Respond(ErrorResponse(caught_up));
    // The batch's authorizations come from one view of the entries, released before any signing:
    // a catch-up (and every call queued behind it) must not wait for 500 signatures.
    std::vector<EntryPtr> authorized_for(csrs->size());
    {
      const EntryIndex::View view = api.deps_.entries.Read();
      EntryIndex::View::Walk check(view, agent.id.str(), now);
      for (size_t i = 0; i < csrs->size(); ++i) {
        const json& item = (*csrs)[i];
        if (item.is_object()) authorized_for[i] = check.ById(item.value("entry_id", ""));
      }
    }
    // Each result is written as JSON text as it is produced: in a perf profile of batches of 50,
    // building the reply as nlohmann objects and dumping it (UTF-8-checking every base64
    // character) took more time than writing it out through TLS. Errors, rare and carrying
    // arbitrary text, still go through nlohmann.
    std::vector<std::string> results;
    results.reserve(csrs->size());
    std::vector<audit::AuditEvent> issued_events;
    // Where in `results` each issued SVID is; `results` has one item per CSR, in order, so this
    // is also the CSR's index.
    std::vector<size_t> issued_at;
    // The intermediates are the same for every SVID one authority signs: encode them once.
    std::map<std::string, std::string> intermediates_by_authority;
    // `entry_id` is null for an item that is not an object (it has no entry ID to echo).
    const auto error_json = [](const std::string* entry_id, const Status& s) {
      json item = {{"error", s.message()}, {"code", StatusCodeName(s.code())}};
      if (entry_id != nullptr) item["entry_id"] = *entry_id;
      return item.dump(-1, ' ', false, json::error_handler_t::replace);
    };
    for (size_t i = 0; i < csrs->size(); ++i) {
      const json& item = (*csrs)[i];
      if (!item.is_object()) {
        results.push_back(
            error_json(nullptr, InvalidArgument("each item must be {entry_id, csr}")));
        continue;
      }
      const std::string entry_id = item.value("entry_id", "");
      auto fail = [&](const Status& s) {
        const Status audited = api.deps_.audit.Record(audit::AuditEvent(audit::kAccessDenied)
                                                          .Set("api", "agent")
                                                          .Set("method", Method())
                                                          .Set("caller", caller)
                                                          .Set("entry_id", entry_id)
                                                          .Set("reason", s.message()));
        results.push_back(error_json(&entry_id, audited.ok() ? s : audited));
      };
      const EntryPtr& authorized = authorized_for[i];
      if (!authorized) {
        fail(PermissionDenied("entry " + entry_id.substr(0, 64) +
                              " is not authorized for this agent"));
        continue;
      }
      auto csr = Csr(item);
      if (!csr.ok()) {
        fail(csr.status());
        continue;
      }
      const store::RegistrationEntry& e = *authorized;
      const auto start = std::chrono::steady_clock::now();
      auto issued =
          api.deps_.ca.SignX509SvidDer(e.spiffe_id, csr->key, e.x509_svid_ttl, e.dns_names, now);
      if (!issued.ok()) {
        fail(issued.status());
        continue;
      }
      api.signing_.Observe(
          {"x509"},
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      issued_events.push_back(IssuedEvent("x509-svid", e.spiffe_id, issued->leaf.serial_hex,
                                          issued->leaf.not_after, issued->authority_id));
      auto [inter, inserted] = intermediates_by_authority.try_emplace(issued->authority_id);
      if (inserted) {
        for (const auto& c : issued->intermediates) {
          inter->second += ",\"";
          AppendBase64(c.ToDer(), &inter->second);
          inter->second += '"';
        }
      }
      // Keys in the order nlohmann would sort them. The entry ID came out of the JSON parser
      // (valid UTF-8) and the IDs are ASCII, so nothing is ever replaced here.
      std::string text = "{\"authority\":";
      AppendJsonString(issued->authority_id, &text, InvalidUtf8::kReplace);
      text += ",\"entry_id\":";
      AppendJsonString(entry_id, &text, InvalidUtf8::kReplace);
      text += ",\"expires_at\":" + std::to_string(issued->leaf.not_after) + ",\"spiffe_id\":";
      AppendJsonString(e.spiffe_id.str(), &text, InvalidUtf8::kReplace);
      text += ",\"svid\":[\"";
      AppendBase64(issued->leaf.der, &text);
      text += '"';
      text += inter->second;
      text += "]}";
      issued_at.push_back(results.size());
      results.push_back(std::move(text));
    }
    // The batch's issuances are recorded with one write; no SVID leaves unless it was recorded.
    const Status audited = api.deps_.audit.RecordAll(issued_events);
    for (const size_t i : issued_at) {
      if (audited.ok()) {
        api.issued_.Inc({"x509"});
      } else {
        const std::string entry_id = (*csrs)[i].value("entry_id", "");
        results[i] = error_json(&entry_id, Status(StatusCode::kUnavailable, audited.message()));
      }
    }
    size_t size = 16;
    for (const auto& r : results) size += r.size() + 1;
    std::string text;
    text.reserve(size);
    text += "{\"results\":[";
    for (size_t k = 0; k < results.size(); ++k) {
      if (k > 0) text += ',';
      text += results[k];
    }
    text += "]}";
    Respond(HttpResponse{200, "application/json", std::move(text)});
  }

  void MintJwt(const AuthenticatedAgent& agent) {
    auto body = ParseJsonBody(req);
    if (!body.ok()) return Deny(body.status());
    auto spiffe_id = Field<std::string>(*body, "spiffe_id", "");
    auto audience = Field<std::vector<std::string>>(*body, "audience", {});
    if (!spiffe_id.ok()) return Deny(spiffe_id.status());
    if (!audience.ok()) return Deny(audience.status());
    if (audience->empty()) return Deny(InvalidArgument("audience must be specified"));
    const Status caught_up = api.deps_.entries.CatchUp(api.deps_.hub.version());
    if (!caught_up.ok()) return Respond(ErrorResponse(caught_up));
    EntryPtr it;
    {
      const EntryIndex::View view = api.deps_.entries.Read();
      it = EntryIndex::View::Walk(view, agent.id.str(), UnixNow()).BySpiffeId(*spiffe_id);
    }
    if (!it) {
      return Deny(
          PermissionDenied(spiffe_id->substr(0, 256) + " is not authorized for this agent"));
    }
    const Status granted = Grant();
    if (!granted.ok()) return Respond(ErrorResponse(granted));
    const int64_t now = UnixNow();
    auto minted = api.deps_.ca.MintJwtSvid(it->spiffe_id, *audience, it->jwt_svid_ttl, now);
    if (!minted.ok()) return Respond(ErrorResponse(minted.status()));
    const int64_t expires_at = minted->expires_at;
    const Status audited = AuditIssued("jwt-svid", it->spiffe_id, minted->minted.jti, expires_at,
                                       minted->authority_id);
    if (!audited.ok()) return Respond(ErrorResponse(audited));
    api.issued_.Inc({"jwt"});
    Respond(JsonResponse({{"spiffe_id", it->spiffe_id.str()},
                          {"token", minted->minted.token},
                          {"expires_at", expires_at}}));
  }

  void Bundle() {
    const Status granted = Grant();
    if (!granted.ok()) return Respond(ErrorResponse(granted));
    const ca::CertificateAuthority::PublishedBundle published = api.deps_.ca.Published();
    const TrustBundle& own = *published.bundle;
    json federated = json::object();
    auto stored = api.deps_.store.ListBundles();
    if (!stored.ok()) return Respond(ErrorResponse(stored.status()));
    for (const auto& b : *stored) {
      if (b.trust_domain == own.trust_domain().name()) continue;
      federated[b.trust_domain] = json::parse(b.spiffe_json, nullptr, false);
    }
    Respond(
        JsonResponse({{"bundle", json::parse(*published.spiffe_json)}, {"federated", federated}}));
  }

  // The admin API over mTLS: authenticate the caller's SVID here; the admin API authorizes.
  void ForwardAdmin() {
    if (peer.tls_chain.empty()) {
      return Deny(
          Status(StatusCode::kUnauthenticated, "the admin API over TLS needs an X.509-SVID"));
    }
    auto verified = api.VerifiedClient(peer);
    if (!verified.ok()) return Deny(verified.status());
    Peer admin_peer = peer;
    admin_peer.spiffe_id = verified->str();
    HttpRequest admin_request = req;
    admin_request.path = req.path.substr(std::string_view("/v1/admin").size());
    Respond(api.deps_.admin_handler(admin_peer, admin_request));
  }

  void Dispatch() {
    const std::string& m = req.method;
    const std::string& p = req.path;
    if (m == "POST" && p == "/v1/agent/attest") return Attest();
    if (p.starts_with("/v1/admin/") && api.deps_.admin_handler) return ForwardAdmin();
    auto agent = Authenticate();
    if (!agent.ok()) return Deny(agent.status());
    if (!api.rate_limiter_.Allow(agent->id.str())) {
      return Deny(ResourceExhausted("rate limit exceeded for " + agent->id.str() + "; slow down"));
    }
    if (m == "POST" && p == "/v1/agent/renew") return Renew(*agent);
    if (m == "GET" && p == "/v1/agent/sync") return Sync(*agent);
    if (m == "POST" && p == "/v1/agent/svids") return SignSvids(*agent);
    if (m == "POST" && p == "/v1/agent/jwt") return MintJwt(*agent);
    if (m == "GET" && p == "/v1/agent/bundle") return Bundle();
    Deny(NotFound("no such agent API method: " + m.substr(0, 16) + " " + p.substr(0, 128)));
  }
};

AgentApi::AgentApi(AgentDeps deps)
    : deps_(std::move(deps)),
      requests_(deps_.metrics.AddCounter("ward_agent_requests_total",
                                         "Agent API requests by route and HTTP status.",
                                         {"route", "code"})),
      issued_(deps_.metrics.AddCounter("ward_agent_svids_issued_total",
                                       "SVIDs issued through the agent API, by type.", {"type"})),
      signing_(deps_.metrics.AddHistogram("ward_agent_signing_duration_seconds",
                                          "Time to sign one SVID for an agent.", {"type"},
                                          telemetry::LatencyBuckets())),
      rate_limiter_(deps_.config.rate_per_second, deps_.config.burst) {}

AgentApi::~AgentApi() = default;

Result<SpiffeId> AgentApi::VerifiedClient(const Peer& peer) {
  if (peer.tls_chain.empty()) {
    return Status(StatusCode::kUnauthenticated, "this call needs mTLS with an X.509-SVID");
  }
  const int64_t now = UnixNow();
  PeerVerification* memo = peer.verification.get();
  if (memo != nullptr) {
    std::lock_guard<std::mutex> lock(memo->mu);
    if (!memo->spiffe_id.empty() && memo->bundle_sequence == deps_.ca.BundleSequence() &&
        now < memo->valid_until) {
      return SpiffeId::Parse(memo->spiffe_id);
    }
  }
  const TrustBundle bundle = deps_.ca.Bundle();
  BundleSet own;
  own.Put(bundle);
  auto verified = VerifyX509Svid(peer.tls_chain, own, now);
  if (!verified.ok()) {
    return Status(StatusCode::kUnauthenticated,
                  "client certificate is not a valid SVID: " + verified.status().message());
  }
  if (memo != nullptr) {
    int64_t valid_until = INT64_MAX;
    for (const auto& c : peer.tls_chain)
      valid_until = std::min<int64_t>(valid_until, c.not_after());
    std::lock_guard<std::mutex> lock(memo->mu);
    memo->spiffe_id = verified->id.str();
    memo->bundle_sequence = bundle.sequence().value_or(0);
    memo->valid_until = valid_until;
  }
  return verified->id;
}

void AgentApi::Handle(const Peer& peer, HttpRequest request, HttpReply reply) {
  auto call = std::make_shared<Call>(*this, peer, std::move(request), std::move(reply));
  call->Dispatch();
}

}  // namespace ward::server

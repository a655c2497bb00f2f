#include "agent/server_client.h"

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "core/clock.h"
#include "core/csr.h"
#include "core/x509_svid.h"
#include "net/https_client.h"
#include "server/entry_json.h"

namespace ward::agent {
namespace {

using json = nlohmann::json;

Status FromHttp(int status, const std::string& body) {
  std::string message = "server answered HTTP " + std::to_string(status);
  try {
    const json j = json::parse(body);
    if (j.is_object() && j.contains("error") && j["error"].is_string()) {
      message = j["error"].get<std::string>();
    }
  } catch (const json::exception&) {
  }
  switch (status) {
    case 400:
      return InvalidArgument(message);
    case 401:
      return Status(StatusCode::kUnauthenticated, message);
    case 403:
      return PermissionDenied(message);
    case 404:
      return NotFound(message);
    default:
      return Status(StatusCode::kUnavailable, message);
  }
}

Result<std::vector<Certificate>> ChainFromJson(const json& svid) {
  if (!svid.is_array() || svid.empty()) return Internal("server reply has no SVID chain");
  std::vector<Certificate> chain;
  for (const auto& c : svid) {
    if (!c.is_string()) return Internal("server reply has a malformed SVID chain");
    WARD_ASSIGN_OR_RETURN(Bytes der, Base64Decode(c.get<std::string>()));
    WARD_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromDer(der));
    chain.push_back(std::move(cert));
  }
  return chain;
}

Result<Bytes> ChainDerFromJson(const json& svid) {
  if (!svid.is_array() || svid.empty()) return Internal("server reply has no SVID chain");
  Bytes out;
  for (const auto& c : svid) {
    if (!c.is_string()) return Internal("server reply has a malformed SVID chain");
    WARD_ASSIGN_OR_RETURN(Bytes der, Base64Decode(c.get<std::string>()));
    out.insert(out.end(), der.begin(), der.end());
  }
  return out;
}

template <typename T>
Result<T> Get(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) {
    return Internal(std::string("server reply lacks \"") + key + "\"");
  }
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    return Internal(std::string("server reply has a malformed \"") + key + "\"");
  }
}

Result<json> ParseReply(const std::string& body) {
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    return Internal(std::string("server reply is not JSON: ") + e.what());
  }
}

}  // namespace

ServerClient::ServerClient(std::string address, int port, TrustDomain trust_domain)
    : address_(std::move(address)),
      port_(port),
      trust_domain_(std::move(trust_domain)),
      canceller_(std::make_shared<net::RequestCanceller>()) {}

ServerClient::~ServerClient() = default;

void ServerClient::Cancel() { canceller_->Cancel(); }

void ServerClient::SetTrust(std::shared_ptr<const TrustBundle> bundle) {
  std::lock_guard<std::mutex> lock(mu_);
  trust_ = std::move(bundle);
  idle_.clear();
}

Result<std::string> ServerClient::Call(const std::string& method, const std::string& path,
                                       const std::string& body, const AgentIdentity* me,
                                       const std::vector<Certificate>* node_chain,
                                       std::shared_ptr<const PrivateKey> node_key,
                                       int timeout_seconds) {
  // Calls as an attested agent reuse a kept-alive connection opened with the same SVID, saving
  // a TLS handshake (two signatures and a chain verification on each side) per call.
  const std::string serial = me != nullptr ? me->chain[0].SerialHex() : "";
  std::shared_ptr<const TrustBundle> trust;
  std::unique_ptr<net::HttpsConnection> connection;
  {
    std::lock_guard<std::mutex> lock(mu_);
    trust = trust_;
    for (auto it = idle_.begin(); !serial.empty() && it != idle_.end(); ++it) {
      if (it->serial == serial && it->trust == trust &&
          std::chrono::steady_clock::now() - it->idle_since < kMaxIdle) {
        connection = std::move(it->connection);
        idle_.erase(it);
        break;
      }
    }
  }
  if (!trust) return FailedPrecondition("no trust bundle to authenticate the server with");
  if (connection) {
    connection->set_timeout(std::chrono::seconds(timeout_seconds));
    return Exchange(std::move(connection), method, path, body, serial, std::move(trust));
  }
  net::HttpsOptions options;
  const std::string server_id = "spiffe://" + trust_domain_.name() + "/ward/server";
  options.verify_chain = [trust, server_id](const std::vector<Certificate>& chain) -> Status {
    BundleSet set;
    set.Put(*trust);
    WARD_ASSIGN_OR_RETURN(VerifiedX509Svid svid, VerifyX509Svid(chain, set, UnixNow()));
    if (svid.id.str() != server_id) {
      return PermissionDenied("server presented " + svid.id.str() + ", expected " + server_id);
    }
    return OkStatus();
  };
  if (me != nullptr) {
    options.client_chain = me->chain;
    options.client_key = me->key;
  } else if (node_chain != nullptr) {
    options.client_chain = *node_chain;
    options.client_key = std::move(node_key);
  }
  options.timeout = std::chrono::seconds(timeout_seconds);
  options.canceller = canceller_;
  connection = std::make_unique<net::HttpsConnection>(net::HttpsUrl{address_, port_, "/"},
                                                      std::move(options));
  return Exchange(std::move(connection), method, path, body, serial, std::move(trust));
}

Result<std::string> ServerClient::Exchange(std::unique_ptr<net::HttpsConnection> connection,
                                           const std::string& method, const std::string& path,
                                           const std::string& body, const std::string& serial,
                                           std::shared_ptr<const TrustBundle> trust) {
  auto reply = connection->Request(method, path, body, /*keep_alive=*/!serial.empty());
  if (reply.ok() && !serial.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    // Connections opened with a superseded SVID or bundle are never used again.
    const auto now = std::chrono::steady_clock::now();
    std::erase_if(idle_, [&](const IdleConnection& c) {
      return c.serial != serial || c.trust != trust_ || now - c.idle_since >= kMaxIdle;
    });
    // A few suffice: the long poll holds one, issuance and JWT minting the others.
    if (idle_.size() < 4 && trust == trust_) {
      idle_.push_back({serial, std::move(trust), std::move(connection), now});
    }
  }
  if (!reply.ok()) {
    return Status(StatusCode::kUnavailable, "cannot reach the server at " + address_ + ":" +
                                                std::to_string(port_) + ": " +
                                                reply.status().message());
  }
  if (reply->status != 200) return FromHttp(reply->status, reply->body);
  return std::move(reply->body);
}

Result<AttestResult> ServerClient::ParseAttest(const std::string& body,
                                               std::shared_ptr<const PrivateKey> key) {
  WARD_ASSIGN_OR_RETURN(json j, ParseReply(body));
  WARD_ASSIGN_OR_RETURN(std::string agent_id, Get<std::string>(j, "agent_id"));
  WARD_ASSIGN_OR_RETURN(SpiffeId id, SpiffeId::Parse(agent_id));
  WARD_ASSIGN_OR_RETURN(std::vector<Certificate> chain, ChainFromJson(j.value("svid", json())));
  if (!j.contains("bundle")) return Internal("attestation reply has no bundle");
  WARD_ASSIGN_OR_RETURN(TrustBundle bundle,
                        TrustBundle::ParseSpiffeJson(trust_domain_, j["bundle"].dump()));
  const int64_t expires_at = chain[0].not_after();
  return AttestResult{{std::move(id), std::move(chain), std::move(key), expires_at},
                      std::move(bundle)};
}

Result<AttestResult> ServerClient::AttestJoinToken(const std::string& token,
                                                   std::shared_ptr<const PrivateKey> key) {
  WARD_ASSIGN_OR_RETURN(Bytes csr, CreateCsrDer(*key));
  const json body = {{"join_token", token}, {"csr", Base64Encode(csr)}};
  WARD_ASSIGN_OR_RETURN(std::string reply, Call("POST", "/v1/agent/attest", body.dump(), nullptr,
                                                nullptr, nullptr, 15));
  return ParseAttest(reply, std::move(key));
}

Result<AttestResult> ServerClient::AttestX509Pop(const std::vector<Certificate>& node_chain,
                                                 std::shared_ptr<const PrivateKey> node_key,
                                                 std::shared_ptr<const PrivateKey> key) {
  WARD_ASSIGN_OR_RETURN(Bytes csr, CreateCsrDer(*key));
  const json body = {{"csr", Base64Encode(csr)}};
  WARD_ASSIGN_OR_RETURN(std::string reply, Call("POST", "/v1/agent/attest", body.dump(), nullptr,
                                                &node_chain, std::move(node_key), 15));
  return ParseAttest(reply, std::move(key));
}

Result<AgentIdentity> ServerClient::Renew(const AgentIdentity& current,
                                          std::shared_ptr<const PrivateKey> key) {
  WARD_ASSIGN_OR_RETURN(Bytes csr, CreateCsrDer(*key));
  const json body = {{"csr", Base64Encode(csr)}};
  WARD_ASSIGN_OR_RETURN(std::string reply, Call("POST", "/v1/agent/renew", body.dump(), &current,
                                                nullptr, nullptr, 15));
  WARD_ASSIGN_OR_RETURN(json j, ParseReply(reply));
  WARD_ASSIGN_OR_RETURN(std::vector<Certificate> chain, ChainFromJson(j.value("svid", json())));
  const int64_t expires_at = chain[0].not_after();
  return AgentIdentity{current.id, std::move(chain), std::move(key), expires_at};
}

Result<SyncReply> ServerClient::Sync(const AgentIdentity& me, int64_t revision,
                                     uint64_t bundle_sequence, const std::string& tainted_digest,
                                     int wait_seconds) {
  std::string path = "/v1/agent/sync?bundle_sequence=" + std::to_string(bundle_sequence) +
                     "&wait=" + std::to_string(wait_seconds);
  if (revision >= 0) path += "&revision=" + std::to_string(revision);
  // Hex only (the server's own digest); anything else is not sent.
  if (!tainted_digest.empty() &&
      tainted_digest.find_first_not_of("0123456789abcdef") == std::string::npos) {
    path += "&tainted=" + tainted_digest;
  }
  WARD_ASSIGN_OR_RETURN(std::string reply,
                        Call("GET", path, "", &me, nullptr, nullptr, wait_seconds + 15));
  WARD_ASSIGN_OR_RETURN(json j, ParseReply(reply));
  SyncReply out;
  WARD_ASSIGN_OR_RETURN(out.revision, Get<int64_t>(j, "revision"));
  WARD_ASSIGN_OR_RETURN(out.full, Get<bool>(j, "full"));
  WARD_ASSIGN_OR_RETURN(out.bundle_sequence, Get<uint64_t>(j, "bundle_sequence"));
  WARD_ASSIGN_OR_RETURN(json entries, Get<json>(j, "entries"));
  WARD_ASSIGN_OR_RETURN(out.deleted, Get<std::vector<std::string>>(j, "deleted"));
  for (const auto& e : entries) {
    auto entry = server::EntryFromJson(e);
    if (!entry.ok()) return entry.status().WithContext("entry from the server");
    entry->id = e.value("id", "");
    entry->revision = e.value("revision", int64_t{0});
    entry->created_at = e.value("created_at", int64_t{0});
    out.entries.push_back(std::move(entry).value());
  }
  if (j.contains("bundle")) {
    WARD_ASSIGN_OR_RETURN(TrustBundle bundle,
                          TrustBundle::ParseSpiffeJson(trust_domain_, j["bundle"].dump()));
    out.bundle = std::move(bundle);
  }
  if (j.contains("tainted_digest") && j["tainted_digest"].is_string()) {
    out.tainted_digest = j["tainted_digest"].get<std::string>();
  }
  if (j.contains("tainted") && j["tainted"].is_object()) {
    for (const auto& id : j["tainted"].value("x509", json::array())) {
      if (id.is_string()) out.tainted_x509.insert(id.get<std::string>());
    }
    for (const auto& id : j["tainted"].value("jwt", json::array())) {
      if (id.is_string()) out.tainted_jwt.insert(id.get<std::string>());
    }
  }
  return out;
}

Result<std::vector<SignedSvid>> ServerClient::SignSvids(const AgentIdentity& me,
                                                        const std::vector<SvidRequest>& requests) {
  json csrs = json::array();
  for (const auto& r : requests) {
    csrs.push_back({{"entry_id", r.entry_id}, {"csr", Base64Encode(r.csr_der)}});
  }
  const json body = {{"csrs", csrs}};
  WARD_ASSIGN_OR_RETURN(std::string reply,
                        Call("POST", "/v1/agent/svids", body.dump(), &me, nullptr, nullptr, 60));
  WARD_ASSIGN_OR_RETURN(json j, ParseReply(reply));
  WARD_ASSIGN_OR_RETURN(json results, Get<json>(j, "results"));
  std::vector<SignedSvid> out;
  for (const auto& r : results) {
    SignedSvid s;
    s.entry_id = r.value("entry_id", "");
    if (r.contains("error")) {
      s.status = PermissionDenied(r.value("error", "refused"));
    } else {
      WARD_ASSIGN_OR_RETURN(s.chain_der, ChainDerFromJson(r.value("svid", json())));
      s.spiffe_id = r.value("spiffe_id", "");
      s.expires_at = r.value("expires_at", int64_t{0});
      s.authority = r.value("authority", "");
    }
    out.push_back(std::move(s));
  }
  return out;
}

Result<MintedJwt> ServerClient::MintJwt(const AgentIdentity& me, const std::string& spiffe_id,
                                        const std::vector<std::string>& audience) {
  const json body = {{"spiffe_id", spiffe_id}, {"audience", audience}};
  WARD_ASSIGN_OR_RETURN(std::string reply,
                        Call("POST", "/v1/agent/jwt", body.dump(), &me, nullptr, nullptr, 15));
  WARD_ASSIGN_OR_RETURN(json j, ParseReply(reply));
  MintedJwt out;
  WARD_ASSIGN_OR_RETURN(out.token, Get<std::string>(j, "token"));
  WARD_ASSIGN_OR_RETURN(out.expires_at, Get<int64_t>(j, "expires_at"));
  return out;
}

Result<std::map<std::string, TrustBundle>> ServerClient::FederatedBundles(const AgentIdentity& me) {
  WARD_ASSIGN_OR_RETURN(std::string reply,
                        Call("GET", "/v1/agent/bundle", "", &me, nullptr, nullptr, 15));
  WARD_ASSIGN_OR_RETURN(json j, ParseReply(reply));
  std::map<std::string, TrustBundle> out;
  if (!j.contains("federated") || !j["federated"].is_object()) return out;
  for (const auto& [td_name, doc] : j["federated"].items()) {
    auto td = TrustDomain::Parse(td_name);
    if (!td.ok()) continue;
    auto bundle = TrustBundle::ParseSpiffeJson(*td, doc.dump());
    if (bundle.ok()) out.emplace(td_name, std::move(bundle).value());
  }
  return out;
}

}  // namespace ward::agent

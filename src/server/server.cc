#include "server/server.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <thread>

#include "audit/audit_log.h"
#include "ca/authority.h"
#include "ca/key_manager.h"
#include "ca/pkcs11_key_manager.h"
#include "ca/upstream.h"
#include "core/clock.h"
#include "core/digest.h"
#include "server/admin_api.h"
#include "server/agent_api.h"
#include "server/entry_index.h"
#include "server/federation.h"
#include "server/http_server.h"
#include "server/instrumented_store.h"
#include "server/sync_hub.h"
#include "server/tls_context.h"
#include "store/sqlite_store.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

namespace ward::server {
namespace {

// One event loop per core, at least two, so that a signing batch on one leaves another loop free.
int ServerThreads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 2U, 64U));
}

Status PrepareDataDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return FailedPrecondition("cannot create data directory " + dir + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return FailedPrecondition(dir + " is not a directory");
  }
  if (st.st_mode & 077) {
    return FailedPrecondition("data directory " + dir +
                              " is accessible by group or others; chmod 700 it");
  }
  return OkStatus();
}

// The key encryption key for the disk key manager: --kek-file, else $WARD_KEK, else one generated
// into the data directory on first start (convenient, but it then sits beside the keys it
// protects: the server says so in its log).
Result<SecureBytes> KeyEncryptionKey(const ServerConfig& config, telemetry::Logger& log) {
  if (!config.kek_file.empty()) return ca::LoadKek(config.kek_file, "WARD_KEK");
  if (const char* env = std::getenv("WARD_KEK"); env != nullptr && *env != '\0') {
    return ca::LoadKek("", "WARD_KEK");
  }
  const std::string path = config.data_dir + "/kek";
  if (::access(path.c_str(), F_OK) != 0) {
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1) {
      return Internal("cannot generate a key encryption key: random generator failed");
    }
    std::string hex = HexEncode(ByteView(raw, sizeof raw));
    SecureWipe(raw, sizeof raw);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const bool written = fd >= 0 &&
                         ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) &&
                         ::fsync(fd) == 0;
    SecureWipe(hex.data(), hex.size());
    if (fd >= 0) ::close(fd);
    if (!written) return FailedPrecondition("cannot write " + path);
  }
  log.Warn(
      "key encryption key is stored in the data directory beside the keys it protects; "
      "for production pass --kek-file on another volume or set WARD_KEK",
      {{"path", path}});
  return ca::LoadKek(path, "WARD_KEK");
}

// Calls ca.Tick once a second until stopped, so rotation happens on schedule.
class RotationTicker {
 public:
  // `on_tick` runs after every tick with whether the bundle changed.
  RotationTicker(ca::CertificateAuthority& ca, telemetry::Logger& log,
                 std::function<void(bool)> on_tick)
      : ca_(ca), log_(log), on_tick_(std::move(on_tick)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~RotationTicker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
      auto changed = ca_.Tick(UnixNow());
      if (!changed.ok()) {
        log_.Error("CA rotation failed; will retry", {{"error", changed.status().message()}});
      } else if (*changed) {
        log_.Info("CA authorities rotated",
                  {{"bundle_sequence", std::to_string(ca_.Bundle().sequence().value_or(0))}});
      }
      lock.unlock();
      on_tick_(changed.ok() && *changed);
      lock.lock();
    }
  }

  ca::CertificateAuthority& ca_;
  telemetry::Logger& log_;
  std::function<void(bool)> on_tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The server's own X.509-SVID for the agent API, spiffe://<td>/ward/server. It also names
// "localhost" so plain TLS clients (curl, openssl s_client) can check it by host name.
Result<std::shared_ptr<const TlsCredentials>> IssueServerSvid(ca::CertificateAuthority& ca,
                                                              const TrustDomain& td) {
  WARD_ASSIGN_OR_RETURN(SpiffeId id, SpiffeId::FromPath(td, "/ward/server"));
  WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  WARD_ASSIGN_OR_RETURN(ca::IssuedX509Svid svid,
                        ca.SignX509Svid(id, key.public_key(), 0, {"localhost"}, UnixNow()));
  auto creds = std::make_shared<TlsCredentials>();
  creds->chain = svid.chain;
  creds->key = std::make_shared<const PrivateKey>(std::move(key));
  return std::shared_ptr<const TlsCredentials>(std::move(creds));
}

Result<ossl::X509StorePtr> LoadX509PopRoots(const std::string& path) {
  std::ifstream in(path);
  if (!in) return FailedPrecondition("cannot read x509pop CA file " + path);
  const std::string pem((std::istreambuf_iterator<char>(in)), {});
  WARD_ASSIGN_OR_RETURN(std::vector<Certificate> roots, ParsePemCertificates(pem));
  ossl::X509StorePtr store(X509_STORE_new());
  for (const auto& c : roots) X509_STORE_add_cert(store.get(), c.get());
  ossl::DrainErrors();
  return store;
}

Result<std::pair<std::string, int>> SplitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return InvalidArgument("metrics address must be host:port");
  try {
    return std::make_pair(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  } catch (const std::exception&) {
    return InvalidArgument("metrics address must be host:port");
  }
}

Status Start(const ServerConfig& config, telemetry::Logger& log) {
  WARD_ASSIGN_OR_RETURN(TrustDomain td, TrustDomain::Parse(config.trust_domain));
  WARD_ASSIGN_OR_RETURN(KeyType key_type, ParseKeyType(config.key_type));
  WARD_RETURN_IF_ERROR(PrepareDataDir(config.data_dir));
  telemetry::Registry metrics;
  WARD_ASSIGN_OR_RETURN(std::unique_ptr<store::DataStore> sqlite,
                        store::OpenSqliteStore(config.data_dir + "/ward.db"));
  // Everything, the CA included, reaches the database through the timing decorator.
  auto store = std::make_unique<InstrumentedStore>(*sqlite, metrics);
  // The agent API answers from memory. Loading the entries (seconds at a million) runs while the
  // audit chain is checked and the keys are opened; it is joined before anything is served.
  EntryIndex entries(*store);
  Status loaded;
  double load_ms = 0;
  std::thread loader([&entries, &loaded, &load_ms] {
    const auto start = std::chrono::steady_clock::now();
    loaded = entries.Load();
    load_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  });
  struct Joiner {
    std::thread& thread;
    ~Joiner() {
      if (thread.joinable()) thread.join();
    }
  } join_loader{loader};
  WARD_ASSIGN_OR_RETURN(std::unique_ptr<audit::AuditLog> audit_log,
                        audit::AuditLog::Open(config.audit_log));
  std::unique_ptr<ca::KeyManager> keys;
  if (config.key_manager == "memory") {
    keys = ca::NewMemoryKeyManager();
    log.Warn("key_manager memory: CA keys are lost on restart (a new CA starts each time)");
  } else if (config.key_manager == "disk") {
    WARD_ASSIGN_OR_RETURN(SecureBytes kek, KeyEncryptionKey(config, log));
    WARD_ASSIGN_OR_RETURN(keys, ca::NewDiskKeyManager(config.data_dir + "/keys", std::move(kek)));
  } else if (config.key_manager == "pkcs11") {
    WARD_ASSIGN_OR_RETURN(SecureBytes pin, ca::LoadPin(config.pkcs11_pin_file, "WARD_PKCS11_PIN"));
    WARD_ASSIGN_OR_RETURN(
        keys, ca::NewPkcs11KeyManager({config.pkcs11_module, config.pkcs11_token, std::move(pin)}));
  } else {
    return InvalidArgument("key manager must be memory, disk or pkcs11, not \"" +
                           config.key_manager + "\"");
  }
  ca::CaConfig ca_config{.trust_domain = td,
                         .key_type = key_type,
                         .x509_ca_rotation = config.x509_ca_rotation,
                         .key_rotation = config.key_rotation,
                         .grace = config.rotation_grace,
                         .max_x509_svid_ttl = config.max_x509_svid_ttl,
                         .max_jwt_svid_ttl = config.max_jwt_svid_ttl,
                         .bundle_refresh_hint = config.bundle_refresh_hint};
  if (!config.upstream_ca_cert.empty() || !config.upstream_ca_key.empty()) {
    WARD_ASSIGN_OR_RETURN(ca_config.upstream,
                          ca::LoadUpstreamCa(config.upstream_ca_cert, config.upstream_ca_key,
                                             config.upstream_bundle, UnixNow()));
    log.Info("intermediate CA under an upstream CA",
             {{"upstream", ca_config.upstream->certificate.SubjectString()},
              {"anchors", std::to_string(ca_config.upstream->roots.size())}});
  }
  WARD_ASSIGN_OR_RETURN(std::unique_ptr<ca::CertificateAuthority> ca,
                        ca::CertificateAuthority::Open(ca_config, *keys, *store, UnixNow()));

  store::DataStore& db = *store;
  ca::CertificateAuthority& authority = *ca;
  loader.join();
  WARD_RETURN_IF_ERROR(loaded.WithContext("loading registration entries"));
  log.Info("registration entries loaded", {{"entries", std::to_string(entries.size())},
                                           {"milliseconds", std::to_string(std::lround(load_ms))}});
  SyncHub hub;
  metrics.AddGauge("ward_entries", "Registration entries.", {}, [&entries, &hub] {
    const bool current = entries.CatchUp(hub.version()).ok();
    return std::vector<std::pair<telemetry::LabelValues, double>>{
        {{}, current ? double(entries.size()) : -1}};
  });
  metrics.AddGauge("ward_agents", "Attested agents in the datastore.", {}, [&db] {
    auto n = db.CountAgents();
    return std::vector<std::pair<telemetry::LabelValues, double>>{{{}, n.ok() ? double(*n) : -1}};
  });
  metrics.AddGauge(
      "ward_ca_authorities", "CA authorities by kind and state.", {"kind", "state"}, [&authority] {
        std::vector<std::pair<telemetry::LabelValues, double>> out;
        for (auto kind : {ca::AuthorityKind::kX509, ca::AuthorityKind::kJwt}) {
          const char* k = kind == ca::AuthorityKind::kX509 ? "x509" : "jwt";
          std::map<std::string, double> counts = {{"prepared", 0}, {"active", 0}, {"retired", 0}};
          for (const auto& a : authority.Authorities(kind)) {
            counts[std::string(ca::AuthorityStateName(a.state))] += 1;
          }
          for (const auto& [state, n] : counts) out.push_back({{k, state}, n});
        }
        return out;
      });
  metrics.AddGauge("ward_bundle_sequence", "spiffe_sequence of the trust domain's own bundle.", {},
                   [&authority] {
                     return std::vector<std::pair<telemetry::LabelValues, double>>{
                         {{}, double(authority.Bundle().sequence().value_or(0))}};
                   });

  FederationClient federation(*store, log, [&hub] { hub.Bump(); });
  AdminApi admin({.trust_domain = td,
                  .store = *store,
                  .ca = *ca,
                  .audit = *audit_log,
                  .metrics = metrics,
                  .admin_uids = config.admin_uids,
                  .limits = {config.max_x509_svid_ttl, config.max_jwt_svid_ttl},
                  .hub = &hub,
                  .on_federation_change = [&federation] { federation.PollNow(); },
                  .admin_spiffe_ids = config.admin_spiffe_ids});

  ossl::X509StorePtr x509pop_roots;
  if (!config.x509pop_ca.empty()) {
    WARD_ASSIGN_OR_RETURN(x509pop_roots, LoadX509PopRoots(config.x509pop_ca));
  }
  AgentApi agent_api(
      {.trust_domain = td,
       .store = *store,
       .ca = *ca,
       .audit = *audit_log,
       .metrics = metrics,
       .hub = hub,
       .entries = entries,
       .x509pop_roots = x509pop_roots.get(),
       .admin_handler = [&admin](const Peer& p,
                                 const HttpRequest& r) { return admin.Handle(p, r); },
       .config = {.agent_svid_ttl = config.agent_svid_ttl,
                  .rate_per_second = config.agent_rate_limit,
                  .burst = 2 * config.agent_rate_limit}});
  WARD_ASSIGN_OR_RETURN(std::unique_ptr<TlsServerContext> tls, TlsServerContext::Create());
  WARD_ASSIGN_OR_RETURN(auto server_svid, IssueServerSvid(*ca, td));
  tls->SetCredentials(server_svid);
  HttpServer http(ServerThreads());
  WARD_RETURN_IF_ERROR(http.ListenTls(config.bind_address, config.port, *tls,
                                      [&agent_api](const Peer& p, HttpRequest r, HttpReply reply) {
                                        agent_api.Handle(p, std::move(r), std::move(reply));
                                      }));
  const std::string agent_port = std::to_string(http.BoundTlsPort());
  const std::string admin_socket =
      config.admin_socket.empty() ? config.data_dir + "/admin.sock" : config.admin_socket;
  // World-connectable on purpose: callers are authorized by uid, and refused ones are audited.
  WARD_RETURN_IF_ERROR(http.ListenUnix(
      admin_socket, 0666,
      [&admin](const Peer& p, const HttpRequest& r) { return admin.Handle(p, r); }));
  std::string metrics_port = "off";
  if (!config.metrics_address.empty()) {
    WARD_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(config.metrics_address));
    WARD_RETURN_IF_ERROR(http.ListenTcp(
        host_port.first, host_port.second, [&](const Peer&, const HttpRequest& r) -> HttpResponse {
          if (r.method != "GET") return {405, "text/plain", "method not allowed\n"};
          if (r.path == "/metrics") {
            return {200, "text/plain; version=0.0.4; charset=utf-8", metrics.Render()};
          }
          if (r.path == "/healthz") return {200, "text/plain", "ok\n"};
          if (r.path == "/readyz") {
            const Status db_ok = db.Ping();
            if (!db_ok.ok())
              return {503, "text/plain", "datastore unreachable: " + db_ok.message() + "\n"};
            for (auto kind : {ca::AuthorityKind::kX509, ca::AuthorityKind::kJwt}) {
              bool active = false;
              for (const auto& a : authority.Authorities(kind))
                active |= a.state == ca::AuthorityState::kActive;
              if (!active) return {503, "text/plain", "CA has no active authority\n"};
            }
            return {200, "text/plain", "ready\n"};
          }
          return {404, "text/plain", "not found\n"};
        }));
    metrics_port = std::to_string(http.BoundTcpPort());
  }
  // Each tick: wake syncing agents when the bundle changed, and renew the server's own SVID at
  // half-life (or at once when a rotation moved signing to a new authority).
  // The federation bundle endpoint: GET returns the bundle; no client authentication.
  std::unique_ptr<TlsServerContext> federation_tls;
  std::string federation_port = "off";
  if (config.federation_port >= 0) {
    WARD_ASSIGN_OR_RETURN(federation_tls, TlsServerContext::Create(/*request_client_cert=*/false));
    if (config.federation_profile == "https_spiffe") {
      federation_tls->SetCredentials(server_svid);
    } else if (config.federation_profile == "https_web") {
      std::ifstream cert_in(config.federation_cert), key_in(config.federation_key);
      if (!cert_in || !key_in) {
        return FailedPrecondition("https_web needs --federation-cert and --federation-key files");
      }
      const std::string cert_pem((std::istreambuf_iterator<char>(cert_in)), {});
      const std::string key_pem((std::istreambuf_iterator<char>(key_in)), {});
      auto creds = std::make_shared<TlsCredentials>();
      WARD_ASSIGN_OR_RETURN(creds->chain, ParsePemCertificates(cert_pem));
      WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromPem(key_pem));
      creds->key = std::make_shared<const PrivateKey>(std::move(key));
      federation_tls->SetCredentials(creds);
    } else {
      return InvalidArgument("federation profile must be https_spiffe or https_web");
    }
    WARD_RETURN_IF_ERROR(
        http.ListenTls(config.federation_bind_address, config.federation_port, *federation_tls,
                       [&authority](const Peer&, HttpRequest r, HttpReply reply) {
                         if (r.method != "GET")
                           return reply({405, "application/json", "{\"error\":\"use GET\"}"});
                         reply({200, "application/json", *authority.Published().spiffe_json});
                       }));
    federation_port = std::to_string(http.BoundTlsPort());
  }

  RotationTicker ticker(*ca, log, [&](bool bundle_changed) {
    if (bundle_changed) hub.Bump();
    auto current = tls->credentials();
    const Certificate& leaf = current->chain[0];
    const int64_t half_life = leaf.not_before() + (leaf.not_after() - leaf.not_before()) / 2;
    if (UnixNow() < half_life && !bundle_changed) return;
    auto renewed = IssueServerSvid(authority, td);
    if (renewed.ok()) {
      tls->SetCredentials(*renewed);
      if (federation_tls && config.federation_profile == "https_spiffe") {
        federation_tls->SetCredentials(*renewed);
      }
    } else {
      log.Error("cannot renew the server SVID", {{"error", renewed.status().message()}});
    }
  });
  log.Info("ward server started",
           {{"trust_domain", td.name()},
            {"data_dir", config.data_dir},
            {"admin_socket", admin_socket},
            {"metrics", config.metrics_address.empty() ? "off" : config.metrics_address},
            {"metrics_port", metrics_port},
            {"agent_api", config.bind_address + ":" + agent_port},
            {"agent_api_port", agent_port},
            {"federation_port", federation_port},
            {"key_manager", std::string(keys->name())},
            {"bundle_sequence", std::to_string(ca->Bundle().sequence().value_or(0))}});
  http.Run();
  // Long polls parked on the hub belong to `http`'s event loop: drop them while it still exists.
  hub.Close();
  log.Info("ward server stopping");
  ::unlink(admin_socket.c_str());
  return OkStatus();
}

}  // namespace

int RunServer(const ServerConfig& config) {
  auto level = telemetry::ParseLogLevel(config.log_level);
  telemetry::Logger log(level.ok() ? *level : telemetry::LogLevel::kInfo);
  if (!level.ok()) {
    log.Error(level.status().message());
    return 2;
  }
  const Status s = Start(config, log);
  if (!s.ok()) {
    log.Error("ward server could not start", {{"error", s.message()}});
    return 1;
  }
  return 0;
}

}  // namespace ward::server

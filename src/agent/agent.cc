#include "agent/agent.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "agent/cache.h"
#include "agent/identity_provider.h"
#include "agent/jwt_validation_cache.h"
#include "agent/server_client.h"
#include "agent/workload_api.h"
#include "core/base64.h"
#include "core/clock.h"
#include "core/csr.h"
#include "core/jwt_svid.h"
#include "core/precomputed_key_cache.h"
#include "core/x509_svid.h"
#include "telemetry/log.h"

namespace ward::agent {
namespace {

Result<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::string text;
  text.resize(4 * 1024 * 1024 + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > 4 * 1024 * 1024) return InvalidArgument(path + " is larger than 4 MiB");
  return text;
}

// Written to a temporary file, synced, then renamed, so a crash leaves the old or the new file.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Internal("cannot write " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      return Internal("cannot write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot write " + path);
  return OkStatus();
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return FailedPrecondition("cannot create " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return FailedPrecondition(path + " is not a directory");
  }
  if ((st.st_mode & 022) != 0) {
    return FailedPrecondition(path + " is writable by group or others; chmod go-w it");
  }
  return OkStatus();
}

}  // namespace

Result<TrustBundle> LoadBundleFile(const TrustDomain& td, const std::string& path) {
  WARD_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path));
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '{') {
    return TrustBundle::ParseSpiffeJson(td, text);
  }
  return TrustBundle::ParsePem(td, text);
}

namespace {

class Agent final : public IdentityProvider {
 public:
  Agent(const AgentConfig& config, TrustDomain td, telemetry::Logger& log)
      : config_(config),
        log_(log),
        cache_(td, config.svid_cache_size),
        client_(config.server_address, config.server_port, td),
        rng_(std::random_device{}()),
        validated_(config.jwt_validation_cache_size) {}

  // Resumes the saved identity when it is still valid, otherwise attests.
  Status Start() {
    WARD_RETURN_IF_ERROR(MakeDir(config_.data_dir, 0711));
    WARD_RETURN_IF_ERROR(MakeDir(config_.data_dir + "/public", 0755));
    auto saved = LoadSaved();
    if (saved.ok()) {
      log_.Info("resuming the saved agent identity",
                {{"agent_id", saved->identity.id.str()},
                 {"expires_at", FormatUtc(saved->identity.expires_at)}});
      UseBundle(std::move(saved->bundle), /*persist=*/false);
      SetIdentity(std::move(saved->identity));
      return OkStatus();
    }
    if (saved.status().code() != StatusCode::kNotFound) {
      log_.Warn("saved agent identity not usable; attesting again",
                {{"reason", saved.status().message()}});
    }
    if (config_.trust_bundle.empty()) {
      return InvalidArgument(
          "no trust bundle: pass --trust-bundle with the server's bundle (`ward bundle show`) "
          "to authenticate the server at first attestation");
    }
    WARD_ASSIGN_OR_RETURN(TrustBundle bootstrap,
                          LoadBundleFile(cache_.trust_domain(), config_.trust_bundle));
    UseBundle(std::move(bootstrap), /*persist=*/false);
    return Attest();
  }

  void Run() {
    std::thread sync([this] { SyncLoop(); });
    std::thread rotate([this] { RotateLoop(); });
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    while (!stop_) {
      timespec timeout{1, 0};
      if (sigtimedwait(&set, nullptr, &timeout) > 0) break;
    }
    log_.Info("ward agent stopping");
    stop_ = true;
    client_.Cancel();  // ends a long poll in flight at once
    cache_.Poke();
    sync.join();
    rotate.join();
  }

  Status ServeWorkloadApi(const std::string& socket) {
    WARD_ASSIGN_OR_RETURN(api_, WorkloadApiServer::Start(socket, *this, log_));
    return OkStatus();
  }
  void StopWorkloadApi() {
    if (api_) api_->Shutdown();
  }
  bool banned() const { return banned_; }
  std::string agent_id() {
    std::lock_guard<std::mutex> lock(id_mu_);
    return identity_ ? identity_->id.str() : "";
  }

  // IdentityProvider
  Result<std::vector<X509Identity>> X509Identities(
      const std::vector<store::Selector>& selectors) override {
    const std::vector<store::RegistrationEntry> entries = cache_.Matching(selectors);
    std::vector<store::RegistrationEntry> cold;
    const int64_t now = UnixNow();
    for (const auto& e : entries) {
      if (!cache_.Svid(e.id, now)) cold.push_back(e);
    }
    if (!cold.empty()) {
      const Status issued = Issue(cold);
      if (!issued.ok()) log_.Warn("cannot sign a cold SVID", {{"reason", issued.message()}});
    }
    std::vector<X509Identity> out;
    for (const auto& e : entries) {
      // Only for the identity this snapshot matched: the entry may have changed meanwhile.
      SvidRef svid = cache_.Svid(e.id, now);
      if (svid && svid->spiffe_id == e.spiffe_id.str()) {
        out.push_back({std::move(svid), e.federates_with});
      }
    }
    if (out.empty() && !entries.empty()) {
      return Status(StatusCode::kUnavailable, "SVIDs are not available yet; try again");
    }
    return out;
  }

  Result<std::vector<JwtIdentity>> JwtIdentities(
      const std::vector<store::Selector>& selectors, const std::string& spiffe_id,
      const std::vector<std::string>& audience) override {
    std::vector<std::string> ids;
    for (const auto& e : cache_.Matching(selectors)) {
      const std::string id = e.spiffe_id.str();
      if ((spiffe_id.empty() || id == spiffe_id) &&
          std::find(ids.begin(), ids.end(), id) == ids.end()) {
        ids.push_back(id);
      }
    }
    std::vector<std::string> sorted = audience;
    std::sort(sorted.begin(), sorted.end());
    std::vector<JwtIdentity> out;
    const int64_t now = UnixNow();
    for (const auto& id : ids) {
      std::string key = id;
      for (const auto& a : sorted) key += '\n' + a;
      {
        std::lock_guard<std::mutex> lock(jwt_mu_);
        const auto it = jwts_.find(key);
        // Reused until half its lifetime has passed, so a workload never gets an almost-expired
        // token.
        if (it != jwts_.end() &&
            now < it->second.issued_at + (it->second.expires_at - it->second.issued_at) / 2) {
          out.push_back({id, it->second.token});
          continue;
        }
      }
      WARD_ASSIGN_OR_RETURN(std::shared_ptr<const AgentIdentity> me, Identity());
      WARD_ASSIGN_OR_RETURN(MintedJwt minted, client_.MintJwt(*me, id, audience));
      {
        std::lock_guard<std::mutex> lock(jwt_mu_);
        if (jwts_.size() >= 10000) {
          for (auto it = jwts_.begin(); it != jwts_.end();) {
            it = it->second.expires_at <= now ? jwts_.erase(it) : std::next(it);
          }
          if (jwts_.size() >= 10000) jwts_.clear();
        }
        jwts_[key] = {minted.token, now, minted.expires_at, KidOf(minted.token)};
      }
      out.push_back({id, std::move(minted.token)});
    }
    return out;
  }

  std::vector<std::string> FederatesWith(const std::vector<store::Selector>& selectors) override {
    std::set<std::string> tds;
    for (const auto& e : cache_.Matching(selectors)) {
      tds.insert(e.federates_with.begin(), e.federates_with.end());
    }
    return {tds.begin(), tds.end()};
  }

  BundleSnapshot Bundles() override { return cache_.Bundles(); }

  Result<ValidatedJwtSvid> ValidateJwt(const std::string& token,
                                       const std::string& audience) override {
    const BundleSnapshot snapshot = cache_.Bundles();
    const auto bundle_of = [&snapshot](std::string_view td) -> std::shared_ptr<const TrustBundle> {
      if (snapshot.own && snapshot.own->trust_domain().name() == td) return snapshot.own;
      const auto it = snapshot.federated.find(td);
      return it == snapshot.federated.end() ? nullptr : it->second;
    };
    // Refused before it is hashed for the cache (the validator refuses it too, later).
    if (token.size() > kMaxJwtBytes) {
      return InvalidArgument("token is longer than " + std::to_string(kMaxJwtBytes) + " bytes");
    }
    const int64_t now = UnixNow();
    const auto digest = JwtValidationCache::Hash(token);
    if (auto hit = validated_.Find(digest, audience, bundle_of, now)) return std::move(*hit);
    // The snapshot's bundles are read in place; copying them into a BundleSet on every call
    // cost more than the lookup.
    class SnapshotSource final : public TrustBundleSource {
     public:
      explicit SnapshotSource(const decltype(bundle_of)& find) : find_(find) {}
      const TrustBundle* FindBundle(std::string_view td) const override { return find_(td).get(); }

     private:
      const decltype(bundle_of)& find_;
    };
    auto validated = ValidateJwtSvid(token, SnapshotSource(bundle_of), audience, now);
    if (validated.ok()) {
      validated_.Insert(digest, *validated, bundle_of(validated->id.trust_domain_name()));
    }
    return validated;
  }

  AgentCache& cache() override { return cache_; }

 private:
  struct Saved {
    AgentIdentity identity;
    TrustBundle bundle;
  };
  struct CachedJwt {
    std::string token;
    int64_t issued_at = 0;
    int64_t expires_at = 0;
    std::string kid;  // read once, to drop the token when its key is tainted
  };

  std::string Path(const char* name) const { return config_.data_dir + "/" + name; }

  Result<Saved> LoadSaved() {
    auto cert_pem = ReadSmallFile(Path("agent.crt"));
    if (!cert_pem.ok()) return NotFound("no saved identity");
    WARD_ASSIGN_OR_RETURN(std::string key_pem, ReadSmallFile(Path("agent.key")));
    WARD_ASSIGN_OR_RETURN(std::string bundle_json, ReadSmallFile(Path("bundle.json")));
    WARD_ASSIGN_OR_RETURN(std::vector<Certificate> chain, ParsePemCertificates(*cert_pem));
    auto key = PrivateKey::FromPem(key_pem);
    SecureWipe(key_pem.data(), key_pem.size());
    if (!key.ok()) return key.status();
    WARD_ASSIGN_OR_RETURN(TrustBundle bundle,
                          TrustBundle::ParseSpiffeJson(cache_.trust_domain(), bundle_json));
    // The key and certificate are saved one after the other; after a crash between the two they
    // may not belong together, and the agent must attest again rather than fail every call.
    if (!LocalSigner(*key).HasPublicKey(chain.front().public_key())) {
      return InvalidArgument("saved agent key does not match the saved SVID");
    }
    BundleSet set;
    set.Put(bundle);
    WARD_ASSIGN_OR_RETURN(VerifiedX509Svid verified, VerifyX509Svid(chain, set, UnixNow()));
    if (!verified.id.MemberOf(cache_.trust_domain())) {
      return InvalidArgument("saved identity is for another trust domain");
    }
    return Saved{{verified.id, std::move(chain),
                  std::make_shared<const PrivateKey>(std::move(key).value()), verified.expires_at},
                 std::move(bundle)};
  }

  Status SaveIdentity(const AgentIdentity& id) {
    WARD_ASSIGN_OR_RETURN(SecureBytes key_pem, id.key->ToPkcs8Pem());
    WARD_RETURN_IF_ERROR(WriteFileAtomic(Path("agent.key"), key_pem.str(), 0600));
    return WriteFileAtomic(Path("agent.crt"), CertificatesToPem(id.chain), 0600);
  }

  void UseBundle(TrustBundle bundle, bool persist) {
    if (persist) {
      const Status saved = WriteFileAtomic(Path("bundle.json"), bundle.ToSpiffeJson(), 0600);
      if (!saved.ok()) log_.Warn("cannot save the bundle", {{"reason", saved.message()}});
    }
    bundle_sequence_ = bundle.sequence().value_or(0);
    auto shared = std::make_shared<const TrustBundle>(bundle);
    client_.SetTrust(shared);
    cache_.SetBundle(std::move(bundle));
    PrepareJwtAuthorities();
  }

  // Every JWT-SVID a workload asks to validate is checked against the JWT authorities of the
  // bundles the agent holds: their precomputed tables (18 ms each, once per key) are built here,
  // on the thread that installed the bundles, never by a ValidateJWTSVID call. Keys already
  // prepared cost a lookup. The own trust domain's come first; beyond the cache's capacity the
  // rest verify the plain way, rather than push each other out at every bundle refresh.
  void PrepareJwtAuthorities() {
    PrecomputedKeyCache& tables = PrecomputedKeyCache::Process();
    const BundleSnapshot snapshot = cache_.Bundles();
    size_t authorities = 0;
    size_t built = 0;
    size_t ready = 0;  // found through the very key objects validations will use
    auto prepare = [&](const TrustBundle& bundle) {
      for (const JwtAuthority& authority : bundle.jwt_authorities()) {
        if (authorities++ >= tables.capacity()) continue;
        if (tables.Prepare(authority.public_key)) ++built;
        if (tables.Find(authority.public_key)) ++ready;
      }
    };
    if (snapshot.own) prepare(*snapshot.own);
    for (const auto& [td, bundle] : snapshot.federated) prepare(*bundle);
    if (built > 0) {
      log_.Info("JWT authority tables built", {{"built", std::to_string(built)},
                                               {"ready", std::to_string(ready)},
                                               {"jwt_authorities", std::to_string(authorities)}});
    }
  }

  void SetIdentity(AgentIdentity id) {
    std::lock_guard<std::mutex> lock(id_mu_);
    identity_ = std::make_shared<const AgentIdentity>(std::move(id));
    const int64_t now = UnixNow();
    renew_identity_at_ = now + (identity_->expires_at - now) / 2;
  }

  Result<std::shared_ptr<const AgentIdentity>> Identity() {
    std::lock_guard<std::mutex> lock(id_mu_);
    if (!identity_) return Status(StatusCode::kUnavailable, "the agent is not attested");
    return identity_;
  }

  Status Attest() {
    WARD_ASSIGN_OR_RETURN(PrivateKey generated, PrivateKey::Generate(KeyType::kEcP256));
    auto key = std::make_shared<const PrivateKey>(std::move(generated));
    Result<AttestResult> result = Status(StatusCode::kInvalidArgument, "");
    if (!config_.x509pop_cert.empty()) {
      WARD_ASSIGN_OR_RETURN(std::string cert_pem, ReadSmallFile(config_.x509pop_cert));
      WARD_ASSIGN_OR_RETURN(std::string key_pem, ReadSmallFile(config_.x509pop_key));
      WARD_ASSIGN_OR_RETURN(std::vector<Certificate> node_chain, ParsePemCertificates(cert_pem));
      auto node_key = PrivateKey::FromPem(key_pem);
      SecureWipe(key_pem.data(), key_pem.size());
      if (!node_key.ok()) return node_key.status().WithContext("x509pop key");
      result = client_.AttestX509Pop(
          node_chain, std::make_shared<const PrivateKey>(std::move(node_key).value()), key);
    } else if (!config_.join_token.empty()) {
      result = client_.AttestJoinToken(config_.join_token, key);
    } else {
      return InvalidArgument(
          "nothing to attest with: pass --join-token (from `ward token generate`) or "
          "--x509pop-cert/--x509pop-key");
    }
    if (!result.ok()) return result.status().WithContext("node attestation");
    WARD_RETURN_IF_ERROR(SaveIdentity(result->identity));
    log_.Info("node attested", {{"agent_id", result->identity.id.str()},
                                {"expires_at", FormatUtc(result->identity.expires_at)}});
    UseBundle(std::move(result->bundle), /*persist=*/true);
    SetIdentity(std::move(result->identity));
    return OkStatus();
  }

  // Signs SVIDs for `entries` in batches: a fresh key per SVID, the CSR to the server. Entries
  // the server refused are counted in `*refused` (when given).
  Status Issue(const std::vector<store::RegistrationEntry>& entries, size_t* refused = nullptr) {
    std::lock_guard<std::mutex> issuing(issue_mu_);  // one batch at a time; others reuse it
    WARD_ASSIGN_OR_RETURN(std::shared_ptr<const AgentIdentity> me, Identity());
    const int64_t now = UnixNow();
    for (size_t start = 0; start < entries.size(); start += 500) {
      const size_t end = std::min(entries.size(), start + 500);
      std::vector<SvidRequest> requests;
      std::map<std::string, PrivateKey> keys;
      for (size_t i = start; i < end; ++i) {
        const auto& e = entries[i];
        // Another caller may have signed it while this one waited for the lock.
        if (cache_.Fresh(e.id, e.revision, now)) continue;
        WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
        WARD_ASSIGN_OR_RETURN(Bytes csr, CreateCsrDer(key, e.spiffe_id.str()));
        requests.push_back({e.id, std::move(csr)});
        keys.emplace(e.id, std::move(key));
      }
      if (requests.empty()) continue;
      WARD_ASSIGN_OR_RETURN(std::vector<SignedSvid> signed_svids, client_.SignSvids(*me, requests));
      for (auto& s : signed_svids) {
        const auto key = keys.find(s.entry_id);
        if (key == keys.end()) continue;
        if (!s.status.ok()) {
          if (refused != nullptr) ++*refused;
          log_.Warn("server refused an SVID",
                    {{"entry_id", s.entry_id}, {"reason", s.status.message()}});
          continue;
        }
        const auto entry = std::find_if(entries.begin() + static_cast<ptrdiff_t>(start),
                                        entries.begin() + static_cast<ptrdiff_t>(end),
                                        [&](const auto& e) { return e.id == s.entry_id; });
        WARD_ASSIGN_OR_RETURN(SecureBytes pkcs8, key->second.ToPkcs8Der());
        CachedSvid svid;
        svid.spiffe_id = std::move(s.spiffe_id);
        svid.chain_der = std::move(s.chain_der);
        svid.key_der = std::move(pkcs8);
        svid.issued_at = now;
        svid.expires_at = s.expires_at;
        // Renew at half-life, less up to a tenth of the lifetime of jitter so a fleet does not
        // renew in lockstep.
        const int64_t life = std::max<int64_t>(s.expires_at - now, 2);
        std::uniform_int_distribution<int64_t> jitter(0, life / 10);
        {
          std::lock_guard<std::mutex> lock(rng_mu_);
          svid.renew_at = now + life / 2 - jitter(rng_);
        }
        svid.authority = std::move(s.authority);
        svid.entry_revision = entry != entries.end() ? entry->revision : 0;
        cache_.PutSvid(s.entry_id, std::move(svid));
      }
    }
    return OkStatus();
  }

  // Stops the agent when the server says it is banned, whichever call heard it (a long poll
  // parked before the ban may answer only after the agent's SVID has expired).
  bool StopIfBanned(const Status& s) {
    if (s.code() != StatusCode::kPermissionDenied ||
        s.message().find("banned") == std::string::npos) {
      return false;
    }
    log_.Error(
        "the server banned this agent; it stops serving. Unban it on the server "
        "(`ward agent` verbs) and start it with a new join token",
        {{"reason", s.message()}});
    banned_ = true;
    stop_ = true;
    return true;
  }

  // Reacts to a refusal from the server: re-attest after eviction, stop when banned.
  void HandleRefusal(const Status& s) {
    const std::string& m = s.message();
    if (StopIfBanned(s)) return;
    if (m.find("evicted") != std::string::npos || m.find("not attested") != std::string::npos ||
        m.find("superseded") != std::string::npos || s.code() == StatusCode::kUnauthenticated) {
      log_.Warn("the server no longer accepts this agent's SVID; attesting again", {{"reason", m}});
      const Status again = Attest();
      if (!again.ok()) {
        log_.Error("re-attestation failed; still serving cached SVIDs",
                   {{"reason", again.message()}});
      } else {
        revision_ = -1;  // start over with a full sync
      }
    }
  }

  void SyncLoop() {
    int backoff = 1;
    auto last_federated = std::chrono::steady_clock::time_point{};
    while (!stop_) {
      auto me = Identity();
      if (!me.ok()) {
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      auto reply = client_.Sync(**me, revision_, bundle_sequence_, tainted_digest_,
                                revision_ < 0 ? 0 : config_.sync_wait_seconds);
      if (!reply.ok()) {
        if (reply.status().code() == StatusCode::kPermissionDenied ||
            reply.status().code() == StatusCode::kUnauthenticated) {
          HandleRefusal(reply.status());
        } else {
          log_.Warn("sync failed; serving cached SVIDs", {{"reason", reply.status().message()},
                                                          {"retry_in_s", std::to_string(backoff)}});
        }
        for (int i = 0; i < backoff * 10 && !stop_; ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        backoff = std::min(backoff * 2, 30);
        continue;
      }
      if (backoff > 1) log_.Info("sync resumed");
      backoff = 1;
      const bool bundle_changed = reply->bundle.has_value();
      if (bundle_changed) UseBundle(std::move(*reply->bundle), /*persist=*/true);
      cache_.SetTaintedAuthorities(reply->tainted_x509);
      if (!reply->tainted_jwt.empty()) DropJwtsFrom(reply->tainted_jwt);
      const bool large = reply->entries.size() + reply->deleted.size() > 256;
      cache_.ApplyEntries(reply->full, std::move(reply->entries), reply->deleted);
      // A large reply leaves megabytes of freed JSON behind; hand it back to the system.
      if (large) malloc_trim(0);
      revision_ = reply->revision;
      bundle_sequence_ = reply->bundle_sequence;
      tainted_digest_ = reply->tainted_digest;
      const auto now = std::chrono::steady_clock::now();
      if (bundle_changed || now - last_federated > std::chrono::minutes(5)) {
        auto federated = client_.FederatedBundles(**me);
        if (federated.ok()) {
          cache_.SetFederatedBundles(std::move(federated).value());
          PrepareJwtAuthorities();
          last_federated = now;
        }
      }
    }
  }

  void DropJwtsFrom(const std::set<std::string>& kids) {
    std::lock_guard<std::mutex> lock(jwt_mu_);
    for (auto it = jwts_.begin(); it != jwts_.end();) {
      it = kids.count(it->second.kid) ? jwts_.erase(it) : std::next(it);
    }
  }

  // The key ID in a compact JWS's header (its first segment); empty when unreadable.
  static std::string KidOf(const std::string& token) {
    auto decoded = Base64UrlDecode(token.substr(0, token.find('.')));
    if (!decoded.ok()) return "";
    try {
      const auto header = nlohmann::json::parse(AsString(*decoded));
      return header.value("kid", "");
    } catch (const nlohmann::json::exception&) {
      return "";
    }
  }

  void RotateLoop() {
    uint64_t seen = 0;
    while (!stop_) {
      const int64_t now = UnixNow();
      int64_t renew_at = 0;
      {
        std::lock_guard<std::mutex> lock(id_mu_);
        renew_at = renew_identity_at_;
      }
      if (renew_at != 0 && now >= renew_at) RenewIdentity();
      const auto due = cache_.Due(now, 2000);
      if (!due.empty()) {
        size_t refused = 0;
        const Status issued = Issue(due, &refused);
        if (due.size() > 256) malloc_trim(0);
        if (!issued.ok() && StopIfBanned(issued)) return;
        if (!issued.ok()) {
          log_.Warn("SVID rotation failed; retrying", {{"reason", issued.message()}});
        }
        // A refusal would be due again at once: wait before asking again.
        if (!issued.ok() || refused > 0) {
          for (int i = 0; i < 20 && !stop_; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }
        continue;
      }
      seen = cache_.WaitForChange(seen, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    }
  }

  void RenewIdentity() {
    auto me = Identity();
    if (!me.ok()) return;
    auto generated = PrivateKey::Generate(KeyType::kEcP256);
    if (!generated.ok()) return;
    auto renewed =
        client_.Renew(**me, std::make_shared<const PrivateKey>(std::move(generated).value()));
    if (!renewed.ok() && StopIfBanned(renewed.status())) return;
    if (!renewed.ok()) {
      log_.Warn("agent SVID renewal failed; retrying", {{"reason", renewed.status().message()}});
      std::lock_guard<std::mutex> lock(id_mu_);
      renew_identity_at_ = UnixNow() + 5;
      return;
    }
    const Status saved = SaveIdentity(*renewed);
    if (!saved.ok()) log_.Warn("cannot save the renewed agent SVID", {{"reason", saved.message()}});
    log_.Info("agent SVID renewed", {{"expires_at", FormatUtc(renewed->expires_at)}});
    SetIdentity(std::move(renewed).value());
  }

  const AgentConfig& config_;
  telemetry::Logger& log_;
  AgentCache cache_;
  ServerClient client_;
  std::unique_ptr<WorkloadApiServer> api_;
  std::mutex id_mu_;
  std::shared_ptr<const AgentIdentity> identity_;
  int64_t renew_identity_at_ = 0;
  std::atomic<int64_t> revision_{-1};  // -1 until the first (full) sync
  std::atomic<uint64_t> bundle_sequence_{0};
  std::string tainted_digest_;  // sync thread only
  std::mutex issue_mu_;
  std::mutex jwt_mu_;
  std::map<std::string, CachedJwt> jwts_;
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
  JwtValidationCache validated_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> banned_{false};
};

}  // namespace

int RunAgent(const AgentConfig& config) {
  auto level = telemetry::ParseLogLevel(config.log_level);
  telemetry::Logger log(level.ok() ? *level : telemetry::LogLevel::kInfo);
  if (!level.ok()) {
    log.Error("ward agent could not start", {{"error", level.status().message()}});
    return 1;
  }
  auto td = TrustDomain::Parse(config.trust_domain);
  if (!td.ok()) {
    log.Error("ward agent could not start", {{"error", td.status().message()}});
    return 1;
  }
  // Signals are taken by the main thread alone (sigtimedwait), never by a worker.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Agent agent(config, *td, log);
  Status started = agent.Start();
  const std::string socket =
      config.socket.empty() ? config.data_dir + "/public/api.sock" : config.socket;
  if (started.ok()) started = agent.ServeWorkloadApi(socket);
  if (!started.ok()) {
    log.Error("ward agent could not start", {{"error", started.message()}});
    return 1;
  }
  log.Info("ward agent started",
           {{"trust_domain", td->name()},
            {"agent_id", agent.agent_id()},
            {"server", config.server_address + ":" + std::to_string(config.server_port)},
            {"socket", socket},
            {"data_dir", config.data_dir}});
  agent.Run();
  agent.StopWorkloadApi();
  return agent.banned() ? 1 : 0;
}

}  // namespace ward::agent

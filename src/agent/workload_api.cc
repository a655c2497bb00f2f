#include "agent/workload_api.h"

#include <google/protobuf/struct.pb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "agent/connection_quota.h"
#include "core/clock.h"
#include "core/unique_fd.h"
#include "rpc/grpc_server.h"
#include "workload.pb.h"

namespace ward::agent {
namespace {

constexpr char kHeader[] = "workload.spiffe.io";
constexpr size_t kWorkers = 4;
// New calls waiting for a worker; more are answered UNAVAILABLE ("busy") at once.
constexpr size_t kMaxQueuedCalls = 4096;
// Connections one local user may hold at once, a quarter of what the server takes in all
// (rpc::GrpcServer), so no one user can lock the others out. A workload needs one.
constexpr size_t kConnectionsPerUid = 1024;
// No request of the Workload API comes near this (the largest is a 16 KiB token to validate);
// gRPC's default would let any local process make the agent read 4 MiB per message.
constexpr int kMaxRequestBytes = 64 * 1024;

rpc::GrpcStatus ToGrpc(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk:
      return {};
    case StatusCode::kInvalidArgument:
      return {rpc::GrpcCode::kInvalidArgument, s.message()};
    case StatusCode::kPermissionDenied:
    case StatusCode::kNotFound:
      return {rpc::GrpcCode::kPermissionDenied, s.message()};
    default:
      return {rpc::GrpcCode::kUnavailable, s.message()};
  }
}

// JSON to google.protobuf.Value, as the proto3 JSON mapping defines it (every number a double).
// Written out because protobuf's own JSON reader cost about as much as the signature check.
bool ToProtoValue(const nlohmann::json& in, google::protobuf::Value* out, int depth) {
  constexpr int kMaxDepth = 64;
  if (depth > kMaxDepth) return false;
  switch (in.type()) {
    case nlohmann::json::value_t::null:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return true;
    case nlohmann::json::value_t::boolean:
      out->set_bool_value(in.get<bool>());
      return true;
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      out->set_number_value(in.get<double>());
      return true;
    case nlohmann::json::value_t::string:
      out->set_string_value(in.get_ref<const std::string&>());
      return true;
    case nlohmann::json::value_t::array: {
      auto* list = out->mutable_list_value();
      for (const auto& item : in) {
        if (!ToProtoValue(item, list->add_values(), depth + 1)) return false;
      }
      return true;
    }
    case nlohmann::json::value_t::object: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      for (const auto& [key, item] : in.items()) {
        if (!ToProtoValue(item, &(*fields)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;  // binary and discarded values never come out of the parser
  }
}

Status ClaimsToStruct(const std::string& claims_json, google::protobuf::Struct* out) {
  const auto claims = nlohmann::json::parse(claims_json, nullptr, /*allow_exceptions=*/false);
  google::protobuf::Value value;
  if (!claims.is_object() || !ToProtoValue(claims, &value, 0)) {
    return Internal("cannot express the token's claims as a protobuf Struct");
  }
  out->Swap(value.mutable_struct_value());
  return OkStatus();
}

// A few threads for the work that may block on the server (signing a cold SVID, minting a JWT)
// or on the system (attestation), so the completion queue's thread never does.
class WorkerPool {
 public:
  explicit WorkerPool(size_t n) {
    for (size_t i = 0; i < n; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~WorkerPool() { Stop(); }

  // Runs what is queued, then joins the threads. Work posted afterwards runs on the caller's
  // thread: a task may be all that finishes a call, so it is never dropped.
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void Post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stop_) {
        tasks_.push_back(std::move(task));
        cv_.notify_one();
        return;
      }
    }
    task();
  }
  // For a new call's work: false, and nothing queued, once the pool has stopped or while
  // `limit` tasks wait. Work for calls that clients reset keeps its place until a worker skips
  // it, so without a bound a client opening and resetting streams could grow the queue for as
  // long as the workers are held up.
  bool TryPost(std::function<void()> task, size_t limit) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || tasks_.size() >= limit) return false;
    tasks_.push_back(std::move(task));
    cv_.notify_one();
    return true;
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Who is calling: the header check and workload attestation every RPC starts with.
struct Caller {
  std::shared_ptr<PeerProcess> peer;
  std::vector<store::Selector> selectors;
};

// An open stream, as the notifier sees it: asked to re-send when the agent's state changes, or to
// end.
class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual bool Ended() const = 0;
  virtual void Refresh() = 0;
  virtual void Close(const rpc::GrpcStatus& status) = 0;
};

// Reads a call's request message; answers INVALID_ARGUMENT when it is not one.
template <typename Request>
bool ParseRequest(rpc::ServerCall& call, Request* request) {
  const std::string_view m = call.message();
  if (request->ParseFromArray(m.data(), static_cast<int>(m.size()))) return true;
  call.Finish({rpc::GrpcCode::kInvalidArgument,
               "the request is not a valid " + request->GetTypeName() + " message"});
  return false;
}

// The Workload API's methods on rpc::GrpcServer, whose one loop thread reads every request and
// runs the handlers below. A handler answers at once when the answer needs nothing that may
// wait (ValidateJWTSVID, the methods not served); work that may wait on the server (signing a
// cold SVID, minting a JWT) or on the system (attesting the caller) goes to a few worker threads.
class Service {
 public:
  Service(IdentityProvider& provider, telemetry::Logger& log)
      : provider_(provider), log_(log), workers_(kWorkers) {
    notifier_ = std::thread([this] { NotifyLoop(); });
  }
  ~Service() { Stop(); }

  // Stops the notifier and ends every open stream (UNAVAILABLE), so clients learn of the
  // shutdown at once.
  void Stop() {
    if (stopping_.exchange(true)) return;
    provider_.cache().Poke();
    if (notifier_.joinable()) notifier_.join();
    for (auto& w : LiveWatchers()) {
      w->Close({rpc::GrpcCode::kUnavailable, "the agent is shutting down"});
    }
  }
  // Runs the queued work and stops the workers; their answers are then on the server's loop.
  void StopWorkers() { workers_.Stop(); }

  rpc::MethodTable Methods();

  WorkerPool& workers() { return workers_; }
  bool stopping() const { return stopping_; }

  void AddWatcher(const std::shared_ptr<Watcher>& w) {
    std::lock_guard<std::mutex> lock(watch_mu_);
    // The notifier drops ended streams every few seconds; short calls (a FetchX509SVID read
    // once) can open thousands a second, so they are also dropped whenever the list has doubled
    // since the last sweep (here or the notifier's): amortized O(1) per stream.
    if (watchers_.size() >= sweep_at_) {
      std::erase_if(watchers_, [](const std::shared_ptr<Watcher>& x) { return x->Ended(); });
      sweep_at_ = std::max<size_t>(64, 2 * watchers_.size());
    }
    watchers_.push_back(w);
  }

  // The security header (exactly one value, "true") and a caller on the agent's own socket.
  Result<std::shared_ptr<PeerProcess>> Admit(const rpc::ServerCall& call) {
    size_t count = 0;
    bool ok = false;
    for (const auto& [name, value] : call.metadata()) {
      if (name != kHeader) continue;
      ++count;
      ok = value == "true";
    }
    if (count != 1 || !ok) return InvalidArgument("security header missing from request");
    auto peer = std::static_pointer_cast<PeerProcess>(call.peer());
    if (!peer) return PermissionDenied("caller is not on the agent's Unix socket");
    return peer;
  }

  // Admit, then the caller's selectors.
  Result<Caller> Identify(const rpc::ServerCall& call) {
    WARD_ASSIGN_OR_RETURN(std::shared_ptr<PeerProcess> peer, Admit(call));
    auto selectors = attestor_.Attest(*peer);
    if (!selectors.ok()) return selectors.status();
    return Caller{std::move(peer), std::move(selectors).value()};
  }

  // Continuous verification for a long-lived stream: the caller must still run and still have
  // the identity it had when it opened the stream (an exec into another binary changes it).
  Status Reverify(const Caller& caller) {
    if (!caller.peer->Alive()) return PermissionDenied("the calling process has exited");
    auto selectors = attestor_.Attest(*caller.peer);
    if (!selectors.ok()) return selectors.status();
    if (*selectors != caller.selectors) {
      return PermissionDenied("the calling process's identity changed; open a new stream");
    }
    return OkStatus();
  }

  // Workloads with the same selectors get the same message, so one update is built once per
  // selector set, not once per open stream.
  Result<X509SVIDResponse> CachedX509(const Caller& caller) {
    std::string key;
    for (const auto& s : caller.selectors) key += s.ToString() + '\n';
    const uint64_t version = provider_.cache().version();
    {
      std::lock_guard<std::mutex> lock(memo_mu_);
      const auto it = x509_memo_.find(key);
      // Entry expiry changes nothing's version, so a memo is also bounded in time.
      if (it != x509_memo_.end() && it->second.version == version &&
          std::chrono::steady_clock::now() - it->second.built < std::chrono::seconds(1)) {
        return *it->second.message;
      }
    }
    WARD_ASSIGN_OR_RETURN(X509SVIDResponse built, BuildX509(caller));
    auto shared = std::make_shared<const X509SVIDResponse>(built);
    std::lock_guard<std::mutex> lock(memo_mu_);
    if (x509_memo_.size() > 1024) x509_memo_.clear();
    x509_memo_[key] = {version, std::chrono::steady_clock::now(), std::move(shared)};
    return built;
  }

  Result<X509SVIDResponse> BuildX509(const Caller& caller) {
    WARD_ASSIGN_OR_RETURN(std::vector<X509Identity> ids,
                          provider_.X509Identities(caller.selectors));
    if (ids.empty()) return PermissionDenied("no identity issued");
    const BundleSnapshot bundles = provider_.Bundles();
    if (!bundles.own) return Status(StatusCode::kUnavailable, "no trust bundle yet");
    const Bytes own = bundles.own->ToDer();
    X509SVIDResponse out;
    std::set<std::string> federated;
    for (const auto& id : ids) {
      X509SVID* svid = out.add_svids();
      svid->set_spiffe_id(id.svid->spiffe_id);
      svid->set_x509_svid(id.svid->chain_der.data(), id.svid->chain_der.size());
      svid->set_x509_svid_key(id.svid->key_der.data(), id.svid->key_der.size());
      svid->set_bundle(own.data(), own.size());
      federated.insert(id.federates_with.begin(), id.federates_with.end());
    }
    for (const auto& td : federated) {
      const auto it = bundles.federated.find(td);
      if (it == bundles.federated.end()) continue;
      const Bytes der = it->second->ToDer();
      (*out.mutable_federated_bundles())["spiffe://" + td] = std::string(der.begin(), der.end());
    }
    return out;
  }

  // Own bundle plus the federated ones the caller's entries name; `jwt` picks JWKS over DER.
  Result<std::map<std::string, std::string>> BundleMap(const Caller& caller, bool jwt) {
    if (provider_.cache().Matching(caller.selectors).empty()) {
      return PermissionDenied("no identity issued");
    }
    const BundleSnapshot bundles = provider_.Bundles();
    if (!bundles.own) return Status(StatusCode::kUnavailable, "no trust bundle yet");
    auto encode = [jwt](const TrustBundle& b) {
      if (jwt) return b.ToJwks();
      const Bytes der = b.ToDer();
      return std::string(der.begin(), der.end());
    };
    std::map<std::string, std::string> out;
    out["spiffe://" + bundles.own->trust_domain().name()] = encode(*bundles.own);
    for (const auto& td : provider_.FederatesWith(caller.selectors)) {
      const auto it = bundles.federated.find(td);
      if (it != bundles.federated.end()) out["spiffe://" + td] = encode(*it->second);
    }
    return out;
  }

 private:
  Status DoFetchJwt(const rpc::ServerCall& call, const JWTSVIDRequest& req, JWTSVIDResponse* resp) {
    WARD_ASSIGN_OR_RETURN(Caller caller, Identify(call));
    std::vector<std::string> audience;
    for (const auto& a : req.audience()) {
      if (a.empty()) return InvalidArgument("audience values must not be empty");
      audience.push_back(a);
    }
    if (audience.empty()) return InvalidArgument("audience must be specified");
    if (!req.spiffe_id().empty()) {
      auto id = SpiffeId::Parse(req.spiffe_id());
      if (!id.ok()) return id.status().WithContext("spiffe_id");
    }
    WARD_ASSIGN_OR_RETURN(std::vector<JwtIdentity> ids,
                          provider_.JwtIdentities(caller.selectors, req.spiffe_id(), audience));
    if (ids.empty()) return PermissionDenied("no identity issued");
    for (auto& id : ids) {
      JWTSVID* svid = resp->add_svids();
      svid->set_spiffe_id(id.spiffe_id);
      svid->set_svid(std::move(id.token));
    }
    return OkStatus();
  }

  Status DoValidate(const rpc::ServerCall& call, const ValidateJWTSVIDRequest& req,
                    ValidateJWTSVIDResponse* resp) {
    // Validation hands out nothing secret (the keys it checks against are public bundles) and
    // does not depend on who asks, so the caller is admitted, not attested: attesting read
    // /proc and the user database on every call and cost more than the signature check.
    WARD_RETURN_IF_ERROR(Admit(call).status());
    if (req.audience().empty()) return InvalidArgument("audience must be specified");
    if (req.svid().empty()) return InvalidArgument("svid must be specified");
    auto validated = provider_.ValidateJwt(req.svid(), req.audience());
    if (!validated.ok()) return InvalidArgument(validated.status().message());
    resp->set_spiffe_id(validated->id.str());
    return ClaimsToStruct(validated->claims_json, resp->mutable_claims());
  }

  void NotifyLoop() {
    uint64_t seen = provider_.cache().version();
    while (!stopping_) {
      // Wake on change, and at least every few seconds so streams notice callers that exited.
      seen = provider_.cache().WaitForChange(
          seen, std::chrono::steady_clock::now() + std::chrono::seconds(5));
      for (auto& w : LiveWatchers()) w->Refresh();
    }
  }

  // The open streams; forgets the ended ones.
  std::vector<std::shared_ptr<Watcher>> LiveWatchers() {
    std::lock_guard<std::mutex> lock(watch_mu_);
    std::erase_if(watchers_, [](const std::shared_ptr<Watcher>& w) { return w->Ended(); });
    sweep_at_ = std::max<size_t>(64, 2 * watchers_.size());
    return watchers_;
  }

  IdentityProvider& provider_;
  telemetry::Logger& log_;
  WorkloadAttestor attestor_;
  std::mutex memo_mu_;
  struct Memo {
    uint64_t version = 0;
    std::chrono::steady_clock::time_point built;
    std::shared_ptr<const X509SVIDResponse> message;
  };
  std::map<std::string, Memo> x509_memo_;
  std::mutex watch_mu_;
  // The open streams. Held here (a call does not know its stream) until they have ended.
  std::vector<std::shared_ptr<Watcher>> watchers_;
  size_t sweep_at_ = 64;
  std::atomic<bool> stopping_{false};
  std::thread notifier_;
  // Declared last, so it is destroyed first: no queued task outlives what it touches.
  WorkerPool workers_;
};

// One server-streaming RPC. Sends the full state first, then again whenever it changes (never
// the same message twice in a row), and ends the stream when the caller's process is gone or no
// longer has an identity. Its work runs on the worker threads, one Send at a time.
template <typename Response>
class Stream final : public Watcher, public std::enable_shared_from_this<Stream<Response>> {
 public:
  using Builder = std::function<Result<Response>(const Caller&)>;

  Stream(Service& service, std::shared_ptr<rpc::ServerCall> call, Builder build)
      : service_(service), call_(std::move(call)), build_(std::move(build)) {}

  // Attests the caller and sends the first message. On a worker thread.
  void Start() {
    if (call_->done()) return;  // cancelled while queued: attesting would be wasted
    auto caller = service_.Identify(*call_);
    if (!caller.ok()) return call_->Finish(ToGrpc(caller.status()));
    {
      std::lock_guard<std::mutex> lock(send_mu_);
      caller_ = std::move(caller).value();
    }
    service_.AddWatcher(this->shared_from_this());
    // Stop() ends the streams it finds among the watchers; one added after it looked ends here.
    // (Both take the watcher lock, so either Stop() saw this stream or this sees `stopping`.)
    if (service_.stopping()) {
      return Close({rpc::GrpcCode::kUnavailable, "the agent is shutting down"});
    }
    Send(/*first=*/true);
  }

  bool Ended() const override { return call_->done(); }

  void Refresh() override {
    if (call_->done() || scheduled_.exchange(true)) return;
    service_.workers().Post([self = this->shared_from_this()] {
      self->scheduled_ = false;
      self->Send(/*first=*/false);
    });
  }

  void Close(const rpc::GrpcStatus& status) override { call_->Finish(status); }

 private:
  // Re-checks the caller, builds the state and writes it if it changed.
  void Send(bool first) {
    std::lock_guard<std::mutex> lock(send_mu_);
    if (call_->done()) return;
    if (!first) {
      const Status still = service_.Reverify(caller_);
      if (!still.ok()) return call_->Finish(ToGrpc(still));
    }
    // No identity any more (entry deleted) or none yet: end the stream with the reason.
    Result<Response> next = build_(caller_);
    if (!next.ok()) return call_->Finish(ToGrpc(next.status()));
    std::string bytes;
    next->SerializeToString(&bytes);
    // Also for the first message: a refresh may have sent the same state already.
    if (sent_any_ && bytes == last_sent_) return;
    sent_any_ = true;
    call_->WriteLatest(bytes);
    last_sent_ = std::move(bytes);
  }

  Service& service_;
  const std::shared_ptr<rpc::ServerCall> call_;
  const Builder build_;
  std::atomic<bool> scheduled_{false};  // a Refresh's Send is queued
  std::mutex send_mu_;
  Caller caller_;  // set once by Start, before any Send
  std::string last_sent_;
  bool sent_any_ = false;
};

// A new call that no worker can take: the agent is stopping, or too many calls wait.
rpc::GrpcStatus Busy() {
  return {rpc::GrpcCode::kUnavailable, "the agent is busy or shutting down; retry"};
}

rpc::MethodTable Service::Methods() {
  rpc::MethodTable table;
  table.max_request_bytes = kMaxRequestBytes;
  auto& h = table.handlers;
  h["/SpiffeWorkloadAPI/ValidateJWTSVID"] = [this](const std::shared_ptr<rpc::ServerCall>& call) {
    // On the loop thread: validation never waits on anything.
    ValidateJWTSVIDRequest req;
    if (!ParseRequest(*call, &req)) return;
    ValidateJWTSVIDResponse resp;
    const Status status = DoValidate(*call, req, &resp);
    if (!status.ok()) return call->Finish(ToGrpc(status));
    call->Reply(resp.SerializeAsString());
  };
  h["/SpiffeWorkloadAPI/FetchJWTSVID"] = [this](const std::shared_ptr<rpc::ServerCall>& call) {
    auto req = std::make_shared<JWTSVIDRequest>();
    if (!ParseRequest(*call, req.get())) return;
    const bool queued = workers_.TryPost(
        [this, call, req] {
          if (call->done()) return;  // cancelled while queued
          JWTSVIDResponse resp;
          const Status status = DoFetchJwt(*call, *req, &resp);
          if (!status.ok()) return call->Finish(ToGrpc(status));
          call->Reply(resp.SerializeAsString());
        },
        kMaxQueuedCalls);
    if (!queued) call->Finish(Busy());
  };
  // Server streams: the request message carries nothing, but must be one.
  auto stream = [this](auto request, auto build) {
    using Response = typename decltype(build(std::declval<const Caller&>()))::value_type;
    return [this, build](const std::shared_ptr<rpc::ServerCall>& call) {
      decltype(request) req;
      if (!ParseRequest(*call, &req)) return;
      auto s = std::make_shared<Stream<Response>>(*this, call, build);
      if (!workers_.TryPost([s] { s->Start(); }, kMaxQueuedCalls)) call->Finish(Busy());
    };
  };
  h["/SpiffeWorkloadAPI/FetchX509SVID"] =
      stream(X509SVIDRequest(), [this](const Caller& c) { return CachedX509(c); });
  h["/SpiffeWorkloadAPI/FetchX509Bundles"] =
      stream(X509BundlesRequest(), [this](const Caller& c) -> Result<X509BundlesResponse> {
        WARD_ASSIGN_OR_RETURN(auto map, BundleMap(c, /*jwt=*/false));
        X509BundlesResponse out;
        for (auto& [k, v] : map) (*out.mutable_bundles())[k] = std::move(v);
        return out;
      });
  h["/SpiffeWorkloadAPI/FetchJWTBundles"] =
      stream(JWTBundlesRequest(), [this](const Caller& c) -> Result<JWTBundlesResponse> {
        WARD_ASSIGN_OR_RETURN(auto map, BundleMap(c, /*jwt=*/true));
        JWTBundlesResponse out;
        for (auto& [k, v] : map) (*out.mutable_bundles())[k] = std::move(v);
        return out;
      });
  // Methods Ward does not serve (the WIT-SVID draft): answered UNIMPLEMENTED, as a server
  // without them would, but only for a well-formed request.
  auto unimplemented = [](auto request) {
    return [](const std::shared_ptr<rpc::ServerCall>& call) {
      decltype(request) req;
      if (!ParseRequest(*call, &req)) return;
      call->Finish({rpc::GrpcCode::kUnimplemented, "not served by this agent"});
    };
  };
  h["/SpiffeWorkloadAPI/FetchWITSVID"] = unimplemented(WITSVIDRequest());
  h["/SpiffeWorkloadAPI/FetchWITBundles"] = unimplemented(WITBundlesRequest());
  return table;
}

class ServerImpl final : public WorkloadApiServer {
 public:
  ServerImpl(IdentityProvider& provider, telemetry::Logger& log) : service_(provider, log) {}
  ~ServerImpl() override { Shutdown(); }

  Status Start(const std::string& path) {
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
      return InvalidArgument("Workload API socket path must be 1-" +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes");
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        return FailedPrecondition(path + " exists and is not a socket; refusing to replace it");
      }
      ::unlink(path.c_str());
    }
    UniqueFd listen_fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listen_fd.valid()) return Internal("cannot create a Unix socket");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (::bind(listen_fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd.get(), SOMAXCONN) != 0) {
      return FailedPrecondition("cannot listen on " + path + ": " + std::strerror(errno));
    }
    // Every local user may connect; callers are told apart by their kernel credentials.
    ::chmod(path.c_str(), 0666);
    path_ = path;
    rpc::GrpcServerOptions options;
    options.methods = service_.Methods();
    // Each connection's caller is taken from the kernel before a byte of it is read, and holds
    // one of its user's connection slots for as long as the connection or a call of it lives.
    options.admit = [this](int fd) -> Result<std::shared_ptr<void>> {
      WARD_ASSIGN_OR_RETURN(PeerProcess peer, PeerProcess::FromSocket(fd));
      WARD_ASSIGN_OR_RETURN(std::shared_ptr<void> slot, quota_.Acquire(peer.uid()));
      struct Admitted {
        PeerProcess peer;
        std::shared_ptr<void> slot;
      };
      auto admitted = std::make_shared<Admitted>(Admitted{std::move(peer), std::move(slot)});
      // Points at the peer (what Admit reads back) and owns the slot with it.
      return std::shared_ptr<void>(admitted, &admitted->peer);
    };
    WARD_ASSIGN_OR_RETURN(server_,
                          rpc::GrpcServer::Start(std::move(listen_fd), std::move(options)));
    return OkStatus();
  }

  void Shutdown() override {
    if (stopped_.exchange(true)) return;
    service_.Stop();                                          // streams end with UNAVAILABLE
    service_.StopWorkers();                                   // calls in progress answer
    if (server_) server_->Shutdown(std::chrono::seconds(2));  // and the answers go out
    if (!path_.empty()) ::unlink(path_.c_str());
  }

 private:
  Service service_;
  ConnectionQuota quota_{kConnectionsPerUid};
  std::string path_;
  std::unique_ptr<rpc::GrpcServer> server_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

Result<std::unique_ptr<WorkloadApiServer>> WorkloadApiServer::Start(const std::string& socket_path,
                                                                    IdentityProvider& provider,
                                                                    telemetry::Logger& log) {
  auto server = std::make_unique<ServerImpl>(provider, log);
  WARD_RETURN_IF_ERROR(server->Start(socket_path));
  return std::unique_ptr<WorkloadApiServer>(std::move(server));
}

}  // namespace ward::agent

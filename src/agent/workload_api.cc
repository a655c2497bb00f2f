#include "agent/workload_api.h"

#include <google/protobuf/struct.pb.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <thread>

#include "core/clock.h"
#include "workload.grpc.pb.h"

namespace ward::agent {
namespace {

constexpr char kHeader[] = "workload.spiffe.io";
constexpr size_t kWorkers = 4;
// No request of the Workload API comes near this (the largest is a 16 KiB token to validate);
// gRPC's default would let any local process make the agent read 4 MiB per message.
constexpr int kMaxRequestBytes = 64 * 1024;

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, s.message()};
    case StatusCode::kPermissionDenied:
      return {grpc::StatusCode::PERMISSION_DENIED, s.message()};
    case StatusCode::kNotFound:
      return {grpc::StatusCode::PERMISSION_DENIED, s.message()};
    default:
      return {grpc::StatusCode::UNAVAILABLE, s.message()};
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

// Connections accepted here, by the fd number gRPC reports as the peer ("fd:N").
class PeerTable {
 public:
  void Put(int fd, std::shared_ptr<PeerProcess> peer) {
    std::lock_guard<std::mutex> lock(mu_);
    // Drop connections gRPC has closed (their fd is gone or now names another file), so each
    // pidfd is released soon after its connection. Swept when the table doubles, so a burst of
    // connections costs amortized O(1) per accept rather than a pass over every open one.
    if (peers_.size() >= sweep_at_) {
      for (auto it = peers_.begin(); it != peers_.end();) {
        it = Inode(it->first) != it->second.inode ? peers_.erase(it) : std::next(it);
      }
      sweep_at_ = std::max<size_t>(64, 2 * peers_.size());
    }
    peers_[fd] = {Inode(fd), std::move(peer)};
  }
  std::shared_ptr<PeerProcess> Find(const std::string& grpc_peer) {
    if (grpc_peer.rfind("fd:", 0) != 0) return nullptr;
    const int fd = std::atoi(grpc_peer.c_str() + 3);
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = peers_.find(fd);
    return it == peers_.end() ? nullptr : it->second.peer;
  }

 private:
  static ino_t Inode(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? st.st_ino : 0;
  }
  struct Connection {
    ino_t inode = 0;
    std::shared_ptr<PeerProcess> peer;
  };
  std::mutex mu_;
  std::map<int, Connection> peers_;
  size_t sweep_at_ = 64;
};

// Who is calling: the header check and workload attestation every RPC starts with.
struct Caller {
  std::shared_ptr<PeerProcess> peer;
  std::vector<store::Selector> selectors;
};

class Service;

// Something a stream can be asked to re-send when the agent's state changes, or to end.
class Watcher {
 public:
  virtual ~Watcher() = default;
  virtual void Refresh() = 0;
  virtual void Close(const grpc::Status& status) = 0;
};

// The Workload API on gRPC's asynchronous API: every call's events arrive on one completion
// queue, which one thread drains (ServerImpl). A `perf` profile of grpc++ 1.51's callback server
// showed most of a cached ValidateJWTSVID going to waking threads (futexes, epoll) between its
// pollers and executors; bench/grpc_overhead.cc measures a handler that answers at once at about
// 55 µs of CPU per call there, against 25 µs with one thread on one queue (a second thread on
// the queue brought it back to 48 µs or more). Work that may wait on the server (signing a cold
// SVID, minting a JWT) or on the system (attesting a stream's caller) goes to a few worker
// threads, never the queue's.
class Service {
 public:
  Service(IdentityProvider& provider, telemetry::Logger& log)
      : provider_(provider), log_(log), workers_(kWorkers) {
    notifier_ = std::thread([this] { NotifyLoop(); });
  }
  ~Service() { Stop(); }

  // Stops the notifier and ends every open stream (UNAVAILABLE), so clients learn of the
  // shutdown at once and the gRPC server need not wait for them.
  void Stop() {
    if (stopping_.exchange(true)) return;
    provider_.cache().Poke();
    if (notifier_.joinable()) notifier_.join();
    for (auto& w : LiveWatchers()) {
      w->Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down"));
    }
  }
  // Runs the queued work and stops the workers; after the gRPC server has shut down, and before
  // the completion queue does, so no worker starts an operation on a queue that is shut down.
  void StopWorkers() { workers_.Stop(); }

  grpc::Service* grpc_service() { return &async_; }
  // Starts waiting for calls of every method on `cq`, which the caller drains.
  void Serve(grpc::ServerCompletionQueue* cq);

  // Starts an operation with `tag` (a Completion) on the queue, unless the queue is closed, in
  // which case the tag is discarded: gRPC aborts on an operation started on a queue that is shut
  // down, and completions still being handled can start operations (the next call's request, a
  // stream's next write).
  template <typename Start>
  void Issue(void* tag, Start&& start);
  // Shuts the queue down; operations issued afterwards are discarded.
  void CloseQueue() {
    std::unique_lock<std::shared_mutex> lock(queue_mu_);
    queue_open_ = false;
    if (cq_ != nullptr) cq_->Shutdown();
  }

  PeerTable& peers() { return peers_; }
  WorkerPool& workers() { return workers_; }
  bool stopping() const { return stopping_; }

  void AddWatcher(const std::shared_ptr<Watcher>& w) {
    std::lock_guard<std::mutex> lock(watch_mu_);
    // A stream is made with make_shared, so a weak reference keeps its memory until dropped. The
    // notifier drops ended streams' references every few seconds; short calls (a FetchX509SVID
    // read once) can open thousands a second, so they are also dropped whenever the list has
    // doubled since the last sweep (here or the notifier's): amortized O(1) per stream.
    if (watchers_.size() >= sweep_at_) {
      std::erase_if(watchers_, [](const std::weak_ptr<Watcher>& x) { return x.expired(); });
      sweep_at_ = std::max<size_t>(64, 2 * watchers_.size());
    }
    watchers_.push_back(w);
  }

  // The security header (exactly one value, "true") and a caller on the agent's own socket.
  Result<std::shared_ptr<PeerProcess>> Admit(const grpc::ServerContext& ctx) {
    const auto& md = ctx.client_metadata();
    const auto range = md.equal_range(kHeader);
    size_t count = 0;
    bool ok = false;
    for (auto it = range.first; it != range.second; ++it) {
      ++count;
      ok = std::string_view(it->second.data(), it->second.size()) == "true";
    }
    if (count != 1 || !ok) return InvalidArgument("security header missing from request");
    auto peer = peers_.Find(ctx.peer());
    if (!peer) return PermissionDenied("caller is not on the agent's Unix socket");
    return peer;
  }

  // Admit, then the caller's selectors.
  Result<Caller> Identify(const grpc::ServerContext& ctx) {
    WARD_ASSIGN_OR_RETURN(std::shared_ptr<PeerProcess> peer, Admit(ctx));
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
  void AwaitFetchJwt();
  void AwaitValidate();

  Status DoFetchJwt(const grpc::ServerContext& ctx, const JWTSVIDRequest& req,
                    JWTSVIDResponse* resp) {
    WARD_ASSIGN_OR_RETURN(Caller caller, Identify(ctx));
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

  Status DoValidate(const grpc::ServerContext& ctx, const ValidateJWTSVIDRequest& req,
                    ValidateJWTSVIDResponse* resp) {
    // Validation hands out nothing secret (the keys it checks against are public bundles) and
    // does not depend on who asks, so the caller is admitted, not attested: attesting read
    // /proc and the user database on every call and cost more than the signature check.
    WARD_RETURN_IF_ERROR(Admit(ctx).status());
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
    std::vector<std::shared_ptr<Watcher>> live;
    std::lock_guard<std::mutex> lock(watch_mu_);
    std::erase_if(watchers_, [&live](const std::weak_ptr<Watcher>& w) {
      auto open = w.lock();
      if (!open) return true;
      live.push_back(std::move(open));
      return false;
    });
    sweep_at_ = std::max<size_t>(64, 2 * watchers_.size());
    return live;
  }

  IdentityProvider& provider_;
  telemetry::Logger& log_;
  SpiffeWorkloadAPI::AsyncService async_;
  grpc::ServerCompletionQueue* cq_ = nullptr;
  std::shared_mutex queue_mu_;
  bool queue_open_ = true;
  WorkloadAttestor attestor_;
  PeerTable peers_;
  std::mutex memo_mu_;
  struct Memo {
    uint64_t version = 0;
    std::chrono::steady_clock::time_point built;
    std::shared_ptr<const X509SVIDResponse> message;
  };
  std::map<std::string, Memo> x509_memo_;
  std::mutex watch_mu_;
  std::vector<std::weak_ptr<Watcher>> watchers_;
  size_t sweep_at_ = 64;
  std::atomic<bool> stopping_{false};
  std::thread notifier_;
  // Declared last, so it is destroyed first: no queued task outlives what it touches.
  WorkerPool workers_;
};

// A completion-queue tag: its function runs once, when the operation it was given to completes
// (`ok` false when the operation failed or the server is shutting down). The queue owns it from
// Arm() until then.
class Completion {
 public:
  using Fn = std::function<void(bool ok)>;
  explicit Completion(Fn fn) : fn_(std::move(fn)) {}

  static void* Arm(Fn fn) { return std::make_unique<Completion>(std::move(fn)).release(); }
  static void Deliver(void* tag, bool ok) {
    std::unique_ptr<Completion>(static_cast<Completion*>(tag))->fn_(ok);
  }
  // For a tag gRPC will never deliver.
  static void Discard(void* tag) {
    std::unique_ptr<Completion> drop(static_cast<Completion*>(tag));
  }

 private:
  Fn fn_;
};

template <typename Start>
void Service::Issue(void* tag, Start&& start) {
  std::shared_lock<std::shared_mutex> lock(queue_mu_);
  if (!queue_open_) return Completion::Discard(tag);
  start(tag);
}

// One unary call, alive until its answer has gone out.
template <typename Request, typename Response>
struct UnaryCall : std::enable_shared_from_this<UnaryCall<Request, Response>> {
  grpc::ServerContext ctx;
  Request request;
  Response response;
  grpc::ServerAsyncResponseWriter<Response> responder{&ctx};

  void Finish(Service& service, const Status& status) {
    service.Issue(Completion::Arm([self = this->shared_from_this()](bool) {}), [&](void* tag) {
      if (status.ok()) {
        responder.Finish(response, grpc::Status::OK, tag);
      } else {
        responder.FinishWithError(ToGrpc(status), tag);
      }
    });
  }
};

void Service::AwaitValidate() {
  auto call = std::make_shared<UnaryCall<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>>();
  Issue(Completion::Arm([this, call](bool ok) {
          if (!ok) return;  // shutting down
          AwaitValidate();
          // On the queue's thread: validation never waits on anything.
          call->Finish(*this, DoValidate(call->ctx, call->request, &call->response));
        }),
        [&](void* tag) {
          async_.RequestValidateJWTSVID(&call->ctx, &call->request, &call->responder, cq_, cq_,
                                        tag);
        });
}

void Service::AwaitFetchJwt() {
  auto call = std::make_shared<UnaryCall<JWTSVIDRequest, JWTSVIDResponse>>();
  Issue(Completion::Arm([this, call](bool ok) {
          if (!ok) return;
          AwaitFetchJwt();
          workers_.Post([this, call] {
            call->Finish(*this, DoFetchJwt(call->ctx, call->request, &call->response));
          });
        }),
        [&](void* tag) {
          async_.RequestFetchJWTSVID(&call->ctx, &call->request, &call->responder, cq_, cq_, tag);
        });
}

// Asks gRPC for a server-streaming method's next call (AsyncService::RequestX on the queue).
template <typename Request, typename Response>
using RequestStream = std::function<void(grpc::ServerContext*, Request*,
                                         grpc::ServerAsyncWriter<Response>*, void* tag)>;

// One server-streaming RPC. Sends the full state first, then again whenever it changes (never
// the same message twice in a row), and ends the stream when the caller's process is gone or no
// longer has an identity. Each operation in flight holds a reference, and so does gRPC's
// end-of-call notification; the notifier holds only a weak one.
template <typename Request, typename Response>
class Stream final : public Watcher,
                     public std::enable_shared_from_this<Stream<Request, Response>> {
 public:
  using Builder = std::function<Result<Response>(const Caller&)>;

  Stream(Service& service, Builder build) : service_(service), build_(std::move(build)) {}

  // Waits for the method's next call; each call that arrives starts the wait for the one after.
  static void Await(Service& service, RequestStream<Request, Response> request, Builder build) {
    auto stream = std::make_shared<Stream>(service, build);
    // Armed before the call starts. gRPC delivers it once a call has started (when it ends,
    // finished or cancelled), and never for a request that failed.
    void* done = Completion::Arm([stream](bool) { stream->OnDone(); });
    stream->ctx_.AsyncNotifyWhenDone(done);
    void* started = Completion::Arm([stream, done, &service, request, build](bool ok) {
      if (!ok) {  // shutting down: no call, so no end-of-call notification either
        Completion::Discard(done);
        return;
      }
      Await(service, request, build);
      // Attesting the caller reads /proc and may read the user database: not on the queue's
      // thread.
      service.workers().Post([stream] { stream->Start(); });
    });
    bool issued = false;
    service.Issue(started, [&](void* tag) {
      issued = true;
      request(&stream->ctx_, &stream->request_, &stream->writer_, tag);
    });
    if (!issued) Completion::Discard(done);
  }

  void Refresh() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
      if (writing_) {
        pending_ = true;
        return;
      }
    }
    // Posted without the lock: once the workers have stopped, Post runs Send right here.
    service_.workers().Post([self = this->shared_from_this()] { self->Send(false); });
  }

  void Close(const grpc::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    FinishLocked(status);
  }

 private:
  void Start() {
    auto caller = service_.Identify(ctx_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!caller.ok()) return FinishLocked(ToGrpc(caller.status()));
      caller_ = std::move(caller).value();
    }
    service_.AddWatcher(this->shared_from_this());
    // Stop() ends the streams it finds among the watchers; one added after it looked ends here.
    // (Both take the watcher lock, so either Stop() saw this stream or this sees `stopping`.)
    if (service_.stopping()) {
      return Close(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the agent is shutting down"));
    }
    Send(/*first=*/true);
  }

  // Re-checks the caller, builds the state and writes it if it changed. On a worker thread.
  void Send(bool first) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (finished_) return;
    }
    if (!first) {
      const Status still = service_.Reverify(caller_);
      if (!still.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        return FinishLocked(ToGrpc(still));
      }
    }
    Result<Response> next = build_(caller_);
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    // No identity any more (entry deleted) or none yet: end the stream with the reason.
    if (!next.ok()) return FinishLocked(ToGrpc(next.status()));
    std::string bytes;
    next->SerializeToString(&bytes);
    // Also for the first message: a refresh may have sent the same state already.
    if (sent_any_ && bytes == last_sent_) return;
    if (writing_) {
      pending_ = true;
      return;
    }
    sent_any_ = true;
    last_sent_ = std::move(bytes);
    message_ = std::move(next).value();
    writing_ = true;
    service_.Issue(
        Completion::Arm([self = this->shared_from_this()](bool ok) { self->OnWriteDone(ok); }),
        [&](void* tag) { writer_.Write(message_, tag); });
  }

  void OnWriteDone(bool ok) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      writing_ = false;
      if (!ok) {
        finished_ = true;  // the caller is gone: nothing more can be sent
        return;
      }
      if (finish_status_) return StartFinishLocked();
      if (!pending_ || finished_) return;
      pending_ = false;
    }
    service_.workers().Post([self = this->shared_from_this()] { self->Send(false); });
  }

  void OnDone() {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
  }

  // gRPC allows one write in flight, and Finish only once it has completed.
  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    finish_status_ = status;
    if (!writing_) StartFinishLocked();
  }
  void StartFinishLocked() {
    const grpc::Status status = *finish_status_;
    finish_status_.reset();
    service_.Issue(Completion::Arm([self = this->shared_from_this()](bool) {}),
                   [&](void* tag) { writer_.Finish(status, tag); });
  }

  Service& service_;
  const Builder build_;
  grpc::ServerContext ctx_;
  Request request_;
  grpc::ServerAsyncWriter<Response> writer_{&ctx_};
  std::mutex mu_;
  Caller caller_;  // set once by Start, before any Send
  Response message_;
  std::string last_sent_;
  bool sent_any_ = false;
  bool writing_ = false;
  bool pending_ = false;
  bool finished_ = false;
  std::optional<grpc::Status> finish_status_;
};

// Methods Ward does not serve (the WIT-SVID draft): answered UNIMPLEMENTED, as a server without
// them would.
template <typename Request, typename Response>
void AwaitUnimplemented(Service& service, RequestStream<Request, Response> request) {
  struct Call {
    grpc::ServerContext ctx;
    Request request;
    grpc::ServerAsyncWriter<Response> writer{&ctx};
  };
  auto call = std::make_shared<Call>();
  service.Issue(Completion::Arm([&service, call, request](bool ok) {
                  if (!ok) return;
                  AwaitUnimplemented(service, request);
                  service.Issue(Completion::Arm([call](bool) {}), [&](void* tag) {
                    call->writer.Finish(
                        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not served by this agent"),
                        tag);
                  });
                }),
                [&](void* tag) { request(&call->ctx, &call->request, &call->writer, tag); });
}

void Service::Serve(grpc::ServerCompletionQueue* cq) {
  cq_ = cq;
  AwaitValidate();
  AwaitFetchJwt();
  Stream<X509SVIDRequest, X509SVIDResponse>::Await(
      *this,
      [this](auto* ctx, auto* req, auto* writer, void* tag) {
        async_.RequestFetchX509SVID(ctx, req, writer, cq_, cq_, tag);
      },
      [this](const Caller& c) { return CachedX509(c); });
  Stream<X509BundlesRequest, X509BundlesResponse>::Await(
      *this,
      [this](auto* ctx, auto* req, auto* writer, void* tag) {
        async_.RequestFetchX509Bundles(ctx, req, writer, cq_, cq_, tag);
      },
      [this](const Caller& c) -> Result<X509BundlesResponse> {
        WARD_ASSIGN_OR_RETURN(auto map, BundleMap(c, /*jwt=*/false));
        X509BundlesResponse out;
        for (auto& [k, v] : map) (*out.mutable_bundles())[k] = std::move(v);
        return out;
      });
  Stream<JWTBundlesRequest, JWTBundlesResponse>::Await(
      *this,
      [this](auto* ctx, auto* req, auto* writer, void* tag) {
        async_.RequestFetchJWTBundles(ctx, req, writer, cq_, cq_, tag);
      },
      [this](const Caller& c) -> Result<JWTBundlesResponse> {
        WARD_ASSIGN_OR_RETURN(auto map, BundleMap(c, /*jwt=*/true));
        JWTBundlesResponse out;
        for (auto& [k, v] : map) (*out.mutable_bundles())[k] = std::move(v);
        return out;
      });
  AwaitUnimplemented<WITSVIDRequest, WITSVIDResponse>(
      *this, [this](auto* ctx, auto* req, auto* writer, void* tag) {
        async_.RequestFetchWITSVID(ctx, req, writer, cq_, cq_, tag);
      });
  AwaitUnimplemented<WITBundlesRequest, WITBundlesResponse>(
      *this, [this](auto* ctx, auto* req, auto* writer, void* tag) {
        async_.RequestFetchWITBundles(ctx, req, writer, cq_, cq_, tag);
      });
}

class ServerImpl final : public WorkloadApiServer {
 public:
  ServerImpl(IdentityProvider& provider, telemetry::Logger& log)
      : service_(provider, log), log_(log) {}
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
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) return Internal("cannot create a Unix socket");
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, SOMAXCONN) != 0) {
      return FailedPrecondition("cannot listen on " + path + ": " + std::strerror(errno));
    }
    // Every local user may connect; callers are told apart by their kernel credentials.
    ::chmod(path.c_str(), 0666);
    path_ = path;
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.grpc_service());
    builder.SetMaxReceiveMessageSize(kMaxRequestBytes);
    cq_ = builder.AddCompletionQueue();
    server_ = builder.BuildAndStart();
    if (!server_) return Internal("cannot start the gRPC server");
    service_.Serve(cq_.get());
    // One thread on the queue (see Service): a second one costs more CPU per call than it adds.
    cq_thread_ = std::thread([this] {
      void* tag = nullptr;
      bool ok = false;
      while (cq_->Next(&tag, &ok)) Completion::Deliver(tag, ok);
    });
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return OkStatus();
  }

  void Shutdown() override {
    if (stopped_.exchange(true)) return;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    service_.Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    service_.StopWorkers();
    service_.CloseQueue();
    if (cq_thread_.joinable()) cq_thread_.join();
    if (!path_.empty()) ::unlink(path_.c_str());
  }

 private:
  void AcceptLoop() {
    while (!stopped_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (stopped_) return;
        if (errno == EMFILE || errno == ENFILE) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
        return;
      }
      auto peer = PeerProcess::FromSocket(fd);
      if (!peer.ok()) {
        ::close(fd);
        continue;
      }
      service_.peers().Put(fd, std::make_shared<PeerProcess>(std::move(peer).value()));
      grpc::AddInsecureChannelFromFd(server_.get(), fd);
    }
  }

  Service service_;
  telemetry::Logger& log_;
  // Declared before the server: the queue must outlive it.
  std::unique_ptr<grpc::ServerCompletionQueue> cq_;
  std::unique_ptr<grpc::Server> server_;
  std::thread cq_thread_;
  int listen_fd_ = -1;
  std::string path_;
  std::thread accept_thread_;
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

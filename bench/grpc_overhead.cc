// What a unary Workload API call costs the server in gRPC alone, by server model: a server that
// answers FetchJWTSVID and ValidateJWTSVID with fixed replies, for `ward bench jwt-validate
// --server-pid` to drive. This is the experiment behind the agent's choice of gRPC's async API on
// one completion-queue thread (docs/architecture.md, docs/performance.md).
//
//   ward_grpc_overhead callback|async|async2|hybrid|ward SOCKET_PATH
//
// callback: grpc++'s callback API; async: one thread on one completion queue; async2: two
// threads on that queue; hybrid: ValidateJWTSVID on the queue, FetchJWTSVID on the callback API;
// ward: Ward's own server on nghttp2 (src/rpc/), what the agent uses.
#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "rpc/grpc_server.h"
#include "workload.grpc.pb.h"

namespace {

constexpr char kId[] = "spiffe://example.org/overhead";

void FillValidate(ValidateJWTSVIDResponse* out) { out->set_spiffe_id(kId); }
void FillFetch(JWTSVIDResponse* out) {
  JWTSVID* svid = out->add_svids();
  svid->set_spiffe_id(kId);
  svid->set_svid("e30.e30.sig");  // never checked: the server answers every validation alike
}

// Answers a callback-API call at once.
grpc::ServerUnaryReactor* AnswerNow(grpc::CallbackServerContext* ctx) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

class CallbackServer final : public SpiffeWorkloadAPI::CallbackService {
  grpc::ServerUnaryReactor* FetchJWTSVID(grpc::CallbackServerContext* ctx, const JWTSVIDRequest*,
                                         JWTSVIDResponse* out) override {
    FillFetch(out);
    return AnswerNow(ctx);
  }
  grpc::ServerUnaryReactor* ValidateJWTSVID(grpc::CallbackServerContext* ctx,
                                            const ValidateJWTSVIDRequest*,
                                            ValidateJWTSVIDResponse* out) override {
    FillValidate(out);
    return AnswerNow(ctx);
  }
};

// A queue tag that runs its function once (ok: the operation succeeded) and deletes itself.
struct Tag {
  std::function<void(bool)> fn;
  static void* Arm(std::function<void(bool)> fn) {
    return std::make_unique<Tag>(Tag{std::move(fn)}).release();
  }
  static void Deliver(void* tag, bool ok) { std::unique_ptr<Tag>(static_cast<Tag*>(tag))->fn(ok); }
};

template <typename Request, typename Response>
struct UnaryCall {
  grpc::ServerContext ctx;
  Request request;
  Response response;
  grpc::ServerAsyncResponseWriter<Response> responder{&ctx};
};

// Keeps one call of a method requested; each that arrives is answered at once and replaced.
template <typename Request, typename Response, typename Service, typename RequestFn>
void Serve(Service* service, grpc::ServerCompletionQueue* cq, RequestFn request,
           void (*fill)(Response*)) {
  auto call = std::make_shared<UnaryCall<Request, Response>>();
  (service->*request)(&call->ctx, &call->request, &call->responder, cq, cq, Tag::Arm([=](bool ok) {
    if (!ok) return;
    Serve<Request, Response>(service, cq, request, fill);
    fill(&call->response);
    call->responder.Finish(call->response, grpc::Status::OK, Tag::Arm([call](bool) {}));
  }));
}

void Drain(grpc::ServerCompletionQueue* cq) {
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok)) Tag::Deliver(tag, ok);
}

// Every method async except FetchJWTSVID, so no synchronous-server threads are started.
using HybridService =
    SpiffeWorkloadAPI::WithCallbackMethod_FetchJWTSVID<SpiffeWorkloadAPI::AsyncService>;
class HybridServer final : public HybridService {
  grpc::ServerUnaryReactor* FetchJWTSVID(grpc::CallbackServerContext* ctx, const JWTSVIDRequest*,
                                         JWTSVIDResponse* out) override {
    FillFetch(out);
    return AnswerNow(ctx);
  }
};

// The same two answers on rpc::GrpcServer, until the process is killed.
int ServeWard(const char* path) {
  sockaddr_un addr{};
  if (std::strlen(path) >= sizeof addr.sun_path) return 2;
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::strcpy(addr.sun_path, path);
  ::unlink(path);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    std::fprintf(stderr, "cannot listen on %s\n", path);
    return 1;
  }
  ward::rpc::GrpcServerOptions options;
  options.methods.handlers["/SpiffeWorkloadAPI/ValidateJWTSVID"] = [](const auto& call) {
    ValidateJWTSVIDResponse out;
    FillValidate(&out);
    call->Reply(out.SerializeAsString());
  };
  options.methods.handlers["/SpiffeWorkloadAPI/FetchJWTSVID"] = [](const auto& call) {
    JWTSVIDResponse out;
    FillFetch(&out);
    call->Reply(out.SerializeAsString());
  };
  auto server = ward::rpc::GrpcServer::Start(ward::UniqueFd(fd), std::move(options));
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  std::mutex mu;
  std::condition_variable never;
  std::unique_lock<std::mutex> lock(mu);
  never.wait(lock, [] { return false; });
  return 0;
}

}  // namespace

std::unique_ptr<grpc::Server> Start(grpc::ServerBuilder& builder) {
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "cannot start the server (is the socket path free?)\n");
    std::exit(1);
  }
  return server;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s callback|async|async2|hybrid|ward SOCKET_PATH\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[1];
  if (mode == "ward") return ServeWard(argv[2]);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(std::string("unix:") + argv[2], grpc::InsecureServerCredentials());
  if (mode == "callback") {
    CallbackServer service;
    builder.RegisterService(&service);
    Start(builder)->Wait();
  } else if (mode == "async" || mode == "async2") {
    SpiffeWorkloadAPI::AsyncService service;
    builder.RegisterService(&service);
    auto cq = builder.AddCompletionQueue();
    auto server = Start(builder);
    Serve<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>(
        &service, cq.get(), &SpiffeWorkloadAPI::AsyncService::RequestValidateJWTSVID, FillValidate);
    Serve<JWTSVIDRequest, JWTSVIDResponse>(
        &service, cq.get(), &SpiffeWorkloadAPI::AsyncService::RequestFetchJWTSVID, FillFetch);
    std::vector<std::thread> threads;
    for (int i = 0; i < (mode == "async2" ? 2 : 1); ++i) threads.emplace_back(Drain, cq.get());
    for (auto& t : threads) t.join();
  } else if (mode == "hybrid") {
    HybridServer service;
    builder.RegisterService(&service);
    auto cq = builder.AddCompletionQueue();
    auto server = Start(builder);
    Serve<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>(
        &service, cq.get(), &HybridServer::RequestValidateJWTSVID, FillValidate);
    Drain(cq.get());
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  return 0;
}

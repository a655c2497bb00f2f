#include "agent/workload_client.h"

#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "workload.grpc.pb.h"

namespace ward::agent {
namespace {

Status FromGrpc(const grpc::Status& s) {
  static const char* const kNames[] = {
      "OK",       "Cancelled",      "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  const int code = static_cast<int>(s.error_code());
  const std::string name = code >= 0 && code <= 16 ? kNames[code] : "Unknown";
  const std::string message = name + ": " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
      return InvalidArgument(message);
    case grpc::StatusCode::PERMISSION_DENIED:
      return PermissionDenied(message);
    case grpc::StatusCode::NOT_FOUND:
      return NotFound(message);
    case grpc::StatusCode::UNIMPLEMENTED:
      return FailedPrecondition(message);
    default:
      return Status(StatusCode::kUnavailable, message);
  }
}

void Prepare(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.AddMetadata("workload.spiffe.io", "true");
  if (timeout.count() > 0) ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

FetchedX509Context FromProto(const X509SVIDResponse& r) {
  FetchedX509Context out;
  for (const auto& s : r.svids()) {
    FetchedX509Svid svid;
    svid.spiffe_id = s.spiffe_id();
    svid.chain_der = ToBytes(s.x509_svid());
    svid.key_der = SecureBytes(AsBytes(s.x509_svid_key()));
    svid.bundle_der = ToBytes(s.bundle());
    svid.hint = s.hint();
    out.svids.push_back(std::move(svid));
  }
  for (const auto& [td, der] : r.federated_bundles()) out.federated_bundles[td] = ToBytes(der);
  return out;
}

class Client final : public WorkloadClient {
 public:
  explicit Client(const std::string& target)
      : stub_(SpiffeWorkloadAPI::NewStub(
            grpc::CreateChannel(target, grpc::InsecureChannelCredentials()))) {}

  Result<FetchedX509Context> FetchX509(std::chrono::milliseconds timeout) override {
    grpc::ClientContext ctx;
    Prepare(ctx, timeout);
    auto reader = stub_->FetchX509SVID(&ctx, X509SVIDRequest());
    X509SVIDResponse first;
    if (reader->Read(&first)) {
      ctx.TryCancel();
      reader->Finish();
      if (first.svids().empty()) return Internal("the agent sent no SVIDs");
      return FromProto(first);
    }
    return FromGrpc(reader->Finish());
  }

  Status WatchX509(const std::function<bool(const FetchedX509Context&)>& on_update) override {
    grpc::ClientContext ctx;
    Prepare(ctx, std::chrono::milliseconds(0));
    auto reader = stub_->FetchX509SVID(&ctx, X509SVIDRequest());
    X509SVIDResponse message;
    while (reader->Read(&message)) {
      if (!on_update(FromProto(message))) {
        ctx.TryCancel();
        reader->Finish();
        return OkStatus();
      }
    }
    return FromGrpc(reader->Finish());
  }

  Result<std::map<std::string, Bytes>> FetchX509Bundles(
      std::chrono::milliseconds timeout) override {
    grpc::ClientContext ctx;
    Prepare(ctx, timeout);
    auto reader = stub_->FetchX509Bundles(&ctx, X509BundlesRequest());
    X509BundlesResponse first;
    if (reader->Read(&first)) {
      ctx.TryCancel();
      reader->Finish();
      std::map<std::string, Bytes> out;
      for (const auto& [td, der] : first.bundles()) out[td] = ToBytes(der);
      return out;
    }
    return FromGrpc(reader->Finish());
  }

  Result<std::vector<FetchedJwtSvid>> FetchJwt(const std::vector<std::string>& audience,
                                               const std::string& spiffe_id,
                                               std::chrono::milliseconds timeout) override {
    grpc::ClientContext ctx;
    Prepare(ctx, timeout);
    JWTSVIDRequest req;
    for (const auto& a : audience) req.add_audience(a);
    req.set_spiffe_id(spiffe_id);
    JWTSVIDResponse resp;
    const grpc::Status s = stub_->FetchJWTSVID(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s);
    std::vector<FetchedJwtSvid> out;
    for (const auto& svid : resp.svids()) out.push_back({svid.spiffe_id(), svid.svid()});
    if (out.empty()) return Internal("the agent sent no JWT-SVIDs");
    return out;
  }

  Result<std::map<std::string, std::string>> FetchJwtBundles(
      std::chrono::milliseconds timeout) override {
    grpc::ClientContext ctx;
    Prepare(ctx, timeout);
    auto reader = stub_->FetchJWTBundles(&ctx, JWTBundlesRequest());
    JWTBundlesResponse first;
    if (reader->Read(&first)) {
      ctx.TryCancel();
      reader->Finish();
      return std::map<std::string, std::string>(first.bundles().begin(), first.bundles().end());
    }
    return FromGrpc(reader->Finish());
  }

  Result<ValidatedToken> ValidateJwt(const std::string& token, const std::string& audience,
                                     std::chrono::milliseconds timeout) override {
    grpc::ClientContext ctx;
    Prepare(ctx, timeout);
    ValidateJWTSVIDRequest req;
    req.set_svid(token);
    req.set_audience(audience);
    ValidateJWTSVIDResponse resp;
    const grpc::Status s = stub_->ValidateJWTSVID(&ctx, req, &resp);
    if (!s.ok()) return FromGrpc(s);
    ValidatedToken out{resp.spiffe_id(), ""};
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(resp.claims(), &out.claims_json, options);
    return out;
  }

 private:
  std::unique_ptr<SpiffeWorkloadAPI::Stub> stub_;
};

bool IsIpLiteral(const std::string& host, bool* v6) {
  unsigned char buf[16];
  *v6 = false;
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return true;
  *v6 = true;
  return inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Result<std::string> EndpointTarget(std::string_view address) {
  const std::string a(address);
  if (!a.empty() && a[0] == '/') return "unix:" + a;
  const size_t colon = a.find(':');
  if (colon == std::string::npos) {
    return InvalidArgument("workload endpoint \"" + a +
                           "\" is not a URI: use unix:///path/to/socket or tcp://IP:port");
  }
  const std::string scheme = a.substr(0, colon);
  std::string rest = a.substr(colon + 1);
  if (a.find_first_of("?#") != std::string::npos) {
    return InvalidArgument("workload endpoint must not have a query or fragment");
  }
  if (scheme == "unix") {
    // unix:///path (empty authority) or unix:/path; an authority (unix://host/...) is invalid.
    if (rest.rfind("//", 0) == 0) {
      rest = rest.substr(2);
      if (rest.empty() || rest[0] != '/') {
        return InvalidArgument(
            "unix workload endpoint must not have an authority: use unix:///path");
      }
    }
    if (rest.empty() || rest[0] != '/' || rest == "/") {
      return InvalidArgument("unix workload endpoint needs an absolute socket path");
    }
    return "unix:" + rest;
  }
  if (scheme == "tcp") {
    if (rest.rfind("//", 0) != 0)
      return InvalidArgument("tcp workload endpoint must be tcp://IP:port");
    rest = rest.substr(2);
    if (rest.find('@') != std::string::npos) {
      return InvalidArgument("tcp workload endpoint must not have user information");
    }
    if (rest.find('/') != std::string::npos) {
      const size_t slash = rest.find('/');
      if (slash != rest.size() - 1 || slash == 0) {
        return InvalidArgument("tcp workload endpoint must not have a path");
      }
      rest.pop_back();
    }
    std::string host;
    std::string port;
    if (!rest.empty() && rest[0] == '[') {
      const size_t close = rest.find(']');
      if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
        return InvalidArgument("tcp workload endpoint needs a port");
      }
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      const size_t c = rest.rfind(':');
      if (c == std::string::npos) return InvalidArgument("tcp workload endpoint needs a port");
      host = rest.substr(0, c);
      port = rest.substr(c + 1);
    }
    bool v6 = false;
    if (!IsIpLiteral(host, &v6)) {
      return InvalidArgument("tcp workload endpoint host must be an IP address, not \"" + host +
                             "\"");
    }
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535 ||
        std::stoi(port) == 0) {
      return InvalidArgument("tcp workload endpoint port must be 1-65535");
    }
    return v6 ? "ipv6:[" + host + "]:" + port : "ipv4:" + host + ":" + port;
  }
  return InvalidArgument("workload endpoint scheme must be unix or tcp, not \"" + scheme + "\"");
}

Result<std::unique_ptr<WorkloadClient>> WorkloadClient::Create(std::string_view address) {
  WARD_ASSIGN_OR_RETURN(std::string target, EndpointTarget(address));
  return std::unique_ptr<WorkloadClient>(std::make_unique<Client>(target));
}

}  // namespace ward::agent

#include "agent/workload_client.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "agent/endpoint_address.h"
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

}  // namespace

Result<std::unique_ptr<WorkloadClient>> WorkloadClient::Create(std::string_view address) {
  WARD_ASSIGN_OR_RETURN(std::string target, EndpointTarget(address));
  return std::unique_ptr<WorkloadClient>(std::make_unique<Client>(target));
}

}  // namespace ward::agent

#include "server/api_util.h"

#include <chrono>

namespace ward::server {

using nlohmann::json;

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

HttpResponse JsonResponse(const json& body, int status) {
  return {status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

HttpResponse ErrorResponse(const Status& status) {
  return JsonResponse({{"error", status.message()}, {"code", StatusCodeName(status.code())}},
                      HttpStatusFor(status.code()));
}

Result<json> ParseJsonBody(const HttpRequest& r) {
  if (r.body.empty()) return json::object();
  try {
    json body = json::parse(r.body);
    if (!body.is_object()) return InvalidArgument("request body must be a JSON object");
    return body;
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("request body is not valid JSON: ") + e.what());
  }
}

}  // namespace ward::server

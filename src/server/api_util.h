// Shared by the admin and agent APIs: JSON replies, the Status -> HTTP mapping, body parsing.
#ifndef WARD_SERVER_API_UTIL_H_
#define WARD_SERVER_API_UTIL_H_

#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/status.h"
#include "server/http_server.h"

namespace ward::server {

int HttpStatusFor(StatusCode code);
// {"error": "<message>", "code": "<CODE>"} with the matching HTTP status.
HttpResponse ErrorResponse(const Status& status);
HttpResponse JsonResponse(const nlohmann::json& body, int status = 200);
// The request body as a JSON object (an empty body is {}).
Result<nlohmann::json> ParseJsonBody(const HttpRequest& request);

}  // namespace ward::server

#endif  // WARD_SERVER_API_UTIL_H_

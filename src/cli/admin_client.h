// A blocking HTTP/1.1 client for the server's admin Unix socket, used by the admin verbs.
#ifndef WARD_CLI_ADMIN_CLIENT_H_
#define WARD_CLI_ADMIN_CLIENT_H_

#include <string>

#include "core/status.h"

namespace ward::cli {

struct AdminReply {
  int status = 0;
  std::string body;
};

// The admin socket path: `flag` if set, else $WARD_SERVER_SOCKET, else ward-data/admin.sock.
std::string AdminSocketPath(const std::string& flag);

// Sends one request and reads the whole reply. Fails only when the server cannot be reached or
// answers with something that is not HTTP; HTTP error statuses are returned as replies.
Result<AdminReply> AdminCall(const std::string& socket, const std::string& method,
                             const std::string& target, const std::string& body = "");

}  // namespace ward::cli

#endif  // WARD_CLI_ADMIN_CLIENT_H_

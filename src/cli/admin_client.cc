#include "cli/admin_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ward::cli {
namespace {

constexpr size_t kMaxReplyBytes = 64 * 1024 * 1024;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string AdminSocketPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("WARD_SERVER_SOCKET"); env != nullptr && *env != '\0')
    return env;
  return "ward-data/admin.sock";
}

Result<AdminReply> AdminCall(const std::string& socket, const std::string& method,
                             const std::string& target, const std::string& body) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket.size() >= sizeof addr.sun_path)
    return InvalidArgument("socket path is too long: " + socket);
  std::memcpy(addr.sun_path, socket.c_str(), socket.size() + 1);
  Fd conn{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (conn.fd < 0) return Internal("cannot create socket");
  if (::connect(conn.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Status(StatusCode::kUnavailable,
                  "cannot reach the ward server at " + socket + ": " + std::strerror(errno) +
                      " (is it running? pass --socket or set WARD_SERVER_SOCKET)");
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: ward\r\nConnection: close\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  for (size_t off = 0; off < request.size();) {
    const ssize_t n = ::send(conn.fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(StatusCode::kUnavailable, "connection to the ward server failed");
    off += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(conn.fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(StatusCode::kUnavailable, "connection to the ward server failed");
    if (n == 0) break;
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > kMaxReplyBytes)
      return ResourceExhausted("reply from the server is too large");
  }
  // Status line "HTTP/1.1 200 OK", headers, blank line, body (Connection: close delimits it).
  const size_t header_end = reply.find("\r\n\r\n");
  if (reply.compare(0, 9, "HTTP/1.1 ") != 0 || header_end == std::string::npos ||
      reply.size() < 12) {
    return Internal("the server's reply is not HTTP");
  }
  AdminReply out;
  out.status = std::atoi(reply.c_str() + 9);
  out.body = reply.substr(header_end + 4);
  return out;
}

}  // namespace ward::cli

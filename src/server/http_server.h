// A small HTTP/1.1 server (Boost.Beast on Asio, kept out of this header) for Ward's JSON APIs:
// the admin API on a Unix socket, where callers are identified by kernel credentials
// (SO_PEERCRED), and plain HTTP for metrics and health. Bounded: 8 KiB of headers, 4 MiB of body,
// 30 s to send a request. Handlers run on the server's worker threads and must not block long.
#ifndef WARD_SERVER_HTTP_SERVER_H_
#define WARD_SERVER_HTTP_SERVER_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/certificate.h"
#include "core/status.h"

namespace ward::server {

struct HttpRequest {
  std::string method;                        // "GET", "POST", ...
  std::string path;                          // target without the query
  std::map<std::string, std::string> query;  // decoded query parameters
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// What an API layer verified about a TLS peer's certificate chain, kept for the life of the
// connection (its chain cannot change) and shared by all of its requests.
struct PeerVerification {
  std::mutex mu;
  std::string spiffe_id;         // empty until verified
  uint64_t bundle_sequence = 0;  // of the bundle it was verified against
  int64_t valid_until = 0;       // the earliest not_after in the chain
};

struct Peer {
  bool is_unix = false;  // uid/gid/pid are meaningful only for Unix-socket peers
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  std::string address;                 // "unix:<path>" or "ip:port"
  std::vector<Certificate> tls_chain;  // TLS peers: the certificate chain presented, leaf first
  std::string spiffe_id;  // set by an API layer once it has verified tls_chain as an X.509-SVID
  std::shared_ptr<PeerVerification> verification;  // TLS peers: one per connection
};

using HttpHandler = std::function<HttpResponse(const Peer&, const HttpRequest&)>;
// An asynchronous handler calls `reply` exactly once, from any thread, possibly much later (a
// long poll); the connection waits without holding a worker thread.
using HttpReply = std::function<void(HttpResponse)>;
using AsyncHttpHandler = std::function<void(const Peer&, HttpRequest, HttpReply)>;

class TlsServerContext;

class HttpServer {
 public:
  // `threads` event loops, each run by one thread; accepted connections are spread over them in
  // turn and stay on theirs.
  explicit HttpServer(int threads);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Listens on a Unix socket at `path` (a stale socket file is replaced), with file mode `mode`.
  Status ListenUnix(const std::string& path, unsigned mode, HttpHandler handler);
  // Listens on TCP `address:port` (port 0 picks one; see BoundPort).
  Status ListenTcp(const std::string& address, int port, HttpHandler handler);
  int BoundTcpPort() const;
  // Listens with TLS (see tls_context.h) on TCP `address:port`; port 0 picks one.
  Status ListenTls(const std::string& address, int port, TlsServerContext& tls,
                   AsyncHttpHandler handler);
  int BoundTlsPort() const;

  // Runs the event loops until Stop() or SIGINT/SIGTERM. Blocks.
  void Run();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Decodes %XX and '+' in a query component.
std::string UrlDecode(std::string_view text);

}  // namespace ward::server

#endif  // WARD_SERVER_HTTP_SERVER_H_

// A small blocking HTTPS/1.1 client on OpenSSL: TLS 1.3 only with the two AES-GCM suites, an
// optional client certificate, and server verification that is either RFC 6125 host-name
// checking against given roots (https_web) or a caller-supplied check of the presented chain
// (SPIFFE: an X.509-SVID for an expected ID). Bounded replies; chunked transfer decoding.
#ifndef WARD_NET_HTTPS_CLIENT_H_
#define WARD_NET_HTTPS_CLIENT_H_

#include <openssl/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/certificate.h"
#include "core/keys.h"
#include "core/status.h"

namespace ward::net {

struct HttpsUrl {
  std::string host;
  int port = 443;
  std::string path = "/";
  static Result<HttpsUrl> Parse(std::string_view url);  // https only, no userinfo
};

struct HttpsReply {
  int status = 0;
  std::string body;
};

// Lets another thread abort requests: Cancel() shuts down the socket of the request in flight
// (a long poll, say) and makes every later request using it fail at once.
class RequestCanceller {
 public:
  void Cancel();
  bool cancelled() const;

  // Used by HttpsRequest around the life of its socket.
  bool Attach(int fd);
  void Detach(int fd);

 private:
  mutable std::mutex mu_;
  std::vector<int> fds_;
  bool cancelled_ = false;
};

struct HttpsOptions {
  // Exactly one way to trust the server:
  std::vector<Certificate> roots;  // https_web: roots + host name check (empty: the system's)
  // SPIFFE: gets the server's chain (leaf first) and returns OK to accept it.
  std::function<Status(const std::vector<Certificate>&)> verify_chain;

  // Optional client certificate (mTLS).
  std::vector<Certificate> client_chain;
  std::shared_ptr<const PrivateKey> client_key;

  std::shared_ptr<RequestCanceller> canceller;  // optional

  std::chrono::milliseconds timeout{10000};
  size_t max_reply_bytes = 4 * 1024 * 1024;
};

// A connection kept open across requests (HTTP/1.1 keep-alive), opened on the first request and
// reopened when the server has closed it. One request at a time: not thread-safe.
class HttpsConnection {
 public:
  HttpsConnection(HttpsUrl url, HttpsOptions options);
  ~HttpsConnection();
  HttpsConnection(const HttpsConnection&) = delete;
  HttpsConnection& operator=(const HttpsConnection&) = delete;

  Result<HttpsReply> Request(const std::string& method, const std::string& path_and_query,
                             const std::string& body, bool keep_alive = true);
  // How long the next requests may wait on the socket (options.timeout until then).
  void set_timeout(std::chrono::milliseconds timeout);

 private:
  struct Link;
  struct CtxFree {
    void operator()(SSL_CTX* ctx) const;
  };
  Status Open();

  const HttpsUrl url_;
  HttpsOptions options_;
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;
  std::unique_ptr<Link> link_;
};

// One request on a fresh connection.
Result<HttpsReply> HttpsRequest(const HttpsUrl& url, const std::string& method,
                                const std::string& path_and_query, const std::string& body,
                                const HttpsOptions& options);

}  // namespace ward::net

#endif  // WARD_NET_HTTPS_CLIENT_H_

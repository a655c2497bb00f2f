#include "net/https_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ward::net {
namespace {

constexpr const char* kClosedBeforeReply = "connection closed before the reply";
constexpr const char* kCipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  int fd() const { return fd_; }

 private:
  int fd_;
};

void SetSocketTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

Result<int> Connect(const std::string& host, int port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) {
    return Status(StatusCode::kUnavailable, "cannot resolve " + host);
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    // Bounded send/receive so a stalled peer cannot hang the caller.
    SetSocketTimeout(fd, timeout);
    // Requests are written whole; Nagle would hold the last segment for an ACK.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    last_error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) {
    return Status(StatusCode::kUnavailable,
                  "cannot connect to " + host + ":" + service + ": " + last_error);
  }
  return fd;
}

// Reads the HTTP reply: status line, headers, then a Content-Length, chunked, or
// close-delimited body.
Result<HttpsReply> ReadReply(SSL* ssl, size_t max_bytes, bool* reusable) {
  *reusable = false;
  std::string data;
  char buf[16384];
  auto read_more = [&]() -> Result<bool> {
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
      if (data.size() > max_bytes) return ResourceExhausted("reply is larger than the limit");
      return true;
    }
    const int saved_errno = errno;
    const int err = SSL_get_error(ssl, n);
    ossl::DrainErrors();
    if (err == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
      return Status(StatusCode::kUnavailable, "timed out waiting for the reply");
    }
    if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) return false;
    return Status(StatusCode::kUnavailable, "TLS read failed");
  };
  size_t header_end;
  while ((header_end = data.find("\r\n\r\n")) == std::string::npos) {
    WARD_ASSIGN_OR_RETURN(bool more, read_more());
    if (!more) return Status(StatusCode::kUnavailable, kClosedBeforeReply);
    if (data.size() > 64 * 1024) return InvalidArgument("reply headers are too large");
  }
  if (data.compare(0, 5, "HTTP/") != 0 || data.size() < 12)
    return InvalidArgument("reply is not HTTP");
  HttpsReply reply;
  reply.status = std::atoi(data.c_str() + data.find(' ') + 1);
  std::string headers = data.substr(0, header_end);
  for (auto& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::string rest = data.substr(header_end + 4);
  data.clear();
  const bool chunked = headers.find("transfer-encoding: chunked") != std::string::npos;
  const bool server_closes = headers.find("connection: close") != std::string::npos;
  const size_t cl_pos = headers.find("content-length:");
  auto fill = [&](size_t want) -> Result<bool> {
    while (rest.size() < want) {
      WARD_ASSIGN_OR_RETURN(bool more, read_more());
      rest += data;
      data.clear();
      if (!more) return false;
    }
    return true;
  };
  if (chunked) {
    for (;;) {
      size_t line_end;
      while ((line_end = rest.find("\r\n")) == std::string::npos) {
        WARD_ASSIGN_OR_RETURN(bool more, fill(rest.size() + 1));
        if (!more) return InvalidArgument("truncated chunked reply");
      }
      const size_t size = std::strtoul(rest.c_str(), nullptr, 16);
      if (size > max_bytes || reply.body.size() + size > max_bytes) {
        return ResourceExhausted("reply is larger than the limit");
      }
      WARD_ASSIGN_OR_RETURN(bool ok, fill(line_end + 2 + size + 2));
      if (!ok) return InvalidArgument("truncated chunked reply");
      if (size == 0) break;
      reply.body.append(rest, line_end + 2, size);
      rest.erase(0, line_end + 2 + size + 2);
    }
    *reusable = !server_closes;
  } else if (cl_pos != std::string::npos) {
    const size_t length = std::strtoul(headers.c_str() + cl_pos + 15, nullptr, 10);
    if (length > max_bytes) return ResourceExhausted("reply is larger than the limit");
    WARD_ASSIGN_OR_RETURN(bool ok, fill(length));
    if (!ok) return InvalidArgument("truncated reply");
    reply.body = rest.substr(0, length);
    *reusable = !server_closes && rest.size() == length;
  } else {
    WARD_RETURN_IF_ERROR(fill(max_bytes + 1).status());
    reply.body = std::move(rest);
  }
  return reply;
}

}  // namespace

Result<HttpsUrl> HttpsUrl::Parse(std::string_view url) {
  constexpr std::string_view kScheme = "https://";
  if (url.substr(0, kScheme.size()) != kScheme)
    return InvalidArgument("URL must start with https://");
  std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  HttpsUrl out;
  out.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.find('@') != std::string_view::npos)
    return InvalidArgument("URL must not contain userinfo");
  if (authority.empty()) return InvalidArgument("URL has no host");
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    try {
      out.port = std::stoi(std::string(authority.substr(colon + 1)));
    } catch (const std::exception&) {
      return InvalidArgument("URL port is not a number");
    }
    if (out.port <= 0 || out.port > 65535) return InvalidArgument("URL port is out of range");
    authority = authority.substr(0, colon);
  }
  // "[::1]" -> "::1" for resolution and IP matching.
  if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
    authority = authority.substr(1, authority.size() - 2);
  }
  out.host = std::string(authority);
  return out;
}

namespace {

Result<std::unique_ptr<SSL_CTX, SslCtxFree>> MakeContext(const HttpsOptions& options) {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ctx.get(), kCipherSuites) != 1) {
    return Internal("cannot set up TLS: " + ossl::DrainErrors());
  }
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);  // kept-alive connections idle long
  if (!options.verify_chain) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx.get());
    if (options.roots.empty()) SSL_CTX_set_default_verify_paths(ctx.get());
    for (const auto& root : options.roots) X509_STORE_add_cert(store, root.get());
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  } else {
    // The handshake proves the server holds the leaf's key; the chain is judged afterwards, by
    // `verify_chain`, so OpenSSL's own chain verification is not run at all.
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(
        ctx.get(), [](X509_STORE_CTX*, void*) { return 1; }, nullptr);
  }
  if (options.client_key) {
    if (options.client_chain.empty() ||
        SSL_CTX_use_certificate(ctx.get(), options.client_chain[0].get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), options.client_key->get()) != 1) {
      return InvalidArgument("client certificate and key do not match: " + ossl::DrainErrors());
    }
    for (size_t i = 1; i < options.client_chain.size(); ++i) {
      SSL_CTX_add1_chain_cert(ctx.get(), options.client_chain[i].get());
    }
  }
  return ctx;
}

}  // namespace

// One TLS connection: the socket, its canceller attachment, and the session on it.
struct HttpsConnection::Link {
  Socket socket;
  // Declared after `socket`, so the socket is detached before it is closed.
  struct Attachment {
    RequestCanceller* canceller;
    int fd;
    ~Attachment() {
      if (canceller) canceller->Detach(fd);
    }
  } attachment;
  std::unique_ptr<SSL, SslFree> ssl;

  Link(int fd, RequestCanceller* canceller) : socket(fd), attachment{nullptr, fd} {
    if (canceller != nullptr && canceller->Attach(fd)) attachment.canceller = canceller;
  }
};

void HttpsConnection::CtxFree::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

HttpsConnection::HttpsConnection(HttpsUrl url, HttpsOptions options)
    : url_(std::move(url)), options_(std::move(options)) {}

HttpsConnection::~HttpsConnection() = default;

void HttpsConnection::set_timeout(std::chrono::milliseconds timeout) {
  options_.timeout = timeout;
  if (link_) SetSocketTimeout(link_->socket.fd(), timeout);
}

Status HttpsConnection::Open() {
  link_.reset();
  if (!ctx_) {
    WARD_ASSIGN_OR_RETURN(auto ctx, MakeContext(options_));
    ctx_.reset(ctx.release());
  }
  if (options_.canceller && options_.canceller->cancelled()) {
    return Status(StatusCode::kUnavailable, "request cancelled");
  }
  WARD_ASSIGN_OR_RETURN(int fd, Connect(url_.host, url_.port, options_.timeout));
  auto link = std::make_unique<Link>(fd, options_.canceller.get());
  if (options_.canceller && link->attachment.canceller == nullptr) {
    return Status(StatusCode::kUnavailable, "request cancelled");
  }
  link->ssl.reset(SSL_new(ctx_.get()));
  SSL* ssl = link->ssl.get();
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, url_.host.c_str());
  if (!options_.verify_chain) {
    // An IP literal is matched against IP SANs, anything else against DNS names (RFC 6125).
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const bool is_ip = X509_VERIFY_PARAM_set1_ip_asc(param, url_.host.c_str()) == 1;
    ossl::DrainErrors();
    if (!is_ip && X509_VERIFY_PARAM_set1_host(param, url_.host.c_str(), 0) != 1) {
      return InvalidArgument("cannot check host name " + url_.host);
    }
  }
  if (SSL_connect(ssl) != 1) {
    const long verify = SSL_get_verify_result(ssl);
    const std::string detail =
        verify != X509_V_OK ? X509_verify_cert_error_string(verify) : ossl::DrainErrors();
    ossl::DrainErrors();
    return Status(StatusCode::kUnavailable, "TLS handshake with " + url_.host + ":" +
                                                std::to_string(url_.port) + " failed: " + detail);
  }
  if (options_.verify_chain) {
    std::vector<Certificate> chain;
    if (X509* leaf = SSL_get1_peer_certificate(ssl)) chain.emplace_back(ossl::X509Ptr(leaf));
    // On the client side the stack includes the leaf.
    STACK_OF(X509)* presented = SSL_get_peer_cert_chain(ssl);
    for (int i = 1; presented != nullptr && i < sk_X509_num(presented); ++i) {
      X509* c = sk_X509_value(presented, i);
      X509_up_ref(c);
      chain.emplace_back(ossl::X509Ptr(c));
    }
    WARD_RETURN_IF_ERROR(options_.verify_chain(chain).WithContext("server " + url_.host));
  }
  link_ = std::move(link);
  return OkStatus();
}

Result<HttpsReply> HttpsConnection::Request(const std::string& method,
                                            const std::string& path_and_query,
                                            const std::string& body, bool keep_alive) {
  std::string request = method + " " + path_and_query + " HTTP/1.1\r\nHost: " + url_.host +
                        (keep_alive ? "\r\n" : "\r\nConnection: close\r\n") +
                        "Accept: application/json\r\n";
  if (!body.empty() || method == "POST") {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n" + body;
  // A kept connection the server has since closed (it idles them out) fails to send, or closes
  // before any reply byte. The request is then sent again on a new connection: always when it
  // could not be sent, and when it was sent only if repeating it is harmless (GET). A timeout is
  // never retried.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = link_ != nullptr;
    if (!reused) WARD_RETURN_IF_ERROR(Open());
    SSL* ssl = link_->ssl.get();
    if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) <= 0) {
      ossl::DrainErrors();
      link_.reset();
      if (reused) continue;
      return Status(StatusCode::kUnavailable, "cannot send the request to " + url_.host);
    }
    bool reusable = false;
    auto reply = ReadReply(ssl, options_.max_reply_bytes, &reusable);
    if (!reply.ok() || !reusable || !keep_alive) link_.reset();
    if (!reply.ok() && reused && method == "GET" &&
        reply.status().message() == kClosedBeforeReply) {
      continue;
    }
    return reply;
  }
  return Status(StatusCode::kUnavailable, "cannot send the request to " + url_.host);
}

Result<HttpsReply> HttpsRequest(const HttpsUrl& url, const std::string& method,
                                const std::string& path_and_query, const std::string& body,
                                const HttpsOptions& options) {
  HttpsConnection connection(url, options);
  return connection.Request(method, path_and_query, body, /*keep_alive=*/false);
}

void RequestCanceller::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
}

bool RequestCanceller::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

bool RequestCanceller::Attach(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  if (cancelled_) return false;
  fds_.push_back(fd);
  return true;
}

void RequestCanceller::Detach(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
}

}  // namespace ward::net

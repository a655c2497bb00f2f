#include "server/http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "server/tls_context.h"

namespace ward::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::use_awaitable;

constexpr size_t kMaxHeaderBytes = 8 * 1024;
constexpr size_t kMaxBodyBytes = 4 * 1024 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(30);
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);

AsyncHttpHandler Async(HttpHandler handler) {
  return [handler = std::move(handler)](const Peer& peer, HttpRequest request, HttpReply reply) {
    reply(handler(peer, request));
  };
}

// Runs an asynchronous handler and resumes the calling coroutine with its response.
awaitable<HttpResponse> Invoke(const AsyncHttpHandler& handler, const Peer& peer,
                               HttpRequest request) {
  return asio::async_initiate<decltype(use_awaitable), void(HttpResponse)>(
      [&handler, &peer, request = std::move(request)](auto completion) mutable {
        auto shared = std::make_shared<decltype(completion)>(std::move(completion));
        HttpReply reply = [shared](HttpResponse r) { std::move (*shared)(std::move(r)); };
        try {
          handler(peer, std::move(request), reply);
        } catch (const std::exception&) {
          reply({500, "application/json", "{\"error\":\"internal error\"}"});
        }
      },
      use_awaitable);
}

void ParseTarget(std::string_view target, HttpRequest* out) {
  const size_t q = target.find('?');
  out->path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    out->query[UrlDecode(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : UrlDecode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
}

template <typename Stream>
awaitable<void> WriteResponse(Stream& stream, HttpResponse r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "ward");
  res.set(http::field::content_type, r.content_type);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);  // a signing batch's reply is tens of KB: moved, not copied
  res.prepare_payload();
  co_await http::async_write(stream, res, use_awaitable);
}

// Serves requests on one connection until the peer closes it, a request is malformed, or it idles
// past the timeout. Handler exceptions never escape: they become a 500.
template <typename Stream>
awaitable<void> Serve(Stream stream, Peer peer, AsyncHttpHandler handler) {
  beast::flat_buffer buffer;
  try {
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kMaxHeaderBytes);
      parser.body_limit(kMaxBodyBytes);
      beast::get_lowest_layer(stream).expires_after(kRequestTimeout);
      beast::error_code ec;
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec == http::error::end_of_stream || ec == asio::error::eof) break;
      if (ec) {
        const bool too_large = ec == http::error::body_limit || ec == http::error::header_limit;
        HttpResponse err{too_large ? 413 : 400, "application/json",
                         std::string("{\"error\":\"") +
                             (too_large ? "request too large" : "malformed HTTP request") + "\"}"};
        if (ec != beast::error::timeout) co_await WriteResponse(stream, std::move(err), 11, false);
        break;
      }
      beast::get_lowest_layer(stream).expires_never();
      auto& req = parser.get();
      HttpRequest request;
      request.method = std::string(req.method_string());
      ParseTarget(std::string_view(req.target().data(), req.target().size()), &request);
      request.body = std::move(req.body());
      HttpResponse response = co_await Invoke(handler, peer, std::move(request));
      const bool keep_alive = req.keep_alive();
      co_await WriteResponse(stream, std::move(response), req.version(), keep_alive);
      if (!keep_alive) break;
    }
  } catch (const std::exception&) {
    // The connection failed mid-write or was cancelled at shutdown; nothing to report to it.
  }
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::socket_base::shutdown_both, ignored);
}

using UnixStream = beast::basic_stream<asio::local::stream_protocol>;

// Accepts connections until the acceptor is closed, each onto the event loop `pick()` names;
// `serve(socket)` starts serving it there.
template <typename Acceptor, typename PickLoop, typename ServeFn>
awaitable<void> AcceptLoop(Acceptor acceptor, PickLoop pick, ServeFn serve) {
  for (;;) {
    beast::error_code ec;
    auto socket = co_await acceptor.async_accept(asio::any_io_executor(pick()),
                                                 asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) continue;
    if constexpr (std::is_same_v<std::decay_t<decltype(socket)>, asio::ip::tcp::socket>) {
      // Replies are written whole; without this, Nagle and delayed ACKs add tens of ms to
      // request/response exchanges.
      socket.set_option(asio::ip::tcp::no_delay(true), ec);
    }
    serve(std::move(socket));
  }
}

Peer TcpPeer(const asio::ip::tcp::socket& socket) {
  Peer peer;
  beast::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  peer.address =
      ec ? "unknown" : remote.address().to_string() + ":" + std::to_string(remote.port());
  return peer;
}

using UnixSocket = asio::local::stream_protocol::socket;

// The kernel's word on who is calling; without it the connection is not served.
std::optional<Peer> UnixPeer(const UnixSocket& socket, const std::string& path) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (::getsockopt(const_cast<UnixSocket&>(socket).native_handle(), SOL_SOCKET, SO_PEERCRED, &cred,
                   &len) != 0) {
    return std::nullopt;
  }
  Peer peer;
  peer.is_unix = true;
  peer.address = "unix:" + path;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  peer.pid = cred.pid;
  return peer;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// Completes the TLS handshake (bounded in time), records the client's chain, then serves HTTP.
awaitable<void> ServeTls(TlsStream stream, Peer peer, AsyncHttpHandler handler) {
  beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
  beast::error_code ec;
  co_await stream.async_handshake(asio::ssl::stream_base::server,
                                  asio::redirect_error(use_awaitable, ec));
  if (ec) {
    beast::get_lowest_layer(stream).socket().close(ec);
    co_return;
  }
  peer.tls_chain = PeerChain(stream.native_handle());
  peer.verification = std::make_shared<PeerVerification>();
  co_await Serve(std::move(stream), std::move(peer), std::move(handler));
}

}  // namespace

// One event loop per thread, Envoy's worker model: a connection lives on the loop it was accepted
// onto, so its own reads and writes complete on that loop's thread; only a reply made on another
// thread (a long poll answered from the sync hub's thread) crosses over, through the loop's locked
// queue. Two threads sharing one io_context spent about a third of the server's CPU per agent sync
// waking each other (epoll_ctl on the reactor's interrupter, futexes; see docs/architecture.md).
// The price: a slow handler (a signing batch) holds up the other connections of its own loop,
// and, on the first loop, which also runs the acceptors, new connections.
struct HttpServer::Impl {
  explicit Impl(int threads) {
    for (int i = 0; i < std::max(threads, 1); ++i) {
      // A concurrency hint of 1 lets a loop queue the work it posts to itself without locking or
      // waking anyone; other threads may still post to it safely (locking stays on).
      loops.push_back(std::make_unique<asio::io_context>(1));
      guards.emplace_back(loops.back()->get_executor());
    }
    signals = std::make_unique<asio::signal_set>(first(), SIGINT, SIGTERM);
  }
  asio::io_context& first() { return *loops.front(); }
  asio::io_context::executor_type NextLoop() {
    return loops[next.fetch_add(1, std::memory_order_relaxed) % loops.size()]->get_executor();
  }
  void StopAll() {
    for (auto& loop : loops) loop->stop();
  }
  // Accepts on the first loop, handing each connection to the next loop in turn.
  template <typename Acceptor, typename ServeFn>
  void Accept(Acceptor acceptor, ServeFn serve) {
    asio::co_spawn(first(),
                   AcceptLoop(
                       std::move(acceptor), [this] { return NextLoop(); }, std::move(serve)),
                   asio::detached);
  }

  std::vector<std::unique_ptr<asio::io_context>> loops;
  // Keeps a loop running while it has no connection yet.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::atomic<size_t> next{0};
  std::unique_ptr<asio::signal_set> signals;  // on the first loop
  int tcp_port = 0;
  int tls_port = 0;
  std::vector<std::shared_ptr<asio::ssl::context>> ssl_contexts;
};

HttpServer::HttpServer(int threads) : impl_(std::make_unique<Impl>(threads)) {
  impl_->signals->async_wait([this](const beast::error_code& ec, int) {
    if (!ec) impl_->StopAll();
  });
}

HttpServer::~HttpServer() = default;

Status HttpServer::ListenUnix(const std::string& path, unsigned mode, HttpHandler handler) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return FailedPrecondition(path + " exists and is not a socket; refusing to replace it");
    }
    ::unlink(path.c_str());
  }
  try {
    asio::local::stream_protocol::acceptor acceptor(impl_->first(),
                                                    asio::local::stream_protocol::endpoint(path));
    if (::chmod(path.c_str(), mode) != 0) return FailedPrecondition("cannot chmod " + path);
    auto serve = [path, h = Async(std::move(handler))](UnixSocket socket) {
      const std::optional<Peer> peer = UnixPeer(socket, path);
      if (!peer) return;
      auto executor = socket.get_executor();
      asio::co_spawn(executor, Serve(UnixStream(std::move(socket)), *peer, h), asio::detached);
    };
    impl_->Accept(std::move(acceptor), std::move(serve));
  } catch (const std::exception& e) {
    return FailedPrecondition("cannot listen on " + path + ": " + e.what());
  }
  return OkStatus();
}

namespace {

// Binds a TCP acceptor on `address:port`; port 0 picks one.
Result<asio::ip::tcp::acceptor> BindTcp(asio::io_context& io, const std::string& address,
                                        int port) {
  try {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(address),
                                           static_cast<unsigned short>(port));
    return asio::ip::tcp::acceptor(io, endpoint, /*reuse_addr=*/true);
  } catch (const std::exception& e) {
    return FailedPrecondition("cannot listen on " + address + ":" + std::to_string(port) + ": " +
                              e.what());
  }
}

}  // namespace

Status HttpServer::ListenTcp(const std::string& address, int port, HttpHandler handler) {
  WARD_ASSIGN_OR_RETURN(asio::ip::tcp::acceptor acceptor, BindTcp(impl_->first(), address, port));
  impl_->tcp_port = acceptor.local_endpoint().port();
  auto serve = [h = Async(std::move(handler))](asio::ip::tcp::socket socket) {
    const Peer peer = TcpPeer(socket);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, Serve(beast::tcp_stream(std::move(socket)), peer, h), asio::detached);
  };
  impl_->Accept(std::move(acceptor), std::move(serve));
  return OkStatus();
}

int HttpServer::BoundTcpPort() const { return impl_->tcp_port; }

Status HttpServer::ListenTls(const std::string& address, int port, TlsServerContext& tls,
                             AsyncHttpHandler handler) {
  WARD_ASSIGN_OR_RETURN(asio::ip::tcp::acceptor acceptor, BindTcp(impl_->first(), address, port));
  impl_->tls_port = acceptor.local_endpoint().port();
  // asio's context takes ownership of the handle it is given, so give it its own reference.
  SSL_CTX_up_ref(tls.native());
  auto ssl = std::make_shared<asio::ssl::context>(tls.native());
  impl_->ssl_contexts.push_back(ssl);
  auto serve = [ssl, h = std::move(handler)](asio::ip::tcp::socket socket) {
    const Peer peer = TcpPeer(socket);
    auto executor = socket.get_executor();
    asio::co_spawn(executor, ServeTls(TlsStream(std::move(socket), *ssl), peer, h), asio::detached);
  };
  impl_->Accept(std::move(acceptor), std::move(serve));
  return OkStatus();
}

int HttpServer::BoundTlsPort() const { return impl_->tls_port; }

void HttpServer::Run() {
  std::vector<std::thread> pool;
  for (size_t i = 1; i < impl_->loops.size(); ++i) {
    pool.emplace_back([this, i] { impl_->loops[i]->run(); });
  }
  impl_->first().run();
  // The first loop stops on a signal or Stop(); the others stop with it.
  impl_->StopAll();
  for (auto& t : pool) t.join();
}

void HttpServer::Stop() { impl_->StopAll(); }

std::string UrlDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() &&
               std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace ward::server

// The TLS side of the agent API: TLS 1.3 only, with exactly TLS_AES_128_GCM_SHA256 and
// TLS_AES_256_GCM_SHA384. The server's certificate comes from a credential slot that can be
// swapped at any time (rotation needs no restart). A client certificate is requested but not
// required, since first attestation happens without one; the API layer checks a presented chain
// by SPIFFE rules (the TLS handshake has already proven possession of its key).
#ifndef WARD_SERVER_TLS_CONTEXT_H_
#define WARD_SERVER_TLS_CONTEXT_H_

#include <openssl/types.h>

#include <memory>
#include <mutex>
#include <vector>

#include "core/certificate.h"
#include "core/keys.h"
#include "core/status.h"

namespace ward::server {

inline constexpr const char* kTls13CipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384";

struct TlsCredentials {
  std::vector<Certificate> chain;  // leaf first
  std::shared_ptr<const PrivateKey> key;
};

class TlsServerContext {
 public:
  // `request_client_cert` false: no client certificate is asked for at all (the federation
  // bundle endpoint must not require client authentication).
  static Result<std::unique_ptr<TlsServerContext>> Create(bool request_client_cert = true);
  ~TlsServerContext();

  void SetCredentials(std::shared_ptr<const TlsCredentials> credentials);
  std::shared_ptr<const TlsCredentials> credentials() const;
  SSL_CTX* native() const { return ctx_; }

 private:
  explicit TlsServerContext(SSL_CTX* ctx) : ctx_(ctx) {}
  static int SelectCertificate(SSL* ssl, void* arg);

  SSL_CTX* ctx_;
  mutable std::mutex mu_;
  std::shared_ptr<const TlsCredentials> credentials_;
};

// The certificate chain the peer presented on `ssl`, leaf first; empty when it sent none.
std::vector<Certificate> PeerChain(SSL* ssl);

}  // namespace ward::server

#endif  // WARD_SERVER_TLS_CONTEXT_H_

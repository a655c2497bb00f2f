#include "server/tls_context.h"

#include <openssl/ssl.h>

namespace ward::server {

Result<std::unique_ptr<TlsServerContext>> TlsServerContext::Create(bool request_client_cert) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Internal("cannot create TLS context: " + ossl::DrainErrors());
  std::unique_ptr<TlsServerContext> out(new TlsServerContext(ctx));
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTls13CipherSuites) != 1) {
    return Internal("cannot restrict TLS to 1.3 with AES-GCM: " + ossl::DrainErrors());
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  // Agents keep their connections open between syncs; an idle connection then holds no read or
  // write buffer (tens of KB each, across thousands of agents).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Ask for a client certificate, accept the handshake either way: the API decides, by SPIFFE
  // rules (VerifyX509Svid, or the x509pop roots). The handshake still proves the client holds
  // the leaf's key (CertificateVerify); OpenSSL's own chain verification, which would only be
  // overruled, is not run at all.
  if (request_client_cert) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(
        ctx, [](X509_STORE_CTX*, void*) { return 1; }, nullptr);
  }
  SSL_CTX_set_cert_cb(ctx, &TlsServerContext::SelectCertificate, out.get());
  return out;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

void TlsServerContext::SetCredentials(std::shared_ptr<const TlsCredentials> credentials) {
  std::lock_guard<std::mutex> lock(mu_);
  credentials_ = std::move(credentials);
}

std::shared_ptr<const TlsCredentials> TlsServerContext::credentials() const {
  std::lock_guard<std::mutex> lock(mu_);
  return credentials_;
}

int TlsServerContext::SelectCertificate(SSL* ssl, void* arg) {
  auto creds = static_cast<TlsServerContext*>(arg)->credentials();
  if (!creds || creds->chain.empty() || !creds->key) return 0;
  if (SSL_use_certificate(ssl, creds->chain[0].get()) != 1 ||
      SSL_use_PrivateKey(ssl, creds->key->get()) != 1) {
    return 0;
  }
  SSL_clear_chain_certs(ssl);
  for (size_t i = 1; i < creds->chain.size(); ++i) SSL_add1_chain_cert(ssl, creds->chain[i].get());
  return 1;
}

std::vector<Certificate> PeerChain(SSL* ssl) {
  std::vector<Certificate> out;
  X509* leaf = SSL_get1_peer_certificate(ssl);
  if (leaf == nullptr) return out;
  out.emplace_back(ossl::X509Ptr(leaf));
  // On the server side the stack excludes the leaf.
  STACK_OF(X509)* rest = SSL_get_peer_cert_chain(ssl);
  for (int i = 0; rest != nullptr && i < sk_X509_num(rest); ++i) {
    X509* c = sk_X509_value(rest, i);
    if (X509_cmp(c, leaf) == 0) continue;
    X509_up_ref(c);
    out.emplace_back(ossl::X509Ptr(c));
  }
  return out;
}

}  // namespace ward::server

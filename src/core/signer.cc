#include "core/signer.h"

namespace ward {
namespace {

// Idle contexts kept per signer: enough for every thread that signs at once on a busy server;
// a context past this is freed after its signature rather than kept.
constexpr size_t kMaxIdleContexts = 16;

}  // namespace

Result<Bytes> LocalSigner::Sign(JwsAlgorithm alg, ByteView message) const {
  ossl::PkeyCtxPtr ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
      if (it->alg == alg) {
        ctx = std::move(it->ctx);
        idle_.erase(std::next(it).base());
        break;
      }
    }
  }
  if (!ctx) {
    WARD_ASSIGN_OR_RETURN(ctx, PrepareJwsSign(*key_, alg));
  }
  auto sig = JwsSignWith(ctx.get(), *key_, alg, message);
  // A context whose signature failed may hold an error state; it is not reused.
  if (sig.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < kMaxIdleContexts) idle_.push_back({alg, std::move(ctx)});
  }
  return sig;
}

}  // namespace ward

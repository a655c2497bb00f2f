#include "core/signer.h"

namespace ward {

Result<Bytes> LocalSigner::Sign(JwsAlgorithm alg, ByteView message) const {
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return Internal("cannot start signing: out of memory");
  {
    std::lock_guard<std::mutex> lock(mu_);
    const EVP_MD_CTX* model = nullptr;
    for (const auto& [a, prepared] : prepared_) {
      if (a == alg) model = prepared.get();
    }
    if (model == nullptr) {
      WARD_ASSIGN_OR_RETURN(ossl::MdCtxPtr prepared, PrepareJwsSign(*key_, alg));
      model = prepared_.emplace_back(alg, std::move(prepared)).second.get();
    }
    if (EVP_MD_CTX_copy_ex(ctx.get(), model) != 1) {
      return Internal("cannot start signing: " + ossl::DrainErrors());
    }
  }
  return JwsSignWith(ctx.get(), *key_, alg, message);
}

}  // namespace ward

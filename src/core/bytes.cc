#include "core/bytes.h"

#include <openssl/crypto.h>

namespace ward {

void SecureWipe(void* data, size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

}  // namespace ward

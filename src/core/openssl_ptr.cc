#include "core/openssl_ptr.h"

#include <openssl/err.h>

namespace ward::ossl {

std::string DrainErrors() {
  std::string out;
  unsigned long err;
  while ((err = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

}  // namespace ward::ossl

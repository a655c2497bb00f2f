// The `pkcs11` key manager: CA and JWT signing keys are generated inside a PKCS#11 token (an HSM,
// or SoftHSM2 in tests) as non-extractable, sensitive objects, and every signature is made by the
// token. The process holds only object handles and public keys.
#ifndef WARD_CA_PKCS11_KEY_MANAGER_H_
#define WARD_CA_PKCS11_KEY_MANAGER_H_

#include <memory>
#include <string>

#include "ca/key_manager.h"
#include "core/bytes.h"
#include "core/status.h"

namespace ward::ca {

struct Pkcs11Config {
  std::string module_path;  // the token's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
  std::string token_label;  // the token to use, found by its label
  SecureBytes pin;          // the user PIN
};

// Loads the module, finds the token and logs in. Only EC keys (P-256, P-384) are supported.
Result<std::unique_ptr<KeyManager>> NewPkcs11KeyManager(const Pkcs11Config& config);

// Reads a token PIN from `path` (which must not be accessible by group or others; surrounding
// whitespace ignored) or, when `path` is empty, from the environment variable `env_var`.
Result<SecureBytes> LoadPin(const std::string& path, const std::string& env_var);

}  // namespace ward::ca

#endif  // WARD_CA_PKCS11_KEY_MANAGER_H_

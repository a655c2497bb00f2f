// Where the CA's signing keys live. Backends: `memory` (tests, development: keys die with the
// process) and `disk` (each key PKCS#8-encoded and sealed with AES-256-GCM under a key encryption
// key that never touches the disk in the clear). `pkcs11` (HSM, in pkcs11_key_manager.h) keeps the
// keys inside a token. Callers only ever see a Signer, so no backend hands out key material.
#ifndef WARD_CA_KEY_MANAGER_H_
#define WARD_CA_KEY_MANAGER_H_

#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/keys.h"
#include "core/signer.h"
#include "core/status.h"

namespace ward::ca {

// Key IDs name keys in every backend (file names, token labels): 1-128 letters, digits, '-', '_'.
Status CheckKeyId(const std::string& key_id);

class KeyManager {
 public:
  virtual ~KeyManager() = default;
  // Creates a new key named `key_id` (letters, digits, '-', '_'); fails if the name is taken.
  virtual Result<std::shared_ptr<const Signer>> GenerateKey(const std::string& key_id,
                                                            KeyType type) = 0;
  // kNotFound when no such key exists (e.g. a memory backend after a restart).
  virtual Result<std::shared_ptr<const Signer>> GetKey(const std::string& key_id) = 0;
  // Destroys the key; removing an unknown key is not an error.
  virtual Status DeleteKey(const std::string& key_id) = 0;
  virtual std::string_view name() const = 0;
};

std::unique_ptr<KeyManager> NewMemoryKeyManager();

// `dir` holds the sealed keys (created 0700). `kek` is exactly 32 bytes.
Result<std::unique_ptr<KeyManager>> NewDiskKeyManager(const std::string& dir, SecureBytes kek);

// Reads a key encryption key: 64 hex characters (surrounding whitespace ignored) from `path`,
// which must not be readable or writable by group or others; or, when `path` is empty, from the
// environment variable `env_var`.
Result<SecureBytes> LoadKek(const std::string& path, const std::string& env_var);

}  // namespace ward::ca

#endif  // WARD_CA_KEY_MANAGER_H_

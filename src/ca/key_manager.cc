#include "ca/key_manager.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "core/openssl_ptr.h"

namespace ward::ca {
namespace {

constexpr char kMagic[8] = {'W', 'A', 'R', 'D', 'K', 'E', 'Y', '1'};
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

class MemoryKeyManager final : public KeyManager {
 public:
  Result<std::shared_ptr<const Signer>> GenerateKey(const std::string& key_id,
                                                    KeyType type) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(type));
    std::shared_ptr<const Signer> shared =
        std::make_shared<LocalSigner>(std::make_shared<const PrivateKey>(std::move(key)));
    std::lock_guard<std::mutex> lock(mu_);
    if (!keys_.emplace(key_id, shared).second) {
      return Status(StatusCode::kAlreadyExists, "key " + key_id + " already exists");
    }
    return shared;
  }
  Result<std::shared_ptr<const Signer>> GetKey(const std::string& key_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = keys_.find(key_id);
    if (it == keys_.end()) return NotFound("key " + key_id + " not found in memory key manager");
    return it->second;
  }
  Status DeleteKey(const std::string& key_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    keys_.erase(key_id);
    return OkStatus();
  }
  std::string_view name() const override { return "memory"; }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Signer>> keys_;
};

// Seals `plain` with AES-256-GCM; the key ID is authenticated data, so a sealed file renamed to
// another key's name does not open.
Result<Bytes> Seal(const SecureBytes& kek, const std::string& key_id, ByteView plain) {
  Bytes out(kMagic, kMagic + sizeof kMagic);
  unsigned char nonce[kNonceBytes];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return Internal("random generator failed");
  out.insert(out.end(), nonce, nonce + sizeof nonce);
  std::unique_ptr<EVP_CIPHER_CTX, ossl::Deleter<EVP_CIPHER_CTX_free>> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  const size_t header = out.size();
  out.resize(header + plain.size() + kTagBytes);
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, kek.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(key_id.data()),
                        static_cast<int>(key_id.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out.data() + header, &len, plain.data(),
                        static_cast<int>(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + header + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          out.data() + header + plain.size()) != 1) {
    return Internal("AES-256-GCM seal failed: " + ossl::DrainErrors());
  }
  return out;
}

Result<SecureBytes> Unseal(const SecureBytes& kek, const std::string& key_id, ByteView sealed) {
  if (sealed.size() < sizeof kMagic + kNonceBytes + kTagBytes ||
      std::memcmp(sealed.data(), kMagic, sizeof kMagic) != 0) {
    return InvalidArgument("key file " + key_id + " is not a Ward sealed key");
  }
  const uint8_t* nonce = sealed.data() + sizeof kMagic;
  const uint8_t* body = nonce + kNonceBytes;
  const size_t body_len = sealed.size() - sizeof kMagic - kNonceBytes - kTagBytes;
  SecureBytes plain(body_len);
  std::unique_ptr<EVP_CIPHER_CTX, ossl::Deleter<EVP_CIPHER_CTX_free>> ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  Bytes tag(body + body_len, body + body_len + kTagBytes);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, kek.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(key_id.data()),
                        static_cast<int>(key_id.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), plain.data(), &len, body, static_cast<int>(body_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), plain.data() + len, &len) != 1) {
    ossl::DrainErrors();
    return PermissionDenied("key " + key_id +
                            " cannot be decrypted: wrong key encryption key or tampered file");
  }
  return plain;
}

Status WriteFileDurably(const std::string& dir, const std::string& name, ByteView data) {
  const std::string tmp = dir + "/." + name + ".tmp";
  const std::string final_path = dir + "/" + name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return Status(StatusCode::kUnavailable, "cannot write " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return Status(StatusCode::kUnavailable, "cannot write " + tmp + ": " + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), final_path.c_str()) != 0) {
    return Status(StatusCode::kUnavailable,
                  "cannot store " + final_path + ": " + std::strerror(errno));
  }
  // The rename itself must reach the disk before the key is reported as stored.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return OkStatus();
}

class DiskKeyManager final : public KeyManager {
 public:
  DiskKeyManager(std::string dir, SecureBytes kek) : dir_(std::move(dir)), kek_(std::move(kek)) {}

  Result<std::shared_ptr<const Signer>> GenerateKey(const std::string& key_id,
                                                    KeyType type) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    std::lock_guard<std::mutex> lock(mu_);
    const std::string path = dir_ + "/" + key_id + ".key";
    if (::access(path.c_str(), F_OK) == 0) {
      return Status(StatusCode::kAlreadyExists, "key " + key_id + " already exists");
    }
    WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(type));
    WARD_ASSIGN_OR_RETURN(SecureBytes pkcs8, key.ToPkcs8Der());
    WARD_ASSIGN_OR_RETURN(Bytes sealed, Seal(kek_, key_id, pkcs8.view()));
    WARD_RETURN_IF_ERROR(WriteFileDurably(dir_, key_id + ".key", sealed));
    std::shared_ptr<const Signer> shared =
        std::make_shared<LocalSigner>(std::make_shared<const PrivateKey>(std::move(key)));
    cache_[key_id] = shared;
    return shared;
  }

  Result<std::shared_ptr<const Signer>> GetKey(const std::string& key_id) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    std::lock_guard<std::mutex> lock(mu_);
    if (const auto it = cache_.find(key_id); it != cache_.end()) return it->second;
    const std::string path = dir_ + "/" + key_id + ".key";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NotFound("key " + key_id + " not found in " + dir_);
    Bytes sealed;
    unsigned char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 && sealed.size() < 64 * 1024) {
      sealed.insert(sealed.end(), buf, buf + n);
    }
    ::close(fd);
    WARD_ASSIGN_OR_RETURN(SecureBytes pkcs8, Unseal(kek_, key_id, sealed));
    WARD_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromPkcs8Der(pkcs8.view()));
    std::shared_ptr<const Signer> shared =
        std::make_shared<LocalSigner>(std::make_shared<const PrivateKey>(std::move(key)));
    cache_[key_id] = shared;
    return shared;
  }

  Status DeleteKey(const std::string& key_id) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    std::lock_guard<std::mutex> lock(mu_);
    cache_.erase(key_id);
    const std::string path = dir_ + "/" + key_id + ".key";
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Status(StatusCode::kUnavailable,
                    "cannot delete " + path + ": " + std::strerror(errno));
    }
    return OkStatus();
  }

  std::string_view name() const override { return "disk"; }

 private:
  std::mutex mu_;
  std::string dir_;
  SecureBytes kek_;
  std::map<std::string, std::shared_ptr<const Signer>> cache_;
};

Result<SecureBytes> DecodeHexKek(std::string_view text, const std::string& source) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  if (text.size() != 64) {
    return InvalidArgument("key encryption key from " + source +
                           " must be 64 hex characters (32 bytes); generate one with "
                           "`openssl rand -hex 32`");
  }
  SecureBytes kek(32);
  for (size_t i = 0; i < 32; ++i) {
    auto nibble = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      return -1;
    };
    const int hi = nibble(text[2 * i]);
    const int lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return InvalidArgument("key encryption key from " + source + " is not hex");
    }
    kek.data()[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return kek;
}

}  // namespace

Status CheckKeyId(const std::string& key_id) {
  if (key_id.empty() || key_id.size() > 128) return InvalidArgument("key ID must be 1-128 bytes");
  for (char c : key_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return InvalidArgument("key ID may use only letters, digits, '-' and '_'");
  }
  return OkStatus();
}

std::unique_ptr<KeyManager> NewMemoryKeyManager() { return std::make_unique<MemoryKeyManager>(); }

Result<std::unique_ptr<KeyManager>> NewDiskKeyManager(const std::string& dir, SecureBytes kek) {
  if (kek.size() != 32) return InvalidArgument("key encryption key must be 32 bytes");
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return FailedPrecondition("cannot create key directory " + dir + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return FailedPrecondition(dir + " is not a directory");
  }
  if (st.st_mode & 077) {
    return FailedPrecondition("key directory " + dir +
                              " is accessible by group or others; chmod 700 it");
  }
  return std::unique_ptr<KeyManager>(new DiskKeyManager(dir, std::move(kek)));
}

Result<SecureBytes> LoadKek(const std::string& path, const std::string& env_var) {
  if (path.empty()) {
    const char* value = std::getenv(env_var.c_str());
    if (value == nullptr || *value == '\0') {
      return FailedPrecondition("no key encryption key: set " + env_var +
                                " or configure a key encryption key file");
    }
    return DecodeHexKek(value, "$" + env_var);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FailedPrecondition("cannot read key encryption key file " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return FailedPrecondition("key encryption key file " + path +
                              " is accessible by group or others; chmod 600 it");
  }
  char buf[256];
  const ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return FailedPrecondition("cannot read key encryption key file " + path);
  auto kek = DecodeHexKek(std::string_view(buf, static_cast<size_t>(n)), path);
  SecureWipe(buf, sizeof buf);
  return kek;
}

}  // namespace ward::ca

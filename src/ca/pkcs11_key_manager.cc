#include "ca/pkcs11_key_manager.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <p11-kit-1/p11-kit/pkcs11.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/internal/der.h"
#include "core/openssl_ptr.h"

namespace ward::ca {
namespace {

std::string RvName(CK_RV rv) {
  switch (rv) {
    case CKR_OK:
      return "CKR_OK";
    case CKR_PIN_INCORRECT:
      return "CKR_PIN_INCORRECT (wrong PIN)";
    case CKR_PIN_LOCKED:
      return "CKR_PIN_LOCKED";
    case CKR_PIN_LEN_RANGE:
      return "CKR_PIN_LEN_RANGE";
    case CKR_USER_PIN_NOT_INITIALIZED:
      return "CKR_USER_PIN_NOT_INITIALIZED";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID";
    case CKR_KEY_HANDLE_INVALID:
      return "CKR_KEY_HANDLE_INVALID";
    case CKR_OBJECT_HANDLE_INVALID:
      return "CKR_OBJECT_HANDLE_INVALID";
    case CKR_SESSION_HANDLE_INVALID:
      return "CKR_SESSION_HANDLE_INVALID";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_DEVICE_MEMORY:
      return "CKR_DEVICE_MEMORY";
    case CKR_DEVICE_REMOVED:
      return "CKR_DEVICE_REMOVED";
    case CKR_GENERAL_ERROR:
      return "CKR_GENERAL_ERROR";
    case CKR_TEMPLATE_INCONSISTENT:
      return "CKR_TEMPLATE_INCONSISTENT";
    case CKR_ATTRIBUTE_VALUE_INVALID:
      return "CKR_ATTRIBUTE_VALUE_INVALID";
    case CKR_USER_NOT_LOGGED_IN:
      return "CKR_USER_NOT_LOGGED_IN";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "CKR 0x%lx", static_cast<unsigned long>(rv));
      return buf;
    }
  }
}

Status Pkcs11Error(const std::string& what, CK_RV rv) {
  const StatusCode code = rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED
                              ? StatusCode::kPermissionDenied
                              : StatusCode::kUnavailable;
  return Status(code, "PKCS#11 " + what + " failed: " + RvName(rv));
}

// DER OIDs of the named curves and the EC public key algorithm.
constexpr uint8_t kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
constexpr uint8_t kP384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
constexpr uint8_t kEcPublicKey[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};

// One loaded module with one logged-in session. PKCS#11 sessions are not safe for concurrent
// operations, so every call holds `mu`.
class Token {
 public:
  Token() = default;
  Token(const Token&) = delete;
  Token& operator=(const Token&) = delete;
  ~Token() {
    if (fl_ != nullptr) {
      if (session_ != CK_INVALID_HANDLE) {
        fl_->C_Logout(session_);
        fl_->C_CloseSession(session_);
      }
      if (initialized_here_) fl_->C_Finalize(nullptr);
    }
    if (module_ != nullptr) dlclose(module_);
  }

  Status Open(const Pkcs11Config& config) {
    module_ = dlopen(config.module_path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (module_ == nullptr) {
      return FailedPrecondition("cannot load PKCS#11 module " + config.module_path + ": " +
                                dlerror());
    }
    auto get_list = reinterpret_cast<CK_C_GetFunctionList>(dlsym(module_, "C_GetFunctionList"));
    if (get_list == nullptr) {
      return FailedPrecondition(config.module_path + " is not a PKCS#11 module");
    }
    CK_FUNCTION_LIST_PTR list = nullptr;
    if (CK_RV rv = get_list(&list); rv != CKR_OK || list == nullptr) {
      return Pkcs11Error("C_GetFunctionList", rv);
    }
    fl_ = list;
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    const CK_RV init = fl_->C_Initialize(&args);
    if (init != CKR_OK && init != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      return Pkcs11Error("C_Initialize", init);
    }
    initialized_here_ = init == CKR_OK;
    WARD_ASSIGN_OR_RETURN(CK_SLOT_ID slot, FindSlot(config.token_label));
    if (CK_RV rv = fl_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                      &session_);
        rv != CKR_OK) {
      session_ = CK_INVALID_HANDLE;
      return Pkcs11Error("C_OpenSession on token \"" + config.token_label + "\"", rv);
    }
    std::vector<CK_UTF8CHAR> pin(config.pin.data(), config.pin.data() + config.pin.size());
    const CK_RV login =
        fl_->C_Login(session_, CKU_USER, pin.data(), static_cast<CK_ULONG>(pin.size()));
    SecureWipe(pin.data(), pin.size());
    if (login != CKR_OK && login != CKR_USER_ALREADY_LOGGED_IN) {
      return Pkcs11Error("login to token \"" + config.token_label + "\"", login);
    }
    return OkStatus();
  }

  CK_FUNCTION_LIST_PTR fl() const { return fl_; }
  CK_SESSION_HANDLE session() const { return session_; }
  std::mutex& mu() { return mu_; }

  // The object of `cls` labelled `label`; CK_INVALID_HANDLE when there is none.
  Result<CK_OBJECT_HANDLE> Find(CK_OBJECT_CLASS cls, const std::string& label) {
    CK_ATTRIBUTE query[] = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_LABEL, const_cast<char*>(label.data()), static_cast<CK_ULONG>(label.size())}};
    if (CK_RV rv = fl_->C_FindObjectsInit(session_, query, 2); rv != CKR_OK) {
      return Pkcs11Error("C_FindObjectsInit", rv);
    }
    CK_OBJECT_HANDLE found[2];
    CK_ULONG count = 0;
    const CK_RV rv = fl_->C_FindObjects(session_, found, 2, &count);
    fl_->C_FindObjectsFinal(session_);
    if (rv != CKR_OK) return Pkcs11Error("C_FindObjects", rv);
    if (count > 1) {
      return FailedPrecondition("the token holds several objects labelled " + label);
    }
    return count == 0 ? CK_INVALID_HANDLE : found[0];
  }

  Result<Bytes> Attribute(CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_ATTRIBUTE attr = {type, nullptr, 0};
    if (CK_RV rv = fl_->C_GetAttributeValue(session_, object, &attr, 1); rv != CKR_OK) {
      return Pkcs11Error("C_GetAttributeValue", rv);
    }
    if (attr.ulValueLen == CK_UNAVAILABLE_INFORMATION || attr.ulValueLen > 4096) {
      return Status(StatusCode::kUnavailable, "PKCS#11 attribute is unavailable");
    }
    Bytes value(attr.ulValueLen);
    attr.pValue = value.data();
    if (CK_RV rv = fl_->C_GetAttributeValue(session_, object, &attr, 1); rv != CKR_OK) {
      return Pkcs11Error("C_GetAttributeValue", rv);
    }
    value.resize(attr.ulValueLen);
    return value;
  }

 private:
  Result<CK_SLOT_ID> FindSlot(const std::string& label) {
    CK_ULONG count = 0;
    if (CK_RV rv = fl_->C_GetSlotList(CK_TRUE, nullptr, &count); rv != CKR_OK) {
      return Pkcs11Error("C_GetSlotList", rv);
    }
    std::vector<CK_SLOT_ID> slots(count);
    if (CK_RV rv = fl_->C_GetSlotList(CK_TRUE, slots.data(), &count); rv != CKR_OK) {
      return Pkcs11Error("C_GetSlotList", rv);
    }
    slots.resize(count);
    std::vector<std::string> seen;
    for (CK_SLOT_ID slot : slots) {
      CK_TOKEN_INFO info{};
      if (fl_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
      std::string name(reinterpret_cast<const char*>(info.label), sizeof info.label);
      while (!name.empty() && name.back() == ' ') name.pop_back();
      if ((info.flags & CKF_TOKEN_INITIALIZED) == 0) continue;
      if (name == label) return slot;
      seen.push_back("\"" + name + "\"");
    }
    std::string list;
    for (const auto& s : seen) list += (list.empty() ? "" : ", ") + s;
    return NotFound("no initialized PKCS#11 token labelled \"" + label +
                    "\" (tokens present: " + (list.empty() ? "none" : list) + ")");
  }

  void* module_ = nullptr;
  CK_FUNCTION_LIST_PTR fl_ = nullptr;
  bool initialized_here_ = false;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  std::mutex mu_;
};

// An EC key in the token: ECDSA over a digest computed here, signature raw r||s from the token.
class Pkcs11Signer final : public Signer {
 public:
  Pkcs11Signer(std::shared_ptr<Token> token, CK_OBJECT_HANDLE private_key, PublicKey public_key)
      : token_(std::move(token)),
        private_key_(private_key),
        public_key_(std::move(public_key)),
        info_(public_key_.info()) {}

  PublicKey public_key() const override { return public_key_; }
  KeyInfo key_info() const override { return info_; }

  Result<Bytes> Sign(JwsAlgorithm alg, ByteView message) const override {
    WARD_RETURN_IF_ERROR(CheckKeyMatchesAlgorithm(info_, alg));
    const EVP_MD* md = alg == JwsAlgorithm::kEs384 ? EVP_sha384() : EVP_sha256();
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len = 0;
    if (EVP_Digest(message.data(), message.size(), digest, &digest_len, md, nullptr) != 1) {
      return Internal("digest failed: " + ossl::DrainErrors());
    }
    CK_MECHANISM mechanism = {CKM_ECDSA, nullptr, 0};
    std::lock_guard<std::mutex> lock(token_->mu());
    CK_FUNCTION_LIST_PTR fl = token_->fl();
    if (CK_RV rv = fl->C_SignInit(token_->session(), &mechanism, private_key_); rv != CKR_OK) {
      return Pkcs11Error("C_SignInit", rv);
    }
    Bytes sig(2 * 66);
    CK_ULONG len = static_cast<CK_ULONG>(sig.size());
    if (CK_RV rv = fl->C_Sign(token_->session(), digest, digest_len, sig.data(), &len);
        rv != CKR_OK) {
      return Pkcs11Error("C_Sign", rv);
    }
    sig.resize(len);
    return sig;
  }

 private:
  std::shared_ptr<Token> token_;
  CK_OBJECT_HANDLE private_key_;
  PublicKey public_key_;
  KeyInfo info_;
};

// SubjectPublicKeyInfo from the token's CKA_EC_PARAMS and CKA_EC_POINT.
Result<PublicKey> EcPublicKey(ByteView params, ByteView point_attr) {
  // CKA_EC_POINT is a DER OCTET STRING holding the point; a few tokens return the bare point.
  ByteView point = point_attr;
  if (!point_attr.empty() && point_attr[0] == der::kOctetString) {
    ByteView in = point_attr;
    WARD_ASSIGN_OR_RETURN(der::Element e, der::Read(in));
    if (in.empty()) point = e.content;
  }
  Bytes algorithm;
  der::Append(algorithm, kEcPublicKey);
  der::Append(algorithm, params);
  Bytes bits = {0};
  der::Append(bits, point);
  Bytes body;
  der::AppendTlv(body, der::kSequence, algorithm);
  der::AppendTlv(body, der::kBitString, bits);
  auto key = PublicKey::FromSpkiDer(der::Tlv(der::kSequence, body));
  if (!key.ok()) return key.status().WithContext("public key read from the token");
  return key;
}

class Pkcs11KeyManager final : public KeyManager {
 public:
  explicit Pkcs11KeyManager(std::shared_ptr<Token> token) : token_(std::move(token)) {}

  Result<std::shared_ptr<const Signer>> GenerateKey(const std::string& key_id,
                                                    KeyType type) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    ByteView params;
    if (type == KeyType::kEcP256) {
      params = kP256;
    } else if (type == KeyType::kEcP384) {
      params = kP384;
    } else {
      return InvalidArgument("the pkcs11 key manager supports ec-p256 and ec-p384 keys, not " +
                             std::string(KeyTypeName(type)));
    }
    std::lock_guard<std::mutex> lock(token_->mu());
    WARD_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE existing, token_->Find(CKO_PRIVATE_KEY, key_id));
    if (existing != CK_INVALID_HANDLE) {
      return Status(StatusCode::kAlreadyExists, "key " + key_id + " already exists in the token");
    }
    CK_BBOOL yes = CK_TRUE;
    CK_BBOOL no = CK_FALSE;
    CK_KEY_TYPE ec = CKK_EC;
    CK_OBJECT_CLASS public_class = CKO_PUBLIC_KEY;
    CK_OBJECT_CLASS private_class = CKO_PRIVATE_KEY;
    void* label = const_cast<char*>(key_id.data());
    const auto label_len = static_cast<CK_ULONG>(key_id.size());
    CK_ATTRIBUTE public_template[] = {
        {CKA_CLASS, &public_class, sizeof public_class},
        {CKA_KEY_TYPE, &ec, sizeof ec},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_EC_PARAMS, const_cast<uint8_t*>(params.data()), static_cast<CK_ULONG>(params.size())},
        {CKA_LABEL, label, label_len},
        {CKA_ID, label, label_len},
    };
    CK_ATTRIBUTE private_template[] = {
        {CKA_CLASS, &private_class, sizeof private_class},
        {CKA_KEY_TYPE, &ec, sizeof ec},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_LABEL, label, label_len},
        {CKA_ID, label, label_len},
    };
    CK_MECHANISM mechanism = {CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_OBJECT_HANDLE public_key = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE private_key = CK_INVALID_HANDLE;
    if (CK_RV rv = token_->fl()->C_GenerateKeyPair(
            token_->session(), &mechanism, public_template, std::size(public_template),
            private_template, std::size(private_template), &public_key, &private_key);
        rv != CKR_OK) {
      return Pkcs11Error("C_GenerateKeyPair", rv);
    }
    return SignerFor(private_key, public_key);
  }

  Result<std::shared_ptr<const Signer>> GetKey(const std::string& key_id) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    std::lock_guard<std::mutex> lock(token_->mu());
    WARD_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE private_key, token_->Find(CKO_PRIVATE_KEY, key_id));
    WARD_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE public_key, token_->Find(CKO_PUBLIC_KEY, key_id));
    if (private_key == CK_INVALID_HANDLE || public_key == CK_INVALID_HANDLE) {
      return NotFound("key " + key_id + " not found in the token");
    }
    return SignerFor(private_key, public_key);
  }

  Status DeleteKey(const std::string& key_id) override {
    WARD_RETURN_IF_ERROR(CheckKeyId(key_id));
    std::lock_guard<std::mutex> lock(token_->mu());
    for (CK_OBJECT_CLASS cls : {CKO_PRIVATE_KEY, CKO_PUBLIC_KEY}) {
      WARD_ASSIGN_OR_RETURN(CK_OBJECT_HANDLE object, token_->Find(cls, key_id));
      if (object == CK_INVALID_HANDLE) continue;
      if (CK_RV rv = token_->fl()->C_DestroyObject(token_->session(), object); rv != CKR_OK) {
        return Pkcs11Error("C_DestroyObject", rv);
      }
    }
    return OkStatus();
  }

  std::string_view name() const override { return "pkcs11"; }

 private:
  // Caller holds the token's lock.
  Result<std::shared_ptr<const Signer>> SignerFor(CK_OBJECT_HANDLE private_key,
                                                  CK_OBJECT_HANDLE public_key) {
    WARD_ASSIGN_OR_RETURN(Bytes params, token_->Attribute(public_key, CKA_EC_PARAMS));
    WARD_ASSIGN_OR_RETURN(Bytes point, token_->Attribute(public_key, CKA_EC_POINT));
    WARD_ASSIGN_OR_RETURN(PublicKey pub, EcPublicKey(params, point));
    return std::shared_ptr<const Signer>(
        std::make_shared<Pkcs11Signer>(token_, private_key, std::move(pub)));
  }

  std::shared_ptr<Token> token_;
};

}  // namespace

Result<std::unique_ptr<KeyManager>> NewPkcs11KeyManager(const Pkcs11Config& config) {
  if (config.module_path.empty()) return InvalidArgument("no PKCS#11 module path given");
  if (config.token_label.empty()) return InvalidArgument("no PKCS#11 token label given");
  if (config.pin.size() == 0) return InvalidArgument("no PKCS#11 PIN given");
  auto token = std::make_shared<Token>();
  WARD_RETURN_IF_ERROR(token->Open(config));
  return std::unique_ptr<KeyManager>(std::make_unique<Pkcs11KeyManager>(std::move(token)));
}

Result<SecureBytes> LoadPin(const std::string& path, const std::string& env_var) {
  std::string text;
  if (path.empty()) {
    const char* value = std::getenv(env_var.c_str());
    if (value == nullptr || *value == '\0') {
      return FailedPrecondition("no PKCS#11 PIN: set " + env_var + " or give a PIN file");
    }
    text = value;
  } else {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FailedPrecondition("cannot read PIN file " + path);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
      ::close(fd);
      return FailedPrecondition("PIN file " + path +
                                " is accessible by group or others; chmod 600 it");
    }
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    if (n < 0) return FailedPrecondition("cannot read PIN file " + path);
    text.assign(buf, static_cast<size_t>(n));
    SecureWipe(buf, sizeof buf);
  }
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  SecureBytes pin(AsBytes(std::string_view(text).substr(begin, end - begin)));
  SecureWipe(text.data(), text.size());
  if (pin.size() == 0) return InvalidArgument("the PKCS#11 PIN is empty");
  return pin;
}

}  // namespace ward::ca

// Byte buffers. SecureBytes wipes its contents when destroyed or resized, for key material.
#ifndef WARD_CORE_BYTES_H_
#define WARD_CORE_BYTES_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ward {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// Overwrites memory in a way the compiler may not elide.
void SecureWipe(void* data, size_t size);

inline ByteView AsBytes(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline std::string_view AsString(ByteView b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

// Owns secret bytes; move-only so secrets are never silently duplicated.
class SecureBytes {
 public:
  SecureBytes() = default;
  explicit SecureBytes(ByteView data) : data_(data.begin(), data.end()) {}
  explicit SecureBytes(size_t size) : data_(size) {}
  SecureBytes(SecureBytes&& other) noexcept : data_(std::move(other.data_)) {}
  SecureBytes& operator=(SecureBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      data_ = std::move(other.data_);
    }
    return *this;
  }
  SecureBytes(const SecureBytes&) = delete;
  SecureBytes& operator=(const SecureBytes&) = delete;
  ~SecureBytes() { Wipe(); }

  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  ByteView view() const { return ByteView(data_); }
  std::string_view str() const { return AsString(view()); }

 private:
  void Wipe() { SecureWipe(data_.data(), data_.size()); }
  std::vector<uint8_t> data_;
};

}  // namespace ward

#endif  // WARD_CORE_BYTES_H_

#include "core/random.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <atomic>
#include <cstring>

namespace ward {
namespace {

constexpr size_t kBufferBytes = 4096;

// Bumped in a child after fork; a buffer filled under another generation is thrown away, so a
// parent and child never hand out the same bytes.
std::atomic<uint64_t> fork_generation{1};

void OnForkChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

struct ThreadBuffer {
  uint8_t bytes[kBufferBytes];
  size_t used = kBufferBytes;
  uint64_t generation = 0;
};

}  // namespace

Status FillRandomValue(uint8_t* out, size_t n) {
  static const int registered = pthread_atfork(nullptr, nullptr, OnForkChild);
  (void)registered;
  if (n > kBufferBytes / 4) {
    if (RAND_bytes(out, static_cast<int>(n)) != 1) return Internal("random generator failed");
    return OkStatus();
  }
  thread_local ThreadBuffer buffer;
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.generation != generation || kBufferBytes - buffer.used < n) {
    if (RAND_bytes(buffer.bytes, kBufferBytes) != 1) return Internal("random generator failed");
    buffer.used = 0;
    buffer.generation = generation;
  }
  std::memcpy(out, buffer.bytes + buffer.used, n);
  // Handed-out bytes are cleared, so no value can be handed out twice or read back later.
  std::memset(buffer.bytes + buffer.used, 0, n);
  buffer.used += n;
  return OkStatus();
}

}  // namespace ward

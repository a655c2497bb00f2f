// Random values that must be unpredictable and unique but are not keys: certificate serial
// numbers and JWT IDs. They come from OpenSSL's DRBG through a per-thread buffer, because every
// RAND_bytes call pays a getpid() system call (OpenSSL's fork check) and a DRBG round, together
// about a microsecond here, on a path that is otherwise a single signature.
//
// Keys, nonces and secrets (join tokens) must not use this: they call RAND_bytes or
// RAND_priv_bytes directly, so no secret material waits in a buffer.
#ifndef WARD_CORE_RANDOM_H_
#define WARD_CORE_RANDOM_H_

#include <cstddef>
#include <cstdint>

#include "core/status.h"

namespace ward {

// Fills `out[0..n)`. A child process never sees its parent's buffered bytes: the buffers are
// dropped at fork.
Status FillRandomValue(uint8_t* out, size_t n);

}  // namespace ward

#endif  // WARD_CORE_RANDOM_H_

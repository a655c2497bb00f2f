// An invariant check for fuzz targets that aborts (so libFuzzer records a crash) when broken.
#ifndef WARD_FUZZ_FUZZ_CHECK_H_
#define WARD_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

#endif  // WARD_FUZZ_FUZZ_CHECK_H_

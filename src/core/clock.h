// Wall-clock time as Unix seconds, and its one text form (RFC 3339, UTC, whole seconds).
#ifndef WARD_CORE_CLOCK_H_
#define WARD_CORE_CLOCK_H_

#include <cstdint>
#include <string>

namespace ward {

using UnixSeconds = int64_t;

UnixSeconds UnixNow();
// "2026-11-22T08:30:00Z".
std::string FormatUtc(UnixSeconds t);

}  // namespace ward

#endif  // WARD_CORE_CLOCK_H_

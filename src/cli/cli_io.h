// Small helpers shared by CLI verbs: exit codes from the CLI contract, bounded file reads, clock.
#ifndef WARD_CLI_CLI_IO_H_
#define WARD_CLI_CLI_IO_H_

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/certificate.h"
#include "core/status.h"

namespace ward::cli {

// DESIGN.md's contract: 0 success, 1 the thing checked is invalid or refused, 2 usage error.
enum ExitCode : int { kExitOk = 0, kExitInvalid = 1, kExitUsage = 2 };

// Reads a whole file ("-" is standard input), refusing anything over `max_bytes`.
Result<std::string> ReadInput(const std::string& path, size_t max_bytes);

// Writes `data` to `path` through a temporary file created with `mode` (so a key is never
// readable by others, not even briefly) and renamed into place.
Status WriteFile(const std::string& path, std::string_view data, mode_t mode);

// Prints "ward: <message>" on stderr and returns `code`.
int Fail(int code, const std::string& message);

}  // namespace ward::cli

#endif  // WARD_CLI_CLI_IO_H_

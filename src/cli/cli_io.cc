#include "cli/cli_io.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

namespace ward::cli {

Result<std::string> ReadInput(const std::string& path, size_t max_bytes) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return NotFound("cannot read " + path + ": no such file or not readable");
    in = &file;
  }
  std::string data;
  char buf[64 * 1024];
  while (in->read(buf, sizeof buf) || in->gcount() > 0) {
    data.append(buf, static_cast<size_t>(in->gcount()));
    if (data.size() > max_bytes) {
      return ResourceExhausted(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  if (in->bad()) return Internal("error while reading " + path);
  return data;
}

int Fail(int code, const std::string& message) {
  std::cerr << "ward: " << message << "\n";
  return code;
}

}  // namespace ward::cli

#include "cli/cli_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
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

Status WriteFile(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return Internal("cannot write " + tmp + ": " + std::strerror(errno));
    const ssize_t n = ::write(fd, data.data(), data.size());
    ::close(fd);
    if (n != static_cast<ssize_t>(data.size())) return Internal("cannot write " + tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return Internal("cannot write " + path);
  return OkStatus();
}

}  // namespace ward::cli

#include "agent/endpoint_address.h"

#include <arpa/inet.h>

namespace ward::agent {
namespace {

bool IsIpLiteral(const std::string& host, bool* v6) {
  unsigned char buf[16];
  *v6 = false;
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return true;
  *v6 = true;
  return inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Result<std::string> EndpointTarget(std::string_view address) {
  const std::string a(address);
  if (!a.empty() && a[0] == '/') return "unix:" + a;
  const size_t colon = a.find(':');
  if (colon == std::string::npos) {
    return InvalidArgument("workload endpoint \"" + a +
                           "\" is not a URI: use unix:///path/to/socket or tcp://IP:port");
  }
  const std::string scheme = a.substr(0, colon);
  std::string rest = a.substr(colon + 1);
  if (a.find_first_of("?#") != std::string::npos) {
    return InvalidArgument("workload endpoint must not have a query or fragment");
  }
  if (scheme == "unix") {
    // unix:///path (empty authority) or unix:/path; an authority (unix://host/...) is invalid.
    if (rest.rfind("//", 0) == 0) {
      rest = rest.substr(2);
      if (rest.empty() || rest[0] != '/') {
        return InvalidArgument(
            "unix workload endpoint must not have an authority: use unix:///path");
      }
    }
    if (rest.empty() || rest[0] != '/' || rest == "/") {
      return InvalidArgument("unix workload endpoint needs an absolute socket path");
    }
    return "unix:" + rest;
  }
  if (scheme == "tcp") {
    if (rest.rfind("//", 0) != 0)
      return InvalidArgument("tcp workload endpoint must be tcp://IP:port");
    rest = rest.substr(2);
    if (rest.find('@') != std::string::npos) {
      return InvalidArgument("tcp workload endpoint must not have user information");
    }
    if (rest.find('/') != std::string::npos) {
      const size_t slash = rest.find('/');
      if (slash != rest.size() - 1 || slash == 0) {
        return InvalidArgument("tcp workload endpoint must not have a path");
      }
      rest.pop_back();
    }
    std::string host;
    std::string port;
    if (!rest.empty() && rest[0] == '[') {
      const size_t close = rest.find(']');
      if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
        return InvalidArgument("tcp workload endpoint needs a port");
      }
      host = rest.substr(1, close - 1);
      port = rest.substr(close + 2);
    } else {
      const size_t c = rest.rfind(':');
      if (c == std::string::npos) return InvalidArgument("tcp workload endpoint needs a port");
      host = rest.substr(0, c);
      port = rest.substr(c + 1);
    }
    bool v6 = false;
    if (!IsIpLiteral(host, &v6)) {
      return InvalidArgument("tcp workload endpoint host must be an IP address, not \"" + host +
                             "\"");
    }
    if (port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535 ||
        std::stoi(port) == 0) {
      return InvalidArgument("tcp workload endpoint port must be 1-65535");
    }
    return v6 ? "ipv6:[" + host + "]:" + port : "ipv4:" + host + ":" + port;
  }
  return InvalidArgument("workload endpoint scheme must be unix or tcp, not \"" + scheme + "\"");
}

}  // namespace ward::agent

// Loads an upstream CA given as files, for running Ward's CA as an intermediate.
#ifndef WARD_CA_UPSTREAM_H_
#define WARD_CA_UPSTREAM_H_

#include <string>

#include "ca/authority.h"
#include "core/clock.h"
#include "core/status.h"

namespace ward::ca {

// `cert_path`: PEM, the upstream CA certificate that will sign Ward's CA certificates first, then
// any certificates up to its root. `key_path`: that certificate's private key (PEM; the file must
// not be accessible by group or others). `bundle_path`: PEM trust anchors to publish; when empty,
// the self-signed certificates of `cert_path` are the anchors. The upstream certificate must be a
// CA, match the key, and chain to an anchor at `now`.
Result<UpstreamCa> LoadUpstreamCa(const std::string& cert_path, const std::string& key_path,
                                  const std::string& bundle_path, UnixSeconds now);

}  // namespace ward::ca

#endif  // WARD_CA_UPSTREAM_H_

// Validation of "host:port" addresses, shared by the config parser and the
// CLI (`tidings keygen --endpoint`). Header-only so that it needs no build
// target of its own.
//
// Thread-safety: a pure function.
#ifndef TIDINGS_BASE_ADDRESS_H_
#define TIDINGS_BASE_ADDRESS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace tidings::node::address_internal {

// OK for "host:port" or "[ipv6]:port" with a non-empty host without spaces or
// control characters and a port in 1..65535. kInvalidArgument naming the
// problem otherwise.
inline absl::Status ValidateAddress(absl::string_view address) {
  const std::string shown = absl::CHexEscape(address);
  absl::string_view host;
  absl::string_view port;
  if (absl::StartsWith(address, "[")) {
    const size_t close = address.find(']');
    if (close == absl::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("address '", shown, "' is not [ipv6]:port"));
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    const size_t colon = address.rfind(':');
    if (colon == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("address '", shown, "' has no port (want host:port)"));
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address '", shown, "': write IPv6 hosts in brackets, [::1]:7101"));
    }
  }
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", shown, "' has an empty host"));
  }
  for (char c : host) {
    const auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isspace(u) || absl::ascii_iscntrl(u)) {
      return absl::InvalidArgumentError(
          absl::StrCat("address '", shown,
                       "' has a space or control character in its host"));
    }
  }
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) {
    digits = digits && absl::ascii_isdigit(static_cast<unsigned char>(c));
  }
  uint32_t number = 0;
  if (!digits || !absl::SimpleAtoi(port, &number) || number < 1 ||
      number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address '", shown, "' has port '", absl::CHexEscape(port),
                     "'; want 1..65535"));
  }
  return absl::OkStatus();
}

}  // namespace tidings::node::address_internal

#endif  // TIDINGS_BASE_ADDRESS_H_

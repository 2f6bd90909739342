// node::ParseConfig (what LoadConfig runs on a file's bytes) on untrusted
// text. What FormatConfig renders of a config it accepts must parse again,
// and a second round trip must change nothing.
//
// Not the first one: config.h promises that ParseConfig reads FormatConfig's
// output back identically, but the default TLS paths derived from a key_file
// of "//" are not lexically normalised and read back as "/B.tls.key"
// (crashes/fuzz_config-roundtrip-double-slash-key-file). Compare the first
// round trip too once that is fixed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr absl::string_view kBaseDir = "/etc/tidings";
  absl::StatusOr<tidings::node::Config> config = tidings::node::ParseConfig(
      absl::string_view(reinterpret_cast<const char*>(data), size), kBaseDir);
  if (!config.ok()) return 0;
  const std::string formatted = tidings::node::FormatConfig(*config);
  absl::StatusOr<tidings::node::Config> again =
      tidings::node::ParseConfig(formatted, kBaseDir);
  if (!again.ok()) {
    std::fprintf(stderr, "FormatConfig output does not parse: %s\n%s",
                 again.status().ToString().c_str(), formatted.c_str());
    std::abort();
  }
  const std::string reformatted = tidings::node::FormatConfig(*again);
  absl::StatusOr<tidings::node::Config> third =
      tidings::node::ParseConfig(reformatted, kBaseDir);
  if (!third.ok() || tidings::node::FormatConfig(*third) != reformatted) {
    std::fprintf(stderr, "FormatConfig output reads back differently:\n%s",
                 reformatted.c_str());
    std::abort();
  }
  return 0;
}

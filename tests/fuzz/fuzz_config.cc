// node::ParseConfig (what LoadConfig runs on a file's bytes) on untrusted
// text. What FormatConfig renders of a config it accepts must parse again
// and read back identically (config.h's promise).
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
  if (tidings::node::FormatConfig(*again) != formatted) {
    std::fprintf(stderr, "FormatConfig output reads back differently:\n%s",
                 formatted.c_str());
    std::abort();
  }
  return 0;
}

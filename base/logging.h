// Logging for node/: spdlog (Debian's libspdlog-dev), plus the one thing it
// lacks here: formatting Debian Abseil's own absl::string_view.
#ifndef TIDINGS_BASE_LOGGING_H_
#define TIDINGS_BASE_LOGGING_H_

#include "absl/strings/string_view.h"
#include "spdlog/fmt/fmt.h"
#include "spdlog/spdlog.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  auto format(absl::string_view value, fmt::format_context& context) const {
    return fmt::formatter<fmt::string_view>::format(
        fmt::string_view(value.data(), value.size()), context);
  }
};

#endif  // TIDINGS_BASE_LOGGING_H_

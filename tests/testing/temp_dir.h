// Temporary directories for tests: one fresh directory per test (or fixture),
// removed with its contents when the owner goes out of scope.
//
// Header-only and without gRPC (target tidings_temp_dir), so that every test
// can use it, the ThreadSanitizer tree's included. Not thread-safe: create and
// destroy a TempDir on one thread; its path may be read from any.
#ifndef TIDINGS_TESTS_TESTING_TEMP_DIR_H_
#define TIDINGS_TESTS_TESTING_TEMP_DIR_H_

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace tidings::testing {

// Creates a new directory <base>/<prefix>.XXXXXX (mkdtemp, mode 0700) and
// returns its path, lexically normalised (no doubled '/'). `base` defaults to
// GoogleTest's ::testing::TempDir() ($TEST_TMPDIR, else /tmp). The caller owns
// the directory and removes it; returns kInternal with errno's text when
// mkdtemp fails.
inline absl::StatusOr<std::string> MakeTempDir(absl::string_view prefix,
                                               absl::string_view base = "") {
  const std::string parent =
      base.empty() ? ::testing::TempDir() : std::string(base);
  std::string path =
      (std::filesystem::path(parent) / absl::StrCat(prefix, ".XXXXXX"))
          .lexically_normal()
          .string();
  if (::mkdtemp(path.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", path, ": ", std::strerror(errno)));
  }
  return path;
}

// A directory made by MakeTempDir(prefix) for the lifetime of the object.
// When mkdtemp fails the current test fails (ADD_FAILURE) and path() is empty.
class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "tidings_test") {
    absl::StatusOr<std::string> path = MakeTempDir(prefix);
    if (path.ok()) {
      path_ = *std::move(path);
    } else {
      ADD_FAILURE() << path.status();
    }
  }
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name.
  std::string operator/(absl::string_view name) const {
    return absl::StrCat(path_, "/", name);
  }

 private:
  std::string path_;
};

}  // namespace tidings::testing

#endif  // TIDINGS_TESTS_TESTING_TEMP_DIR_H_

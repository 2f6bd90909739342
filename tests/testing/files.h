// Reading back what a test wrote: a file's bytes and its permission bits.
#ifndef TIDINGS_TESTS_TESTING_FILES_H_
#define TIDINGS_TESTS_TESTING_FILES_H_

#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace tidings::testing {

// The whole file, or "" when it cannot be opened.
inline std::string FileContents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// The permission bits of `path` itself (lstat: a symlink is not followed).
// Fails the current test when `path` does not exist.
inline mode_t FileMode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

}  // namespace tidings::testing

#endif  // TIDINGS_TESTS_TESTING_FILES_H_

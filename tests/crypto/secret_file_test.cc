#include "crypto/secret_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace tidings::crypto {
namespace {

using ::testing::HasSubstr;

class SecretFileTest : public ::testing::Test {
 protected:
  std::string PathOf(absl::string_view name) const { return dir_ / name; }
  tidings::testing::TempDir dir_{"secret_file_test"};
};

TEST_F(SecretFileTest, WritesAndReadsBack) {
  const std::string path = PathOf("secret");
  ASSERT_TRUE(WriteNewSecretFile(path, "test file", "s3cret").ok());
  EXPECT_EQ(testing::FileMode(path), 0600u);
  absl::StatusOr<SecretFileBytes> bytes = ReadSecretFile(path, "test file", 64);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->view(), "s3cret");
}

TEST_F(SecretFileTest, WriteNewNeverReplaces) {
  const std::string path = PathOf("secret");
  ASSERT_TRUE(WriteNewSecretFile(path, "test file", "first").ok());
  absl::Status again = WriteNewSecretFile(path, "test file", "second");
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_EQ(testing::FileContents(path), "first");
}

TEST_F(SecretFileTest, AtomicWriteCreatesAndReplaces) {
  const std::string path = PathOf("secret");
  ASSERT_TRUE(WriteSecretFileAtomically(path, "test file", "one").ok());
  EXPECT_EQ(testing::FileContents(path), "one");
  EXPECT_EQ(testing::FileMode(path), 0600u);
  ASSERT_TRUE(WriteSecretFileAtomically(path, "test file", "two, longer").ok());
  EXPECT_EQ(testing::FileContents(path), "two, longer");
  EXPECT_EQ(testing::FileMode(path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(SecretFileTest, AtomicWriteFixesALooseModeAndAStaleTemporaryFile) {
  const std::string path = PathOf("secret");
  std::ofstream(path) << "old";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  std::ofstream(path + ".tmp") << "left by a crash";
  ASSERT_TRUE(WriteSecretFileAtomically(path, "test file", "new").ok());
  EXPECT_EQ(testing::FileContents(path), "new");
  EXPECT_EQ(testing::FileMode(path), 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(SecretFileTest, AtomicWriteReplacesASymlinkWithoutFollowingIt) {
  const std::string target = PathOf("target");
  std::ofstream(target) << "not ours";
  const std::string path = PathOf("secret");
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  ASSERT_EQ(::symlink(target.c_str(), (path + ".tmp").c_str()), 0);
  ASSERT_TRUE(WriteSecretFileAtomically(path, "test file", "ours").ok());
  EXPECT_EQ(testing::FileContents(target), "not ours");
  EXPECT_FALSE(std::filesystem::is_symlink(path));
  EXPECT_EQ(testing::FileContents(path), "ours");
}

TEST_F(SecretFileTest, AtomicWriteIntoAMissingDirectoryIsNotFound) {
  absl::Status status =
      WriteSecretFileAtomically(PathOf("no/such/file"), "test file", "bytes");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(status.message(), HasSubstr("test file"));
}

TEST_F(SecretFileTest, RefusesFilesOthersCanAccess) {
  const std::string path = PathOf("secret");
  ASSERT_TRUE(WriteNewSecretFile(path, "test file", "s3cret").ok());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<SecretFileBytes> bytes =
        ReadSecretFile(path, "test file", 64);
    EXPECT_EQ(bytes.status().code(), absl::StatusCode::kPermissionDenied);
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", static_cast<unsigned>(mode));
    EXPECT_EQ(bytes.status().message(),
              absl::StrCat("test file ", path,
                           " is accessible by group or others (mode ", octal,
                           "); run: chmod 600 ", path));
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(ReadSecretFile(path, "test file", 64).ok());
}

TEST_F(SecretFileTest, MissingIsNotFoundAndOversizedIsMalformed) {
  EXPECT_EQ(ReadSecretFile(PathOf("missing"), "test file", 64).status().code(),
            absl::StatusCode::kNotFound);
  const std::string path = PathOf("big");
  ASSERT_TRUE(WriteNewSecretFile(path, "test file", std::string(65, 'x')).ok());
  absl::StatusOr<SecretFileBytes> bytes = ReadSecretFile(path, "test file", 64);
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      bytes.status().message(),
      absl::StrCat("test file ", path, " is malformed: larger than 64 bytes"));
  EXPECT_TRUE(ReadSecretFile(path, "test file", 65).ok());
}

}  // namespace
}  // namespace tidings::crypto

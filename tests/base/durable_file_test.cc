#include "base/durable_file.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace tidings::base {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class DurableFileTest : public ::testing::Test {
 protected:
  std::string PathOf(absl::string_view name) const { return dir_ / name; }
  size_t EntriesInDir() const {
    return static_cast<size_t>(
        std::distance(std::filesystem::directory_iterator(dir_.path()),
                      std::filesystem::directory_iterator()));
  }

  testing::TempDir dir_{"durable_file_test"};
};

TEST_F(DurableFileTest, WriteNewCreatesWithTheModeDespiteTheUmask) {
  const mode_t old_umask = ::umask(077);
  const std::string path = PathOf("public");
  absl::Status written = WriteNewFile(path, "test file", "bytes", 0644);
  ::umask(old_umask);
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(testing::FileContents(path), "bytes");
  EXPECT_EQ(testing::FileMode(path), 0644u);
}

TEST_F(DurableFileTest, WriteNewNeverReplacesNorFollowsASymlink) {
  const std::string path = PathOf("file");
  ASSERT_TRUE(WriteNewFile(path, "test file", "first", 0600).ok());
  absl::Status again = WriteNewFile(path, "test file", "second", 0600);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_THAT(std::string(again.message()),
              StartsWith(absl::StrCat("cannot create test file ", path, ": ")));
  EXPECT_EQ(testing::FileContents(path), "first");

  const std::string link = PathOf("link");
  ASSERT_EQ(::symlink(PathOf("nowhere").c_str(), link.c_str()), 0);
  EXPECT_EQ(WriteNewFile(link, "test file", "x", 0600).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(PathOf("nowhere")));
}

TEST_F(DurableFileTest, AnEmptyWhatNamesThePathAlone) {
  absl::Status status = WriteNewFile(PathOf("no/such/file"), "", "x", 0644);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()),
              StartsWith(absl::StrCat("cannot create ", PathOf("no/such/file"),
                                      ": No such file")));
}

TEST_F(DurableFileTest, ReplaceWithAUniqueTemporaryFileLeavesNothingBehind) {
  const std::string path = PathOf("roster");
  ASSERT_TRUE(ReplaceFile(path, "", "one", 0644, TempFile::kUnique).ok());
  ASSERT_TRUE(
      ReplaceFile(path, "", "two, longer", 0644, TempFile::kUnique).ok());
  EXPECT_EQ(testing::FileContents(path), "two, longer");
  EXPECT_EQ(testing::FileMode(path), 0644u);
  EXPECT_EQ(EntriesInDir(), 1u);
}

TEST_F(DurableFileTest, ReplaceWithTheFixedTemporaryFileRemovesAStaleOne) {
  const std::string path = PathOf("secret");
  std::ofstream(path) << "old";
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  std::ofstream(path + ".tmp") << "left by a crash";
  ASSERT_TRUE(
      ReplaceFile(path, "test file", "new", 0600, TempFile::kFixed).ok());
  EXPECT_EQ(testing::FileContents(path), "new");
  EXPECT_EQ(testing::FileMode(path), 0600u);
  EXPECT_EQ(EntriesInDir(), 1u);
}

TEST_F(DurableFileTest, ReplaceReplacesASymlinkWithoutFollowingIt) {
  const std::string target = PathOf("target");
  std::ofstream(target) << "not ours";
  const std::string path = PathOf("file");
  ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
  for (TempFile temp : {TempFile::kUnique, TempFile::kFixed}) {
    ASSERT_TRUE(ReplaceFile(path, "test file", "ours", 0600, temp).ok());
    EXPECT_EQ(testing::FileContents(target), "not ours");
    EXPECT_FALSE(std::filesystem::is_symlink(path));
    EXPECT_EQ(testing::FileContents(path), "ours");
  }
}

TEST_F(DurableFileTest, ReplaceIntoAMissingDirectoryIsNotFound) {
  for (TempFile temp : {TempFile::kUnique, TempFile::kFixed}) {
    absl::Status status =
        ReplaceFile(PathOf("no/such/file"), "test file", "x", 0600, temp);
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
    EXPECT_THAT(std::string(status.message()), HasSubstr("test file"));
  }
}

TEST_F(DurableFileTest, AFailedReplaceLeavesTheFileAndNoTemporary) {
  // A directory at the path: rename cannot put a file over it.
  const std::string path = PathOf("taken");
  ASSERT_TRUE(std::filesystem::create_directory(path));
  absl::Status status =
      ReplaceFile(path, "test file", "x", 0644, TempFile::kUnique);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()),
              StartsWith(absl::StrCat("cannot replace test file ", path)));
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ(EntriesInDir(), 1u);
}

TEST_F(DurableFileTest, ReaderReadsUpToTheBufferAndReportsTheFile) {
  const std::string path = PathOf("file");
  ASSERT_TRUE(WriteNewFile(path, "", "0123456789", 0640).ok());
  absl::StatusOr<FileReader> file = FileReader::Open(path, "test file");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->is_regular());
  EXPECT_EQ(file->permissions(), 0640u);
  EXPECT_EQ(file->size_bytes(), 10u);
  std::string buffer(4, '\0');
  absl::StatusOr<size_t> read = file->ReadInto(absl::MakeSpan(buffer));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, 4u);
  EXPECT_EQ(buffer, "0123");
  std::string rest(16, '\0');
  read = file->ReadInto(absl::MakeSpan(rest));
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(rest.substr(0, *read), "456789");
}

TEST_F(DurableFileTest, ReaderOpensAFifoWithoutHangingAndSaysItIsNotRegular) {
  const std::string path = PathOf("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  absl::StatusOr<FileReader> file = FileReader::Open(path, "test file");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_FALSE(file->is_regular());
}

TEST_F(DurableFileTest, ReaderOfAMissingFileIsNotFound) {
  absl::StatusOr<FileReader> file =
      FileReader::Open(PathOf("missing"), "test file");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(file.status().message()),
              StartsWith(absl::StrCat("cannot open test file ",
                                      PathOf("missing"), ": ")));
}

TEST_F(DurableFileTest, ReadFileUpToReadsOneByteBeyondTheCapAtMost) {
  const std::string path = PathOf("small");
  ASSERT_TRUE(WriteNewFile(path, "test file", "0123456789", 0600).ok());
  absl::StatusOr<std::string> whole = ReadFileUpTo(path, "test file", 10);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_EQ(*whole, "0123456789");
  // Over the cap: the caller sees cap + 1 bytes and refuses in its words.
  absl::StatusOr<std::string> over = ReadFileUpTo(path, "test file", 4);
  ASSERT_TRUE(over.ok()) << over.status();
  EXPECT_EQ(*over, "01234");

  absl::StatusOr<std::string> missing =
      ReadFileUpTo(PathOf("missing"), "config", 10);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(
      std::string(missing.status().message()),
      StartsWith(absl::StrCat("cannot open config ", PathOf("missing"), ": ")));
}

}  // namespace
}  // namespace tidings::base

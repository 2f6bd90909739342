#include "crypto/identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "gtest/gtest.h"
#include "proto/keyfile.pb.h"

namespace tidings::crypto {
namespace {

class IdentityFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = absl::StrCat(base != nullptr ? base : "/tmp",
                                    "/tidings_identity_test.XXXXXX");
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string PathOf(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  // Writes `bytes` to a new file with `mode` (set explicitly, whatever the
  // umask).
  std::string WriteFile(absl::string_view name, const std::string& bytes,
                        mode_t mode = 0600) const {
    std::string path = PathOf(name);
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  }

  static std::string ValidKeyFileBytes(const proto::SecretKeyFile& file) {
    std::string bytes;
    EXPECT_TRUE(file.SerializeToString(&bytes));
    return bytes;
  }

  static proto::SecretKeyFile ValidKeyFile() {
    proto::SecretKeyFile file;
    file.set_version(1);
    file.set_agency("fire-dept");
    file.set_sign_seed(std::string(32, 's'));
    file.set_box_sk(std::string(32, 'b'));
    return file;
  }

  void ExpectMalformed(const std::string& path) {
    absl::StatusOr<Identity> loaded = Identity::LoadFile(path);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument)
        << loaded.status();
    EXPECT_NE(loaded.status().message().find(
                  absl::StrCat("key file ", path, " is malformed: ")),
              absl::string_view::npos)
        << loaded.status();
  }

  std::string dir_;
};

TEST(IdentityTest, GenerateMakesConsistentFreshKeys) {
  Identity a = Identity::Generate("fire-dept");
  Identity b = Identity::Generate("fire-dept");
  EXPECT_EQ(a.agency(), "fire-dept");
  EXPECT_EQ(PublicKeyOf(a.signing_key()), a.verify_key());
  EXPECT_EQ(PublicKeyOf(a.box_secret()), a.box_public());
  EXPECT_FALSE(a.verify_key() == b.verify_key());
  EXPECT_FALSE(a.box_public() == b.box_public());
  Signature signature = Sign(a.signing_key(), Domain::kEnvelope, "m");
  EXPECT_TRUE(Verify(a.verify_key(), Domain::kEnvelope, "m", signature).ok());
}

TEST_F(IdentityFileTest, SaveThenLoadRoundTrips) {
  Identity original = Identity::Generate("fire-dept");
  std::string path = PathOf("node.key");
  ASSERT_TRUE(original.SaveFile(path).ok());

  absl::StatusOr<Identity> loaded = Identity::LoadFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->agency(), "fire-dept");
  EXPECT_EQ(loaded->verify_key(), original.verify_key());
  EXPECT_EQ(loaded->box_public(), original.box_public());
  EXPECT_EQ(sodium_memcmp(loaded->signing_key().data(),
                          original.signing_key().data(), SigningKey::size()),
            0);
  EXPECT_EQ(sodium_memcmp(loaded->box_secret().data(),
                          original.box_secret().data(), BoxSecretKey::size()),
            0);

  // Signatures interoperate in both directions.
  Signature by_loaded = Sign(loaded->signing_key(), Domain::kRoster, "r");
  EXPECT_TRUE(
      Verify(original.verify_key(), Domain::kRoster, "r", by_loaded).ok());
  Signature by_original = Sign(original.signing_key(), Domain::kRoster, "r");
  EXPECT_TRUE(
      Verify(loaded->verify_key(), Domain::kRoster, "r", by_original).ok());

  // A body sealed to the original identity opens with the loaded one.
  Keyring sender(GenerateBoxKey().secret);
  std::vector<Recipient> recipients = {{"fire-dept", original.box_public()}};
  absl::StatusOr<Sealed> sealed = Seal(sender, recipients, "aad", "body");
  ASSERT_TRUE(sealed.ok());
  Keyring mine(*BoxSecretKey::FromBytes(absl::string_view(
      reinterpret_cast<const char*>(loaded->box_secret().data()),
      BoxSecretKey::size())));
  absl::StatusOr<std::string> opened =
      Open(mine, "fire-dept", sender.public_key(), sealed->nonce,
           sealed->wrapped_keys[0].wrapped, "aad", sealed->ciphertext);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(*opened, "body");
}

TEST_F(IdentityFileTest, WritesTheDocumentedFormatWithMode0600) {
  // Even with a permissive umask the file must come out 0600.
  mode_t old_umask = ::umask(0);
  Identity identity = Identity::Generate("police");
  std::string path = PathOf("node.key");
  absl::Status saved = identity.SaveFile(path);
  ::umask(old_umask);
  ASSERT_TRUE(saved.ok()) << saved;

  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  proto::SecretKeyFile file;
  ASSERT_TRUE(file.ParseFromString(ReadFile(path)));
  EXPECT_EQ(file.version(), 1u);
  EXPECT_EQ(file.agency(), "police");
  ASSERT_EQ(file.sign_seed().size(), 32u);
  ASSERT_EQ(file.box_sk().size(), 32u);
  std::optional<SigningSeed> seed = SigningSeed::FromBytes(file.sign_seed());
  EXPECT_EQ(SigningKeyFromSeed(*seed).public_key, identity.verify_key());
  EXPECT_EQ(
      sodium_memcmp(file.box_sk().data(), identity.box_secret().data(), 32), 0);
}

TEST_F(IdentityFileTest, RefusesToOverwrite) {
  std::string path = WriteFile("node.key", "precious");
  absl::Status saved = Identity::Generate("x").SaveFile(path);
  EXPECT_EQ(saved.code(), absl::StatusCode::kAlreadyExists) << saved;
  EXPECT_EQ(ReadFile(path), "precious");

  // Nor through a dangling symlink (O_EXCL does not follow it).
  std::string target = PathOf("elsewhere");
  std::string link = PathOf("link.key");
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  saved = Identity::Generate("x").SaveFile(link);
  EXPECT_EQ(saved.code(), absl::StatusCode::kAlreadyExists) << saved;
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST_F(IdentityFileTest, SecondSaveToSamePathFails) {
  Identity identity = Identity::Generate("x");
  std::string path = PathOf("node.key");
  ASSERT_TRUE(identity.SaveFile(path).ok());
  std::string first = ReadFile(path);
  EXPECT_EQ(Identity::Generate("y").SaveFile(path).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), first);
}

TEST_F(IdentityFileTest, SaveIntoMissingDirectoryIsNotFound) {
  absl::Status saved =
      Identity::Generate("x").SaveFile(PathOf("no/such/dir/node.key"));
  EXPECT_EQ(saved.code(), absl::StatusCode::kNotFound) << saved;
}

TEST_F(IdentityFileTest, RefusesFilesOthersCanAccess) {
  Identity identity = Identity::Generate("x");
  std::string path = PathOf("node.key");
  ASSERT_TRUE(identity.SaveFile(path).ok());
  for (mode_t mode :
       {0644, 0640, 0604, 0660, 0606, 0620, 0602, 0610, 0601, 0777}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<Identity> loaded = Identity::LoadFile(path);
    ASSERT_FALSE(loaded.ok()) << std::oct << mode;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kPermissionDenied);
    char mode_text[8];
    std::snprintf(mode_text, sizeof(mode_text), "%04o",
                  static_cast<unsigned>(mode));
    EXPECT_EQ(loaded.status().message(),
              absl::StrCat("key file ", path,
                           " is accessible by group or others (mode ",
                           mode_text, "); run: chmod 600 ", path));
  }
  // Owner-only modes are fine.
  for (mode_t mode : {0600, 0400, 0700}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    EXPECT_TRUE(Identity::LoadFile(path).ok()) << std::oct << mode;
  }
}

TEST_F(IdentityFileTest, RefusesExactly0644And0640WithTheMessage) {
  for (auto [mode, text] : {std::pair<mode_t, const char*>{0644, "0644"},
                            std::pair<mode_t, const char*>{0640, "0640"}}) {
    std::string path = WriteFile(absl::StrCat("key", text),
                                 ValidKeyFileBytes(ValidKeyFile()), mode);
    absl::StatusOr<Identity> loaded = Identity::LoadFile(path);
    EXPECT_EQ(loaded.status(),
              absl::PermissionDeniedError(absl::StrCat(
                  "key file ", path, " is accessible by group or others (mode ",
                  text, "); run: chmod 600 ", path)));
  }
}

TEST_F(IdentityFileTest, MissingFileIsNotFound) {
  absl::StatusOr<Identity> loaded = Identity::LoadFile(PathOf("absent.key"));
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(IdentityFileTest, LoadsAHandWrittenFile) {
  std::string path = WriteFile("node.key", ValidKeyFileBytes(ValidKeyFile()));
  absl::StatusOr<Identity> loaded = Identity::LoadFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->agency(), "fire-dept");
  SigningKeyPair expected =
      SigningKeyFromSeed(*SigningSeed::FromBytes(std::string(32, 's')));
  EXPECT_EQ(loaded->verify_key(), expected.public_key);
  EXPECT_EQ(loaded->box_public(),
            PublicKeyOf(*BoxSecretKey::FromBytes(std::string(32, 'b'))));
}

TEST_F(IdentityFileTest, RefusesEveryTruncation) {
  Identity identity = Identity::Generate("fire-dept");
  std::string path = PathOf("good.key");
  ASSERT_TRUE(identity.SaveFile(path).ok());
  std::string good = ReadFile(path);
  ASSERT_GT(good.size(), 64u);
  for (size_t len = 0; len < good.size(); ++len) {
    SCOPED_TRACE(absl::StrCat("length ", len));
    ExpectMalformed(WriteFile(absl::StrCat("cut", len), good.substr(0, len)));
  }
}

TEST_F(IdentityFileTest, RefusesGarbage) {
  ExpectMalformed(WriteFile("text", "this is not a key file\n"));
  ExpectMalformed(WriteFile("ff", std::string(100, '\xff')));
  ExpectMalformed(WriteFile("zeros", std::string(100, '\0')));
  ExpectMalformed(WriteFile("big", std::string(1 << 20, 'x')));
  // A valid key file followed by more than the size cap.
  ExpectMalformed(WriteFile(
      "padded", ValidKeyFileBytes(ValidKeyFile()) + std::string(8192, '\0')));
}

TEST_F(IdentityFileTest, RefusesBadFields) {
  proto::SecretKeyFile file = ValidKeyFile();
  file.set_version(2);
  ExpectMalformed(WriteFile("v2", ValidKeyFileBytes(file)));
  file.set_version(0);
  ExpectMalformed(WriteFile("v0", ValidKeyFileBytes(file)));

  file = ValidKeyFile();
  file.clear_agency();
  ExpectMalformed(WriteFile("noagency", ValidKeyFileBytes(file)));

  for (size_t size : {0, 31, 33, 64}) {
    file = ValidKeyFile();
    file.set_sign_seed(std::string(size, 's'));
    ExpectMalformed(
        WriteFile(absl::StrCat("seed", size), ValidKeyFileBytes(file)));
    file = ValidKeyFile();
    file.set_box_sk(std::string(size, 'b'));
    ExpectMalformed(
        WriteFile(absl::StrCat("box", size), ValidKeyFileBytes(file)));
  }
}

TEST_F(IdentityFileTest, RefusesADirectory) {
  std::string path = PathOf("dir.key");
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  ExpectMalformed(path);
}

}  // namespace
}  // namespace tidings::crypto

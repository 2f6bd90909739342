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
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace tidings::crypto {
namespace {

class IdentityFileTest : public ::testing::Test {
 protected:
  std::string PathOf(absl::string_view name) const { return dir_ / name; }

  // Writes `bytes` to a new file with `mode` (set explicitly, whatever the
  // umask).
  std::string WriteFile(absl::string_view name, const std::string& bytes,
                        mode_t mode = 0600) const {
    std::string path = PathOf(name);
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
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

  tidings::testing::TempDir dir_{"identity_test"};
};

TEST(IdentityTest, GenerateMakesConsistentFreshKeys) {
  Identity a = Identity::Generate("fire-dept");
  Identity b = Identity::Generate("fire-dept");
  EXPECT_EQ(a.principal(), "fire-dept");
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
  EXPECT_EQ(loaded->principal(), "fire-dept");
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
  ASSERT_TRUE(file.ParseFromString(testing::FileContents(path)));
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
  EXPECT_EQ(testing::FileContents(path), "precious");

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
  std::string first = testing::FileContents(path);
  EXPECT_EQ(Identity::Generate("y").SaveFile(path).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(testing::FileContents(path), first);
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
  EXPECT_EQ(loaded->principal(), "fire-dept");
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
  std::string good = testing::FileContents(path);
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

TEST_F(IdentityFileTest, RefusesAFifoWithoutBlocking) {
  // Nobody ever writes to it: an open that waited for a writer would hang.
  std::string path = PathOf("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  ExpectMalformed(path);
  EXPECT_EQ(ReadPassphraseFile(path).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IdentityFileTest, RefusesADirectory) {
  std::string path = PathOf("dir.key");
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  ExpectMalformed(path);
}

// ---------------------------------------------------------------------------
// Sealed key files.

// Fast parameters: every load of a sealed file runs Argon2id once.
const SealOptions kFast{PassphraseCost::kInteractive};

class SealedKeyFileTest : public IdentityFileTest {
 protected:
  static bool SameSecrets(const Identity& a, const Identity& b) {
    return a.principal() == b.principal() && a.verify_key() == b.verify_key() &&
           a.box_public() == b.box_public() &&
           sodium_memcmp(a.signing_key().data(), b.signing_key().data(),
                         SigningKey::size()) == 0 &&
           sodium_memcmp(a.box_secret().data(), b.box_secret().data(),
                         BoxSecretKey::size()) == 0;
  }

  // A sealed file of `identity` under "correct horse", parsed.
  proto::SealedKeyFile SealedFile(const Identity& identity) {
    std::string path = PathOf(absl::StrCat("sealed", counter_++));
    EXPECT_TRUE(identity.SaveFile(path, passphrase_, kFast).ok());
    proto::SealedKeyFile file;
    EXPECT_TRUE(file.ParseFromString(testing::FileContents(path)));
    return file;
  }

  std::string WriteSealed(absl::string_view name,
                          const proto::SealedKeyFile& file) {
    return WriteFile(name, file.SerializeAsString());
  }

  void ExpectWrongPassphrase(const std::string& path,
                             const Passphrase& passphrase) {
    absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase);
    EXPECT_EQ(loaded.status(), absl::PermissionDeniedError(absl::StrCat(
                                   "wrong passphrase for key file ", path)));
  }

  void ExpectMalformedSealed(const std::string& path) {
    absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase_);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument)
        << loaded.status();
    EXPECT_NE(loaded.status().message().find(
                  absl::StrCat("key file ", path, " is malformed: ")),
              absl::string_view::npos)
        << loaded.status();
  }

  // The documented format (proto/keyfile.proto), built here independently
  // of identity.cc: `inner` sealed under `passphrase`.
  static proto::SealedKeyFile SealByHand(const proto::SecretKeyFile& inner,
                                         absl::string_view agency,
                                         absl::string_view passphrase) {
    proto::SealedKeyFile file;
    file.set_version(2);
    file.set_agency(std::string(agency));
    file.set_salt(std::string(crypto_pwhash_SALTBYTES, 's'));
    file.set_opslimit(crypto_pwhash_OPSLIMIT_INTERACTIVE);
    file.set_memlimit(crypto_pwhash_MEMLIMIT_INTERACTIVE);
    file.set_nonce(std::string(24, 'n'));
    unsigned char key[32];
    EXPECT_EQ(
        crypto_pwhash(
            key, sizeof(key), passphrase.data(), passphrase.size(),
            reinterpret_cast<const unsigned char*>(file.salt().data()),
            file.opslimit(), file.memlimit(), crypto_pwhash_ALG_ARGON2ID13),
        0);
    auto le = [](uint64_t v, int n) {
      std::string out;
      for (int i = 0; i < n; ++i)
        out.push_back(static_cast<char>(v >> (8 * i)));
      return out;
    };
    std::string ad;
    for (const std::string& field :
         {std::string("tidings/v1/keyfile"), le(2, 4), file.agency(),
          file.salt(), le(file.opslimit(), 8), le(file.memlimit(), 8)}) {
      ad += le(field.size(), 8) + field;
    }
    const std::string plain = inner.SerializeAsString();
    std::string ciphertext(plain.size() + 16, '\0');
    unsigned long long size = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        reinterpret_cast<unsigned char*>(ciphertext.data()), &size,
        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(),
        reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
        reinterpret_cast<const unsigned char*>(file.nonce().data()), key);
    file.set_ciphertext(ciphertext);
    return file;
  }

  Passphrase passphrase_{"correct horse"};
  int counter_ = 0;
};

TEST_F(SealedKeyFileTest, SealThenLoadRoundTrips) {
  mode_t old_umask = ::umask(0);
  Identity original = Identity::Generate("MY.NCB");
  std::string path = PathOf("node.key");
  absl::Status saved = original.SaveFile(path, passphrase_, kFast);
  ::umask(old_umask);
  ASSERT_TRUE(saved.ok()) << saved;

  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(SameSecrets(*loaded, original));

  // The file names its agency in the clear and holds no secret in the clear.
  const std::string bytes = testing::FileContents(path);
  proto::SealedKeyFile file;
  ASSERT_TRUE(file.ParseFromString(bytes));
  EXPECT_EQ(file.version(), 2u);
  EXPECT_EQ(file.agency(), "MY.NCB");
  EXPECT_EQ(file.salt().size(), 16u);
  EXPECT_EQ(file.nonce().size(), 24u);
  EXPECT_EQ(file.opslimit(), crypto_pwhash_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(file.memlimit(), crypto_pwhash_MEMLIMIT_INTERACTIVE);
  SigningSeed seed = SeedOf(original.signing_key());
  const std::string seed_bytes(reinterpret_cast<const char*>(seed.data()),
                               seed.size());
  const std::string box_bytes(
      reinterpret_cast<const char*>(original.box_secret().data()),
      BoxSecretKey::size());
  EXPECT_EQ(bytes.find(seed_bytes), std::string::npos);
  EXPECT_EQ(bytes.find(box_bytes), std::string::npos);
  EXPECT_EQ(bytes.find("correct horse"), std::string::npos);
}

TEST_F(SealedKeyFileTest, DefaultCostIsModerate) {
  Identity original = Identity::Generate("MY.NCB");
  std::string path = PathOf("node.key");
  ASSERT_TRUE(original.SaveFile(path, passphrase_).ok());
  proto::SealedKeyFile file;
  ASSERT_TRUE(file.ParseFromString(testing::FileContents(path)));
  EXPECT_EQ(file.opslimit(), crypto_pwhash_OPSLIMIT_MODERATE);
  EXPECT_EQ(file.memlimit(), crypto_pwhash_MEMLIMIT_MODERATE);
  absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(SameSecrets(*loaded, original));
}

TEST_F(SealedKeyFileTest, OpensTheDocumentedFormat) {
  proto::SecretKeyFile inner = ValidKeyFile();
  std::string path =
      WriteSealed("by_hand", SealByHand(inner, "fire-dept", "hunter2"));
  Passphrase passphrase("hunter2");
  absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->principal(), "fire-dept");
  EXPECT_EQ(loaded->verify_key(),
            SigningKeyFromSeed(*SigningSeed::FromBytes(std::string(32, 's')))
                .public_key);

  // Authentic contents that are not a valid plain key file are refused.
  proto::SecretKeyFile other = inner;
  other.set_agency("police");
  ExpectMalformedSealed(WriteSealed(
      "other_agency", SealByHand(other, "fire-dept", "correct horse")));
  proto::SecretKeyFile nested = inner;
  nested.set_version(2);
  ExpectMalformedSealed(
      WriteSealed("nested", SealByHand(nested, "fire-dept", "correct horse")));
  proto::SecretKeyFile short_seed = inner;
  short_seed.set_sign_seed("short");
  ExpectMalformedSealed(WriteSealed(
      "short_seed", SealByHand(short_seed, "fire-dept", "correct horse")));
}

TEST_F(SealedKeyFileTest, WithoutPassphraseSaysItIsSealed) {
  std::string path = PathOf("node.key");
  ASSERT_TRUE(Identity::Generate("A").SaveFile(path, passphrase_, kFast).ok());
  const absl::Status sealed = absl::FailedPreconditionError(
      absl::StrCat("key file ", path, " is sealed; give its passphrase"));
  EXPECT_EQ(Identity::LoadFile(path).status(), sealed);
  EXPECT_EQ(Identity::LoadFile(path, nullptr).status(), sealed);
}

TEST_F(SealedKeyFileTest, PlainFileWithAPassphraseIsRefused) {
  std::string path = PathOf("node.key");
  ASSERT_TRUE(Identity::Generate("A").SaveFile(path).ok());
  absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase_);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(loaded.status().message().find(" is not sealed, but a passphrase "
                                           "was given"),
            absl::string_view::npos)
      << loaded.status();
}

TEST_F(SealedKeyFileTest, WrongPassphrasesAreRefused) {
  std::string path = PathOf("node.key");
  ASSERT_TRUE(Identity::Generate("A").SaveFile(path, passphrase_, kFast).ok());
  const std::vector<std::string> wrong = {"correct hors",
                                          "correct horse ",
                                          "correct horse\n",
                                          "Correct horse",
                                          "x",
                                          std::string(1000, 'c'),
                                          std::string("correct horse\0", 14)};
  for (const std::string& guess : wrong) {
    ExpectWrongPassphrase(path, Passphrase(guess));
  }
  EXPECT_TRUE(Identity::LoadFile(path, &passphrase_).ok());
}

TEST_F(SealedKeyFileTest, AnyTamperingIsTheSameOpaqueFailure) {
  const proto::SealedKeyFile good = SealedFile(Identity::Generate("MY.NCB"));
  std::vector<std::pair<std::string, proto::SealedKeyFile>> cases;
  auto add = [&](absl::string_view name, auto mutate) {
    proto::SealedKeyFile file = good;
    mutate(file);
    cases.emplace_back(std::string(name), std::move(file));
  };
  add("agency", [](auto& f) { f.set_agency("ID.NCB"); });
  add("salt", [](auto& f) { (*f.mutable_salt())[3] ^= 1; });
  add("opslimit", [](auto& f) { f.set_opslimit(f.opslimit() + 1); });
  // Argon2id counts memory in KiB: +1 byte derives the same key, and only
  // the associated data catches it.
  add("memlimit_byte", [](auto& f) { f.set_memlimit(f.memlimit() + 1); });
  add("memlimit_kib", [](auto& f) { f.set_memlimit(f.memlimit() - 1024); });
  add("nonce", [](auto& f) { (*f.mutable_nonce())[23] ^= 0x40; });
  const size_t n = good.ciphertext().size();
  for (size_t at : {size_t{0}, n / 2, n - 17, n - 16, n - 1}) {
    add(absl::StrCat("ciphertext", at),
        [at](auto& f) { (*f.mutable_ciphertext())[at] ^= 1; });
  }
  add("ciphertext_longer",
      [](auto& f) { f.mutable_ciphertext()->push_back(0); });
  add("ciphertext_shorter",
      [](auto& f) { f.mutable_ciphertext()->pop_back(); });
  add("other_files_ciphertext", [&](auto& f) {
    proto::SealedKeyFile other = SealedFile(Identity::Generate("MY.NCB"));
    f.set_ciphertext(other.ciphertext());
  });
  for (const auto& [name, file] : cases) {
    SCOPED_TRACE(name);
    ExpectWrongPassphrase(WriteSealed(name, file), passphrase_);
  }
  EXPECT_TRUE(Identity::LoadFile(WriteSealed("good", good), &passphrase_).ok());
}

TEST_F(SealedKeyFileTest, MalformedSealedFilesAreRefusedBeforeArgon2id) {
  const proto::SealedKeyFile good = SealedFile(Identity::Generate("MY.NCB"));
  std::vector<std::pair<std::string, proto::SealedKeyFile>> cases;
  auto add = [&](absl::string_view name, auto mutate) {
    proto::SealedKeyFile file = good;
    mutate(file);
    cases.emplace_back(std::string(name), std::move(file));
  };
  add("no_agency", [](auto& f) { f.clear_agency(); });
  add("salt15", [](auto& f) { f.mutable_salt()->pop_back(); });
  add("salt17", [](auto& f) { f.mutable_salt()->push_back('x'); });
  add("nonce23", [](auto& f) { f.mutable_nonce()->pop_back(); });
  add("no_nonce", [](auto& f) { f.clear_nonce(); });
  add("opslimit0", [](auto& f) { f.set_opslimit(0); });
  // Limits that would stall the node for minutes or take all its memory.
  add("opslimit_huge", [](auto& f) { f.set_opslimit(1000); });
  add("memlimit_small", [](auto& f) { f.set_memlimit(1024); });
  add("memlimit_huge", [](auto& f) { f.set_memlimit(uint64_t{1} << 40); });
  add("ciphertext_tag_only",
      [](auto& f) { f.mutable_ciphertext()->resize(15); });
  add("no_ciphertext", [](auto& f) { f.clear_ciphertext(); });
  for (const auto& [name, file] : cases) {
    SCOPED_TRACE(name);
    ExpectMalformedSealed(WriteSealed(name, file));
  }
  // Bytes that are neither authenticated nor an AEAD input.
  std::string extra = good.SerializeAsString();
  extra += std::string("\xa8\x06\x01", 3);  // field 101, varint 1
  ExpectMalformedSealed(WriteFile("extra_field", extra));
  // A version the reader does not know.
  proto::SealedKeyFile v3 = good;
  v3.set_version(3);
  ExpectMalformedSealed(WriteSealed("v3", v3));
}

TEST_F(SealedKeyFileTest, RefusesEveryTruncation) {
  std::string path = PathOf("good.key");
  ASSERT_TRUE(
      Identity::Generate("MY.NCB").SaveFile(path, passphrase_, kFast).ok());
  std::string good = testing::FileContents(path);
  for (size_t len = 0; len < good.size(); ++len) {
    SCOPED_TRACE(absl::StrCat("length ", len));
    ExpectMalformedSealed(
        WriteFile(absl::StrCat("cut", len), good.substr(0, len)));
  }
}

TEST_F(SealedKeyFileTest, PermissionsAreCheckedAsForPlainFiles) {
  std::string path = PathOf("node.key");
  ASSERT_TRUE(Identity::Generate("A").SaveFile(path, passphrase_, kFast).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<Identity> loaded = Identity::LoadFile(path, &passphrase_);
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kPermissionDenied);
    EXPECT_NE(loaded.status().message().find("is accessible by group or "
                                             "others"),
              absl::string_view::npos)
        << loaded.status();
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(Identity::LoadFile(path, &passphrase_).ok());
}

TEST_F(SealedKeyFileTest, SavingRefusesEmptyPassphrasesAndOverwrites) {
  Identity identity = Identity::Generate("A");
  std::string path = PathOf("node.key");
  absl::Status empty = identity.SaveFile(path, Passphrase(""), kFast);
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument) << empty;
  EXPECT_FALSE(std::filesystem::exists(path));

  ASSERT_TRUE(identity.SaveFile(path).ok());
  const std::string plain = testing::FileContents(path);
  EXPECT_EQ(identity.SaveFile(path, passphrase_, kFast).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(testing::FileContents(path), plain);
}

TEST_F(SealedKeyFileTest, EverySealIsFresh) {
  Identity identity = Identity::Generate("A");
  proto::SealedKeyFile a = SealedFile(identity);
  proto::SealedKeyFile b = SealedFile(identity);
  EXPECT_NE(a.salt(), b.salt());
  EXPECT_NE(a.nonce(), b.nonce());
  EXPECT_NE(a.ciphertext(), b.ciphertext());
}

TEST_F(SealedKeyFileTest, OldReadersRefuseASealedFileByItsVersion) {
  // What a reader that predates sealing sees: a SecretKeyFile of version 2.
  proto::SecretKeyFile as_plain;
  ASSERT_TRUE(as_plain.ParseFromString(
      SealedFile(Identity::Generate("A")).SerializeAsString()));
  EXPECT_EQ(as_plain.version(), 2u);
  EXPECT_EQ(as_plain.agency(), "A");
  EXPECT_TRUE(as_plain.sign_seed().empty());
  EXPECT_TRUE(as_plain.box_sk().empty());
}

// ---------------------------------------------------------------------------
// Passphrase files.

TEST_F(IdentityFileTest, ReadsPassphraseFilesWithoutTheirLastNewline) {
  struct Case {
    std::string content;
    std::string passphrase;
  };
  const Case cases[] = {
      {"correct horse", "correct horse"},
      {"correct horse\n", "correct horse"},
      {"correct horse\r\n", "correct horse"},
      {"correct horse\n\n", "correct horse\n"},
      {"  spaced  \n", "  spaced  "},
      {std::string("bin\0ary\xff\n", 9), std::string("bin\0ary\xff", 8)},
      {std::string(4096, 'p'), std::string(4096, 'p')},
  };
  int i = 0;
  for (const Case& c : cases) {
    std::string path = WriteFile(absl::StrCat("pass", i++), c.content);
    absl::StatusOr<Passphrase> passphrase = ReadPassphraseFile(path);
    ASSERT_TRUE(passphrase.ok()) << passphrase.status();
    EXPECT_EQ(passphrase->view(), c.passphrase);
  }
}

TEST_F(IdentityFileTest, RefusesBadPassphraseFiles) {
  for (const char* content : {"", "\n", "\r\n"}) {
    std::string path = WriteFile("empty", content);
    EXPECT_EQ(ReadPassphraseFile(path).status(),
              absl::InvalidArgumentError(
                  absl::StrCat("passphrase file ", path, " is empty")));
    std::filesystem::remove(path);
  }
  EXPECT_EQ(ReadPassphraseFile(WriteFile("big", std::string(4097, 'p')))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadPassphraseFile(PathOf("absent")).status().code(),
            absl::StatusCode::kNotFound);
  std::string open = WriteFile("open", "secret\n", 0640);
  EXPECT_EQ(ReadPassphraseFile(open).status(),
            absl::PermissionDeniedError(absl::StrCat(
                "passphrase file ", open,
                " is accessible by group or others (mode 0640); run: chmod "
                "600 ",
                open)));
  EXPECT_TRUE(ReadPassphraseFile(WriteFile("owner", "secret\n", 0400)).ok());
}

}  // namespace
}  // namespace tidings::crypto

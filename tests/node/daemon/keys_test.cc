#include "node/daemon/keys.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/config/config.h"
#include "node/model/roster.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using ::testing::HasSubstr;

const crypto::SealOptions kFast{crypto::PassphraseCost::kInteractive};

class KeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::unsetenv(kKeyPassphraseEnv);
    config_.principal = "MY.NCB";
    config_.key_file = PathOf("MY.NCB.key");
    config_.tls_key_file = PathOf("MY.NCB.tls.key");
    config_.tls_cert_file = PathOf("MY.NCB.tls.crt");
  }
  void TearDown() override { ::unsetenv(kKeyPassphraseEnv); }

  std::string PathOf(absl::string_view name) const { return dir_ / name; }
  std::string WriteFile(absl::string_view name, absl::string_view bytes,
                        mode_t mode = 0600) const {
    std::string path = PathOf(name);
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }

  // Seals `identity_` into config_.key_file under `passphrase`.
  void SealKey(absl::string_view passphrase) {
    ASSERT_TRUE(
        identity_
            .SaveFile(config_.key_file, crypto::Passphrase(passphrase), kFast)
            .ok());
  }

  static bool SameKeys(const crypto::Identity& a, const crypto::Identity& b) {
    return a.principal() == b.principal() && a.verify_key() == b.verify_key() &&
           a.box_public() == b.box_public();
  }

  tidings::testing::TempDir dir_{"keys_test"};
  Config config_;
  crypto::Identity identity_ = crypto::Identity::Generate("MY.NCB");
};

TEST_F(KeysTest, PlainKeyWithoutPassphrase) {
  ASSERT_TRUE(identity_.SaveFile(config_.key_file).ok());
  absl::StatusOr<crypto::Identity> loaded = LoadNodeIdentity(config_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(SameKeys(*loaded, identity_));
}

TEST_F(KeysTest, SealedKeyWithPassphraseFile) {
  SealKey("correct horse");
  config_.key_passphrase_file = WriteFile("passphrase", "correct horse\n");
  absl::StatusOr<crypto::Identity> loaded = LoadNodeIdentity(config_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(SameKeys(*loaded, identity_));
}

TEST_F(KeysTest, SealedKeyWithPassphraseFromTheEnvironment) {
  SealKey("correct horse");
  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "correct horse", 1), 0);
  absl::StatusOr<crypto::Identity> loaded = LoadNodeIdentity(config_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(SameKeys(*loaded, identity_));
  EXPECT_EQ(::getenv(kKeyPassphraseEnv), nullptr)
      << "children must not inherit the passphrase";
}

TEST_F(KeysTest, TheFileWinsAndTheEnvironmentIsScrubbedAnyway) {
  SealKey("from file");
  config_.key_passphrase_file = WriteFile("passphrase", "from file");
  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "from env", 1), 0);
  EXPECT_TRUE(LoadNodeIdentity(config_).ok());
  EXPECT_EQ(::getenv(kKeyPassphraseEnv), nullptr);

  // Even when loading fails.
  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "from env", 1), 0);
  config_.key_passphrase_file = PathOf("missing");
  EXPECT_FALSE(LoadNodeIdentity(config_).ok());
  EXPECT_EQ(::getenv(kKeyPassphraseEnv), nullptr);
}

TEST_F(KeysTest, ReadKeyPassphraseSources) {
  absl::StatusOr<std::optional<crypto::Passphrase>> none =
      ReadKeyPassphrase(config_);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());

  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "env pass\n", 1), 0);
  absl::StatusOr<std::optional<crypto::Passphrase>> env =
      ReadKeyPassphrase(config_);
  ASSERT_TRUE(env.ok() && env->has_value());
  EXPECT_EQ((*env)->view(), "env pass\n") << "the environment is taken as is";

  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "", 1), 0);
  EXPECT_EQ(
      ReadKeyPassphrase(config_).status(),
      absl::InvalidArgumentError("TIDINGS_KEY_PASSPHRASE is set but empty"));
  EXPECT_EQ(::getenv(kKeyPassphraseEnv), nullptr);
}

TEST_F(KeysTest, SealedKeyWithoutPassphraseSaysHowToGiveIt) {
  SealKey("correct horse");
  EXPECT_EQ(LoadNodeIdentity(config_).status(),
            absl::FailedPreconditionError(absl::StrCat(
                "key file ", config_.key_file,
                " is sealed; give its passphrase (key_passphrase_file or "
                "TIDINGS_KEY_PASSPHRASE)")));
}

TEST_F(KeysTest, WrongPassphraseIsRefused) {
  SealKey("correct horse");
  const absl::Status wrong = absl::PermissionDeniedError(
      absl::StrCat("wrong passphrase for key file ", config_.key_file));
  config_.key_passphrase_file = WriteFile("passphrase", "battery staple\n");
  EXPECT_EQ(LoadNodeIdentity(config_).status(), wrong);
  config_.key_passphrase_file.clear();
  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "correct horse ", 1), 0);
  EXPECT_EQ(LoadNodeIdentity(config_).status(), wrong);
}

TEST_F(KeysTest, PassphraseFileMustBePrivate) {
  SealKey("correct horse");
  config_.key_passphrase_file = WriteFile("passphrase", "correct horse", 0644);
  absl::Status status = LoadNodeIdentity(config_).status();
  EXPECT_EQ(status, absl::PermissionDeniedError(absl::StrCat(
                        "passphrase file ", config_.key_passphrase_file,
                        " is accessible by group or others (mode 0644); run: "
                        "chmod 600 ",
                        config_.key_passphrase_file)));
  ASSERT_EQ(::chmod(config_.key_passphrase_file.c_str(), 0400), 0);
  EXPECT_TRUE(LoadNodeIdentity(config_).ok());

  config_.key_passphrase_file = PathOf("absent");
  absl::Status missing = LoadNodeIdentity(config_).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr(PathOf("absent")));
}

TEST_F(KeysTest, KeyFileMustBePrivateAndOfThisAgency) {
  SealKey("correct horse");
  config_.key_passphrase_file = WriteFile("passphrase", "correct horse");
  ASSERT_EQ(::chmod(config_.key_file.c_str(), 0640), 0);
  EXPECT_EQ(LoadNodeIdentity(config_).status().code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_EQ(::chmod(config_.key_file.c_str(), 0600), 0);

  config_.principal = "ID.NCB";
  EXPECT_EQ(LoadNodeIdentity(config_).status(),
            absl::FailedPreconditionError(absl::StrCat(
                "key file ", config_.key_file, " is for MY.NCB, not ID.NCB")));
}

TEST_F(KeysTest, PlainKeyWithAPassphraseIsRefused) {
  ASSERT_TRUE(identity_.SaveFile(config_.key_file).ok());
  ASSERT_EQ(::setenv(kKeyPassphraseEnv, "stray", 1), 0);
  absl::Status status = LoadNodeIdentity(config_).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("is not sealed"));
}

// ---------------------------------------------------------------------------
// TLS.

class NodeTlsTest : public KeysTest {
 protected:
  // A one-member roster pinning `fingerprint` for MY.NCB.
  static Roster RosterPinning(const crypto::Identity& identity,
                              const crypto::Sha256& fingerprint) {
    std::vector<proto::Member> members = {
        PublicIdentityOf(identity, "", {}, fingerprint).member()};
    absl::StatusOr<proto::SignedRoster> genesis =
        MakeGenesis("seas", 1, members, 1700000000000);
    EXPECT_TRUE(genesis.ok()) << genesis.status();
    EXPECT_TRUE(SignGenesis(*genesis, identity).ok());
    absl::StatusOr<Roster> roster = Roster::FromSigned(*genesis);
    EXPECT_TRUE(roster.ok()) << roster.status();
    return *std::move(roster);
  }
};

TEST_F(NodeTlsTest, LoadsTheCertificateTheRosterPins) {
  absl::StatusOr<crypto::TlsCredentials> made =
      crypto::GenerateTlsCertificate("MY.NCB", {});
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(crypto::SaveTlsCredentials(*made, config_.tls_key_file,
                                         config_.tls_cert_file)
                  .ok());
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(made->cert_pem);
  ASSERT_TRUE(fingerprint.ok());

  absl::StatusOr<crypto::TlsCredentials> loaded =
      LoadNodeTlsCredentials(config_, RosterPinning(identity_, *fingerprint));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->cert_pem, made->cert_pem);
  EXPECT_EQ(loaded->key_pem.view(), made->key_pem.view());
}

TEST_F(NodeTlsTest, RefusesACertificateTheRosterDoesNotPin) {
  absl::StatusOr<crypto::TlsCredentials> made =
      crypto::GenerateTlsCertificate("MY.NCB", {});
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(crypto::SaveTlsCredentials(*made, config_.tls_key_file,
                                         config_.tls_cert_file)
                  .ok());
  const crypto::Sha256 other =
      *crypto::Sha256::FromBytes(std::string(32, '\x42'));
  absl::Status status =
      LoadNodeTlsCredentials(config_, RosterPinning(identity_, other)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      std::string(status.message()),
      HasSubstr(absl::StrCat("but the roster pins ",
                             crypto::ToHex(other.view()), " for MY.NCB")));

  // An agency not admitted yet: its certificate is checked by peers against
  // the update that admits it.
  config_.principal = "ID.NCB";
  EXPECT_TRUE(
      LoadNodeTlsCredentials(config_, RosterPinning(identity_, other)).ok());
}

TEST_F(NodeTlsTest, FileErrorsPassThrough) {
  const Roster roster = RosterPinning(
      identity_, *crypto::Sha256::FromBytes(std::string(32, '\x42')));
  EXPECT_EQ(LoadNodeTlsCredentials(config_, roster).status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<crypto::TlsCredentials> made =
      crypto::GenerateTlsCertificate("MY.NCB", {});
  ASSERT_TRUE(made.ok());
  ASSERT_TRUE(crypto::SaveTlsCredentials(*made, config_.tls_key_file,
                                         config_.tls_cert_file)
                  .ok());
  ASSERT_EQ(::chmod(config_.tls_key_file.c_str(), 0644), 0);
  EXPECT_EQ(LoadNodeTlsCredentials(config_, roster).status().code(),
            absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace tidings::node

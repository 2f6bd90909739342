#include "node/model/epochs.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/epoch.pb.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace tidings::node {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1700000000);
constexpr absl::Duration kDay = absl::Hours(24);
constexpr absl::Duration kMs = absl::Milliseconds(1);

ino_t InodeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_ino;
}

proto::EpochKey Parse(const proto::SignedEpochKey& signed_key) {
  proto::EpochKey key;
  EXPECT_TRUE(key.ParseFromString(signed_key.key()));
  return key;
}

std::vector<uint64_t> EpochsOf(const std::vector<proto::SignedEpochKey>& all) {
  std::vector<uint64_t> out;
  for (const proto::SignedEpochKey& key : all)
    out.push_back(Parse(key).epoch());
  return out;
}

absl::string_view ViewOf(const crypto::SymmetricKey& key) {
  return absl::string_view(reinterpret_cast<const char*>(key.data()),
                           key.size());
}

crypto::BoxSecretKey CopyOf(const crypto::BoxSecretKey& key) {
  return std::move(*crypto::BoxSecretKey::FromBytes(absl::string_view(
      reinterpret_cast<const char*>(key.data()), key.size())));
}

class TempDirTest : public ::testing::Test {
 protected:
  std::string PathOf(absl::string_view name) const { return dir_ / name; }

  tidings::testing::TempDir dir_{"epochs_test"};
};

// --- EpochKeys ---------------------------------------------------------------

class EpochKeysTest : public TempDirTest {
 protected:
  std::unique_ptr<EpochKeys> OpenKeys() {
    absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
        EpochKeys::Open(path(), identity_, EpochOptions());
    EXPECT_TRUE(keys.ok()) << keys.status();
    return keys.ok() ? *std::move(keys) : nullptr;
  }
  bool AdvanceTo(EpochKeys& keys, absl::Time now) {
    absl::StatusOr<bool> made = keys.Advance(now);
    EXPECT_TRUE(made.ok()) << made.status();
    return made.ok() && *made;
  }
  std::string path() const { return PathOf("epochs"); }

  crypto::Identity identity_ = crypto::Identity::Generate("MY.NCB");
};

TEST_F(EpochKeysTest, MissingFileIsEmptyAndNothingIsWrittenUntilAdvance) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  EXPECT_FALSE(keys->current().has_value());
  EXPECT_TRUE(keys->Published().empty());
  EXPECT_EQ(keys->KeyringFor(1), nullptr);
  EXPECT_FALSE(std::filesystem::exists(path()));
}

TEST_F(EpochKeysTest, FirstAdvanceMakesEpochOneSignedByTheIdentity) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  EXPECT_TRUE(AdvanceTo(*keys, kT0));

  std::optional<EpochKeys::Current> current = keys->current();
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->epoch, 1u);
  ASSERT_NE(current->keyring, nullptr);
  EXPECT_EQ(current->keyring->public_key(), current->public_key);
  EXPECT_EQ(keys->KeyringFor(1), current->keyring);
  // Not the identity's own box key.
  EXPECT_FALSE(current->public_key == identity_.box_public());

  std::vector<proto::SignedEpochKey> published = keys->Published();
  ASSERT_EQ(published.size(), 1u);
  proto::EpochKey key = Parse(published[0]);
  EXPECT_EQ(key.agency(), "MY.NCB");
  EXPECT_EQ(key.epoch(), 1u);
  EXPECT_EQ(key.box_pk(), current->public_key.str());
  EXPECT_EQ(key.not_before_unix_ms(), absl::ToUnixMillis(kT0));
  EXPECT_EQ(key.not_after_unix_ms(), absl::ToUnixMillis(kT0 + kDay));
  std::optional<crypto::Signature> signature =
      crypto::Signature::FromBytes(published[0].signature());
  ASSERT_TRUE(signature.has_value());
  EXPECT_TRUE(crypto::Verify(identity_.verify_key(), crypto::Domain::kEpoch,
                             published[0].key(), *signature)
                  .ok());
  // Under no other domain.
  EXPECT_FALSE(crypto::Verify(identity_.verify_key(), crypto::Domain::kEnvelope,
                              published[0].key(), *signature)
                   .ok());

  // And a peer's directory takes it.
  EpochDirectory directory;
  absl::StatusOr<bool> added =
      directory.Add(published[0], "MY.NCB", identity_.verify_key());
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(*added);

  EXPECT_EQ(testing::FileMode(path()), 0600u);
}

TEST_F(EpochKeysTest, NoNewKeyBeforeNotAfterAndNoRewrite) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  ASSERT_TRUE(AdvanceTo(*keys, kT0));
  const ino_t inode = InodeOf(path());
  const std::string bytes = testing::FileContents(path());
  for (absl::Time now : {kT0, kT0 + absl::Hours(1), kT0 + kDay - kMs}) {
    EXPECT_FALSE(AdvanceTo(*keys, now));
    ASSERT_TRUE(keys->current().has_value());
    EXPECT_EQ(keys->current()->epoch, 1u);
  }
  EXPECT_EQ(keys->Published().size(), 1u);
  // Nothing changed, so the file was not replaced.
  EXPECT_EQ(InodeOf(path()), inode);
  EXPECT_EQ(testing::FileContents(path()), bytes);
}

TEST_F(EpochKeysTest, NewKeyOnceTheCurrentOneEnds) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  ASSERT_TRUE(AdvanceTo(*keys, kT0));
  const crypto::BoxPublicKey first = keys->current()->public_key;

  EXPECT_TRUE(AdvanceTo(*keys, kT0 + kDay));
  std::optional<EpochKeys::Current> current = keys->current();
  ASSERT_TRUE(current.has_value());
  EXPECT_EQ(current->epoch, 2u);
  EXPECT_FALSE(current->public_key == first);
  EXPECT_EQ(EpochsOf(keys->Published()), (std::vector<uint64_t>{1, 2}));
  proto::EpochKey key = Parse(keys->Published()[1]);
  EXPECT_EQ(key.not_before_unix_ms(), absl::ToUnixMillis(kT0 + kDay));
  EXPECT_EQ(key.not_after_unix_ms(), absl::ToUnixMillis(kT0 + 2 * kDay));
  // The old secret is still held, for late envelopes.
  ASSERT_NE(keys->KeyringFor(1), nullptr);
  EXPECT_EQ(keys->KeyringFor(1)->public_key(), first);

  // After a gap longer than an epoch, the next key starts at `now`.
  EXPECT_TRUE(AdvanceTo(*keys, kT0 + 2 * kDay + absl::Hours(5)));
  EXPECT_EQ(keys->current()->epoch, 3u);
  EXPECT_EQ(Parse(keys->Published().back()).not_before_unix_ms(),
            absl::ToUnixMillis(kT0 + 2 * kDay + absl::Hours(5)));
}

TEST_F(EpochKeysTest, ErasesOnlyAfterNotAfterPlusGrace) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  ASSERT_TRUE(AdvanceTo(*keys, kT0));  // epoch 1: [T0, T0+1d)
  const std::string epoch1_pk = keys->current()->public_key.str();
  ASSERT_TRUE(AdvanceTo(*keys, kT0 + kDay));      // epoch 2
  ASSERT_TRUE(AdvanceTo(*keys, kT0 + 2 * kDay));  // epoch 3
  // Epoch 1 ended at T0+1d; the grace runs to T0+3d.
  EXPECT_FALSE(AdvanceTo(*keys, kT0 + 3 * kDay - kMs));
  EXPECT_NE(keys->KeyringFor(1), nullptr);
  EXPECT_EQ(EpochsOf(keys->Published()), (std::vector<uint64_t>{1, 2, 3}));

  EXPECT_TRUE(AdvanceTo(*keys, kT0 + 3 * kDay));  // epoch 4; 1 erased
  EXPECT_EQ(keys->KeyringFor(1), nullptr);
  EXPECT_NE(keys->KeyringFor(2), nullptr);
  EXPECT_EQ(EpochsOf(keys->Published()), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(keys->current()->epoch, 4u);
  // Gone from the file as well.
  EXPECT_EQ(testing::FileContents(path()).find(epoch1_pk), std::string::npos);
}

TEST_F(EpochKeysTest, ErasureAloneRewritesTheFile) {
  // A grace that is not a whole number of epochs, so that an erasure falls
  // within an epoch.
  absl::StatusOr<std::unique_ptr<EpochKeys>> opened =
      EpochKeys::Open(path(), identity_, EpochOptions{kDay, absl::Hours(36)});
  ASSERT_TRUE(opened.ok()) << opened.status();
  EpochKeys& keys = **opened;
  ASSERT_TRUE(AdvanceTo(keys, kT0));
  ASSERT_TRUE(AdvanceTo(keys, kT0 + kDay));
  ASSERT_TRUE(AdvanceTo(keys, kT0 + 2 * kDay));
  const ino_t inode = InodeOf(path());
  // Epoch 1 ended at T0+1d; its grace ends at T0+2.5d, inside epoch 3.
  EXPECT_FALSE(AdvanceTo(keys, kT0 + 2 * kDay + absl::Hours(12) - kMs));
  EXPECT_EQ(InodeOf(path()), inode);
  EXPECT_NE(keys.KeyringFor(1), nullptr);
  EXPECT_FALSE(AdvanceTo(keys, kT0 + 2 * kDay + absl::Hours(12)));
  EXPECT_EQ(keys.KeyringFor(1), nullptr);
  EXPECT_NE(InodeOf(path()), inode);
  EXPECT_EQ(EpochsOf(keys.Published()), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(keys.current()->epoch, 3u);
}

TEST_F(EpochKeysTest, AdvanceAfterALongOutageErasesEverythingButTheNewKey) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  ASSERT_TRUE(AdvanceTo(*keys, kT0));
  ASSERT_TRUE(AdvanceTo(*keys, kT0 + kDay));
  EXPECT_TRUE(AdvanceTo(*keys, kT0 + 30 * kDay));
  EXPECT_EQ(EpochsOf(keys->Published()), (std::vector<uint64_t>{3}));
  EXPECT_EQ(keys->current()->epoch, 3u);
}

TEST_F(EpochKeysTest, ReloadGivesTheSameKeysAndErasedOnesStayErased) {
  std::vector<proto::SignedEpochKey> before;
  std::vector<crypto::BoxPublicKey> public_keys;
  {
    std::unique_ptr<EpochKeys> keys = OpenKeys();
    ASSERT_NE(keys, nullptr);
    for (int day = 0; day <= 3; ++day) {
      ASSERT_TRUE(AdvanceTo(*keys, kT0 + day * kDay));
    }
    before = keys->Published();
    ASSERT_EQ(EpochsOf(before), (std::vector<uint64_t>{2, 3, 4}));
    for (uint64_t epoch : {2, 3, 4}) {
      public_keys.push_back(keys->KeyringFor(epoch)->public_key());
    }
  }
  const ino_t inode = InodeOf(path());

  std::unique_ptr<EpochKeys> reloaded = OpenKeys();
  ASSERT_NE(reloaded, nullptr);
  std::vector<proto::SignedEpochKey> after = reloaded->Published();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].key(), before[i].key());
    EXPECT_EQ(after[i].signature(), before[i].signature());
  }
  EXPECT_EQ(reloaded->KeyringFor(1), nullptr);
  for (uint64_t epoch : {2, 3, 4}) {
    std::shared_ptr<crypto::Keyring> keyring = reloaded->KeyringFor(epoch);
    ASSERT_NE(keyring, nullptr);
    EXPECT_EQ(keyring->public_key(), public_keys[epoch - 2]);
  }
  // Which key is current is decided by the next Advance, not by the file.
  EXPECT_FALSE(reloaded->current().has_value());
  EXPECT_FALSE(AdvanceTo(*reloaded, kT0 + 3 * kDay + absl::Hours(1)));
  ASSERT_TRUE(reloaded->current().has_value());
  EXPECT_EQ(reloaded->current()->epoch, 4u);
  EXPECT_EQ(reloaded->current()->public_key, public_keys[2]);
  EXPECT_EQ(InodeOf(path()), inode);

  // Numbering goes on from the file.
  EXPECT_TRUE(AdvanceTo(*reloaded, kT0 + 4 * kDay));
  EXPECT_EQ(reloaded->current()->epoch, 5u);
}

TEST_F(EpochKeysTest, RefusesAFileOthersCanRead) {
  {
    std::unique_ptr<EpochKeys> keys = OpenKeys();
    ASSERT_NE(keys, nullptr);
    ASSERT_TRUE(AdvanceTo(*keys, kT0));
  }
  ASSERT_EQ(::chmod(path().c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
      EpochKeys::Open(path(), identity_, EpochOptions());
  ASSERT_FALSE(keys.ok());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(keys.status().message(),
            absl::StrCat("epoch key file ", path(),
                         " is accessible by group or others (mode 0644); "
                         "run: chmod 600 ",
                         path()));
}

TEST_F(EpochKeysTest, RefusesAMalformedFile) {
  std::ofstream(path(), std::ios::binary) << "\xff\xff\xff not a proto";
  ASSERT_EQ(::chmod(path().c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
      EpochKeys::Open(path(), identity_, EpochOptions());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      keys.status().message(),
      HasSubstr(absl::StrCat("epoch key file ", path(), " is malformed")));
}

TEST_F(EpochKeysTest, RefusesASecretThatDoesNotMatchItsPublishedKey) {
  {
    std::unique_ptr<EpochKeys> keys = OpenKeys();
    ASSERT_NE(keys, nullptr);
    ASSERT_TRUE(AdvanceTo(*keys, kT0));
  }
  proto::EpochSecretFile file;
  ASSERT_TRUE(file.ParseFromString(testing::FileContents(path())));
  file.mutable_secrets(0)->set_box_sk(std::string(32, '\x42'));
  std::filesystem::remove(path());
  std::ofstream(path(), std::ios::binary) << file.SerializeAsString();
  ASSERT_EQ(::chmod(path().c_str(), 0600), 0);
  absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
      EpochKeys::Open(path(), identity_, EpochOptions());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(keys.status().message(),
              HasSubstr("epoch 1: published key does not match the secret"));
}

TEST_F(EpochKeysTest, RefusesAnotherAgencysFile) {
  {
    std::unique_ptr<EpochKeys> keys = OpenKeys();
    ASSERT_NE(keys, nullptr);
    ASSERT_TRUE(AdvanceTo(*keys, kT0));
  }
  crypto::Identity other = crypto::Identity::Generate("PH.CG");
  absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
      EpochKeys::Open(path(), other, EpochOptions());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(keys.status().message(), absl::StrCat("epoch key file ", path(),
                                                  " is for MY.NCB, not PH.CG"));
}

TEST_F(EpochKeysTest, RetiresKeysAfterTheIdentityKeyIsRotated) {
  uint64_t old_epoch = 0;
  {
    std::unique_ptr<EpochKeys> keys = OpenKeys();
    ASSERT_NE(keys, nullptr);
    ASSERT_TRUE(AdvanceTo(*keys, kT0));
    old_epoch = keys->current()->epoch;
  }
  // The old identity key may have been stolen with the disk, and the epoch
  // secrets with it: they keep opening what was wrapped to them, but are
  // never offered again, and a fresh key is made at once.
  crypto::Identity rotated = crypto::Identity::Generate("MY.NCB");
  absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
      EpochKeys::Open(path(), rotated, EpochOptions());
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE((*keys)->Published().empty());
  EXPECT_NE((*keys)->KeyringFor(old_epoch), nullptr);
  EXPECT_TRUE(AdvanceTo(**keys, kT0 + absl::Hours(1)));
  std::vector<proto::SignedEpochKey> published = (*keys)->Published();
  ASSERT_EQ(published.size(), 1u);
  EXPECT_GT((*keys)->current()->epoch, old_epoch);
  EpochDirectory directory;
  absl::StatusOr<bool> added =
      directory.Add(published[0], "MY.NCB", rotated.verify_key());
  EXPECT_TRUE(added.ok()) << added.status();

  // Reopened, the old one stays retired and the new one current.
  absl::StatusOr<std::unique_ptr<EpochKeys>> again =
      EpochKeys::Open(path(), rotated, EpochOptions());
  ASSERT_TRUE(again.ok());
  ASSERT_EQ((*again)->Published().size(), 1u);
  EXPECT_EQ((*again)->Published()[0].signature(), published[0].signature());
  EXPECT_NE((*again)->KeyringFor(old_epoch), nullptr);
}

// A node whose epoch file is lost numbers its next key above every earlier
// one (the daemon passes the Unix time as first_epoch), so peers that still
// hold its old keys take the new one and wrap to it.
TEST_F(EpochKeysTest, ALostFileStartsAboveEveryEarlierEpoch) {
  EpochDirectory directory;
  EpochOptions options;
  options.first_epoch = 1000;
  {
    absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
        EpochKeys::Open(path(), identity_, options);
    ASSERT_TRUE(keys.ok()) << keys.status();
    ASSERT_TRUE(AdvanceTo(**keys, kT0));
    EXPECT_EQ((*keys)->current()->epoch, 1000u);
    ASSERT_TRUE(AdvanceTo(**keys, kT0 + kDay));
    EXPECT_EQ((*keys)->current()->epoch, 1001u);
    for (const proto::SignedEpochKey& key : (*keys)->Published()) {
      ASSERT_TRUE(directory.Add(key, "MY.NCB", identity_.verify_key()).ok());
    }
  }
  ASSERT_EQ(::unlink(path().c_str()), 0);
  options.first_epoch = 5000;  // a later start
  absl::StatusOr<std::unique_ptr<EpochKeys>> fresh =
      EpochKeys::Open(path(), identity_, options);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  const absl::Time later = kT0 + kDay + absl::Hours(1);
  ASSERT_TRUE(AdvanceTo(**fresh, later));
  EXPECT_EQ((*fresh)->current()->epoch, 5000u);
  absl::StatusOr<bool> added = directory.Add((*fresh)->Published().back(),
                                             "MY.NCB", identity_.verify_key());
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(*added);
  std::optional<proto::EpochKey> newest = directory.Newest("MY.NCB", later);
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->epoch(), 5000u);
  EXPECT_EQ(EpochKeys::Open(path(), identity_, EpochOptions{kDay, kDay, 0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(EpochKeysTest, RefusesBadOptions) {
  EXPECT_EQ(EpochKeys::Open(path(), identity_,
                            EpochOptions{absl::ZeroDuration(), kDay})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      EpochKeys::Open(path(), identity_, EpochOptions{kDay, -absl::Seconds(1)})
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(EpochKeys::Open(path(), identity_,
                              EpochOptions{kDay, absl::ZeroDuration()})
                  .ok());
}

TEST_F(EpochKeysTest, AFailedWriteChangesNothing) {
  const std::string missing = PathOf("no/such/dir/epochs");
  absl::StatusOr<std::unique_ptr<EpochKeys>> keys =
      EpochKeys::Open(missing, identity_, EpochOptions());
  ASSERT_TRUE(keys.ok()) << keys.status();
  absl::StatusOr<bool> made = (*keys)->Advance(kT0);
  EXPECT_EQ(made.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE((*keys)->current().has_value());
  EXPECT_TRUE((*keys)->Published().empty());
}

TEST_F(EpochKeysTest, ConcurrentAdvanceMakesOneKeyPerEpoch) {
  std::unique_ptr<EpochKeys> keys = OpenKeys();
  ASSERT_NE(keys, nullptr);
  for (int day = 0; day < 5; ++day) {
    const absl::Time now = kT0 + day * kDay;
    std::atomic<int> made{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        absl::StatusOr<bool> result = keys->Advance(now);
        if (!result.ok()) ++failures;
        if (result.ok() && *result) ++made;
        // Readers alongside: whatever they see is a consistent key.
        std::optional<EpochKeys::Current> current = keys->current();
        if (current.has_value() &&
            !(current->keyring->public_key() == current->public_key)) {
          ++failures;
        }
        for (const proto::SignedEpochKey& key : keys->Published()) {
          if (keys->KeyringFor(Parse(key).epoch()) == nullptr) ++failures;
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(made.load(), 1) << "day " << day;
    EXPECT_EQ(failures.load(), 0) << "day " << day;
    EXPECT_EQ(keys->current()->epoch, static_cast<uint64_t>(day + 1));
  }
}

// --- EpochDirectory ----------------------------------------------------------

class EpochDirectoryTest : public ::testing::Test {
 protected:
  // `agency`'s key for `epoch`, valid [from, to), signed by `signer`.
  static proto::SignedEpochKey SignedKey(
      const crypto::Identity& signer, uint64_t epoch, absl::Time from,
      absl::Time to, std::optional<std::string> box_pk = std::nullopt,
      std::optional<std::string> agency = std::nullopt) {
    proto::EpochKey key;
    key.set_agency(agency.value_or(signer.principal()));
    key.set_epoch(epoch);
    key.set_box_pk(box_pk.value_or(crypto::GenerateBoxKey().public_key.str()));
    key.set_not_before_unix_ms(absl::ToUnixMillis(from));
    key.set_not_after_unix_ms(absl::ToUnixMillis(to));
    proto::SignedEpochKey signed_key;
    signed_key.set_key(key.SerializeAsString());
    signed_key.set_signature(crypto::Sign(signer.signing_key(),
                                          crypto::Domain::kEpoch,
                                          signed_key.key())
                                 .str());
    return signed_key;
  }
  // Epoch `n` of the daily sequence starting at kT0.
  proto::SignedEpochKey Daily(uint64_t n) const {
    return SignedKey(ncb_, n, kT0 + static_cast<int64_t>(n - 1) * kDay,
                     kT0 + static_cast<int64_t>(n) * kDay);
  }
  absl::StatusOr<bool> AddNcb(const proto::SignedEpochKey& key) {
    return directory_.Add(key, "MY.NCB", ncb_.verify_key());
  }
  void ExpectRefused(const proto::SignedEpochKey& key, absl::StatusCode code,
                     absl::string_view message) {
    absl::StatusOr<bool> added = AddNcb(key);
    ASSERT_FALSE(added.ok());
    EXPECT_EQ(added.status().code(), code) << added.status();
    EXPECT_EQ(added.status().message(), message);
    EXPECT_TRUE(directory_.All().empty());
  }

  crypto::Identity ncb_ = crypto::Identity::Generate("MY.NCB");
  crypto::Identity cg_ = crypto::Identity::Generate("PH.CG");
  EpochDirectory directory_;
};

TEST_F(EpochDirectoryTest, AddsOnceAndFindsIt) {
  proto::SignedEpochKey key = Daily(1);
  absl::StatusOr<bool> added = AddNcb(key);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(*added);
  added = AddNcb(key);
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);

  std::optional<proto::EpochKey> found = directory_.Find("MY.NCB", 1);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->SerializeAsString(), key.key());
  EXPECT_FALSE(directory_.Find("MY.NCB", 2).has_value());
  EXPECT_FALSE(directory_.Find("PH.CG", 1).has_value());
  ASSERT_EQ(directory_.All().size(), 1u);
  EXPECT_EQ(directory_.All()[0].key(), key.key());
  EXPECT_EQ(directory_.All()[0].signature(), key.signature());
}

TEST_F(EpochDirectoryTest, RefusesABadSignature) {
  proto::SignedEpochKey key = Daily(1);
  std::string signature = key.signature();
  signature[5] = static_cast<char>(signature[5] ^ 0x01);
  key.set_signature(signature);
  ExpectRefused(key, absl::StatusCode::kUnauthenticated,
                "epoch key MY.NCB/1 is not signed by MY.NCB's identity key");

  // Signed by another member, or for another purpose.
  proto::SignedEpochKey by_cg =
      SignedKey(cg_, 1, kT0, kT0 + kDay, std::nullopt, std::string("MY.NCB"));
  ExpectRefused(by_cg, absl::StatusCode::kUnauthenticated,
                "epoch key MY.NCB/1 is not signed by MY.NCB's identity key");
  proto::SignedEpochKey other_domain = Daily(1);
  other_domain.set_signature(crypto::Sign(ncb_.signing_key(),
                                          crypto::Domain::kEnvelope,
                                          other_domain.key())
                                 .str());
  ExpectRefused(other_domain, absl::StatusCode::kUnauthenticated,
                "epoch key MY.NCB/1 is not signed by MY.NCB's identity key");

  proto::SignedEpochKey short_signature = Daily(1);
  short_signature.set_signature("short");
  ExpectRefused(short_signature, absl::StatusCode::kInvalidArgument,
                "epoch key MY.NCB/1 has a signature of 5 bytes, not 64");
}

TEST_F(EpochDirectoryTest, RefusesAKeyForAnotherAgency) {
  // PH.CG's genuine key, relayed as if it were MY.NCB's.
  proto::SignedEpochKey key = SignedKey(cg_, 1, kT0, kT0 + kDay);
  ExpectRefused(key, absl::StatusCode::kInvalidArgument,
                "epoch key names agency 'PH.CG', but came as MY.NCB's");
}

TEST_F(EpochDirectoryTest, RefusesBadBoxKeys) {
  ExpectRefused(SignedKey(ncb_, 1, kT0, kT0 + kDay, std::string(31, 'k')),
                absl::StatusCode::kInvalidArgument,
                "epoch key MY.NCB/1 has a box key of 31 bytes, not 32");
  ExpectRefused(SignedKey(ncb_, 1, kT0, kT0 + kDay, std::string()),
                absl::StatusCode::kInvalidArgument,
                "epoch key MY.NCB/1 has a box key of 0 bytes, not 32");
  // Low-order points, properly signed: no shared secret with them.
  std::string one(32, '\0');
  one[0] = 1;
  for (const std::string& point : {std::string(32, '\0'), one}) {
    ExpectRefused(SignedKey(ncb_, 1, kT0, kT0 + kDay, point),
                  absl::StatusCode::kInvalidArgument,
                  "epoch key MY.NCB/1 has an unusable box key: box key is a "
                  "low-order point");
  }
}

TEST_F(EpochDirectoryTest, RefusesMalformedKeys) {
  ExpectRefused(SignedKey(ncb_, 0, kT0, kT0 + kDay),
                absl::StatusCode::kInvalidArgument,
                "epoch key MY.NCB/0 has epoch 0 (epochs start at 1)");
  ExpectRefused(
      SignedKey(ncb_, 1, kT0, kT0), absl::StatusCode::kInvalidArgument,
      absl::StrCat("epoch key MY.NCB/1 has not_before ",
                   absl::ToUnixMillis(kT0), " ms, not before its not_after ",
                   absl::ToUnixMillis(kT0), " ms"));
  proto::SignedEpochKey garbage;
  garbage.set_key("\xff\xff\xff");
  ExpectRefused(garbage, absl::StatusCode::kInvalidArgument,
                "epoch key of MY.NCB does not parse");
  proto::SignedEpochKey huge = Daily(1);
  huge.set_key(huge.key() + std::string(2000, '\0'));
  ExpectRefused(huge, absl::StatusCode::kInvalidArgument,
                absl::StrCat("epoch key of MY.NCB is ", huge.key().size(),
                             " bytes, more than 1024"));
}

TEST_F(EpochDirectoryTest, KeepsTheFirstOfTwoKeysForOneEpoch) {
  proto::SignedEpochKey first = Daily(1);
  ASSERT_TRUE(AddNcb(first).ok());
  absl::StatusOr<bool> second = AddNcb(Daily(1));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(second.status().message(),
            "MY.NCB published two different keys for epoch 1");
  ASSERT_TRUE(directory_.Find("MY.NCB", 1).has_value());
  EXPECT_EQ(directory_.Find("MY.NCB", 1)->SerializeAsString(), first.key());
}

TEST_F(EpochDirectoryTest, NewestIsTheHighestEpochValidNow) {
  for (uint64_t n : {1, 2, 3}) ASSERT_TRUE(AddNcb(Daily(n)).ok());
  // Overlapping with epoch 3, from within its day; and one not yet valid.
  ASSERT_TRUE(AddNcb(SignedKey(ncb_, 4, kT0 + 2 * kDay + absl::Hours(12),
                               kT0 + 4 * kDay))
                  .ok());
  auto newest = [&](absl::Time now) -> std::optional<uint64_t> {
    std::optional<proto::EpochKey> key = directory_.Newest("MY.NCB", now);
    if (!key.has_value()) return std::nullopt;
    return key->epoch();
  };
  EXPECT_EQ(newest(kT0 - kMs), std::nullopt);
  EXPECT_EQ(newest(kT0), 1u);
  EXPECT_EQ(newest(kT0 + kDay - kMs), 1u);
  EXPECT_EQ(newest(kT0 + kDay), 2u);
  EXPECT_EQ(newest(kT0 + 2 * kDay), 3u);
  EXPECT_EQ(newest(kT0 + 2 * kDay + absl::Hours(12)), 4u);
  EXPECT_EQ(newest(kT0 + 4 * kDay - kMs), 4u);
  EXPECT_EQ(newest(kT0 + 4 * kDay), std::nullopt);
  EXPECT_FALSE(directory_.Newest("PH.CG", kT0).has_value());
}

TEST_F(EpochDirectoryTest, KeepsAtMostAFewKeysPerAgency) {
  for (uint64_t n = 1; n <= 6; ++n) {
    absl::StatusOr<bool> added = AddNcb(Daily(n));
    ASSERT_TRUE(added.ok()) << added.status();
    EXPECT_TRUE(*added);
  }
  EXPECT_EQ(EpochsOf(directory_.All()), (std::vector<uint64_t>{3, 4, 5, 6}));
  EXPECT_FALSE(directory_.Find("MY.NCB", 2).has_value());
  // An old key coming round again is not new, and is not kept.
  absl::StatusOr<bool> again = AddNcb(Daily(1));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  EXPECT_EQ(EpochsOf(directory_.All()), (std::vector<uint64_t>{3, 4, 5, 6}));
  // Another agency has its own room.
  ASSERT_TRUE(
      directory_
          .Add(SignedKey(cg_, 1, kT0, kT0 + kDay), "PH.CG", cg_.verify_key())
          .ok());
  EXPECT_EQ(directory_.All().size(), 5u);

  EpochDirectory small(1);
  ASSERT_TRUE(small.Add(Daily(1), "MY.NCB", ncb_.verify_key()).ok());
  ASSERT_TRUE(small.Add(Daily(2), "MY.NCB", ncb_.verify_key()).ok());
  EXPECT_EQ(EpochsOf(small.All()), (std::vector<uint64_t>{2}));
}

TEST_F(EpochDirectoryTest, ForgetDropsOneAgency) {
  ASSERT_TRUE(AddNcb(Daily(1)).ok());
  ASSERT_TRUE(
      directory_
          .Add(SignedKey(cg_, 1, kT0, kT0 + kDay), "PH.CG", cg_.verify_key())
          .ok());
  directory_.Forget("MY.NCB");
  directory_.Forget("NOT.THERE");
  EXPECT_FALSE(directory_.Find("MY.NCB", 1).has_value());
  EXPECT_TRUE(directory_.Find("PH.CG", 1).has_value());
  EXPECT_EQ(directory_.All().size(), 1u);
}

// --- Storage key -------------------------------------------------------------

class StorageKeyTest : public TempDirTest {};

TEST_F(StorageKeyTest, CreatedOnceThenLoaded) {
  const std::string path = PathOf("storage.key");
  absl::StatusOr<crypto::SymmetricKey> created = LoadOrCreateStorageKey(path);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(testing::FileMode(path), 0600u);
  EXPECT_EQ(testing::FileContents(path), std::string(ViewOf(*created)));
  absl::StatusOr<crypto::SymmetricKey> loaded = LoadOrCreateStorageKey(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ViewOf(*loaded), ViewOf(*created));
  EXPECT_NE(ViewOf(*created), std::string(32, '\0'));
}

TEST_F(StorageKeyTest, RefusesAFileOthersCanRead) {
  const std::string path = PathOf("storage.key");
  ASSERT_TRUE(LoadOrCreateStorageKey(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  absl::StatusOr<crypto::SymmetricKey> key = LoadOrCreateStorageKey(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(key.status().message(),
            absl::StrCat("storage key file ", path,
                         " is accessible by group or others (mode 0640); "
                         "run: chmod 600 ",
                         path));
}

TEST_F(StorageKeyTest, RefusesAFileOfTheWrongSize) {
  for (size_t size : {0, 31, 33}) {
    const std::string path = PathOf(absl::StrCat("storage.key.", size));
    std::ofstream(path, std::ios::binary) << std::string(size, 'k');
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    absl::StatusOr<crypto::SymmetricKey> key = LoadOrCreateStorageKey(path);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(
        key.status().message(),
        HasSubstr(absl::StrCat("storage key file ", path, " is malformed")));
  }
}

TEST_F(StorageKeyTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(
      LoadOrCreateStorageKey(PathOf("no/such/storage.key")).status().code(),
      absl::StatusCode::kNotFound);
}

// --- Forward secrecy ---------------------------------------------------------

// One node: identity key file, epoch key file, storage key file, and the
// epoch keys its peers published.
struct Node {
  Node(absl::string_view agency, const std::string& dir)
      : identity(crypto::Identity::Generate(agency)),
        identity_path(absl::StrCat(dir, "/", agency, ".key")),
        epochs_path(absl::StrCat(dir, "/", agency, ".epochs")),
        storage_key_path(absl::StrCat(dir, "/", agency, ".storage.key")) {}

  crypto::Identity identity;
  std::string identity_path;
  std::string epochs_path;
  std::string storage_key_path;
  std::unique_ptr<EpochKeys> epochs;
  EpochDirectory directory;
};

class ForwardSecrecyTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    sender_ = std::make_unique<Node>("MY.NCB", dir_.path());
    recipient_ = std::make_unique<Node>("PH.CG", dir_.path());
    for (Node* node : {sender_.get(), recipient_.get()}) {
      ASSERT_TRUE(node->identity.SaveFile(node->identity_path).ok());
      absl::StatusOr<std::unique_ptr<EpochKeys>> epochs =
          EpochKeys::Open(node->epochs_path, node->identity, EpochOptions());
      ASSERT_TRUE(epochs.ok()) << epochs.status();
      node->epochs = *std::move(epochs);
    }
  }

  // Both nodes advance to `now` and gossip their published keys.
  void AdvanceBoth(absl::Time now) {
    for (Node* node : {sender_.get(), recipient_.get()}) {
      ASSERT_TRUE(node->epochs->Advance(now).ok());
    }
    for (const auto& [from, to] :
         {std::pair{sender_.get(), recipient_.get()},
          std::pair{recipient_.get(), sender_.get()}}) {
      for (const proto::SignedEpochKey& key : from->epochs->Published()) {
        ASSERT_TRUE(to->directory
                        .Add(key, from->identity.principal(),
                             from->identity.verify_key())
                        .ok());
      }
    }
  }

  std::unique_ptr<Node> sender_;
  std::unique_ptr<Node> recipient_;
};

TEST_F(ForwardSecrecyTest, ErasedEpochKeysNoLongerOpenCapturedEnvelopes) {
  constexpr absl::string_view kAad = "body aad: network, origin, seq";
  constexpr absl::string_view kEnvelopeId = "envelope-id-1";
  constexpr absl::string_view kBody = "raid at pier 4, 05:00";
  AdvanceBoth(kT0);

  // The sender wraps from its current epoch key to the recipient's newest.
  std::optional<EpochKeys::Current> sending = sender_->epochs->current();
  ASSERT_TRUE(sending.has_value());
  std::optional<proto::EpochKey> to =
      sender_->directory.Newest("PH.CG", kT0 + absl::Hours(1));
  ASSERT_TRUE(to.has_value());
  const uint64_t recipient_epoch = to->epoch();
  std::vector<crypto::Recipient> recipients = {
      {"PH.CG", *crypto::BoxPublicKey::FromBytes(to->box_pk())}};
  absl::StatusOr<crypto::Sealed> sealed =
      crypto::Seal(*sending->keyring, recipients, kAad, kBody);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  const uint64_t sender_epoch = sending->epoch;
  sending.reset();

  // What an eavesdropper records off the wire.
  const crypto::Nonce nonce = sealed->nonce;
  const std::string wrapped = sealed->wrapped_keys[0].wrapped;
  const std::string ciphertext = sealed->ciphertext;

  // The recipient opens it with its epoch key and the sender's epoch key as
  // published, and stores the content key under its storage key.
  std::optional<proto::EpochKey> from =
      recipient_->directory.Find("MY.NCB", sender_epoch);
  ASSERT_TRUE(from.has_value());
  const crypto::BoxPublicKey sender_epoch_pk =
      *crypto::BoxPublicKey::FromBytes(from->box_pk());
  std::string stored;
  {
    std::shared_ptr<crypto::Keyring> keyring =
        recipient_->epochs->KeyringFor(recipient_epoch);
    ASSERT_NE(keyring, nullptr);
    absl::StatusOr<crypto::SymmetricKey> content_key = crypto::OpenContentKey(
        *keyring, "PH.CG", sender_epoch_pk, nonce, wrapped, kAad);
    ASSERT_TRUE(content_key.ok()) << content_key.status();
    absl::StatusOr<std::string> body =
        crypto::OpenWithContentKey(*content_key, nonce, kAad, ciphertext);
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(*body, kBody);

    absl::StatusOr<crypto::SymmetricKey> storage_key =
        LoadOrCreateStorageKey(recipient_->storage_key_path);
    ASSERT_TRUE(storage_key.ok()) << storage_key.status();
    stored = crypto::SealLocal(*storage_key, kEnvelopeId, ViewOf(*content_key));
    absl::StatusOr<std::string> unsealed =
        crypto::OpenLocal(*storage_key, kEnvelopeId, stored);
    ASSERT_TRUE(unsealed.ok()) << unsealed.status();
    EXPECT_EQ(*unsealed, ViewOf(*content_key));
  }

  // Time passes beyond the epoch and its grace; both nodes erase.
  AdvanceBoth(kT0 + kDay);
  AdvanceBoth(kT0 + kDay + EpochOptions().grace);
  EXPECT_EQ(recipient_->epochs->KeyringFor(recipient_epoch), nullptr);
  EXPECT_EQ(sender_->epochs->KeyringFor(sender_epoch), nullptr);

  // An attacker takes both disks: everything is re-read from the files.
  sender_->epochs.reset();
  recipient_->epochs.reset();
  absl::StatusOr<crypto::Identity> stolen_identity =
      crypto::Identity::LoadFile(recipient_->identity_path);
  ASSERT_TRUE(stolen_identity.ok()) << stolen_identity.status();
  absl::StatusOr<crypto::Identity> stolen_sender_identity =
      crypto::Identity::LoadFile(sender_->identity_path);
  ASSERT_TRUE(stolen_sender_identity.ok());
  absl::StatusOr<std::unique_ptr<EpochKeys>> stolen_recipient = EpochKeys::Open(
      recipient_->epochs_path, *stolen_identity, EpochOptions());
  absl::StatusOr<std::unique_ptr<EpochKeys>> stolen_sender = EpochKeys::Open(
      sender_->epochs_path, *stolen_sender_identity, EpochOptions());
  ASSERT_TRUE(stolen_recipient.ok()) << stolen_recipient.status();
  ASSERT_TRUE(stolen_sender.ok()) << stolen_sender.status();
  EXPECT_EQ((*stolen_recipient)->KeyringFor(recipient_epoch), nullptr);
  EXPECT_EQ((*stolen_sender)->KeyringFor(sender_epoch), nullptr);

  // Every secret left on either disk, tried against the captured wrap.
  std::vector<std::shared_ptr<crypto::Keyring>> keyrings;
  for (EpochKeys* keys : {stolen_recipient->get(), stolen_sender->get()}) {
    for (const proto::SignedEpochKey& key : keys->Published()) {
      keyrings.push_back(keys->KeyringFor(Parse(key).epoch()));
    }
  }
  ASSERT_FALSE(keyrings.empty());
  keyrings.push_back(
      std::make_shared<crypto::Keyring>(CopyOf(stolen_identity->box_secret())));
  keyrings.push_back(std::make_shared<crypto::Keyring>(
      CopyOf(stolen_sender_identity->box_secret())));
  const std::vector<crypto::BoxPublicKey> peer_keys = {
      sender_epoch_pk, *crypto::BoxPublicKey::FromBytes(to->box_pk()),
      stolen_identity->box_public(), stolen_sender_identity->box_public()};
  for (const std::shared_ptr<crypto::Keyring>& keyring : keyrings) {
    ASSERT_NE(keyring, nullptr);
    for (const crypto::BoxPublicKey& peer : peer_keys) {
      for (absl::string_view as : {"PH.CG", "MY.NCB"}) {
        absl::StatusOr<crypto::SymmetricKey> content_key =
            crypto::OpenContentKey(*keyring, as, peer, nonce, wrapped, kAad);
        EXPECT_EQ(content_key.status().code(),
                  absl::StatusCode::kUnauthenticated);
      }
    }
  }

  // The recipient itself still reads what it stored, through its storage
  // key (which a disk thief gets too: stored envelopes are protected by the
  // data directory's encryption, not by epochs).
  absl::StatusOr<crypto::SymmetricKey> storage_key =
      LoadOrCreateStorageKey(recipient_->storage_key_path);
  ASSERT_TRUE(storage_key.ok());
  absl::StatusOr<std::string> unsealed =
      crypto::OpenLocal(*storage_key, kEnvelopeId, stored);
  ASSERT_TRUE(unsealed.ok()) << unsealed.status();
  std::optional<crypto::SymmetricKey> content_key =
      crypto::SymmetricKey::FromBytes(*unsealed);
  ASSERT_TRUE(content_key.has_value());
  absl::StatusOr<std::string> body =
      crypto::OpenWithContentKey(*content_key, nonce, kAad, ciphertext);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, kBody);
}

}  // namespace
}  // namespace tidings::node

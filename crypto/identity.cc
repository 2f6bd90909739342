#include "crypto/identity.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/durable_file.h"
#include "base/status_macros.h"
#include "crypto/internal/secret_file.h"
#include "crypto/labels.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "google/protobuf/unknown_field_set.h"
#include "proto/keyfile.pb.h"

namespace tidings::crypto {
namespace {

using secret_file_internal::Access;
using secret_file_internal::FileBytes;

constexpr uint32_t kKeyFileVersion = 1;
constexpr uint32_t kSealedKeyFileVersion = 2;
constexpr absl::string_view kKeyFile = "key file";
constexpr absl::string_view kPassphraseFile = "passphrase file";
constexpr absl::string_view kSealDomain = labels::kKeyFile;

// A key file is a few short fields; anything much bigger is not one, and the
// cap keeps a wrong path (say, a log file) from being read into memory.
constexpr size_t kMaxKeyFileSize = 4096;
constexpr size_t kMaxPassphraseFileSize = 4096;

// Argon2id parameters a sealed file may ask for: libsodium's minimum up to
// four times SENSITIVE. A file asking for more is refused as malformed rather
// than left to stall the node's start for minutes or exhaust its memory.
constexpr uint64_t kMaxOpslimit = 4 * crypto_pwhash_OPSLIMIT_SENSITIVE;
constexpr uint64_t kMaxMemlimit =
    4 * uint64_t{crypto_pwhash_MEMLIMIT_SENSITIVE};

struct PwhashLimits {
  uint64_t opslimit;
  uint64_t memlimit;
};

PwhashLimits LimitsOf(PassphraseCost cost) {
  switch (cost) {
    case PassphraseCost::kInteractive:
      return {crypto_pwhash_OPSLIMIT_INTERACTIVE,
              crypto_pwhash_MEMLIMIT_INTERACTIVE};
    case PassphraseCost::kSensitive:
      return {crypto_pwhash_OPSLIMIT_SENSITIVE,
              crypto_pwhash_MEMLIMIT_SENSITIVE};
    case PassphraseCost::kModerate:
      break;
  }
  return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
}

// Wipes a std::string's bytes when it goes out of scope. The string must not
// grow after construction, or its old buffer would escape the wipe.
class WipeOnExit {
 public:
  explicit WipeOnExit(std::string& s) : s_(s) {}
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;
  ~WipeOnExit() { sodium_memzero(s_.data(), s_.size()); }

 private:
  std::string& s_;
};

// Wipes the secret fields of a parsed or filled key file; protobuf frees
// them without wiping.
class WipeKeyFileOnExit {
 public:
  explicit WipeKeyFileOnExit(proto::SecretKeyFile& file) : file_(file) {}
  WipeKeyFileOnExit(const WipeKeyFileOnExit&) = delete;
  WipeKeyFileOnExit& operator=(const WipeKeyFileOnExit&) = delete;
  ~WipeKeyFileOnExit() {
    std::string* seed = file_.mutable_sign_seed();
    sodium_memzero(seed->data(), seed->size());
    std::string* box = file_.mutable_box_sk();
    sodium_memzero(box->data(), box->size());
  }

 private:
  proto::SecretKeyFile& file_;
};

absl::Status Malformed(const std::string& path, absl::string_view why) {
  return secret_file_internal::Malformed(kKeyFile, path, why);
}

absl::Status WrongPassphrase(const std::string& path) {
  return absl::PermissionDeniedError(
      absl::StrCat("wrong passphrase for key file ", path));
}

void AppendLe(std::string& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
  }
}

void AppendField(std::string& out, absl::string_view field) {
  AppendLe(out, field.size(), 8);
  out.append(field.data(), field.size());
}

// The associated data of a sealed key file: every public field but the nonce
// (an input of the AEAD itself) and the ciphertext, length-prefixed.
std::string SealedAssociatedData(const proto::SealedKeyFile& file) {
  std::string version;
  AppendLe(version, file.version(), 4);
  std::string opslimit;
  AppendLe(opslimit, file.opslimit(), 8);
  std::string memlimit;
  AppendLe(memlimit, file.memlimit(), 8);
  std::string ad;
  for (absl::string_view field :
       {kSealDomain, absl::string_view(version),
        absl::string_view(file.agency()), absl::string_view(file.salt()),
        absl::string_view(opslimit), absl::string_view(memlimit)}) {
    AppendField(ad, field);
  }
  return ad;
}

// Argon2id13 of the passphrase with the file's salt and limits.
absl::StatusOr<SymmetricKey> DeriveKey(const Passphrase& passphrase,
                                       const proto::SealedKeyFile& file) {
  SymmetricKey key;
  if (crypto_pwhash(key.mutable_data(), key.size(), passphrase.view().data(),
                    passphrase.size(),
                    reinterpret_cast<const unsigned char*>(file.salt().data()),
                    file.opslimit(), static_cast<size_t>(file.memlimit()),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    // The only run-time failure of crypto_pwhash on checked inputs.
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot derive the key file's key: Argon2id could not get "
                     "its ",
                     file.memlimit() >> 20, " MiB of memory"));
  }
  return key;
}

// The checked secrets of a plain key file.
struct KeyFileSecrets {
  std::string principal;  // the key file's `agency` field
  SigningSeed seed;
  BoxSecretKey box;
};

// Checks a plain key file's fields. `where` prefixes the reasons ("" for a
// plain file, "sealed contents: " inside a sealed one).
absl::StatusOr<KeyFileSecrets> CheckKeyFile(const proto::SecretKeyFile& file,
                                            const std::string& path,
                                            absl::string_view where) {
  if (file.version() != kKeyFileVersion) {
    return Malformed(path,
                     absl::StrCat(where, "unsupported version ", file.version(),
                                  " (want ", kKeyFileVersion, ", or ",
                                  kSealedKeyFileVersion, " if sealed)"));
  }
  if (file.agency().empty()) {
    return Malformed(path, absl::StrCat(where, "agency is empty"));
  }
  std::optional<SigningSeed> seed = SigningSeed::FromBytes(file.sign_seed());
  if (!seed.has_value()) {
    return Malformed(
        path, absl::StrCat(where, "sign_seed is ", file.sign_seed().size(),
                           " bytes (want ", SigningSeed::kSize, ")"));
  }
  std::optional<BoxSecretKey> box = BoxSecretKey::FromBytes(file.box_sk());
  if (!box.has_value()) {
    return Malformed(path,
                     absl::StrCat(where, "box_sk is ", file.box_sk().size(),
                                  " bytes (want ", BoxSecretKey::kSize, ")"));
  }
  return KeyFileSecrets{file.agency(), std::move(*seed), std::move(*box)};
}

// Serializes `file` into a buffer that is wiped when it goes.
absl::StatusOr<FileBytes> SerializeSecret(const proto::SecretKeyFile& file,
                                          const std::string& path) {
  FileBytes bytes = FileBytes::OfSize(file.ByteSizeLong());
  if (!file.SerializeToArray(bytes.mutable_data(),
                             static_cast<int>(bytes.size()))) {
    return absl::InternalError(
        absl::StrCat("cannot serialize key file ", path));
  }
  return bytes;
}

}  // namespace

absl::StatusOr<Passphrase> ReadPassphraseFile(const std::string& path) {
  absl::StatusOr<FileBytes> bytes = secret_file_internal::ReadFile(
      path, kPassphraseFile, Access::kOwnerOnly, kMaxPassphraseFileSize);
  if (!bytes.ok()) return bytes.status();
  // Editors and `echo` end the file with a newline that is not part of the
  // passphrase; only one is removed, so a passphrase may still end in spaces.
  size_t size = bytes->size();
  if (size > 0 && bytes->view()[size - 1] == '\n') {
    --size;
    if (size > 0 && bytes->view()[size - 1] == '\r') --size;
  }
  if (size == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("passphrase file ", path, " is empty"));
  }
  bytes->Truncate(size);
  return Passphrase(bytes->view());
}

Identity Identity::Generate(absl::string_view principal) {
  EnsureSodium();
  Identity identity;
  identity.principal_ = std::string(principal);
  SigningKeyPair signing = GenerateSigningKey();
  identity.signing_key_ = std::move(signing.secret);
  identity.verify_key_ = signing.public_key;
  BoxKeyPair box = GenerateBoxKey();
  identity.box_secret_ = std::move(box.secret);
  identity.box_public_ = box.public_key;
  return identity;
}

namespace {

// The fields of a sealed key file that are checked before any key is
// derived: each outside its range is refused, naming it.
absl::Status CheckSealedFields(const proto::SealedKeyFile& sealed,
                               const std::string& path) {
  if (sealed.agency().empty()) return Malformed(path, "agency is empty");
  if (sealed.salt().size() != crypto_pwhash_SALTBYTES) {
    return Malformed(
        path, absl::StrCat("salt is ", sealed.salt().size(), " bytes (want ",
                           crypto_pwhash_SALTBYTES, ")"));
  }
  if (sealed.opslimit() < crypto_pwhash_OPSLIMIT_MIN ||
      sealed.opslimit() > kMaxOpslimit) {
    return Malformed(
        path, absl::StrCat("opslimit ", sealed.opslimit(), " is outside ",
                           crypto_pwhash_OPSLIMIT_MIN, "..", kMaxOpslimit));
  }
  if (sealed.memlimit() < crypto_pwhash_MEMLIMIT_MIN ||
      sealed.memlimit() > kMaxMemlimit) {
    return Malformed(
        path, absl::StrCat("memlimit ", sealed.memlimit(), " is outside ",
                           crypto_pwhash_MEMLIMIT_MIN, "..", kMaxMemlimit));
  }
  if (sealed.nonce().size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES) {
    return Malformed(
        path, absl::StrCat("nonce is ", sealed.nonce().size(), " bytes (want ",
                           crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, ")"));
  }
  if (sealed.ciphertext().size() < crypto_aead_xchacha20poly1305_ietf_ABYTES) {
    return Malformed(path,
                     absl::StrCat("ciphertext is ", sealed.ciphertext().size(),
                                  " bytes, shorter than its tag"));
  }
  return absl::OkStatus();
}

// Derives the key from `passphrase`, opens the sealed contents and checks
// the key file inside.
absl::StatusOr<KeyFileSecrets> OpenSealedKeyFile(
    const proto::SealedKeyFile& sealed, const Passphrase& passphrase,
    const std::string& path) {
  absl::StatusOr<SymmetricKey> key = DeriveKey(passphrase, sealed);
  if (!key.ok()) return key.status();
  const std::string ad = SealedAssociatedData(sealed);
  FileBytes plain = FileBytes::OfSize(
      sealed.ciphertext().size() - crypto_aead_xchacha20poly1305_ietf_ABYTES);
  unsigned long long plain_size = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.mutable_data()), &plain_size,
          /*nsec=*/nullptr,
          reinterpret_cast<const unsigned char*>(sealed.ciphertext().data()),
          sealed.ciphertext().size(),
          reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
          reinterpret_cast<const unsigned char*>(sealed.nonce().data()),
          key->data()) != 0) {
    return WrongPassphrase(path);
  }
  plain.Truncate(static_cast<size_t>(plain_size));

  proto::SecretKeyFile inner;
  WipeKeyFileOnExit wipe_inner(inner);
  if (!inner.ParseFromArray(plain.view().data(),
                            static_cast<int>(plain.size()))) {
    return Malformed(path, "sealed contents are not a key file");
  }
  if (inner.agency() != sealed.agency()) {
    return Malformed(path, absl::StrCat("sealed contents are for another "
                                        "agency than the file names"));
  }
  return CheckKeyFile(inner, path, "sealed contents: ");
}

}  // namespace

absl::StatusOr<Identity> Identity::LoadFile(const std::string& path) {
  return LoadFile(path, nullptr);
}

Identity Identity::FromSecrets(std::string principal, const SigningSeed& seed,
                               BoxSecretKey box) {
  Identity identity;
  identity.principal_ = std::move(principal);
  SigningKeyPair signing = SigningKeyFromSeed(seed);
  identity.signing_key_ = std::move(signing.secret);
  identity.verify_key_ = signing.public_key;
  identity.box_public_ = PublicKeyOf(box);
  identity.box_secret_ = std::move(box);
  return identity;
}

absl::StatusOr<Identity> Identity::LoadFile(const std::string& path,
                                            const Passphrase* passphrase) {
  absl::StatusOr<FileBytes> bytes = secret_file_internal::ReadFile(
      path, kKeyFile, Access::kOwnerOnly, kMaxKeyFileSize);
  if (!bytes.ok()) return bytes.status();

  // Both kinds parse as a SecretKeyFile (a sealed file's own fields land in
  // unknown fields); `version` tells which it is.
  proto::SecretKeyFile file;
  WipeKeyFileOnExit wipe_file(file);
  if (!file.ParseFromArray(bytes->view().data(),
                           static_cast<int>(bytes->size()))) {
    return Malformed(path, "not a key file");
  }
  if (file.version() != kSealedKeyFileVersion) {
    absl::StatusOr<KeyFileSecrets> secrets = CheckKeyFile(file, path, "");
    if (!secrets.ok()) return secrets.status();
    if (passphrase != nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key file ", path,
          " is not sealed, but a passphrase was given; seal it (tidings key "
          "seal) or give no passphrase"));
    }
    return FromSecrets(std::move(secrets->principal), secrets->seed,
                       std::move(secrets->box));
  }

  proto::SealedKeyFile sealed;
  if (!sealed.ParseFromArray(bytes->view().data(),
                             static_cast<int>(bytes->size()))) {
    return Malformed(path, "not a sealed key file");
  }
  // Every byte of a sealed file is either authenticated or an AEAD input;
  // extra fields would be neither.
  if (!sealed.GetReflection()->GetUnknownFields(sealed).empty()) {
    return Malformed(path, "sealed key file has unknown fields");
  }
  TIDINGS_RETURN_IF_ERROR(CheckSealedFields(sealed, path));
  if (passphrase == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path, " is sealed; give its passphrase"));
  }
  absl::StatusOr<KeyFileSecrets> secrets =
      OpenSealedKeyFile(sealed, *passphrase, path);
  if (!secrets.ok()) return secrets.status();
  return FromSecrets(std::move(secrets->principal), secrets->seed,
                     std::move(secrets->box));
}

void Identity::FillSecrets(proto::SecretKeyFile& file) const {
  file.set_version(kKeyFileVersion);
  file.set_agency(principal_);
  SigningSeed seed = SeedOf(signing_key_);
  file.set_sign_seed(reinterpret_cast<const char*>(seed.data()), seed.size());
  file.set_box_sk(reinterpret_cast<const char*>(box_secret_.data()),
                  box_secret_.size());
}

absl::StatusOr<SecretFileBytes> Identity::KeyFileBytes(
    const std::string& path, const Passphrase* passphrase,
    const SealOptions& options) const {
  EnsureSodium();
  if (passphrase != nullptr && passphrase->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot seal key file ",
                                                   path,
                                                   ": the passphrase is "
                                                   "empty"));
  }
  proto::SecretKeyFile file;
  WipeKeyFileOnExit wipe_file(file);
  FillSecrets(file);
  absl::StatusOr<FileBytes> plain = SerializeSecret(file, path);
  if (!plain.ok()) return plain.status();
  if (passphrase == nullptr) return plain;

  const PwhashLimits limits = LimitsOf(options.cost);
  proto::SealedKeyFile sealed;
  sealed.set_version(kSealedKeyFileVersion);
  sealed.set_agency(principal_);
  std::string salt(crypto_pwhash_SALTBYTES, '\0');
  randombytes_buf(salt.data(), salt.size());
  sealed.set_salt(salt);
  sealed.set_opslimit(limits.opslimit);
  sealed.set_memlimit(limits.memlimit);
  std::string nonce(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  sealed.set_nonce(nonce);

  absl::StatusOr<SymmetricKey> key = DeriveKey(*passphrase, sealed);
  if (!key.ok()) return key.status();
  const std::string ad = SealedAssociatedData(sealed);
  std::string ciphertext(
      plain->size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long ciphertext_size = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(ciphertext.data()), &ciphertext_size,
      reinterpret_cast<const unsigned char*>(plain->view().data()),
      plain->size(), reinterpret_cast<const unsigned char*>(ad.data()),
      ad.size(), /*nsec=*/nullptr,
      reinterpret_cast<const unsigned char*>(nonce.data()), key->data());
  ciphertext.resize(static_cast<size_t>(ciphertext_size));
  sealed.set_ciphertext(std::move(ciphertext));

  std::string bytes;
  if (!sealed.SerializeToString(&bytes)) {
    return absl::InternalError(
        absl::StrCat("cannot serialize key file ", path));
  }
  return FileBytes(bytes);
}

absl::Status Identity::SaveFile(const std::string& path) const {
  TIDINGS_ASSIGN_OR_RETURN(const FileBytes bytes,
                           KeyFileBytes(path, nullptr, SealOptions()));
  return base::WriteNewFile(path, kKeyFile, bytes.view(), 0600);
}

absl::Status Identity::SaveFile(const std::string& path,
                                const Passphrase& passphrase,
                                const SealOptions& options) const {
  TIDINGS_ASSIGN_OR_RETURN(const FileBytes bytes,
                           KeyFileBytes(path, &passphrase, options));
  return base::WriteNewFile(path, kKeyFile, bytes.view(), 0600);
}

// A unique temporary file (not secret_file_internal::ReplaceFile's fixed
// one): two officers sealing one key file at once must not tear it.
absl::Status Identity::ReplaceFile(const std::string& path) const {
  TIDINGS_ASSIGN_OR_RETURN(const FileBytes bytes,
                           KeyFileBytes(path, nullptr, SealOptions()));
  return base::ReplaceFile(path, kKeyFile, bytes.view(), 0600,
                           base::TempFile::kUnique);
}

absl::Status Identity::ReplaceFile(const std::string& path,
                                   const Passphrase& passphrase,
                                   const SealOptions& options) const {
  TIDINGS_ASSIGN_OR_RETURN(const FileBytes bytes,
                           KeyFileBytes(path, &passphrase, options));
  return base::ReplaceFile(path, kKeyFile, bytes.view(), 0600,
                           base::TempFile::kUnique);
}

}  // namespace tidings::crypto

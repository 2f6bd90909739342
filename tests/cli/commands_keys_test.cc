// keygen, key seal and unseal (cli/commands_keys.cc).
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/tls_cert.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/model/roster.h"
#include "proto/client.grpc.pb.h"
#include "proto/roster.pb.h"
#include "tests/cli/cli_testing.h"

namespace tidings::node {
namespace {

// ---------------------------------------------------------------------------
// keygen and roster, on files.

TEST(CliTest, KeygenWritesPrivateKeyAndPublicIdentity) {
  TempDir dir;
  Result r = Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys",
                      "--name", "Royal Malaysia Police NCB", "--endpoint",
                      "127.0.0.1:7101", "--endpoint", "10.0.0.1:7101"});
  ASSERT_THAT(r, Succeeds());

  const std::string key_path = dir / "keys/MY.NCB.key";
  const std::string pub_path = dir / "keys/MY.NCB.pub";
  struct stat st {};
  ASSERT_EQ(stat(key_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir / "keys").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "a new key directory is private";

  proto::PublicIdentity pub;
  ASSERT_TRUE(ReadProtoFile(pub_path, pub).ok());
  EXPECT_EQ(pub.member().agency(), "MY.NCB");
  EXPECT_EQ(pub.member().name(), "Royal Malaysia Police NCB");
  EXPECT_THAT(pub.member().endpoints(),
              ElementsAre("127.0.0.1:7101", "10.0.0.1:7101"));
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(key_path);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->verify_key().str(), pub.member().sign_pk());
  EXPECT_EQ(identity->box_public().str(), pub.member().box_pk());
  // Fingerprints printed for out-of-band comparison between founders.
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(pub.member().sign_pk())));
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(pub.member().box_pk())));
  EXPECT_THAT(r.out, HasSubstr("MY.NCB"));

  // The TLS key and certificate, pinned by the .pub file.
  const std::string tls_key = dir / "keys/MY.NCB.tls.key";
  const std::string tls_cert = dir / "keys/MY.NCB.tls.crt";
  ASSERT_EQ(stat(tls_key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(tls_cert.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  absl::StatusOr<crypto::TlsCredentials> tls =
      crypto::LoadTlsCredentials(tls_key, tls_cert);
  ASSERT_TRUE(tls.ok()) << tls.status();
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(tls->cert_pem);
  ASSERT_TRUE(fingerprint.ok());
  EXPECT_EQ(pub.member().tls_cert_sha256(), fingerprint->str());
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(fingerprint->view())));
  EXPECT_THAT(r.out, HasSubstr(tls_cert));

  // Never overwrites: neither the key nor the .pub file changes.
  const std::string key_before = FileContents(key_path);
  const std::string pub_before = FileContents(pub_path);
  EXPECT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys"}),
              FailsWith(kCliFailure));
  EXPECT_EQ(FileContents(key_path), key_before);
  EXPECT_EQ(FileContents(pub_path), pub_before);

  // A stray .pub alone also blocks, before any key is written.
  std::filesystem::rename(key_path, dir / "moved.key");
  Result again =
      Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys"});
  EXPECT_THAT(again, FailsWith(kCliFailure));
  EXPECT_THAT(again.err, HasSubstr("MY.NCB.pub already exists"));
  EXPECT_FALSE(std::filesystem::exists(key_path));

  // So does a stray TLS key or certificate.
  for (const char* stray : {"MY.NCB.tls.key", "MY.NCB.tls.crt"}) {
    TempDir other;
    std::ofstream(other / stray) << "stray";
    Result blocked =
        Tidings({"keygen", "--agency", "MY.NCB", "--out", other.path()});
    EXPECT_THAT(blocked, FailsWith(kCliFailure)) << stray;
    EXPECT_THAT(blocked.err, HasSubstr(absl::StrCat(stray, " already exists")));
    EXPECT_FALSE(std::filesystem::exists(other / "MY.NCB.key")) << stray;
    EXPECT_FALSE(std::filesystem::exists(other / "MY.NCB.pub")) << stray;
    EXPECT_EQ(FileContents(other / stray), "stray");
  }
}

TEST(CliTest, KeygenPutsEndpointHostsInTheCertificate) {
  TempDir dir;
  ASSERT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir.path(),
                       "--endpoint", "node.ncb.example:7100,[::1]:7101"}),
              Succeeds());
  const std::string pem = FileContents(dir / "MY.NCB.tls.crt");
  ASSERT_THAT(pem, StartsWith("-----BEGIN CERTIFICATE-----\n"));
  // The subjectAltName entries are in the DER as they are: the DNS name as
  // an IA5String, the addresses as 4 or 16 bytes (crypto/tls_cert_test checks
  // them with OpenSSL).
  std::string base64;
  for (absl::string_view line : absl::StrSplit(pem, '\n')) {
    if (!absl::StartsWith(line, "-----")) absl::StrAppend(&base64, line);
  }
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(base64, &der));
  EXPECT_THAT(der, HasSubstr("node.ncb.example"));
  EXPECT_THAT(der, HasSubstr(std::string("\x7f\0\0\1", 4)));
  EXPECT_THAT(der, HasSubstr(std::string(15, '\0') + "\1"));
  EXPECT_THAT(der, HasSubstr("MY.NCB"));
  absl::StatusOr<crypto::TlsCredentials> tls = crypto::LoadTlsCredentials(
      dir / "MY.NCB.tls.key", dir / "MY.NCB.tls.crt");
  ASSERT_TRUE(tls.ok()) << tls.status();

  // A host that is neither an address nor a DNS name fails before any file
  // is written.
  TempDir other;
  Result bad = Tidings({"keygen", "--agency", "MY.NCB", "--out", other.path(),
                        "--endpoint", "bad_host:7100"});
  EXPECT_THAT(bad, FailsWith(kCliUsage));
  EXPECT_THAT(bad.err,
              HasSubstr("--endpoint: TLS certificate host 'bad_host'"));
  EXPECT_TRUE(std::filesystem::is_empty(other.path()));
}

TEST(CliTest, KeygenForAFieldNodeNamesItsFilesWithThePlus) {
  TempDir dir;
  Result r =
      Tidings({"keygen", "--agency", "MY.NCB/SHIP1", "--out", dir / "k",
               "--name", "Patrol ship 1", "--endpoint", "ship1.example:7101"});
  ASSERT_THAT(r, Succeeds());
  for (const char* file : {"MY.NCB+SHIP1.key", "MY.NCB+SHIP1.pub",
                           "MY.NCB+SHIP1.tls.key", "MY.NCB+SHIP1.tls.crt"}) {
    EXPECT_TRUE(std::filesystem::is_regular_file(dir / "k/" + file)) << file;
  }
  // Nothing under a directory named after the agency, nothing else at all.
  EXPECT_FALSE(std::filesystem::exists(dir / "k/MY.NCB"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "k"),
                          std::filesystem::directory_iterator()),
            4);
  struct stat st {};
  ASSERT_EQ(stat((dir / "k/MY.NCB+SHIP1.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir / "k/MY.NCB+SHIP1.tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  proto::PublicIdentity pub;
  ASSERT_TRUE(ReadProtoFile(dir / "k/MY.NCB+SHIP1.pub", pub).ok());
  EXPECT_EQ(pub.member().agency(), "MY.NCB/SHIP1");
  EXPECT_EQ(pub.member().name(), "Patrol ship 1");
  EXPECT_THAT(pub.member().endpoints(), ElementsAre("ship1.example:7101"));
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(dir / "k/MY.NCB+SHIP1.key");
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->principal(), "MY.NCB/SHIP1");
  EXPECT_EQ(identity->verify_key().str(), pub.member().sign_pk());
  EXPECT_EQ(identity->box_public().str(), pub.member().box_pk());
  absl::StatusOr<crypto::TlsCredentials> tls = crypto::LoadTlsCredentials(
      dir / "k/MY.NCB+SHIP1.tls.key", dir / "k/MY.NCB+SHIP1.tls.crt");
  ASSERT_TRUE(tls.ok()) << tls.status();
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(tls->cert_pem);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  EXPECT_EQ(pub.member().tls_cert_sha256(), fingerprint->str());
  // The certificate's common name is the node id, slash and all.
  std::string base64;
  for (absl::string_view line : absl::StrSplit(tls->cert_pem, '\n')) {
    if (!absl::StartsWith(line, "-----")) absl::StrAppend(&base64, line);
  }
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(base64, &der));
  EXPECT_THAT(der, HasSubstr("MY.NCB/SHIP1"));

  EXPECT_THAT(r.out, HasSubstr("field node   MY.NCB/SHIP1"));
  EXPECT_THAT(r.out, HasSubstr("tidings node certify --pub"));
  EXPECT_THAT(r.out, HasSubstr(crypto::ToHex(pub.member().sign_pk())));

  // Never overwrites.
  Result again =
      Tidings({"keygen", "--agency", "MY.NCB/SHIP1", "--out", dir / "k"});
  EXPECT_THAT(again, FailsWith(kCliFailure));
  EXPECT_THAT(again.err, HasSubstr("MY.NCB+SHIP1.key already exists"));

  // JSON names the principal and says what it is.
  TempDir other;
  Result json = Tidings(
      {"keygen", "--agency", "MY.NCB/SHIP2", "--out", other.path(), "--json"});
  ASSERT_THAT(json, Succeeds());
  const google::protobuf::Struct parsed = Json(json.out);
  EXPECT_EQ(parsed.fields().at("agency").string_value(), "MY.NCB/SHIP2");
  EXPECT_TRUE(parsed.fields().at("field_node").bool_value());
  EXPECT_EQ(parsed.fields().at("pub_file").string_value(),
            other / "MY.NCB+SHIP2.pub");

  // A malformed id writes nothing, and makes no directory.
  for (const char* bad : {"MY.NCB/ship", "MY.NCB/", "MY.NCB/A/B"}) {
    EXPECT_THAT(Tidings({"keygen", "--agency", bad, "--out", dir / "bad"}),
                FailsWith(kCliUsage))
        << bad;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "bad"));

  // Ids are capped at 64 characters, what a TLS common name holds: a usage
  // error about --agency, not a confusing --endpoint one.
  const std::string longest =
      absl::StrCat(std::string(32, 'A'), "/", std::string(32, 'B'));
  Result too_long =
      Tidings({"keygen", "--agency", longest, "--out", dir / "long"});
  EXPECT_THAT(too_long, FailsWith(kCliUsage));
  EXPECT_THAT(too_long.err, HasSubstr("--agency:"));
  EXPECT_FALSE(std::filesystem::exists(dir / "long"));
  const std::string fits =
      absl::StrCat(std::string(32, 'A'), "/", std::string(31, 'B'));
  EXPECT_THAT(Tidings({"keygen", "--agency", fits, "--out", dir / "fits"}),
              Succeeds());

  // A field node is no founder.
  ASSERT_THAT(Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "k"}),
              Succeeds());
  Result init = Tidings({"roster", "init", "--name", "seas", "--threshold", "2",
                         "--out", dir / "r.bin", dir / "k/MY.NCB.pub",
                         dir / "k/MY.NCB+SHIP1.pub"});
  EXPECT_THAT(init, FailsWith(kCliFailure));
  EXPECT_THAT(init.err, HasSubstr("MY.NCB/SHIP1"));
  EXPECT_FALSE(std::filesystem::exists(dir / "r.bin"));
}

TEST(CliTest, KeygenSealsWithAPassphraseFile) {
  TempDir dir;
  const std::string pass = dir / "pass";
  ASSERT_NO_FATAL_FAILURE(WriteFileWithMode(pass, "correct horse\n", 0600));
  Result r = Tidings({"keygen", "--agency", "MY.NCB", "--out", dir / "keys",
                      "--passphrase-file", pass, "--passphrase-cost",
                      "interactive", "--json"});
  ASSERT_THAT(r, Succeeds());
  EXPECT_TRUE(Json(r.out).fields().at("sealed").bool_value());
  EXPECT_EQ(Json(r.out).fields().at("tls_cert_file").string_value(),
            dir / "keys/MY.NCB.tls.crt");
  EXPECT_EQ(Json(r.out).fields().at("tls_cert_sha256").string_value().size(),
            64u);

  const std::string key_path = dir / "keys/MY.NCB.key";
  EXPECT_EQ(crypto::Identity::LoadFile(key_path).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const crypto::Passphrase passphrase("correct horse");
  absl::StatusOr<crypto::Identity> identity =
      crypto::Identity::LoadFile(key_path, &passphrase);
  ASSERT_TRUE(identity.ok()) << identity.status();
  proto::PublicIdentity pub;
  ASSERT_TRUE(ReadProtoFile(dir / "keys/MY.NCB.pub", pub).ok());
  EXPECT_EQ(identity->verify_key().str(), pub.member().sign_pk());

  // A passphrase file others can read is refused before anything is written.
  const std::string open_pass = dir / "open_pass";
  ASSERT_NO_FATAL_FAILURE(
      WriteFileWithMode(open_pass, "correct horse\n", 0644));
  Result refused = Tidings({"keygen", "--agency", "PH.CG", "--out",
                            dir / "other", "--passphrase-file", open_pass});
  EXPECT_THAT(refused, FailsWith(kCliFailure));
  EXPECT_THAT(refused.err, HasSubstr("is accessible by group or others"));
  EXPECT_FALSE(std::filesystem::exists(dir / "other/PH.CG.key"));
  EXPECT_FALSE(std::filesystem::exists(dir / "other/PH.CG.tls.key"));
}

TEST(CliTest, RosterSignWithASealedKey) {
  TempDir dir;
  const std::string pass = dir / "pass";
  ASSERT_NO_FATAL_FAILURE(WriteFileWithMode(pass, "correct horse\n", 0600));
  const std::string wrong = dir / "wrong";
  ASSERT_NO_FATAL_FAILURE(WriteFileWithMode(wrong, "battery staple\n", 0600));
  ASSERT_THAT(
      Tidings({"keygen", "--agency", "A.X", "--out", dir.path(),
               "--passphrase-file", pass, "--passphrase-cost", "interactive"}),
      Succeeds());
  const std::string roster = dir / "r.bin";
  ASSERT_THAT(Tidings({"roster", "init", "--name", "seas", "--threshold", "1",
                       "--out", roster, dir / "A.X.pub"}),
              Succeeds());

  Result no_pass =
      Tidings({"roster", "sign", "--roster", roster, "--key", dir / "A.X.key"});
  EXPECT_THAT(no_pass, FailsWith(kCliFailure));
  EXPECT_THAT(no_pass.err,
              HasSubstr(absl::StrCat("key file ", dir / "A.X.key",
                                     " is sealed; give its passphrase "
                                     "(--passphrase-file FILE)")));
  Result wrong_pass = Tidings({"roster", "sign", "--roster", roster, "--key",
                               dir / "A.X.key", "--passphrase-file", wrong});
  EXPECT_THAT(wrong_pass, FailsWith(kCliFailure));
  EXPECT_THAT(wrong_pass.err, HasSubstr("wrong passphrase for key file"));
  EXPECT_THAT(Tidings({"roster", "verify", "--roster", roster}),
              FailsWith(kCliFailure));

  EXPECT_THAT(Tidings({"roster", "sign", "--roster", roster, "--key",
                       dir / "A.X.key", "--passphrase-file", pass}),
              Succeeds());
  EXPECT_THAT(Tidings({"roster", "verify", "--roster", roster}), Succeeds());
}

TEST(CliTest, KeySealAndUnseal) {
  TempDir dir;
  const std::string pass = dir / "pass";
  ASSERT_NO_FATAL_FAILURE(WriteFileWithMode(pass, "correct horse\n", 0600));
  const std::string wrong = dir / "wrong";
  ASSERT_NO_FATAL_FAILURE(WriteFileWithMode(wrong, "battery staple\n", 0600));
  ASSERT_THAT(Tidings({"keygen", "--agency", "A.X", "--out", dir / "keys"}),
              Succeeds());
  const std::string key = dir / "keys/A.X.key";
  absl::StatusOr<crypto::Identity> original = crypto::Identity::LoadFile(key);
  ASSERT_TRUE(original.ok());

  Result sealed = Tidings({"key", "seal", "--key", key, "--passphrase-file",
                           pass, "--passphrase-cost", "interactive"});
  ASSERT_THAT(sealed, Succeeds());
  EXPECT_THAT(sealed.out, HasSubstr("sealed"));
  EXPECT_EQ(crypto::Identity::LoadFile(key).status().code(),
            absl::StatusCode::kFailedPrecondition);
  const crypto::Passphrase passphrase("correct horse");
  absl::StatusOr<crypto::Identity> opened =
      crypto::Identity::LoadFile(key, &passphrase);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->verify_key(), original->verify_key());
  struct stat st {};
  ASSERT_EQ(stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // Sealing twice is refused; so is unsealing with the wrong passphrase.
  // Either way the file is left as it was.
  const std::string before = FileContents(key);
  Result twice =
      Tidings({"key", "seal", "--key", key, "--passphrase-file", pass});
  EXPECT_THAT(twice, FailsWith(kCliFailure));
  EXPECT_THAT(twice.err, HasSubstr("is already sealed"));
  Result bad =
      Tidings({"key", "unseal", "--key", key, "--passphrase-file", wrong});
  EXPECT_THAT(bad, FailsWith(kCliFailure));
  EXPECT_THAT(bad.err, HasSubstr("wrong passphrase"));
  EXPECT_EQ(FileContents(key), before);

  ASSERT_THAT(
      Tidings({"key", "unseal", "--key", key, "--passphrase-file", pass}),
      Succeeds());
  absl::StatusOr<crypto::Identity> plain = crypto::Identity::LoadFile(key);
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->verify_key(), original->verify_key());
  // No temporary file is left behind.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "keys")) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  EXPECT_THAT(names,
              ElementsAre("A.X.key", "A.X.pub", "A.X.tls.crt", "A.X.tls.key"));
}

TEST(CliTest, KeygenJson) {
  TempDir dir;
  Result r =
      Tidings({"keygen", "--agency", "PH.CG", "--out", dir.path(), "--json"});
  ASSERT_THAT(r, Succeeds());
  google::protobuf::Struct json = Json(r.out);
  EXPECT_EQ(json.fields().at("agency").string_value(), "PH.CG");
  EXPECT_EQ(json.fields().at("sign_pk").string_value().size(), 64u);
  EXPECT_EQ(json.fields().at("key_file").string_value(), dir / "PH.CG.key");
}

}  // namespace
}  // namespace tidings::node

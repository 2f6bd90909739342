#include "crypto/tls_cert.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "crypto/types.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/temp_dir.h"

namespace tidings::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Made with `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
// -nodes -subj /CN=KAT.TEST -addext subjectAltName=IP:127.0.0.1`; the
// fingerprint is what `openssl x509 -outform der | sha256sum` printed.
constexpr char kKatKey[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgK98oJlZjEYnocehM\n"
    "y3K8BD+6uU0jDehxxjofJzN7+j+hRANCAAT7XLaFIYDZG1jdRo2ATMg75+UTaKP2\n"
    "TxBgsCNFw4ov62s4ZavrnFBSt+ImVfHcXoDSIcigm7RgC9K28x3IqCkR\n"
    "-----END PRIVATE KEY-----\n";
constexpr char kKatCert[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBizCCATKgAwIBAgIUKfOonBfNtxyKd8mwkWSSbSx2TTgwCgYIKoZIzj0EAwIw\n"
    "EzERMA8GA1UEAwwIS0FULlRFU1QwHhcNMjYxMTIwMjM1NjAyWhcNMzYxMTE3MjM1\n"
    "NjAyWjATMREwDwYDVQQDDAhLQVQuVEVTVDBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    "A0IABPtctoUhgNkbWN1GjYBMyDvn5RNoo/ZPEGCwI0XDii/razhlq+ucUFK34iZV\n"
    "8dxegNIhyKCbtGAL0rbzHcioKRGjZDBiMB0GA1UdDgQWBBSe1C2cAX4ZZfpXsTrt\n"
    "m+7ku4X6JDAfBgNVHSMEGDAWgBSe1C2cAX4ZZfpXsTrtm+7ku4X6JDAPBgNVHRMB\n"
    "Af8EBTADAQH/MA8GA1UdEQQIMAaHBH8AAAEwCgYIKoZIzj0EAwIDRwAwRAIgUJvN\n"
    "TpDBOmMdAufuE6mRtEJPJLMCJSWGE4VxYmSvSUsCIFS1A6jrJHiEFIIAahkz0w6h\n"
    "gBaMy3mNSSCxPsKhNjxT\n"
    "-----END CERTIFICATE-----\n";
constexpr char kKatFingerprint[] =
    "4372b7bf7b9b86060202b6fc39d3d5ac1187e3ad71e611b99591b9f6a10ce8a6";

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

X509Ptr ParseCert(absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

PkeyPtr ParseKey(absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return key;
}

// SHA-256 of the certificate's DER as OpenSSL encodes it (what `openssl x509
// -outform der` writes).
std::string DerSha256Hex(const X509* cert) {
  unsigned char* der = nullptr;
  const int size = i2d_X509(cert, &der);
  unsigned char hash[32];
  crypto_hash_sha256(hash, der, static_cast<unsigned long long>(size));
  OPENSSL_free(der);
  return ToHex(absl::string_view(reinterpret_cast<char*>(hash), 32));
}

std::string CommonName(const X509_NAME* name) {
  char buf[256] = {0};
  X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof(buf));
  return buf;
}

TlsCredentials MustGenerate(absl::string_view principal,
                            const std::vector<std::string>& hosts = {}) {
  absl::StatusOr<TlsCredentials> credentials =
      GenerateTlsCertificate(principal, hosts);
  EXPECT_TRUE(credentials.ok()) << credentials.status();
  return credentials.ok() ? *std::move(credentials) : TlsCredentials();
}

TEST(TlsCertificateTest, GeneratesASelfSignedP256CertificateForTheAgency) {
  TlsCredentials credentials =
      MustGenerate("MY.NCB", {"node.ncb.example", "10.1.2.3", "::1"});
  EXPECT_THAT(std::string(credentials.key_pem.view()),
              StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  EXPECT_THAT(credentials.cert_pem,
              StartsWith("-----BEGIN CERTIFICATE-----\n"));

  X509Ptr cert = ParseCert(credentials.cert_pem);
  ASSERT_NE(cert, nullptr);
  PkeyPtr key = ParseKey(credentials.key_pem.view());
  ASSERT_NE(key, nullptr);

  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  EXPECT_EQ(CommonName(X509_get_subject_name(cert.get())), "MY.NCB");
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()),
                          X509_get_issuer_name(cert.get())),
            0);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_EQ(X509_verify(cert.get(), key.get()), 1) << "self-signed";
  EXPECT_EQ(X509_check_ca(cert.get()), 0) << "not a CA";
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_SERVER);
  EXPECT_TRUE(X509_get_extended_key_usage(cert.get()) & XKU_SSL_CLIENT);
  EXPECT_TRUE(X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE);

  EXPECT_EQ(EVP_PKEY_get_base_id(key.get()), EVP_PKEY_EC);
  char group[64] = {0};
  size_t group_len = 0;
  ASSERT_EQ(
      EVP_PKEY_get_group_name(key.get(), group, sizeof(group), &group_len), 1);
  EXPECT_EQ(std::string(group), "prime256v1");

  // Valid from (a little before) now for ten years.
  int days = 0;
  int seconds = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &seconds, X509_get0_notBefore(cert.get()),
                           X509_get0_notAfter(cert.get())),
            1);
  EXPECT_GE(days, 3652);
  EXPECT_LE(days, 3654);
  EXPECT_LE(X509_cmp_current_time(X509_get0_notBefore(cert.get())), 0);

  // subjectAltName: loopback plus every host given.
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_EQ(X509_check_host(cert.get(), "node.ncb.example", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.4", 0), 0);
  EXPECT_EQ(X509_check_host(cert.get(), "other.example", 0, 0, nullptr), 0);

  // The serial is random and positive.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
  EXPECT_EQ(ASN1_STRING_type(serial), V_ASN1_INTEGER);
  X509Ptr other = ParseCert(MustGenerate("MY.NCB").cert_pem);
  ASSERT_NE(other, nullptr);
  EXPECT_NE(ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(other.get())), 0);
}

TEST(TlsCertificateTest, SubjectAltNamesHaveNoDuplicates) {
  TlsCredentials credentials = MustGenerate(
      "A",
      {"127.0.0.1", "Node.Example", "node.example", "10.0.0.1", "10.0.0.1"});
  X509Ptr cert = ParseCert(credentials.cert_pem);
  ASSERT_NE(cert, nullptr);
  GENERAL_NAMES* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  ASSERT_NE(names, nullptr);
  EXPECT_EQ(sk_GENERAL_NAME_num(names), 3);  // 127.0.0.1, 10.0.0.1, DNS
  GENERAL_NAMES_free(names);
}

TEST(TlsCertificateTest, RefusesBadNamesAndHosts) {
  EXPECT_EQ(GenerateTlsCertificate("", {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GenerateTlsCertificate(std::string(65, 'A'), {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(GenerateTlsCertificate(std::string(64, 'A'), {}).ok());
  for (const std::string& host :
       {std::string(""), std::string("a b"), std::string("under_score.example"),
        std::string("-lead.example"), std::string("trail-.example"),
        std::string("a..b"), std::string(".a"), std::string("a."),
        std::string("*.example"), std::string("a,IP:1.2.3.4"),
        std::string("[::1]"), std::string("host:7100"), std::string("a\nb"),
        std::string("a\0b", 3), std::string(64, 'l') + ".example",
        std::string(254, 'a')}) {
    absl::StatusOr<TlsCredentials> credentials =
        GenerateTlsCertificate("A", {host});
    EXPECT_EQ(credentials.status().code(), absl::StatusCode::kInvalidArgument)
        << host;
  }
}

TEST(CertificateFingerprintTest, IsTheSha256OfTheDer) {
  absl::StatusOr<Sha256> kat = CertificateFingerprint(kKatCert);
  ASSERT_TRUE(kat.ok()) << kat.status();
  EXPECT_EQ(ToHex(kat->view()), kKatFingerprint);

  TlsCredentials credentials = MustGenerate("MY.NCB", {"10.0.0.1"});
  absl::StatusOr<Sha256> fingerprint =
      CertificateFingerprint(credentials.cert_pem);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status();
  X509Ptr cert = ParseCert(credentials.cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(ToHex(fingerprint->view()), DerSha256Hex(cert.get()));
  // Stable, and not fooled by text around the block.
  EXPECT_EQ(CertificateFingerprint(credentials.cert_pem), fingerprint);
  EXPECT_EQ(CertificateFingerprint(
                absl::StrCat("subject=/CN=MY.NCB\n", credentials.cert_pem)),
            fingerprint);
  // Another certificate, even for the same agency, has another.
  EXPECT_NE(CertificateFingerprint(MustGenerate("MY.NCB").cert_pem),
            fingerprint);
}

TEST(CertificateFingerprintTest, RefusesAnythingButOneCertificate) {
  const std::string cert = kKatCert;
  std::string flipped_base64 = cert;
  flipped_base64[40] = '!';
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"text", "this is not a certificate"},
      {"binary", std::string(300, '\xff')},
      {"key", kKatKey},
      {"two", cert + cert},
      {"key_then_cert", std::string(kKatKey) + cert},
      {"truncated", cert.substr(0, cert.size() / 2)},
      {"no_end", cert.substr(0, cert.find("-----END"))},
      {"bad_base64", flipped_base64},
      {"not_der",
       "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n"
       "-----END CERTIFICATE-----\n"},
      {"empty_block",
       "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"},
      {"wrong_label", absl::StrCat("-----BEGIN X509 CRL-----\n",
                                   cert.substr(28, cert.find("-----END") - 28),
                                   "-----END X509 CRL-----\n")},
      {"huge", std::string(70000, 'A')},
  };
  for (const auto& [name, pem] : cases) {
    absl::StatusOr<Sha256> fingerprint = CertificateFingerprint(pem);
    EXPECT_EQ(fingerprint.status().code(), absl::StatusCode::kInvalidArgument)
        << name << ": " << fingerprint.status();
  }
}

// ---------------------------------------------------------------------------
// Files.

class TlsFileTest : public ::testing::Test {
 protected:
  std::string PathOf(absl::string_view name) const { return dir_ / name; }
  std::string WriteFile(absl::string_view name, absl::string_view bytes,
                        mode_t mode = 0600) const {
    std::string path = PathOf(name);
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  tidings::testing::TempDir dir_{"tls_cert_test"};
};

TEST_F(TlsFileTest, SaveThenLoadRoundTrips) {
  TlsCredentials credentials = MustGenerate("MY.NCB");
  const std::string key = PathOf("MY.NCB.tls.key");
  const std::string cert = PathOf("MY.NCB.tls.crt");
  mode_t old_umask = ::umask(0);
  absl::Status saved = SaveTlsCredentials(credentials, key, cert);
  ::umask(old_umask);
  ASSERT_TRUE(saved.ok()) << saved;
  EXPECT_EQ(testing::FileMode(key), 0600u);
  EXPECT_EQ(testing::FileMode(cert), 0644u);
  EXPECT_EQ(testing::FileContents(key), credentials.key_pem.view());
  EXPECT_EQ(testing::FileContents(cert), credentials.cert_pem);

  absl::StatusOr<TlsCredentials> loaded = LoadTlsCredentials(key, cert);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->key_pem.view(), credentials.key_pem.view());
  EXPECT_EQ(loaded->cert_pem, credentials.cert_pem);

  // A restrictive umask does not make the certificate private.
  TlsCredentials second = MustGenerate("ID.NCB");
  old_umask = ::umask(077);
  saved = SaveTlsCredentials(second, PathOf("b.key"), PathOf("b.crt"));
  ::umask(old_umask);
  ASSERT_TRUE(saved.ok()) << saved;
  EXPECT_EQ(testing::FileMode(PathOf("b.crt")), 0644u);
}

TEST_F(TlsFileTest, LoadsFilesMadeByTheOpensslTool) {
  absl::StatusOr<TlsCredentials> loaded = LoadTlsCredentials(
      WriteFile("kat.key", kKatKey), WriteFile("kat.crt", kKatCert, 0644));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(ToHex(CertificateFingerprint(loaded->cert_pem)->view()),
            kKatFingerprint);
}

TEST_F(TlsFileTest, NeverOverwrites) {
  TlsCredentials credentials = MustGenerate("MY.NCB");
  const std::string key = PathOf("k");
  const std::string cert = WriteFile("c", "precious", 0644);
  EXPECT_EQ(SaveTlsCredentials(credentials, key, cert).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(key)) << "checked before writing";
  EXPECT_EQ(testing::FileContents(cert), "precious");

  const std::string old_key = WriteFile("k2", "old key");
  EXPECT_EQ(SaveTlsCredentials(credentials, old_key, PathOf("c2")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(testing::FileContents(old_key), "old key");
  EXPECT_FALSE(std::filesystem::exists(PathOf("c2")));

  // A dangling symlink counts as taken.
  ASSERT_EQ(::symlink(PathOf("elsewhere").c_str(), PathOf("link").c_str()), 0);
  EXPECT_EQ(
      SaveTlsCredentials(credentials, PathOf("link"), PathOf("c3")).code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(PathOf("elsewhere")));

  // A certificate that cannot be written takes its key with it.
  EXPECT_EQ(
      SaveTlsCredentials(credentials, PathOf("k4"), PathOf("no/such/dir/c4"))
          .code(),
      absl::StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(PathOf("k4")));
}

TEST_F(TlsFileTest, RefusesAKeyOthersCanAccess) {
  TlsCredentials credentials = MustGenerate("MY.NCB");
  const std::string key = PathOf("k");
  const std::string cert = PathOf("c");
  ASSERT_TRUE(SaveTlsCredentials(credentials, key, cert).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(::chmod(key.c_str(), mode), 0);
    char mode_text[8];
    std::snprintf(mode_text, sizeof(mode_text), "%04o",
                  static_cast<unsigned>(mode));
    EXPECT_EQ(
        LoadTlsCredentials(key, cert).status(),
        absl::PermissionDeniedError(absl::StrCat(
            "TLS key file ", key, " is accessible by group or others (mode ",
            mode_text, "); run: chmod 600 ", key)));
  }
  ASSERT_EQ(::chmod(key.c_str(), 0400), 0);
  EXPECT_TRUE(LoadTlsCredentials(key, cert).ok());
  // The certificate is public: any mode.
  ASSERT_EQ(::chmod(cert.c_str(), 0666), 0);
  EXPECT_TRUE(LoadTlsCredentials(key, cert).ok());
}

TEST_F(TlsFileTest, RefusesMissingMismatchedAndMalformedFiles) {
  TlsCredentials a = MustGenerate("A");
  TlsCredentials b = MustGenerate("B");
  const std::string a_key = WriteFile("a.key", a.key_pem.view());
  const std::string a_cert = WriteFile("a.crt", a.cert_pem, 0644);
  const std::string b_cert = WriteFile("b.crt", b.cert_pem, 0644);

  EXPECT_EQ(LoadTlsCredentials(PathOf("none"), a_cert).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadTlsCredentials(a_key, PathOf("none")).status().code(),
            absl::StatusCode::kNotFound);

  absl::Status mismatch = LoadTlsCredentials(a_key, b_cert).status();
  EXPECT_EQ(mismatch.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.message()),
              HasSubstr("does not match the certificate"));

  for (const std::string& garbage :
       {std::string(""), std::string("junk"), a.cert_pem,
        std::string(a.key_pem.view().substr(0, 60))}) {
    absl::Status status =
        LoadTlsCredentials(WriteFile("bad.key", garbage), a_cert).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << garbage;
    EXPECT_THAT(std::string(status.message()),
                StartsWith(absl::StrCat("TLS key file ", PathOf("bad.key"),
                                        " is malformed: ")));
    std::filesystem::remove(PathOf("bad.key"));
  }
  for (const std::string& garbage :
       {std::string(""), std::string("junk"), std::string(a.key_pem.view()),
        a.cert_pem + b.cert_pem}) {
    absl::Status status =
        LoadTlsCredentials(a_key, WriteFile("bad.crt", garbage, 0644)).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()),
                StartsWith(absl::StrCat("TLS certificate file ",
                                        PathOf("bad.crt"), " is malformed: ")));
    std::filesystem::remove(PathOf("bad.crt"));
  }
  EXPECT_EQ(
      LoadTlsCredentials(WriteFile("big.key", std::string(20000, 'k')), a_cert)
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(TlsFileTest, RefusesAnEncryptedKeyWithoutPrompting) {
  TlsCredentials credentials = MustGenerate("A");
  PkeyPtr key = ParseKey(credentials.key_pem.view());
  ASSERT_NE(key, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  const char* password = "pw";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, key.get(), EVP_aes_256_cbc(),
                                          password, 2, nullptr, nullptr),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string encrypted(data, static_cast<size_t>(size));
  BIO_free(bio);
  ASSERT_THAT(encrypted, HasSubstr("ENCRYPTED PRIVATE KEY"));

  // With stdin closed a prompt would fail differently; either way the load
  // must return at once with a clear refusal.
  absl::Status status =
      LoadTlsCredentials(WriteFile("enc.key", encrypted),
                         WriteFile("a.crt", credentials.cert_pem, 0644))
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("is malformed"));
}

}  // namespace
}  // namespace tidings::crypto

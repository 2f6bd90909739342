#include "crypto/tls_cert.h"

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/durable_file.h"
#include "crypto/internal/secret_file.h"
#include "crypto/types.h"

namespace tidings::crypto {
namespace {

using secret_file_internal::Access;
using secret_file_internal::FileBytes;

constexpr absl::string_view kKeyFile = "TLS key file";
constexpr absl::string_view kCertFile = "TLS certificate file";
// A P-256 PKCS#8 PEM key is about 240 bytes, a certificate about 700; the caps
// only keep a wrong path from being read whole.
constexpr size_t kMaxKeyFileSize = 16 * 1024;
constexpr size_t kMaxCertSize = 64 * 1024;
constexpr size_t kMaxPrincipalBytes = 64;  // X.509's upper bound for a CN
constexpr size_t kMaxDnsNameBytes = 253;
constexpr long kNotBeforeSkewSeconds = 60 * 60;
constexpr int kValidityDays = 3653;  // ten years, leap days included
constexpr size_t kSerialBytes = 16;

template <auto kFree>
struct OpenSslDeleter {
  template <typename T>
  void operator()(T* p) const {
    kFree(p);
  }
};
using Bio = std::unique_ptr<BIO, OpenSslDeleter<BIO_free>>;
using Pkey = std::unique_ptr<EVP_PKEY, OpenSslDeleter<EVP_PKEY_free>>;
using PkeyCtx =
    std::unique_ptr<EVP_PKEY_CTX, OpenSslDeleter<EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OpenSslDeleter<X509_free>>;
using Bignum = std::unique_ptr<BIGNUM, OpenSslDeleter<BN_free>>;
using GeneralNames =
    std::unique_ptr<GENERAL_NAMES, OpenSslDeleter<GENERAL_NAMES_free>>;
using GeneralName =
    std::unique_ptr<GENERAL_NAME, OpenSslDeleter<GENERAL_NAME_free>>;
using OctetString =
    std::unique_ptr<ASN1_OCTET_STRING, OpenSslDeleter<ASN1_OCTET_STRING_free>>;
using Ia5String =
    std::unique_ptr<ASN1_IA5STRING, OpenSslDeleter<ASN1_IA5STRING_free>>;
using Extension =
    std::unique_ptr<X509_EXTENSION, OpenSslDeleter<X509_EXTENSION_free>>;

// Frees what PEM_read_bio allocated.
struct PemBlock {
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* data = nullptr;
  long length = 0;
  PemBlock() = default;
  PemBlock(const PemBlock&) = delete;
  PemBlock& operator=(const PemBlock&) = delete;
  ~PemBlock() {
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
};

// OpenSSL reports errors on a per-thread queue; this drains it into one
// Status so that the next caller on the thread starts clean.
absl::Status OpenSslError(absl::string_view what) {
  std::string reasons;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    absl::StrAppend(&reasons, reasons.empty() ? "" : "; ", buf);
  }
  if (reasons.empty()) return absl::InternalError(what);
  return absl::InternalError(absl::StrCat(what, ": ", reasons));
}

// A memory BIO reading `bytes` (not copied: `bytes` must outlive it).
Bio ReadBio(absl::string_view bytes) {
  return Bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(size));
}

// Never prompts: an encrypted PEM key is refused, not asked for on a
// terminal the daemon may not even have.
int NoPassphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*u*/) {
  return -1;
}

bool IsDnsName(absl::string_view host) {
  if (host.empty() || host.size() > kMaxDnsNameBytes) return false;
  size_t label = 0;
  for (size_t i = 0; i < host.size(); ++i) {
    const char c = host[i];
    if (c == '.') {
      if (label == 0 || host[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
      return false;
    }
    if (c == '-' && label == 0) return false;
    if (++label > 63) return false;
  }
  return label != 0 && host.back() != '-';
}

// One subjectAltName entry: an IP address (its network-order bytes) or a DNS
// name (lower case). Ordered, so that duplicates can be dropped.
struct AltName {
  bool is_ip;
  std::string value;
  friend bool operator<(const AltName& a, const AltName& b) {
    return std::tie(a.is_ip, a.value) < std::tie(b.is_ip, b.value);
  }
};

absl::StatusOr<AltName> ParseHost(const std::string& host) {
  unsigned char ip[16];
  if (inet_pton(AF_INET, host.c_str(), ip) == 1) {
    return AltName{true, std::string(reinterpret_cast<char*>(ip), 4)};
  }
  if (inet_pton(AF_INET6, host.c_str(), ip) == 1) {
    return AltName{true, std::string(reinterpret_cast<char*>(ip), 16)};
  }
  if (IsDnsName(host)) return AltName{false, absl::AsciiStrToLower(host)};
  return absl::InvalidArgumentError(absl::StrCat(
      "TLS certificate host '", absl::CHexEscape(host),
      "' is neither an IP address nor a DNS name (letters, digits, '-', '.')"));
}

absl::Status AddSubjectAltNames(X509* cert, const std::set<AltName>& names) {
  GeneralNames gens(sk_GENERAL_NAME_new_null());
  if (gens == nullptr) return OpenSslError("cannot allocate subjectAltName");
  for (const AltName& name : names) {
    GeneralName gen(GENERAL_NAME_new());
    if (gen == nullptr) return OpenSslError("cannot allocate a GENERAL_NAME");
    if (name.is_ip) {
      OctetString ip(ASN1_OCTET_STRING_new());
      if (ip == nullptr ||
          ASN1_OCTET_STRING_set(
              ip.get(),
              reinterpret_cast<const unsigned char*>(name.value.data()),
              static_cast<int>(name.value.size())) != 1) {
        return OpenSslError("cannot encode an IP subjectAltName");
      }
      GENERAL_NAME_set0_value(gen.get(), GEN_IPADD, ip.release());
    } else {
      Ia5String dns(ASN1_IA5STRING_new());
      if (dns == nullptr ||
          ASN1_STRING_set(dns.get(), name.value.data(),
                          static_cast<int>(name.value.size())) != 1) {
        return OpenSslError("cannot encode a DNS subjectAltName");
      }
      GENERAL_NAME_set0_value(gen.get(), GEN_DNS, dns.release());
    }
    if (sk_GENERAL_NAME_push(gens.get(), gen.get()) == 0) {
      return OpenSslError("cannot add a subjectAltName");
    }
    gen.release();  // owned by gens now
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens.get(), /*crit=*/0,
                        X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("cannot add the subjectAltName extension");
  }
  return absl::OkStatus();
}

// Adds an extension given in OpenSSL's config syntax. Only for our constant
// values: host names never pass through this parser.
absl::Status AddExtension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Extension ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StrCat("cannot add extension ", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<Pkey> GenerateP256Key() {
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* key = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") != 1 ||
      EVP_PKEY_generate(ctx.get(), &key) != 1) {
    return OpenSslError("cannot generate a P-256 key");
  }
  return Pkey(key);
}

bool PathTaken(const std::string& path) {
  struct stat st;
  // lstat: a dangling symlink counts as taken (O_EXCL would refuse it too).
  return ::lstat(path.c_str(), &st) == 0 || errno != ENOENT;
}

// A random positive serial (top bit clear, never zero) and the validity
// period.
absl::Status SetSerialAndValidity(X509* cert) {
  unsigned char serial[kSerialBytes];
  randombytes_buf(serial, sizeof(serial));
  serial[0] &= 0x7f;
  serial[kSerialBytes - 1] |= 0x01;
  Bignum serial_bn(BN_bin2bn(serial, sizeof(serial), nullptr));
  if (serial_bn == nullptr ||
      BN_to_ASN1_INTEGER(serial_bn.get(), X509_get_serialNumber(cert)) ==
          nullptr) {
    return OpenSslError("cannot set the serial number");
  }

  if (X509_gmtime_adj(X509_getm_notBefore(cert), -kNotBeforeSkewSeconds) ==
          nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert), kValidityDays, 0, nullptr) ==
          nullptr) {
    return OpenSslError("cannot set the validity period");
  }
  return absl::OkStatus();
}

// The subject (and issuer: self-signed) common name and the public key.
absl::Status SetNameAndKey(X509* cert, absl::string_view principal,
                           EVP_PKEY* key) {
  X509_NAME* subject = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(principal.data()),
          static_cast<int>(principal.size()), -1, 0) != 1 ||
      X509_set_issuer_name(cert, subject) != 1) {
    return OpenSslError("cannot set the certificate's name");
  }
  if (X509_set_pubkey(cert, key) != 1) {
    return OpenSslError("cannot set the certificate's key");
  }
  return absl::OkStatus();
}

// Constraints, usages, key identifier and the subject alternative names.
absl::Status AddExtensions(X509* cert, const std::set<AltName>& names) {
  for (const auto& [nid, value] :
       {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:FALSE"},
        {NID_key_usage, "critical,digitalSignature"},
        {NID_ext_key_usage, "serverAuth,clientAuth"},
        {NID_subject_key_identifier, "hash"}}) {
    if (absl::Status s = AddExtension(cert, nid, value); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = AddSubjectAltNames(cert, names); !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

// The signed certificate and its key as PEM.
absl::StatusOr<TlsCredentials> Encode(X509* cert, EVP_PKEY* key) {
  Bio cert_bio(BIO_new(BIO_s_mem()));
  if (cert_bio == nullptr || PEM_write_bio_X509(cert_bio.get(), cert) != 1) {
    return OpenSslError("cannot encode the certificate");
  }
  // secmem: the BIO's buffer is wiped when freed.
  Bio key_bio(BIO_new(BIO_s_secmem()));
  if (key_bio == nullptr ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError("cannot encode the TLS key");
  }
  char* key_data = nullptr;
  const long key_size = BIO_get_mem_data(key_bio.get(), &key_data);

  TlsCredentials out;
  out.key_pem =
      PrivateKeyPem(absl::string_view(key_data, static_cast<size_t>(key_size)));
  out.cert_pem = BioContents(cert_bio.get());
  return out;
}

}  // namespace

absl::StatusOr<TlsCredentials> GenerateTlsCertificate(
    absl::string_view principal, const std::vector<std::string>& hosts) {
  EnsureSodium();
  if (principal.empty() || principal.size() > kMaxPrincipalBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate common name must be 1 to ",
                     kMaxPrincipalBytes, " bytes, got ", principal.size()));
  }
  std::set<AltName> names;
  names.insert(AltName{true, std::string("\x7f\x00\x00\x01", 4)});
  for (const std::string& host : hosts) {
    absl::StatusOr<AltName> name = ParseHost(host);
    if (!name.ok()) return name.status();
    names.insert(*std::move(name));
  }

  ERR_clear_error();
  absl::StatusOr<Pkey> key = GenerateP256Key();
  if (!key.ok()) return key.status();

  X509Ptr cert(X509_new());
  if (cert == nullptr) return OpenSslError("cannot allocate a certificate");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return OpenSslError("cannot set the certificate version");
  }

  if (absl::Status s = SetSerialAndValidity(cert.get()); !s.ok()) return s;
  if (absl::Status s = SetNameAndKey(cert.get(), principal, key->get());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = AddExtensions(cert.get(), names); !s.ok()) return s;
  if (X509_sign(cert.get(), key->get(), EVP_sha256()) <= 0) {
    return OpenSslError("cannot sign the certificate");
  }

  return Encode(cert.get(), key->get());
}

absl::StatusOr<Sha256> CertificateFingerprint(absl::string_view cert_pem) {
  EnsureSodium();
  if (cert_pem.size() > kMaxCertSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate is ", cert_pem.size(), " bytes; at most ", kMaxCertSize));
  }
  ERR_clear_error();
  Bio bio = ReadBio(cert_pem);
  if (bio == nullptr) return OpenSslError("cannot allocate a BIO");
  PemBlock block;
  if (PEM_read_bio(bio.get(), &block.name, &block.header, &block.data,
                   &block.length) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("no PEM block in the certificate");
  }
  if (std::strcmp(block.name, "CERTIFICATE") != 0) {
    return absl::InvalidArgumentError(absl::StrCat("the PEM block is a '",
                                                   absl::CHexEscape(block.name),
                                                   "', not a 'CERTIFICATE'"));
  }
  if (block.header != nullptr && block.header[0] != '\0') {
    return absl::InvalidArgumentError(
        "the certificate's PEM block has headers (encrypted?)");
  }
  {
    PemBlock second;
    if (PEM_read_bio(bio.get(), &second.name, &second.header, &second.data,
                     &second.length) == 1) {
      return absl::InvalidArgumentError(
          "more than one PEM block where one certificate was expected");
    }
    ERR_clear_error();  // the expected "no start line"
  }

  // The hash is over the bytes in the PEM; they must be one certificate in
  // DER (not BER, which OpenSSL would re-encode differently), so that every
  // tool computes the same fingerprint.
  const unsigned char* p = block.data;
  X509Ptr cert(d2i_X509(nullptr, &p, block.length));
  if (cert == nullptr || p != block.data + block.length) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the PEM block is not one DER X.509 certificate");
  }
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(cert.get(), &der);
  const bool canonical =
      der_size == block.length &&
      std::memcmp(der, block.data, static_cast<size_t>(der_size)) == 0;
  OPENSSL_free(der);
  if (!canonical) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the certificate is not DER-encoded (it would not re-encode to the "
        "same bytes)");
  }

  Sha256 fingerprint;
  crypto_hash_sha256(fingerprint.mutable_data(), block.data,
                     static_cast<unsigned long long>(block.length));
  return fingerprint;
}

absl::Status SaveTlsCredentials(const TlsCredentials& credentials,
                                const std::string& key_path,
                                const std::string& cert_path) {
  for (const auto& [path, what] :
       {std::pair<const std::string&, absl::string_view>{key_path, kKeyFile},
        {cert_path, kCertFile}}) {
    if (PathTaken(path)) {
      return absl::AlreadyExistsError(absl::StrCat(
          what, " ", path, " already exists; refusing to overwrite it"));
    }
  }
  if (absl::Status s = base::WriteNewFile(key_path, kKeyFile,
                                          credentials.key_pem.view(), 0600);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          base::WriteNewFile(cert_path, kCertFile, credentials.cert_pem, 0644);
      !s.ok()) {
    // A key without its certificate is useless and blocks the retry.
    ::unlink(key_path.c_str());
    return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsCredentials> LoadTlsCredentials(
    const std::string& key_path, const std::string& cert_path) {
  absl::StatusOr<FileBytes> key_bytes = secret_file_internal::ReadFile(
      key_path, kKeyFile, Access::kOwnerOnly, kMaxKeyFileSize);
  if (!key_bytes.ok()) return key_bytes.status();
  absl::StatusOr<FileBytes> cert_bytes = secret_file_internal::ReadFile(
      cert_path, kCertFile, Access::kAnyone, kMaxCertSize);
  if (!cert_bytes.ok()) return cert_bytes.status();

  if (absl::StatusOr<Sha256> fingerprint =
          CertificateFingerprint(cert_bytes->view());
      !fingerprint.ok()) {
    return secret_file_internal::Malformed(kCertFile, cert_path,
                                           fingerprint.status().message());
  }

  ERR_clear_error();
  Bio key_bio = ReadBio(key_bytes->view());
  Pkey key(key_bio == nullptr
               ? nullptr
               : PEM_read_bio_PrivateKey(key_bio.get(), nullptr, &NoPassphrase,
                                         nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return secret_file_internal::Malformed(
        kKeyFile, key_path,
        "not an unencrypted PEM private key (\"-----BEGIN PRIVATE KEY-----\")");
  }
  Bio cert_bio = ReadBio(cert_bytes->view());
  X509Ptr cert(cert_bio == nullptr ? nullptr
                                   : PEM_read_bio_X509(cert_bio.get(), nullptr,
                                                       &NoPassphrase, nullptr));
  if (cert == nullptr) return OpenSslError("cannot parse the certificate");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat(kKeyFile, " ", key_path,
                     " does not match the certificate in ", cert_path));
  }

  TlsCredentials out;
  out.key_pem = PrivateKeyPem(key_bytes->view());
  out.cert_pem = std::string(cert_bytes->view());
  return out;
}

}  // namespace tidings::crypto

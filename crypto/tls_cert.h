// The node's TLS key and self-signed certificate, which peer links use for
// mutual TLS. Certificates are not trusted through any authority: each node's
// certificate is pinned by its SHA-256 fingerprint in its signed roster entry
// (`Member.tls_cert_sha256`), and a peer is accepted only if the certificate
// it presents has exactly that fingerprint.
//
// This is the one place Tidings uses OpenSSL (3.x, the library gRPC's TLS is
// built on), and only for what libsodium cannot do: ECDSA P-256 keys and
// X.509 encoding. Everything else in crypto/ is libsodium, including the
// fingerprint's SHA-256 (crypto_hash_sha256).
//
// Files: the key is PKCS#8 PEM, written 0600 with O_EXCL and refused on load
// if group or others can access it (like the identity key file; it is not
// sealed by the passphrase, since gRPC needs it in the clear, and it is worth
// less than the identity key: a TLS key alone does not pass the link
// handshake, which needs the roster's Ed25519 key). The certificate is PEM,
// written 0644.
//
// Thread-safety: free functions on values; safe from any thread.
#ifndef TIDINGS_CRYPTO_TLS_CERT_H_
#define TIDINGS_CRYPTO_TLS_CERT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crypto/types.h"

namespace tidings::crypto {

// A TLS private key and its certificate, both PEM (what gRPC's TLS options
// take). Move-only: the key is wiped when it goes.
struct TlsCredentials {
  PrivateKeyPem key_pem;  // "-----BEGIN PRIVATE KEY-----" (PKCS#8)
  std::string cert_pem;   // "-----BEGIN CERTIFICATE-----"
};

// A fresh ECDSA P-256 key and a self-signed X.509 v3 certificate for it:
// subject and issuer CN = `principal`; a random positive 127-bit serial; valid
// from one hour ago (clock skew between nodes) for ten years; not a CA; key
// usage digitalSignature; extended key usage serverAuth and clientAuth;
// subjectAltName IP:127.0.0.1 plus one entry per `hosts` item: an IP address
// (IPv4 or IPv6, no brackets) becomes an IP entry, anything else a DNS entry.
// Duplicates are dropped. kInvalidArgument if `principal` is empty or longer
// than 64 bytes, or a host is neither an IP address nor a DNS name (letters,
// digits, '-', '.', at most 253 bytes); kInternal if OpenSSL fails.
absl::StatusOr<TlsCredentials> GenerateTlsCertificate(
    absl::string_view principal, const std::vector<std::string>& hosts);

// SHA-256 of the DER encoding of the one certificate in `cert_pem` (what
// `openssl x509 -outform der | sha256sum` prints). kInvalidArgument unless
// `cert_pem` holds exactly one PEM "CERTIFICATE" block whose contents are a
// DER-encoded X.509 certificate.
absl::StatusOr<Sha256> CertificateFingerprint(absl::string_view cert_pem);

// Writes the key (mode 0600) and the certificate (mode 0644), each with
// O_EXCL. kAlreadyExists if either path exists (checked before writing
// either); if the certificate cannot be written, the key just written is
// removed again.
absl::Status SaveTlsCredentials(const TlsCredentials& credentials,
                                const std::string& key_path,
                                const std::string& cert_path);

// Reads and checks a key and certificate written by SaveTlsCredentials (or
// by hand, e.g. with `openssl req -x509`). Errors: kNotFound if a file is
// missing; kPermissionDenied "TLS key file <path> is accessible by group or
// others (mode 0644); run: chmod 600 <path>"; kInvalidArgument "TLS key file
// <path> is malformed: ..." / "TLS certificate file <path> is malformed:
// ..." if either does not parse (an encrypted PEM key is refused, never
// prompted for), or "... does not match ..." if the key is not the
// certificate's.
absl::StatusOr<TlsCredentials> LoadTlsCredentials(const std::string& key_path,
                                                  const std::string& cert_path);

}  // namespace tidings::crypto

#endif  // TIDINGS_CRYPTO_TLS_CERT_H_

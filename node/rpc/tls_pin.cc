#include "node/rpc/tls_pin.h"

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "node/gossip/engine.h"

namespace tidings::node {
namespace {

std::shared_ptr<grpc::experimental::CertificateProviderInterface>
IdentityProvider(const crypto::TlsCredentials& tls) {
  return std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      std::vector<grpc::experimental::IdentityKeyCertPair>{
          {std::string(tls.key_pem.view()), tls.cert_pem}});
}

}  // namespace

bool RosterPinVerifier::Verify(
    grpc::experimental::TlsCustomVerificationCheckRequest* request,
    std::function<void(grpc::Status)>, grpc::Status* sync_status) {
  const grpc::string_ref pem = request->peer_cert();
  absl::StatusOr<crypto::Sha256> fingerprint =
      crypto::CertificateFingerprint(absl::string_view(pem.data(), pem.size()));
  if (fingerprint.ok() && membership_->chain()->IsPinned(*fingerprint)) {
    *sync_status = grpc::Status::OK;
    return true;
  }
  counters_->Add("links_refused.tls");
  spdlog::warn(
      "refused a TLS peer: {}",
      fingerprint.ok()
          ? absl::StrCat("certificate ", crypto::ToHex(fingerprint->view()),
                         " is not pinned in the roster")
          : absl::StrCat("no usable certificate (",
                         fingerprint.status().message(), ")"));
  *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              "certificate not pinned in the roster");
  return true;
}

std::shared_ptr<grpc::ChannelCredentials> PinnedChannelCredentials(
    const crypto::TlsCredentials& tls, Membership* membership,
    Counters* counters) {
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(IdentityProvider(tls));
  options.watch_identity_key_cert_pairs();
  // No CA: the verifier pins the certificate to the roster instead.
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<
          RosterPinVerifier>(membership, counters));
  return grpc::experimental::TlsCredentials(options);
}

std::shared_ptr<grpc::ServerCredentials> PinnedServerCredentials(
    const crypto::TlsCredentials& tls, Membership* membership,
    Counters* counters) {
  grpc::experimental::TlsServerCredentialsOptions options(
      IdentityProvider(tls));
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  options.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<
          RosterPinVerifier>(membership, counters));
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace tidings::node

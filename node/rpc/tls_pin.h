// Mutual TLS for peer links, pinned to the roster instead of a CA: each side
// presents its node certificate, and a peer's certificate is accepted only
// if its SHA-256 fingerprint is pinned by a roster entry or is the
// certificate of an active field node. The handshake (node/gossip/
// handshake.h) then checks that the certificate is the claimed principal's.
//
// Thread-safety: the verifier runs on gRPC's threads; it reads the
// membership's current chain, which is thread-safe.
#ifndef TIDINGS_NODE_RPC_TLS_PIN_H_
#define TIDINGS_NODE_RPC_TLS_PIN_H_

#include <functional>
#include <memory>

#include "crypto/tls_cert.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "node/model/membership.h"

namespace tidings::node {

class Counters;

// Runs inside gRPC's TLS handshake, before any message is parsed. A refused
// certificate is counted ("links_refused.tls") and logged.
class RosterPinVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  // Both borrowed; must outlive every credential made with the verifier.
  RosterPinVerifier(Membership* membership, Counters* counters)
      : membership_(membership), counters_(counters) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> callback,
              grpc::Status* sync_status) override;
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {
  }

 private:
  Membership* membership_;
  Counters* counters_;
};

// Credentials for dialling peers: presents `tls` and accepts only a pinned
// server certificate (no CA, no host name check). All borrowed.
std::shared_ptr<grpc::ChannelCredentials> PinnedChannelCredentials(
    const crypto::TlsCredentials& tls, Membership* membership,
    Counters* counters);

// Credentials for the peer server: presents `tls`, requires a client
// certificate and accepts only a pinned one. All borrowed.
std::shared_ptr<grpc::ServerCredentials> PinnedServerCredentials(
    const crypto::TlsCredentials& tls, Membership* membership,
    Counters* counters);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_RPC_TLS_PIN_H_

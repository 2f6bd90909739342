#include "node/gossip/handshake.h"

#include <sodium.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "crypto/sign.h"
#include "crypto/tls_cert.h"
#include "node/gossip/context.h"
#include "node/gossip/link.h"
#include "node/gossip/roster_gossip.h"
#include "node/model/field_nodes.h"

namespace tidings::node {
namespace {

// One run of the handshake, one method per step of handshake.h.
class HandshakeRun {
 public:
  HandshakeRun(MessageStream& stream, absl::string_view expected_principal,
               Membership& membership, const crypto::Identity& identity,
               Counters& counters)
      : stream_(stream),
        expected_principal_(expected_principal),
        membership_(membership),
        identity_(identity),
        counters_(counters),
        network_id_(membership.network_id().str()),
        own_nonce_(kLinkNonceBytes, '\0'),
        chain_(membership.chain()) {
    randombytes_buf(own_nonce_.data(), own_nonce_.size());
  }

  absl::StatusOr<std::string> Run() {
    TIDINGS_RETURN_IF_ERROR(SendHello());
    TIDINGS_RETURN_IF_ERROR(ReadHello());
    // Before anything is sent to, or blamed on, the principal it claims.
    TIDINGS_RETURN_IF_ERROR(CheckCertificate(/*must_know=*/false));
    TIDINGS_RETURN_IF_ERROR(CheckSplit());
    TIDINGS_RETURN_IF_ERROR(SendRosterUpdates());
    TIDINGS_RETURN_IF_ERROR(CatchUp());
    // Both now hold the peer's version: it must be the same roster.
    TIDINGS_RETURN_IF_ERROR(CheckSplit());
    TIDINGS_ASSIGN_OR_RETURN(crypto::VerifyKey their_key, CheckClaim());
    TIDINGS_RETURN_IF_ERROR(SendProof());
    TIDINGS_RETURN_IF_ERROR(ReadProof(their_key));
    return their_principal();
  }

 private:
  const std::string& their_principal() const {
    return their_hello_.principal();
  }

  absl::Status SendHello();
  absl::Status ReadHello();
  absl::Status CheckHello() const;
  absl::Status CheckSplit() const;
  absl::Status SendRosterUpdates();
  absl::Status CatchUp();
  absl::Status CheckCertificate(bool must_know) const;
  absl::StatusOr<crypto::VerifyKey> CheckClaim() const;
  absl::Status SendProof();
  absl::Status ReadProof(const crypto::VerifyKey& their_key);

  MessageStream& stream_;
  const std::string expected_principal_;
  Membership& membership_;
  const crypto::Identity& identity_;
  Counters& counters_;
  const std::string network_id_;
  std::string own_nonce_;
  // The chain this side judges by; moves forward in CatchUp.
  std::shared_ptr<const RosterChain> chain_;
  proto::Hello their_hello_;
};

absl::Status HandshakeRun::SendHello() {
  proto::PeerMessage hello;
  hello.mutable_hello()->set_network_id(network_id_);
  hello.mutable_hello()->set_principal(identity_.principal());
  hello.mutable_hello()->set_nonce(own_nonce_);
  hello.mutable_hello()->set_roster_version(chain_->version());
  hello.mutable_hello()->set_roster_hash(chain_->current().hash().str());
  if (!stream_.Write(hello)) {
    return absl::UnavailableError("stream closed before hello");
  }
  return absl::OkStatus();
}

absl::Status HandshakeRun::ReadHello() {
  std::optional<proto::PeerMessage> theirs = stream_.Read();
  if (!theirs.has_value()) {
    return absl::UnavailableError("stream closed before the peer's hello");
  }
  if (!theirs->has_hello()) {
    return absl::InvalidArgumentError("first message is not a hello");
  }
  their_hello_ = std::move(*theirs->mutable_hello());
  return CheckHello();
}

absl::Status HandshakeRun::CheckHello() const {
  if (their_hello_.network_id() != network_id_) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer is on another network (",
                     crypto::ToHex(their_hello_.network_id()), ")"));
  }
  const std::string& principal = their_principal();
  if (absl::Status valid = ValidatePrincipal(principal); !valid.ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer's hello: ", valid.message()));
  }
  if (principal == identity_.principal()) {
    return absl::PermissionDeniedError("peer claims to be this node");
  }
  if (!expected_principal_.empty() && principal != expected_principal_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "dialled ", expected_principal_, " but the peer claims ", principal));
  }
  if (their_hello_.nonce().size() != kLinkNonceBytes) {
    return absl::InvalidArgumentError("hello nonce is not 32 bytes");
  }
  return absl::OkStatus();
}

// Once both hold the peer's version, it must be the same roster. Two
// histories that differ (a node built on a change that lost a race, or a
// fork) are reported, and the nodes do not link. Checked before updates are
// sent, and again after catching up with a peer that was ahead.
absl::Status HandshakeRun::CheckSplit() const {
  const Roster* same = chain_->at(their_hello_.roster_version());
  if (same == nullptr || their_hello_.roster_hash().empty() ||
      their_hello_.roster_hash() == same->hash().view()) {
    return absl::OkStatus();
  }
  counters_.Add("links_refused.roster_split");
  spdlog::error(
      "ROSTER SPLIT with {}: its roster v{} is {}, this node's is {}; an "
      "operator must rebuild one of the two",
      their_principal(), their_hello_.roster_version(),
      crypto::ToHex(their_hello_.roster_hash()),
      crypto::ToHex(same->hash().view()));
  return absl::FailedPreconditionError(
      absl::StrCat("roster split: the peer's roster v",
                   their_hello_.roster_version(), " differs from this node's"));
}

absl::Status HandshakeRun::SendRosterUpdates() {
  const uint32_t theirs = their_hello_.roster_version();
  // Only a member or one of its field nodes may learn the roster from us.
  if (theirs >= chain_->version() || !chain_->IsActive(their_principal())) {
    return absl::OkStatus();
  }
  const proto::PeerMessage updates = RosterUpdatesMessage(
      *chain_, theirs + 1, theirs + kMaxUpdatesPerHandshake,
      kMaxUpdateBytesPerHandshake);
  if (!stream_.Write(updates)) {
    return absl::UnavailableError("stream closed before roster updates");
  }
  return absl::OkStatus();
}

absl::Status HandshakeRun::CatchUp() {
  if (their_hello_.roster_version() <= chain_->version()) {
    return absl::OkStatus();
  }
  // The peer is ahead: its updates come before its proof.
  std::optional<proto::PeerMessage> theirs = stream_.Read();
  if (!theirs.has_value()) {
    return absl::UnavailableError("stream closed before roster updates");
  }
  if (!theirs->has_roster_updates()) {
    return absl::InvalidArgumentError(
        "peer has a newer roster but sent no roster updates");
  }
  for (const std::string& bytes : theirs->roster_updates().updates()) {
    absl::StatusOr<Offered> offered = membership_.OfferBytes(bytes);
    if (!offered.ok()) {
      counters_.Add("rejected.roster");
      return absl::PermissionDeniedError(absl::StrCat(
          "roster update from the peer refused: ", offered.status().message()));
    }
    counters_.Add(absl::StrCat("roster.", OfferedName(*offered)));
  }
  chain_ = membership_.chain();
  // What was applied stays; but nothing is proved to a peer whose roster
  // this node has not reached (its next link brings the rest).
  if (chain_->version() < their_hello_.roster_version()) {
    counters_.Add("links_refused.not_caught_up");
    return absl::PermissionDeniedError(
        absl::StrCat("the peer claims roster v", their_hello_.roster_version(),
                     " but its roster updates bring this node only to v",
                     chain_->version()));
  }
  return absl::OkStatus();
}

// Judged by the membership as it is now, updates included; nothing is proved
// to a peer that fails these.
absl::StatusOr<crypto::VerifyKey> HandshakeRun::CheckClaim() const {
  const std::string& principal = their_principal();
  std::optional<crypto::VerifyKey> their_key = chain_->VerifyKeyOf(principal);
  if (!their_key.has_value()) {
    return absl::PermissionDeniedError(
        absl::StrCat("peer claims to be '", principal, "', ",
                     IsFieldNode(principal)
                         ? "a field node with no valid certificate here"
                         : absl::StrCat("not in roster v", chain_->version())));
  }
  TIDINGS_RETURN_IF_ERROR(CheckCertificate(/*must_know=*/true));
  return *their_key;
}

// The TLS verifier let in any pinned certificate; it must be the claimed
// principal's. On the Hello, a principal this node does not know yet
// (`must_know` false) passes: it may be admitted by the updates the peer
// brings, and CheckClaim checks again after them.
absl::Status HandshakeRun::CheckCertificate(bool must_know) const {
  const std::string& principal = their_principal();
  std::optional<crypto::Sha256> pinned = chain_->TlsFingerprintOf(principal);
  if (!pinned.has_value() && !must_know) return absl::OkStatus();
  absl::StatusOr<crypto::Sha256> certificate =
      crypto::CertificateFingerprint(stream_.PeerCertificate());
  if (!certificate.ok() || !pinned.has_value() || !(*certificate == *pinned)) {
    counters_.Add("links_refused.certificate");
    return absl::PermissionDeniedError(
        absl::StrCat("peer claims ", principal,
                     " but its TLS certificate is not ", principal, "'s"));
  }
  return absl::OkStatus();
}

absl::Status HandshakeRun::SendProof() {
  proto::PeerMessage proof;
  proof.mutable_proof()->set_signature(
      crypto::Sign(identity_.signing_key(), crypto::Domain::kLink,
                   LinkTranscript(network_id_, their_hello_.nonce(), own_nonce_,
                                  identity_.principal(), their_principal()))
          .str());
  if (!stream_.Write(proof)) {
    return absl::UnavailableError("stream closed before proof");
  }
  return absl::OkStatus();
}

absl::Status HandshakeRun::ReadProof(const crypto::VerifyKey& their_key) {
  std::optional<proto::PeerMessage> theirs = stream_.Read();
  if (!theirs.has_value()) {
    return absl::UnavailableError("stream closed before the peer's proof");
  }
  if (!theirs->has_proof()) {
    return absl::InvalidArgumentError("second message is not a proof");
  }
  std::optional<crypto::Signature> signature =
      crypto::Signature::FromBytes(theirs->proof().signature());
  if (!signature.has_value() ||
      !crypto::Verify(
           their_key, crypto::Domain::kLink,
           LinkTranscript(network_id_, own_nonce_, their_hello_.nonce(),
                          their_principal(), identity_.principal()),
           *signature)
           .ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "peer cannot prove it holds the key of ", their_principal()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> Handshake(MessageStream& stream,
                                      absl::string_view expected_principal,
                                      Membership& membership,
                                      const crypto::Identity& identity,
                                      Counters& counters) {
  return HandshakeRun(stream, expected_principal, membership, identity,
                      counters)
      .Run();
}

}  // namespace tidings::node

#include "node/rpc/client_service.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "crypto/hash.h"
#include "grpcpp/grpcpp.h"
#include "node/model/envelope.h"
#include "node/model/roster_change.h"
#include "proto/client.grpc.pb.h"
#include "proto/grpc_status.h"

namespace tidings::node {
namespace {

using grpc_status::ToGrpc;

constexpr uint32_t kDefaultInboxLimit = 100;
constexpr uint32_t kMaxInboxLimit = 10000;
constexpr uint32_t kMaxFeedLimit = 1000;
constexpr size_t kMaxFeedBytes = 16 * 1024 * 1024;

class ClientService final : public proto::Client::Service {
 public:
  explicit ClientService(const ClientServiceDeps& deps) : deps_(deps) {}

  grpc::Status Send(grpc::ServerContext*, const proto::SendRequest* request,
                    proto::SendResponse* response) override {
    absl::StatusOr<SendResult> sent = deps_.engine->Send(*request);
    if (!sent.ok()) return ToGrpc(sent.status());
    response->set_envelope_id(sent->envelope_id);
    response->set_feed_id(sent->feed_id);
    response->set_seq(sent->seq);
    return grpc::Status::OK;
  }

  grpc::Status Inbox(grpc::ServerContext*, const proto::InboxRequest* request,
                     proto::InboxResponse* response) override {
    const uint32_t limit = request->limit() == 0
                               ? kDefaultInboxLimit
                               : std::min(request->limit(), kMaxInboxLimit);
    absl::StatusOr<std::vector<proto::InboxRecord>> entries =
        deps_.log->ListInbox(limit);
    if (!entries.ok()) return ToGrpc(entries.status());
    for (const proto::InboxRecord& entry : *entries) {
      absl::StatusOr<Held> held = Load(entry.envelope_id());
      if (!held.ok()) return ToGrpc(held.status());
      proto::EnvelopeSummary* summary = response->add_envelopes();
      *summary = Summarize(*held, TitleOf(*held));
      summary->set_stored_unix_us(entry.stored_unix_us());
    }
    return grpc::Status::OK;
  }

  grpc::Status Show(grpc::ServerContext*, const proto::ShowRequest* request,
                    proto::ShowResponse* response) override {
    absl::StatusOr<Held> held = Load(request->envelope_id());
    if (!held.ok()) return ToGrpc(held.status());
    absl::StatusOr<std::string> plaintext = OpenHeld(*held);
    if (!plaintext.ok()) return ToGrpc(plaintext.status());
    if (held->header.kind() == proto::KIND_RECEIPT) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "that envelope is a receipt; use status");
    }
    if (!response->mutable_body()->ParseFromString(*plaintext)) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS,
                          "stored body does not parse");
    }
    *response->mutable_summary() = Summarize(*held, response->body().title());
    response->set_expires_unix_ms(held->header.expires_unix_ms());
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const proto::StatusRequest* request,
                      proto::StatusResponse* response) override {
    absl::StatusOr<Held> held = Load(request->envelope_id());
    if (!held.ok()) return ToGrpc(held.status());
    auto receipts = deps_.log->ListReceipts(request->envelope_id());
    if (!receipts.ok()) return ToGrpc(receipts.status());
    *response->mutable_summary() = Summarize(*held, TitleOf(*held));
    // Each recipient's highest state: delivered from its holdings records
    // (field nodes that report theirs too), read and acknowledged from its
    // receipt envelopes.
    std::map<std::string, std::pair<int32_t, int64_t>> states;
    for (const std::string& member : held->header.audience()) {
      if (member != held->header.origin()) states[member] = {0, 0};
    }
    auto raise = [&states](const std::string& recipient, int32_t status,
                           int64_t at_unix_ms) {
      std::pair<int32_t, int64_t>& state = states[recipient];
      if (status > state.first) state = {status, at_unix_ms};
    };
    for (const Delivery& delivery : deps_.engine->DeliveredOf(
             held->header, response->summary().feed_id())) {
      raise(delivery.holder, proto::RECEIPT_DELIVERED, delivery.at_unix_ms);
    }
    for (const auto& [recipient, record] : *receipts) {
      raise(recipient, record.status(), record.at_unix_ms());
    }
    for (const auto& [recipient, state] : states) {
      proto::RecipientStatus* status = response->add_recipients();
      status->set_agency(recipient);
      status->set_status(static_cast<proto::ReceiptStatus>(state.first));
      status->set_at_unix_ms(state.second);
    }
    return grpc::Status::OK;
  }

  grpc::Status Stats(grpc::ServerContext*, const proto::StatsRequest*,
                     proto::StatsResponse* response) override {
    response->set_agency(deps_.identity->principal());
    for (const auto& [name, value] : deps_.counters->Snapshot()) {
      (*response->mutable_counters())[name] = value;
    }
    for (const std::string& peer : deps_.engine->linked_peers()) {
      response->add_connected_peers(peer);
    }
    response->set_envelopes_stored(deps_.log->envelope_count());
    return grpc::Status::OK;
  }

  grpc::Status Feed(grpc::ServerContext*, const proto::FeedRequest* request,
                    proto::FeedResponse* response) override {
    const size_t limit =
        std::clamp<uint32_t>(request->limit(), 1, kMaxFeedLimit);
    absl::StatusOr<std::vector<std::string>> envelopes = deps_.log->ReadFeed(
        request->feed_id(), std::max<uint64_t>(1, request->from_seq()), limit,
        kMaxFeedBytes);
    if (!envelopes.ok()) return ToGrpc(envelopes.status());
    for (const std::string& bytes : *envelopes) {
      if (!response->add_envelopes()->ParseFromString(bytes)) {
        return grpc::Status(grpc::StatusCode::DATA_LOSS,
                            "stored envelope does not parse");
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status ProposeRoster(grpc::ServerContext*,
                             const proto::RosterProposeRequest* request,
                             proto::RosterProposalStatus* response) override {
    if (request->op() == "endpoints") return PublishContact(*request, response);
    const std::shared_ptr<const RosterChain> chain = deps_.membership->chain();
    const RosterChangeContext context{absl::Now(),
                                      [this](absl::string_view agency) {
                                        return CutsFor(*deps_.log, agency);
                                      }};
    absl::StatusOr<proto::Roster> next =
        NextRoster(chain->current(), *request, context);
    if (!next.ok()) return ToGrpc(next.status());
    absl::StatusOr<proto::SignedRoster> proposal =
        deps_.membership->Propose(*std::move(next), *deps_.identity);
    if (!proposal.ok()) return ToGrpc(proposal.status());
    return Answer(*proposal, response);
  }

  // A change of this node's own endpoints or TLS pin: its signed contact.
  grpc::Status PublishContact(const proto::RosterProposeRequest& request,
                              proto::RosterProposalStatus* response) {
    if (request.endpoints_size() == 0 && request.tls_cert_sha256().empty()) {
      return ToGrpc(absl::InvalidArgumentError(
          "'endpoints' needs endpoints or a TLS certificate fingerprint"));
    }
    absl::StatusOr<proto::SignedMemberContact> contact =
        deps_.membership->PublishContact(
            request.tls_cert_sha256(),
            {request.endpoints().begin(), request.endpoints().end()},
            *deps_.identity, absl::ToUnixMillis(absl::Now()));
    if (!contact.ok()) return ToGrpc(contact.status());
    proto::NodeCerts records;
    records.add_contacts(contact->SerializeAsString());
    deps_.engine->AnnounceNodeRecords(records);
    proto::MemberContact parsed;
    parsed.ParseFromString(contact->contact());
    response->set_hash(crypto::Hash(contact->SerializeAsString()).str());
    response->set_version(parsed.roster_version());
    response->set_change(
        absl::StrCat("contact of ", parsed.agency(), " (TLS certificate ",
                     crypto::ToHex(parsed.tls_cert_sha256()), ", endpoints ",
                     absl::StrJoin(parsed.endpoints(), ", "), ")"));
    response->add_signers(parsed.agency());
    response->set_needed(1);
    response->set_applied(true);
    return grpc::Status::OK;
  }

  grpc::Status SignRoster(grpc::ServerContext*,
                          const proto::RosterSignRequest* request,
                          proto::RosterProposalStatus* response) override {
    absl::StatusOr<proto::SignedRoster> proposal =
        deps_.membership->Sign(request->hash(), *deps_.identity);
    if (!proposal.ok()) return ToGrpc(proposal.status());
    return Answer(*proposal, response);
  }

  // A backlog of at most about ten years.
  static constexpr uint64_t kMaxBacklogSeconds = 10ull * 366 * 24 * 3600;

  grpc::Status CertifyNode(grpc::ServerContext*,
                           const proto::NodeCertifyRequest* request,
                           proto::NodeInfo* response) override {
    const proto::Member& member = request->node().member();
    if (absl::Status s = ValidateFieldNodeId(member.agency()); !s.ok()) {
      return ToGrpc(s);
    }
    proto::NodeCert cert;
    cert.set_node(member.agency());
    cert.set_name(member.name());
    cert.set_sign_pk(member.sign_pk());
    cert.set_box_pk(member.box_pk());
    cert.set_tls_cert_sha256(member.tls_cert_sha256());
    *cert.mutable_endpoints() = member.endpoints();
    cert.set_issued_unix_ms(absl::ToUnixMillis(absl::Now()));
    absl::StatusOr<proto::SignedNodeCert> signed_cert =
        deps_.membership->CertifyNode(
            std::move(cert), *deps_.identity,
            absl::Seconds(static_cast<int64_t>(std::min<uint64_t>(
                request->backlog_seconds(), kMaxBacklogSeconds))));
    if (!signed_cert.ok()) return ToGrpc(signed_cert.status());
    proto::NodeCerts records;
    records.add_certs(signed_cert->SerializeAsString());
    deps_.engine->AnnounceNodeRecords(records);
    return DescribeNode(member.agency(), response);
  }

  grpc::Status RevokeNode(grpc::ServerContext*,
                          const proto::NodeRevokeRequest* request,
                          proto::NodeInfo* response) override {
    if (absl::Status s = ValidateFieldNodeId(request->node()); !s.ok()) {
      return ToGrpc(s);
    }
    absl::StatusOr<proto::SignedNodeRevocation> revocation =
        deps_.membership->RevokeNode(request->node(), *deps_.identity,
                                     absl::ToUnixMillis(absl::Now()));
    if (!revocation.ok()) return ToGrpc(revocation.status());
    proto::NodeCerts records;
    records.add_revocations(revocation->SerializeAsString());
    deps_.engine->AnnounceNodeRecords(records);
    return DescribeNode(request->node(), response);
  }

  grpc::Status ListNodes(grpc::ServerContext*, const proto::NodeListRequest*,
                         proto::NodeListResponse* response) override {
    for (const auto& [id, node] : deps_.membership->chain()->nodes().all()) {
      grpc::Status status = DescribeNode(id, response->add_nodes());
      if (!status.ok()) return status;
    }
    return grpc::Status::OK;
  }

  grpc::Status RosterInfo(grpc::ServerContext*, const proto::RosterInfoRequest*,
                          proto::RosterInfoResponse* response) override {
    const std::shared_ptr<const RosterChain> chain = deps_.membership->chain();
    for (uint32_t v = 0; v <= chain->version(); ++v) {
      response->add_versions(chain->at(v)->signed_roster().SerializeAsString());
    }
    for (const proto::SignedRoster& pending : deps_.membership->Pending()) {
      absl::StatusOr<UpdateCheck> check =
          CheckUpdate(chain->current(), pending);
      if (!check.ok()) continue;  // the chain moved on meanwhile
      Describe(pending, *check, false, response->add_pending());
    }
    for (const RosterFork& fork : deps_.membership->Forks()) {
      proto::RosterForkInfo* info = response->add_forks();
      info->set_version(fork.version);
      info->set_applied_hash(fork.applied_hash);
      info->set_other_hash(fork.other_hash);
    }
    for (const proto::Member& member : chain->current().roster().members()) {
      if (const proto::MemberContact* contact =
              chain->ContactOf(member.agency())) {
        *response->add_contacts() = *contact;
      }
    }
    return grpc::Status::OK;
  }

 private:
  static void Describe(const proto::SignedRoster& update,
                       const UpdateCheck& check, bool applied,
                       proto::RosterProposalStatus* out) {
    proto::Roster roster;
    roster.ParseFromString(update.roster());
    out->set_hash(check.hash.str());
    out->set_version(check.version);
    out->set_change(roster.change());
    for (const std::string& signer : check.signers) out->add_signers(signer);
    out->set_needed(check.needed);
    out->set_applied(applied);
  }

  // Gossips `proposal` and describes it (applied if the chain reached it).
  grpc::Status Answer(const proto::SignedRoster& proposal,
                      proto::RosterProposalStatus* response) {
    const std::shared_ptr<const RosterChain> chain = deps_.membership->chain();
    proto::Roster roster;
    roster.ParseFromString(proposal.roster());
    const Roster* applied = chain->at(roster.version());
    const Roster* prev = chain->at(roster.version() - 1);
    if (prev == nullptr) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "proposal lost");
    }
    absl::StatusOr<UpdateCheck> check = CheckUpdate(*prev, proposal);
    if (!check.ok()) return ToGrpc(check.status());
    const bool is_applied =
        applied != nullptr &&
        applied->signed_roster().roster() == proposal.roster();
    if (!is_applied) deps_.engine->Announce(proposal);
    Describe(proposal, *check, is_applied, response);
    return grpc::Status::OK;
  }

  grpc::Status DescribeNode(const std::string& id, proto::NodeInfo* out) {
    const std::shared_ptr<const RosterChain> chain = deps_.membership->chain();
    const FieldNode* node = chain->nodes().Find(id);
    if (node == nullptr) {
      return grpc::Status(grpc::StatusCode::INTERNAL,
                          "field node vanished from the membership");
    }
    out->set_node(id);
    out->set_has_cert(node->has_cert);
    if (node->has_cert) {
      out->set_name(node->cert.name());
      out->set_sign_pk(node->cert.sign_pk());
      out->set_tls_cert_sha256(node->cert.tls_cert_sha256());
      out->set_issued_unix_ms(node->cert.issued_unix_ms());
      out->set_signed_cert(node->signed_cert.SerializeAsString());
    }
    out->set_active(chain->IsActive(id));
    out->set_revoked(node->revocation.has_value());
    if (node->revocation.has_value()) {
      out->set_revoked_unix_ms(node->revocation->revoked_unix_ms());
    }
    return grpc::Status::OK;
  }

  struct Held {
    std::string id;
    proto::Header header;
  };

  absl::StatusOr<Held> Load(const std::string& id) {
    if (id.size() != 32) {
      return absl::InvalidArgumentError("an envelope id is 32 bytes");
    }
    absl::StatusOr<std::optional<std::string>> bytes =
        deps_.log->GetEnvelope(id);
    if (!bytes.ok()) return bytes.status();
    if (!bytes->has_value()) {
      return absl::NotFoundError("this node holds no such envelope");
    }
    proto::Envelope envelope;
    Held held{id, {}};
    if (!envelope.ParseFromString(**bytes) ||
        !held.header.ParseFromString(envelope.header())) {
      return absl::DataLossError("stored envelope does not parse");
    }
    return held;
  }

  // The body of an envelope this node holds: with the content key kept
  // under the storage key (epoch keys may be erased by now), else by
  // unwrapping.
  absl::StatusOr<std::string> OpenHeld(const Held& held) {
    if (deps_.storage_key != nullptr) {
      absl::StatusOr<std::optional<std::string>> local =
          deps_.log->GetLocalKey(held.id);
      if (local.ok() && local->has_value()) {
        absl::StatusOr<std::string> plaintext =
            OpenWithLocalKey(*deps_.storage_key, held.id, **local, held.header);
        if (plaintext.ok()) return plaintext;
      }
    }
    return OpenBody(*deps_.membership->chain(), deps_.identity->principal(),
                    OpenKeys{*deps_.keyring, deps_.epochs}, held.header);
  }

  std::string TitleOf(const Held& held) {
    if (held.header.kind() == proto::KIND_RECEIPT) return "(receipt)";
    absl::StatusOr<std::string> plaintext = OpenHeld(held);
    proto::Body body;
    if (!plaintext.ok() || !body.ParseFromString(*plaintext)) {
      return "(cannot decrypt)";
    }
    return body.title();
  }

  proto::EnvelopeSummary Summarize(const Held& held, std::string title) {
    proto::EnvelopeSummary summary;
    const proto::Header& h = held.header;
    summary.set_envelope_id(held.id);
    summary.set_origin(h.origin());
    *summary.mutable_audience() = h.audience();
    summary.set_seq(h.seq());
    summary.set_kind(h.kind());
    summary.set_precedence(h.precedence());
    summary.set_created_unix_ms(h.created_unix_ms());
    summary.set_title(std::move(title));
    summary.set_feed_id(FeedIdOf(
        h.network_id(), h.origin(),
        std::vector<std::string>(h.audience().begin(), h.audience().end())));
    return summary;
  }

  const ClientServiceDeps deps_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeClientService(
    const ClientServiceDeps& deps) {
  return std::make_unique<ClientService>(deps);
}

}  // namespace tidings::node

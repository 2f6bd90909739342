#include "node/client_service.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "node/envelope.h"
#include "node/internal/grpc_status.h"
#include "proto/client.grpc.pb.h"

namespace tidings::node {
namespace {

using grpc_internal::ToGrpc;

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
      *summary = Summarize(*held, TitleOf(held->header));
      summary->set_stored_unix_us(entry.stored_unix_us());
    }
    return grpc::Status::OK;
  }

  grpc::Status Show(grpc::ServerContext*, const proto::ShowRequest* request,
                    proto::ShowResponse* response) override {
    absl::StatusOr<Held> held = Load(request->envelope_id());
    if (!held.ok()) return ToGrpc(held.status());
    absl::StatusOr<std::string> plaintext = OpenBody(
        *deps_.roster, deps_.identity->agency(), *deps_.keyring, held->header);
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
    *response->mutable_summary() = Summarize(*held, TitleOf(held->header));
    for (const std::string& member : held->header.audience()) {
      if (member == held->header.origin()) continue;
      proto::RecipientStatus* status = response->add_recipients();
      status->set_agency(member);
      for (const auto& [recipient, record] : *receipts) {
        if (recipient != member) continue;
        status->set_status(static_cast<proto::ReceiptStatus>(record.status()));
        status->set_at_unix_ms(record.at_unix_ms());
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Stats(grpc::ServerContext*, const proto::StatsRequest*,
                     proto::StatsResponse* response) override {
    response->set_agency(deps_.identity->agency());
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

 private:
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

  std::string TitleOf(const proto::Header& header) {
    if (header.kind() == proto::KIND_RECEIPT) return "(receipt)";
    absl::StatusOr<std::string> plaintext = OpenBody(
        *deps_.roster, deps_.identity->agency(), *deps_.keyring, header);
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

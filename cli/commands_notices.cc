// send, inbox, show, status: an officer's notices and alerts, through the
// node's client service.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/node_client.h"
#include "cli/text.h"
#include "crypto/types.h"
#include "node/model/envelope.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"

namespace tidings::node::cli_internal {
namespace {

using base::JsonArray;
using base::JsonDouble;
using base::JsonObject;
using base::JsonStringArray;

constexpr size_t kMaxFieldBytes = 64 * 1024;  // title, text
constexpr size_t kTitleColumn = 60;  // code points shown in the inbox table

std::string ShortId(absl::string_view id) {
  return crypto::ToHex(id).substr(0, 16);
}

std::string ReceiptStatusName(proto::ReceiptStatus status) {
  switch (status) {
    case proto::RECEIPT_STATUS_UNSPECIFIED:
      return "pending";
    case proto::RECEIPT_DELIVERED:
      return "delivered";
    case proto::RECEIPT_READ:
      return "read";
    case proto::RECEIPT_ACKNOWLEDGED:
      return "acknowledged";
    default:
      return absl::StrCat("status-", static_cast<int>(status));
  }
}

JsonObject SummaryJson(const proto::EnvelopeSummary& s) {
  JsonObject json;
  json.String("envelope_id", crypto::ToHex(s.envelope_id()))
      .String("origin", s.origin())
      .Raw("audience", JsonStringArray(std::vector<std::string>(
                           s.audience().begin(), s.audience().end())))
      .Int("seq", s.seq())
      .String("kind", KindName(s.kind()))
      .String("precedence", PrecedenceName(s.precedence()))
      .Int("created_unix_ms", s.created_unix_ms())
      .String("created", IsoTime(s.created_unix_ms()))
      .String("title", s.title())
      .String("feed_id", crypto::ToHex(s.feed_id()));
  return json;
}

// ---------------------------------------------------------------------------
// send: everything is checked here, before any connection, so that a typo
// never reaches the node, let alone the network.

absl::Status SetKindAndPrecedence(const Args& args,
                                  proto::SendRequest& request) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string kind_name, args.Required("kind"));
  const std::optional<proto::Kind> kind = KindFromName(kind_name);
  if (!kind.has_value()) {
    return UsageError(absl::StrCat("--kind '", absl::CHexEscape(kind_name),
                                   "' is not alert or notice"));
  }
  TIDINGS_ASSIGN_OR_RETURN(const std::string precedence_name,
                           args.Required("precedence"));
  const std::optional<proto::Precedence> precedence =
      PrecedenceFromName(precedence_name);
  if (!precedence.has_value()) {
    return UsageError(
        absl::StrCat("--precedence '", absl::CHexEscape(precedence_name),
                     "' is not flash, immediate, priority or routine"));
  }
  request.set_kind(*kind);
  request.set_precedence(*precedence);
  return absl::OkStatus();
}

absl::Status SetAudience(const Args& args, proto::SendRequest& request) {
  TIDINGS_ASSIGN_OR_RETURN(std::vector<std::string> audience,
                           ListFlag(args, "audience"));
  if (audience.empty()) return UsageError("missing required flag --audience");
  for (const std::string& agency : audience) {
    TIDINGS_RETURN_IF_ERROR(ValidateAgencyFlag("audience", agency));
  }
  std::vector<std::string> sorted = audience;
  std::sort(sorted.begin(), sorted.end());
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end());
      dup != sorted.end()) {
    return UsageError(absl::StrCat("--audience lists ", *dup, " twice"));
  }
  if (audience.size() > kMaxAudience) {
    return UsageError(absl::StrCat("--audience has ", audience.size(),
                                   " agencies; the limit is ", kMaxAudience));
  }
  for (const std::string& agency : audience) request.add_audience(agency);
  return absl::OkStatus();
}

absl::Status SetTitleAndText(const Args& args, proto::Body& body) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string text, args.Required("text"));
  if (absl::StripAsciiWhitespace(text).empty()) {
    return UsageError("--text is empty");
  }
  TIDINGS_RETURN_IF_ERROR(ValidateText("text", text, kMaxFieldBytes));
  const std::string title = args.Find("title") ? *args.Find("title") : "";
  TIDINGS_RETURN_IF_ERROR(ValidateText("title", title, kMaxFieldBytes));
  body.set_title(title);
  body.set_text(text);
  return absl::OkStatus();
}

absl::Status SetPosition(const Args& args, proto::Body& body) {
  TIDINGS_ASSIGN_OR_RETURN(std::optional<double> lat,
                           args.Get<double>("lat", "a number"));
  TIDINGS_ASSIGN_OR_RETURN(std::optional<double> lon,
                           args.Get<double>("lon", "a number"));
  if (lat.has_value() != lon.has_value()) {
    return UsageError("give both --lat and --lon, or neither");
  }
  // Written as negations so that NaN fails too.
  if (lat.has_value() && !(*lat >= -90.0 && *lat <= 90.0)) {
    return UsageError(
        absl::StrCat("--lat ", *args.Find("lat"), " is outside -90..90"));
  }
  if (lon.has_value() && !(*lon >= -180.0 && *lon <= 180.0)) {
    return UsageError(
        absl::StrCat("--lon ", *args.Find("lon"), " is outside -180..180"));
  }
  if (lat.has_value()) {
    body.mutable_position()->set_lat(*lat);
    body.mutable_position()->set_lon(*lon);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<absl::Duration>> ExpiresInFlag(const Args& args) {
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<absl::Duration> expires_in,
      args.Get<absl::Duration>("expires-in", "a duration such as 90m or 24h"));
  if (expires_in.has_value() && (*expires_in <= absl::ZeroDuration() ||
                                 *expires_in == absl::InfiniteDuration())) {
    return UsageError(absl::StrCat("--expires-in ", *args.Find("expires-in"),
                                   " must be a positive, finite duration"));
  }
  return expires_in;
}

absl::StatusOr<proto::SendRequest> SendRequestOf(const Args& args) {
  proto::SendRequest request;
  TIDINGS_RETURN_IF_ERROR(SetKindAndPrecedence(args, request));
  TIDINGS_RETURN_IF_ERROR(SetAudience(args, request));
  proto::Body* body = request.mutable_body();
  TIDINGS_RETURN_IF_ERROR(SetTitleAndText(args, *body));
  TIDINGS_RETURN_IF_ERROR(SetPosition(args, *body));
  TIDINGS_ASSIGN_OR_RETURN(const std::optional<absl::Duration> expires_in,
                           ExpiresInFlag(args));
  if (body->ByteSizeLong() > kMaxBodyBytes) {
    return UsageError(
        absl::StrCat("title and text together are ", body->ByteSizeLong(),
                     " bytes; a body may have at most ", kMaxBodyBytes));
  }
  if (expires_in.has_value()) {
    request.set_expires_unix_ms(absl::ToUnixMillis(absl::Now() + *expires_in));
  }
  return request;
}

absl::Status RunSend(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const proto::SendRequest request,
                           SendRequestOf(args));
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::SendResponse response;
  TIDINGS_RETURN_IF_ERROR(
      client.Call("Send", &proto::Client::Stub::Send, request, response));
  const std::string id = crypto::ToHex(response.envelope_id());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("envelope_id", id)
               .Int("seq", response.seq())
               .String("feed_id", crypto::ToHex(response.feed_id()))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "sent " << KindName(request.kind()) << " " << id << "\n"
      << "feed seq " << response.seq() << "\n";
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// inbox

absl::Status RunInbox(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(std::optional<uint32_t> limit,
                           args.Get<uint32_t>("limit", "a whole number"));
  if (limit.has_value() && *limit == 0) {
    return UsageError("--limit must be at least 1");
  }
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::InboxRequest request;
  request.set_limit(limit.value_or(0));
  request.set_include_receipts(args.Bool("receipts"));
  proto::InboxResponse response;
  TIDINGS_RETURN_IF_ERROR(
      client.Call("Inbox", &proto::Client::Stub::Inbox, request, response));

  if (args.Bool("json")) {
    std::vector<std::string> items;
    for (const proto::EnvelopeSummary& s : response.envelopes()) {
      items.push_back(SummaryJson(s).Build());
    }
    out << JsonObject().Raw("envelopes", JsonArray(items)).Build() << "\n";
    return absl::OkStatus();
  }
  if (response.envelopes().empty()) {
    out << "inbox is empty\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"TIME (UTC)", "KIND", "PRECEDENCE", "ORIGIN", "ID", "TITLE"}};
  for (const proto::EnvelopeSummary& s : response.envelopes()) {
    rows.push_back(
        {IsoTime(s.created_unix_ms()), KindName(s.kind()),
         PrecedenceName(s.precedence()), Printable(s.origin(), Lines::kEscape),
         ShortId(s.envelope_id()),
         Printable(Truncate(s.title(), kTitleColumn), Lines::kEscape)});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// show

// Show or Status of the envelope named by the one positional argument, with
// "this node holds no envelope <id>" if the node has none.
template <typename Request, typename Response>
absl::Status CallForEnvelope(
    NodeClient& client, const Args& args, absl::string_view rpc,
    grpc::Status (proto::Client::Stub::*method)(grpc::ClientContext*,
                                                const Request&, Response*),
    Response& response) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string id,
                           ResolveId(client, args.positional().front()));
  Request request;
  request.set_envelope_id(id);
  absl::Status status = client.Call(rpc, method, request, response);
  if (absl::IsNotFound(status)) {
    return absl::NotFoundError(
        absl::StrCat("this node holds no envelope ", crypto::ToHex(id)));
  }
  return status;
}

std::string ShowJson(const proto::ShowResponse& response) {
  const proto::Body& body = response.body();
  JsonObject json_body;
  json_body.String("title", body.title()).String("text", body.text());
  if (body.has_position()) {
    json_body.Raw("position", JsonObject()
                                  .Raw("lat", JsonDouble(body.position().lat()))
                                  .Raw("lon", JsonDouble(body.position().lon()))
                                  .Build());
  } else {
    json_body.Raw("position", "null");
  }
  return SummaryJson(response.summary())
      .Raw("body", json_body.Build())
      .Int("expires_unix_ms", response.expires_unix_ms())
      .String("expires", IsoTime(response.expires_unix_ms()))
      .Build();
}

void PrintShow(const proto::ShowResponse& response, std::ostream& out) {
  const proto::EnvelopeSummary& s = response.summary();
  const proto::Body& body = response.body();
  std::vector<std::string> audience;
  for (const std::string& a : s.audience()) {
    audience.push_back(Printable(a, Lines::kEscape));
  }
  out << "envelope    " << crypto::ToHex(s.envelope_id()) << "\n"
      << "kind        " << KindName(s.kind()) << "\n"
      << "precedence  " << PrecedenceName(s.precedence()) << "\n"
      << "origin      " << Printable(s.origin(), Lines::kEscape) << "\n"
      << "audience    " << absl::StrJoin(audience, ", ") << "\n"
      << "seq         " << s.seq() << "\n"
      << "created     " << IsoTime(s.created_unix_ms()) << "\n"
      << "expires     "
      << (response.expires_unix_ms() == 0 ? "never"
                                          : IsoTime(response.expires_unix_ms()))
      << "\n";
  if (body.has_position()) {
    out << "position    "
        << absl::StrFormat("%.6f, %.6f", body.position().lat(),
                           body.position().lon())
        << "\n";
  }
  out << "title       " << Printable(body.title(), Lines::kEscape) << "\n\n"
      << Printable(body.text(), Lines::kKeep) << "\n";
}

absl::Status RunShow(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::ShowResponse response;
  TIDINGS_RETURN_IF_ERROR(
      (CallForEnvelope<proto::ShowRequest, proto::ShowResponse>(
          client, args, "Show", &proto::Client::Stub::Show, response)));
  if (args.Bool("json")) {
    out << ShowJson(response) << "\n";
    return absl::OkStatus();
  }
  PrintShow(response, out);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// status

void PrintStatus(const proto::StatusResponse& response, std::ostream& out) {
  const proto::EnvelopeSummary& s = response.summary();
  out << KindName(s.kind()) << " " << crypto::ToHex(s.envelope_id()) << "\n"
      << "title  " << Printable(s.title(), Lines::kEscape) << "\n\n";
  if (response.recipients().empty()) {
    out << "no recipients besides the origin\n";
    return;
  }
  size_t width = absl::string_view("AGENCY").size();
  for (const proto::RecipientStatus& r : response.recipients()) {
    width =
        std::max(width, DisplayWidth(Printable(r.agency(), Lines::kEscape)));
  }
  out << PadRight("AGENCY", width + 2) << PadRight("STATUS", 14)
      << "TIME (UTC)\n";
  for (const proto::RecipientStatus& r : response.recipients()) {
    out << PadRight(Printable(r.agency(), Lines::kEscape), width + 2)
        << PadRight(ReceiptStatusName(r.status()), 14)
        << IsoTime(r.at_unix_ms()) << "\n";
  }
}

absl::Status RunStatus(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::StatusResponse response;
  TIDINGS_RETURN_IF_ERROR(
      (CallForEnvelope<proto::StatusRequest, proto::StatusResponse>(
          client, args, "Status", &proto::Client::Stub::Status, response)));
  if (args.Bool("json")) {
    std::vector<std::string> recipients;
    for (const proto::RecipientStatus& r : response.recipients()) {
      recipients.push_back(JsonObject()
                               .String("agency", r.agency())
                               .String("status", ReceiptStatusName(r.status()))
                               .Int("at_unix_ms", r.at_unix_ms())
                               .Build());
    }
    out << SummaryJson(response.summary())
               .Raw("recipients", JsonArray(recipients))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  PrintStatus(response, out);
  return absl::OkStatus();
}

}  // namespace

Command SendCommand() {
  return {"send",
          "--kind alert|notice --precedence flash|immediate|priority|routine "
          "--audience ID,... --text TEXT [--title TITLE] [--lat X --lon Y] "
          "[--expires-in DURATION] (--socket PATH | --config FILE) [--json]",
          "sign, encrypt and send a notice or an alert",
          "Sends a notice or an alert from this node to the agencies in the\n"
          "audience (this agency is added by the node). Everything is checked\n"
          "before the node is contacted.",
          {{"kind", "KIND", "alert or notice (required)"},
           {"precedence", "PRECEDENCE",
            "flash, immediate, priority or routine (required)"},
           {"audience", "ID,...",
            "agencies allowed to read it; repeatable or comma-separated "
            "(required)",
            true},
           {"title", "TITLE", "a short title, at most 64 KiB"},
           {"text", "TEXT", "the text, at most 64 KiB (required)"},
           {"lat", "X", "latitude in degrees, -90..90 (with --lon)"},
           {"lon", "Y", "longitude in degrees, -180..180 (with --lat)"},
           {"expires-in", "DURATION", "e.g. 90m, 24h; default: never expires"},
           kSocketFlag,
           kConfigFlag,
           kJsonFlag},
          0,
          0,
          "",
          &RunSend};
}

Command InboxCommand() {
  return {"inbox",
          "[--limit N] [--receipts] (--socket PATH | --config FILE) [--json]",
          "list envelopes held by this node, newest first",
          "Lists the notices and alerts this node holds, newest first: time,\n"
          "kind, precedence, origin, the first 16 hex digits of the id, title.",
          {{"limit", "N", "at most N envelopes (node default: 100)"},
           {"receipts", "", "include receipts"},
           kSocketFlag,
           kConfigFlag,
           kJsonFlag},
          0,
          0,
          "",
          &RunInbox};
}

Command ShowCommand() {
  return {
      "show",
      "ID (--socket PATH | --config FILE) [--json]",
      "print one envelope, decrypted",
      "Prints an envelope's header and decrypted body. ID is the hex id or a\n"
      "unique prefix of at least 8 hex digits of an envelope in the inbox.",
      {kSocketFlag, kConfigFlag, kJsonFlag},
      1,
      1,
      "an envelope ID",
      &RunShow};
}

Command StatusCommand() {
  return {"status",
          "ID (--socket PATH | --config FILE) [--json]",
          "who has received, read and acknowledged an envelope",
          "Prints, for each recipient of an envelope, the last receipt heard:\n"
          "pending, delivered, read or acknowledged. ID as for `tidings show`.",
          {kSocketFlag, kConfigFlag, kJsonFlag},
          1,
          1,
          "an envelope ID",
          &RunStatus};
}

}  // namespace tidings::node::cli_internal

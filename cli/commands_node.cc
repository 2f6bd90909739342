// node certify, revoke, list: field nodes, certified and revoked by their
// agency's own node.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/node_client.h"
#include "cli/text.h"
#include "crypto/types.h"
#include "node/model/field_nodes.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"
#include "proto/roster.pb.h"

namespace tidings::node::cli_internal {
namespace {

using base::JsonArray;
using base::JsonObject;

constexpr size_t kNameColumn = 60;  // code points shown in the list

// One word per state for --json, and the words the table shows.
struct NodeState {
  absl::string_view token;
  absl::string_view text;
};

NodeState StateOf(const proto::NodeInfo& node) {
  if (!node.has_cert()) return {"revocation_only", "revocation only"};
  if (node.revoked()) return {"revoked", "revoked"};
  if (node.active()) return {"active", "active"};
  return {"not_valid", "not valid (agency removed or key revoked)"};
}

JsonObject NodeInfoJson(const proto::NodeInfo& node) {
  JsonObject json;
  json.String("node", node.node())
      .String("name", node.name())
      .String("state", StateOf(node).token)
      .Bool("has_cert", node.has_cert())
      .Bool("active", node.active())
      .Bool("revoked", node.revoked())
      .String("sign_pk", crypto::ToHex(node.sign_pk()))
      .String("tls_cert_sha256", crypto::ToHex(node.tls_cert_sha256()))
      .Int("issued_unix_ms", node.issued_unix_ms())
      .String("issued", IsoTime(node.issued_unix_ms()))
      .Int("revoked_unix_ms", node.revoked_unix_ms())
      .String("revoked_at", IsoTime(node.revoked_unix_ms()));
  return json;
}

void PrintNodeInfo(const proto::NodeInfo& node, std::ostream& out) {
  out << "node         " << Printable(node.node(), Lines::kEscape) << "\n";
  if (!node.name().empty()) {
    out << "name         " << Printable(node.name(), Lines::kEscape) << "\n";
  }
  out << "state        " << StateOf(node).text << "\n";
  if (node.has_cert()) {
    out << "sign key     " << crypto::ToHex(node.sign_pk()) << "\n"
        << "tls cert     sha256 " << crypto::ToHex(node.tls_cert_sha256())
        << "\n"
        << "issued       " << IsoTime(node.issued_unix_ms()) << "\n";
  }
  if (node.revoked()) {
    out << "revoked      " << IsoTime(node.revoked_unix_ms()) << "\n";
  }
}

// ---------------------------------------------------------------------------
// node certify

// The certificate in `info`, checked to be of `member`'s id and keys: the
// file is handed on as this node's word for them.
absl::Status CheckCertifies(const proto::NodeInfo& info,
                            const proto::Member& member) {
  proto::SignedNodeCert signed_cert;
  proto::NodeCert cert;
  if (!info.has_cert() || !signed_cert.ParseFromString(info.signed_cert()) ||
      !cert.ParseFromString(signed_cert.cert())) {
    return absl::DataLossError(
        "the node sent no certificate that parses as a NodeCert");
  }
  if (cert.node() != member.agency() || cert.sign_pk() != member.sign_pk() ||
      cert.box_pk() != member.box_pk() ||
      cert.tls_cert_sha256() != member.tls_cert_sha256()) {
    return absl::DataLossError(
        absl::StrCat("the node sent a certificate of other keys than those of ",
                     Printable(member.agency(), Lines::kEscape)));
  }
  return absl::OkStatus();
}

// The field node's .pub, and --out, which must not exist yet: checked before
// the node signs anything, since a node id is certified once.
absl::StatusOr<proto::Member> FieldNodeToCertify(const std::string& pub_path,
                                                 const std::string& out_path) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Member member, ReadMemberFile(pub_path));
  if (absl::Status s = ValidateFieldNodeId(member.agency()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        pub_path, ": ", s.message(),
        "; a field node's .pub comes from `tidings keygen --agency "
        "AGENCY/NAME`"));
  }
  if (PathExists(out_path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        out_path, " already exists; refusing to overwrite a certificate"));
  }
  return member;
}

absl::StatusOr<proto::NodeCertifyRequest> CertifyRequestOf(
    const Args& args, const proto::Member& member) {
  TIDINGS_ASSIGN_OR_RETURN(
      std::optional<absl::Duration> backlog,
      args.Get<absl::Duration>("backlog", "a duration such as 72h or 720h"));
  if (backlog.has_value() &&
      (*backlog < absl::ZeroDuration() || *backlog > absl::Hours(24 * 3660))) {
    return UsageError(absl::StrCat("--backlog ", *args.Find("backlog"),
                                   " must be between 0 and 10 years"));
  }
  proto::NodeCertifyRequest request;
  *request.mutable_node()->mutable_member() = member;
  if (backlog.has_value()) {
    request.set_backlog_seconds(
        static_cast<uint64_t>(absl::ToInt64Seconds(*backlog)));
  }
  return request;
}

// What the node certified, and whether it had done so before.
struct Certified {
  proto::NodeInfo info;
  bool before = false;
};

// The node's certificate of `member`: a new one, or, on a retry after the
// file could not be written, the one it holds of exactly these keys if that
// still holds.
absl::StatusOr<Certified> Certify(NodeClient& client,
                                  const proto::NodeCertifyRequest& request,
                                  const proto::Member& member) {
  Certified certified;
  absl::Status status =
      client.Call("CertifyNode", &proto::Client::Stub::CertifyNode, request,
                  certified.info);
  if (!absl::IsAlreadyExists(status)) {
    TIDINGS_RETURN_IF_ERROR(status);
    return certified;
  }
  proto::NodeListResponse list;
  TIDINGS_RETURN_IF_ERROR(client.Call("ListNodes",
                                      &proto::Client::Stub::ListNodes,
                                      proto::NodeListRequest(), list));
  auto known = std::find_if(
      list.nodes().begin(), list.nodes().end(),
      [&](const proto::NodeInfo& n) { return n.node() == member.agency(); });
  if (known == list.nodes().end() || !known->active() ||
      !CheckCertifies(*known, member).ok()) {
    return status;
  }
  certified.info = *known;
  certified.before = true;
  return certified;
}

absl::Status RunNodeCertify(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string pub_path, args.Required("pub"));
  TIDINGS_ASSIGN_OR_RETURN(const std::string out_path, args.Required("out"));
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  TIDINGS_ASSIGN_OR_RETURN(const proto::Member member,
                           FieldNodeToCertify(pub_path, out_path));
  TIDINGS_ASSIGN_OR_RETURN(const proto::NodeCertifyRequest request,
                           CertifyRequestOf(args, member));
  TIDINGS_ASSIGN_OR_RETURN(const Certified certified,
                           Certify(client, request, member));
  TIDINGS_RETURN_IF_ERROR(CheckCertifies(certified.info, member));
  if (absl::Status written =
          WriteNewPublicFile(out_path, certified.info.signed_cert());
      !written.ok()) {
    return absl::Status(
        written.code(),
        absl::StrCat(written.message(), "; the node has certified ",
                     member.agency(),
                     ": run this again with a writable --out to get the file"));
  }
  if (args.Bool("json")) {
    out << NodeInfoJson(certified.info)
               .String("cert_file", out_path)
               .Bool("certified_before", certified.before)
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << (certified.before ? "already certified " : "certified ")
      << member.agency() << "\n\n";
  PrintNodeInfo(certified.info, out);
  out << "certificate  " << out_path << " (public)\n\n"
      << "Give this file to the field node's operator as its node_cert;\n"
      << "they check that the keys above are the ones keygen printed.\n";
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// node revoke, node list

absl::Status RunNodeRevoke(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string node, args.Required("node"));
  if (absl::Status s = ValidateFieldNodeId(node); !s.ok()) {
    return UsageError(absl::StrCat("--node: ", s.message()));
  }
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::NodeRevokeRequest request;
  request.set_node(node);
  proto::NodeInfo info;
  TIDINGS_RETURN_IF_ERROR(client.Call(
      "RevokeNode", &proto::Client::Stub::RevokeNode, request, info));
  if (args.Bool("json")) {
    out << NodeInfoJson(info).Build() << "\n";
    return absl::OkStatus();
  }
  out << "revoked " << node << "\n\n";
  PrintNodeInfo(info, out);
  out << "\nIts links close; what it signed past the heads of its feeds this\n"
      << "node holds is refused. The id is never certified again.\n";
  return absl::OkStatus();
}

absl::Status RunNodeList(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  proto::NodeListResponse response;
  TIDINGS_RETURN_IF_ERROR(client.Call("ListNodes",
                                      &proto::Client::Stub::ListNodes,
                                      proto::NodeListRequest(), response));
  if (args.Bool("json")) {
    std::vector<std::string> nodes;
    for (const proto::NodeInfo& node : response.nodes()) {
      nodes.push_back(NodeInfoJson(node).Build());
    }
    out << JsonObject().Raw("nodes", JsonArray(nodes)).Build() << "\n";
    return absl::OkStatus();
  }
  if (response.nodes().empty()) {
    out << "no field nodes known\n";
    return absl::OkStatus();
  }
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "NAME", "STATE", "ISSUED (UTC)"}};
  for (const proto::NodeInfo& node : response.nodes()) {
    rows.push_back(
        {Printable(node.node(), Lines::kEscape),
         node.name().empty()
             ? "-"
             : Printable(Truncate(node.name(), kNameColumn), Lines::kEscape),
         std::string(StateOf(node).text), IsoTime(node.issued_unix_ms())});
  }
  PrintTable(rows, out);
  return absl::OkStatus();
}

}  // namespace

Command NodeCertifyCommand() {
  return {
      "node certify",
      "--pub FIELD.pub --out FILE [--backlog DURATION] (--socket PATH | "
      "--config FILE) [--json]",
      "certify a field node of this agency; write its certificate",
      "The node signs, with this agency's identity key, a certificate of the\n"
      "field node whose public identity is in FIELD.pub (made by `tidings\n"
      "keygen --agency AGENCY/NAME`), gossips it, and the certificate is\n"
      "written to FILE (mode 0644; it is public). Give FILE to the field\n"
      "node's operator: its config names it as node_cert. Compare the keys\n"
      "printed with those keygen printed on the field node. A node id is\n"
      "certified once: if FILE could not be written, run the command again\n"
      "and the node's certificate of the same keys is written. Never\n"
      "overwrites FILE. With --backlog, this node gives the field node the\n"
      "content keys of envelopes created that far back that were not\n"
      "wrapped for it (sealed before its certificate reached their origin);\n"
      "without, only of those created from now on. Only this node does,\n"
      "and only for field nodes it certified itself.",
      {{"pub", "FILE", "the field node's .pub file (required)"},
       {"out", "FILE",
        "the certificate file to create, e.g. MY.NCB+SHIP1.cert (required)"},
       {"backlog", "DURATION",
        "e.g. 72h, 720h: how far back it may read; default: none"},
       kSocketFlag,
       kConfigFlag,
       kJsonFlag},
      0,
      0,
      "",
      &RunNodeCertify};
}

Command NodeRevokeCommand() {
  return {
      "node revoke",
      "--node AGENCY/NAME (--socket PATH | --config FILE) [--json]",
      "revoke a field node of this agency",
      "The node signs and gossips the revocation of a field node it\n"
      "certified: links to it close, nothing is encrypted to it any more,\n"
      "and what it signed past the heads of its feeds this node holds is\n"
      "refused. Final: the id is never certified again.",
      {{"node", "AGENCY/NAME", "the field node, e.g. MY.NCB/SHIP1 (required)"},
       kSocketFlag,
       kConfigFlag,
       kJsonFlag},
      0,
      0,
      "",
      &RunNodeRevoke};
}

Command NodeListCommand() {
  return {
      "node list",
      "(--socket PATH | --config FILE) [--json]",
      "the field nodes this node knows of, any agency's",
      "Lists every field node certificate and revocation this node holds:\n"
      "id, name, state and when it was certified. States: active; revoked;\n"
      "not valid (its agency was removed or the agency key that certified\n"
      "it revoked); revocation only (no certificate seen).",
      {kSocketFlag, kConfigFlag, kJsonFlag},
      0,
      0,
      "",
      &RunNodeList};
}

}  // namespace tidings::node::cli_internal

// roster propose, roster sign --proposal, roster show through the node:
// changes to a running network's roster, proposed and signed by members'
// nodes, and the chain of rosters a node holds. (Genesis files:
// commands_roster.cc.)
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/node_client.h"
#include "cli/text.h"
#include "crypto/hash.h"
#include "crypto/types.h"
#include "proto/client.grpc.pb.h"
#include "proto/client.pb.h"
#include "proto/roster.pb.h"

namespace tidings::node::cli_internal {
namespace {

using base::JsonArray;
using base::JsonObject;
using base::JsonStringArray;

absl::Status PrintProposal(const Args& args,
                           const proto::RosterProposalStatus& status,
                           std::ostream& out) {
  const std::vector<std::string> signers(status.signers().begin(),
                                         status.signers().end());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("hash", crypto::ToHex(status.hash()))
               .Int("version", status.version())
               .String("change", status.change())
               .Raw("signers", JsonStringArray(signers))
               .Int("needed", status.needed())
               .Bool("applied", status.applied())
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "proposal  " << crypto::ToHex(status.hash()) << "\n"
      << "version   " << status.version() << "\n"
      << "change    " << Printable(status.change(), Lines::kEscape) << "\n"
      << "signed    " << signers.size() << " of " << status.needed()
      << " needed (" << absl::StrJoin(signers, ", ") << ")\n"
      << "state     "
      << (status.applied() ? "applied"
                           : "pending: other members sign it with\n"
                             "          tidings roster sign --proposal " +
                                 crypto::ToHex(status.hash()))
      << "\n";
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// roster propose

// The request the flags describe, not yet checked against the change.
absl::StatusOr<proto::RosterProposeRequest> ProposeRequestOf(const Args& args) {
  proto::RosterProposeRequest request;
  request.set_op(args.positional().front());
  if (const std::string* agency = args.Find("agency")) {
    // Members only: a field node is revoked with `tidings node revoke`.
    TIDINGS_RETURN_IF_ERROR(ValidateAgencyFlag("agency", *agency));
    request.set_agency(*agency);
  }
  if (const std::string* pub = args.Find("pub")) {
    TIDINGS_ASSIGN_OR_RETURN(*request.mutable_member(), ReadMemberFile(*pub));
  }
  TIDINGS_ASSIGN_OR_RETURN(std::optional<uint32_t> threshold,
                           args.Get<uint32_t>("threshold", "a count"));
  if (threshold.has_value()) request.set_threshold(*threshold);
  for (const std::string& endpoints : args.All("endpoint")) {
    for (absl::string_view e : absl::StrSplit(endpoints, ',')) {
      if (!e.empty()) request.add_endpoints(std::string(e));
    }
  }
  if (const std::string* cert = args.Find("tls-cert")) {
    TIDINGS_ASSIGN_OR_RETURN(const crypto::Sha256 fingerprint,
                             ReadCertificateFingerprint(*cert));
    request.set_tls_cert_sha256(fingerprint.str());
  }
  return request;
}

// A usage error unless the request has what its change needs.
absl::Status CheckChange(const proto::RosterProposeRequest& request,
                         bool has_threshold) {
  const std::string& op = request.op();
  auto needs = [&](bool ok, absl::string_view what) -> absl::Status {
    return ok ? absl::OkStatus()
              : UsageError(
                    absl::StrCat("'roster propose ", op, "' needs ", what));
  };
  if (op == "admit") return needs(request.has_member(), "--pub NEW.pub");
  if (op == "remove") return needs(!request.agency().empty(), "--agency ID");
  if (op == "rotate" || op == "revoke") {
    return needs(!request.agency().empty() && request.has_member(),
                 "--agency ID and --pub NEW.pub");
  }
  if (op == "threshold") return needs(has_threshold, "--threshold K");
  if (op == "endpoints") {
    return needs(
        request.endpoints_size() > 0 || !request.tls_cert_sha256().empty(),
        "--endpoint HOST:PORT or --tls-cert FILE");
  }
  return UsageError(absl::StrCat(
      "unknown change '", absl::CHexEscape(op),
      "'; one of admit, remove, rotate, revoke, threshold, endpoints"));
}

absl::Status RunRosterPropose(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  TIDINGS_ASSIGN_OR_RETURN(const proto::RosterProposeRequest request,
                           ProposeRequestOf(args));
  TIDINGS_RETURN_IF_ERROR(CheckChange(request, args.Has("threshold")));
  proto::RosterProposalStatus status;
  TIDINGS_RETURN_IF_ERROR(client.Call(
      "ProposeRoster", &proto::Client::Stub::ProposeRoster, request, status));
  return PrintProposal(args, status, out);
}

// ---------------------------------------------------------------------------
// roster show (the node's chain)

// The node's roster chain, parsed.
struct Chain {
  std::vector<proto::Roster> versions;
  std::vector<proto::SignedRoster> signed_versions;
  proto::RosterInfoResponse info;

  std::vector<std::string> SignersOf(size_t i) const {
    std::vector<std::string> signers;
    for (const auto& sig : signed_versions[i].signatures()) {
      signers.push_back(sig.agency());
    }
    return signers;
  }
};

absl::StatusOr<Chain> FetchChain(NodeClient& client) {
  Chain chain;
  TIDINGS_RETURN_IF_ERROR(client.Call("RosterInfo",
                                      &proto::Client::Stub::RosterInfo,
                                      proto::RosterInfoRequest(), chain.info));
  for (const std::string& bytes : chain.info.versions()) {
    proto::SignedRoster signed_roster;
    proto::Roster roster;
    if (!signed_roster.ParseFromString(bytes) ||
        !roster.ParseFromString(signed_roster.roster())) {
      return absl::DataLossError("the node sent a roster that does not parse");
    }
    chain.versions.push_back(std::move(roster));
    chain.signed_versions.push_back(std::move(signed_roster));
  }
  if (chain.versions.empty()) {
    return absl::DataLossError("the node sent no roster");
  }
  return chain;
}

std::string RosterVersionJson(const Chain& chain, size_t i) {
  const proto::Roster& roster = chain.versions[i];
  std::vector<std::string> members;
  for (const proto::Member& m : roster.members()) {
    members.push_back(MemberJson(m).Build());
  }
  std::vector<std::string> revocations;
  for (const proto::Revocation& r : roster.revocations()) {
    revocations.push_back(JsonObject()
                              .String("agency", r.agency())
                              .Int("at_version", r.at_version())
                              .Bool("removed", r.removed())
                              .Int("cuts", r.cuts_size())
                              .Build());
  }
  return JsonObject()
      .Int("version", roster.version())
      .String(
          "hash",
          crypto::ToHex(crypto::Hash(chain.signed_versions[i].roster()).view()))
      .String("change", roster.change())
      .Int("threshold", roster.threshold())
      .Raw("signed_by", JsonStringArray(chain.SignersOf(i)))
      .Raw("members", JsonArray(members))
      .Raw("revocations", JsonArray(revocations))
      .Build();
}

std::string ChainJson(const Chain& chain, size_t first) {
  std::vector<std::string> rosters;
  for (size_t i = first; i < chain.versions.size(); ++i) {
    rosters.push_back(RosterVersionJson(chain, i));
  }
  std::vector<std::string> pending;
  for (const auto& p : chain.info.pending()) {
    pending.push_back(
        JsonObject()
            .String("hash", crypto::ToHex(p.hash()))
            .Int("version", p.version())
            .String("change", p.change())
            .Raw("signers", JsonStringArray(std::vector<std::string>(
                                p.signers().begin(), p.signers().end())))
            .Int("needed", p.needed())
            .Build());
  }
  std::vector<std::string> forks;
  for (const auto& f : chain.info.forks()) {
    forks.push_back(JsonObject()
                        .Int("version", f.version())
                        .String("applied", crypto::ToHex(f.applied_hash()))
                        .String("other", crypto::ToHex(f.other_hash()))
                        .Build());
  }
  std::vector<std::string> contacts;
  for (const proto::MemberContact& c : chain.info.contacts()) {
    contacts.push_back(
        JsonObject()
            .String("agency", c.agency())
            .Int("roster_version", c.roster_version())
            .String("issued", IsoTime(c.issued_unix_ms()))
            .String("tls_cert_sha256", crypto::ToHex(c.tls_cert_sha256()))
            .Raw("endpoints", JsonStringArray(std::vector<std::string>(
                                  c.endpoints().begin(), c.endpoints().end())))
            .Build());
  }
  return JsonObject()
      .Int("version", chain.versions.back().version())
      .Raw("rosters", JsonArray(rosters))
      .Raw("pending", JsonArray(pending))
      .Raw("forks", JsonArray(forks))
      .Raw("contacts", JsonArray(contacts))
      .Build();
}

void PrintChain(const Chain& chain, size_t first, std::ostream& out) {
  for (size_t i = first; i < chain.versions.size(); ++i) {
    const proto::Roster& r = chain.versions[i];
    out << "v" << r.version() << "  "
        << (r.version() == 0 ? std::string("genesis")
                             : Printable(r.change(), Lines::kEscape))
        << "  (" << IsoTime(r.created_unix_ms()) << "; signed by "
        << absl::StrJoin(chain.SignersOf(i), ", ") << ")\n";
  }
  const proto::Roster& now = chain.versions.back();
  out << "\ncurrent     v" << now.version() << ", threshold " << now.threshold()
      << " of " << now.members_size() << "\nmembers\n";
  for (const proto::Member& m : now.members()) PrintMember(m, out, "");
  for (const proto::MemberContact& c : chain.info.contacts()) {
    std::vector<std::string> endpoints;
    for (const std::string& e : c.endpoints()) {
      endpoints.push_back(Printable(e, Lines::kEscape));
    }
    out << "contact     " << Printable(c.agency(), Lines::kEscape)
        << " (issued " << IsoTime(c.issued_unix_ms())
        << "; stands in for its entry's)\n"
        << "    endpoints  "
        << (endpoints.empty() ? "-" : absl::StrJoin(endpoints, ", ")) << "\n"
        << "    tls cert   sha256 " << crypto::ToHex(c.tls_cert_sha256())
        << "\n";
  }
  for (const proto::Revocation& r : now.revocations()) {
    out << "revoked     " << r.agency() << " at v" << r.at_version()
        << (r.removed() ? " (removed)" : " (key compromised)") << ", "
        << r.cuts_size() << " feed cut(s)\n";
  }
  for (const auto& p : chain.info.pending()) {
    out << "pending     " << crypto::ToHex(p.hash()) << " v" << p.version()
        << " " << Printable(p.change(), Lines::kEscape) << ": "
        << p.signers_size() << " of " << p.needed() << " signatures\n";
  }
  for (const auto& f : chain.info.forks()) {
    out << "EQUIVOCATION at v" << f.version() << ": applied "
        << crypto::ToHex(f.applied_hash()) << ", conflicting "
        << crypto::ToHex(f.other_hash()) << " also has a quorum\n";
  }
}

}  // namespace

absl::Status RunRosterSignProposal(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  const std::string& hex = *args.Find("proposal");
  std::optional<std::string> hash = crypto::FromHex(hex);
  if (hex.size() != 64 || !hash.has_value()) {
    return UsageError(
        "--proposal needs the 64 hex digits of a proposal hash (see "
        "`tidings roster show`)");
  }
  proto::RosterSignRequest request;
  request.set_hash(*hash);
  proto::RosterProposalStatus status;
  TIDINGS_RETURN_IF_ERROR(client.Call(
      "SignRoster", &proto::Client::Stub::SignRoster, request, status));
  return PrintProposal(args, status, out);
}

absl::Status RunRosterShowNode(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(NodeClient client, NodeClient::Connect(args));
  TIDINGS_ASSIGN_OR_RETURN(const Chain chain, FetchChain(client));
  const size_t first = args.Bool("history") ? 0 : chain.versions.size() - 1;
  if (args.Bool("json")) {
    out << ChainJson(chain, first) << "\n";
    return absl::OkStatus();
  }
  PrintChain(chain, first, out);
  return absl::OkStatus();
}

Command RosterProposeCommand() {
  return {
      "roster propose",
      "<admit|remove|rotate|revoke|threshold|endpoints> [--pub NEW.pub] "
      "[--agency ID] [--threshold K] [--endpoint HOST:PORT] [--tls-cert "
      "FILE] (--socket PATH | --config FILE) [--json]",
      "propose a membership change; this node signs it and gossips it",
      "Proposes the successor of the node's current roster and signs it with\n"
      "the node's key. It takes effect once K members of the current roster\n"
      "have signed (`tidings roster sign --proposal HASH` on their nodes); "
      "the\n"
      "proposal travels between nodes by gossip. Changes:\n"
      "  admit --pub NEW.pub           admit the agency of NEW.pub\n"
      "  remove --agency ID            remove ID; its feeds end where this\n"
      "                                node holds them\n"
      "  rotate --agency ID --pub P    give ID the new keys of P\n"
      "  revoke --agency ID --pub P    as rotate, for a compromised key:\n"
      "                                what the old key signed past this\n"
      "                                node's view of its feeds is refused\n"
      "  threshold --threshold K       change K (a majority)\n"
      "  endpoints [--endpoint E] [--tls-cert FILE]\n"
      "                                this agency's own endpoints or TLS\n"
      "                                certificate: needs only its signature",
      {{"pub", "FILE", "the new member's or new keys' .pub file"},
       {"agency", "ID", "the agency removed, rotated or revoked"},
       {"threshold", "K", "the new threshold"},
       {"endpoint", "HOST:PORT", "new endpoints; repeatable", true},
       {"tls-cert", "FILE", "this node's new TLS certificate (PEM)"},
       kSocketFlag,
       kConfigFlag,
       kJsonFlag},
      1,
      1,
      "a change: admit, remove, rotate, revoke, threshold or endpoints",
      &RunRosterPropose};
}

}  // namespace tidings::node::cli_internal

// roster init, sign, verify, show: the genesis roster file the founders
// make and sign in turn, before any node runs. (Through the node:
// commands_roster_node.cc.)
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "cli/files.h"
#include "cli/text.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/types.h"
#include "node/model/roster.h"
#include "proto/roster.pb.h"

namespace tidings::node::cli_internal {
namespace {

using base::JsonArray;
using base::JsonObject;
using base::JsonStringArray;

constexpr size_t kMaxNameBytes = 256;  // network names

absl::StatusOr<proto::Roster> ParseRosterBytes(
    const proto::SignedRoster& signed_roster, absl::string_view path) {
  proto::Roster roster;
  if (!roster.ParseFromString(signed_roster.roster())) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": roster bytes do not parse as a Roster"));
  }
  return roster;
}

// ---------------------------------------------------------------------------
// roster init

// --threshold, which must be a majority of the `n` founders.
absl::StatusOr<uint32_t> ThresholdFlag(const Args& args, uint32_t n) {
  TIDINGS_ASSIGN_OR_RETURN(std::optional<uint32_t> threshold,
                           args.Get<uint32_t>("threshold", "a whole number"));
  if (!threshold.has_value()) {
    return UsageError("missing required flag --threshold");
  }
  if (*threshold < 1 || *threshold > n || 2 * uint64_t{*threshold} <= n) {
    return UsageError(
        absl::StrCat("--threshold ", *threshold, " must be a majority of the ",
                     n, " founders: more than ", n / 2, " and at most ", n));
  }
  return *threshold;
}

absl::Status RunRosterInit(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string network_name,
                           args.Required("name"));
  if (network_name.empty()) return UsageError("--name is empty");
  TIDINGS_RETURN_IF_ERROR(ValidateText("name", network_name, kMaxNameBytes));
  TIDINGS_ASSIGN_OR_RETURN(const std::string out_path, args.Required("out"));
  const auto n = static_cast<uint32_t>(args.positional().size());
  TIDINGS_ASSIGN_OR_RETURN(const uint32_t threshold, ThresholdFlag(args, n));
  if (PathExists(out_path)) {
    return absl::AlreadyExistsError(absl::StrCat(
        out_path, " already exists; refusing to overwrite a roster"));
  }

  std::vector<proto::Member> members;
  for (const std::string& path : args.positional()) {
    TIDINGS_ASSIGN_OR_RETURN(proto::Member member, ReadMemberFile(path));
    members.push_back(std::move(member));
  }
  TIDINGS_ASSIGN_OR_RETURN(
      const proto::SignedRoster genesis,
      MakeGenesis(network_name, threshold, std::move(members),
                  absl::ToUnixMillis(absl::Now())));
  TIDINGS_RETURN_IF_ERROR(WriteProtoFile(out_path, genesis));

  TIDINGS_ASSIGN_OR_RETURN(proto::Roster roster,
                           ParseRosterBytes(genesis, out_path));
  std::vector<std::string> agencies;
  for (const proto::Member& m : roster.members()) {
    agencies.push_back(m.agency());
  }
  const std::string network_id =
      crypto::ToHex(crypto::Hash(genesis.roster()).view());
  if (args.Bool("json")) {
    out << JsonObject()
               .String("roster_file", out_path)
               .String("network_name", network_name)
               .String("network_id", network_id)
               .Int("threshold", threshold)
               .Raw("members", JsonStringArray(agencies))
               .Raw("missing", JsonStringArray(agencies))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << "roster      " << out_path << "\n"
      << "network     " << Printable(network_name, Lines::kEscape) << "\n"
      << "network id  " << network_id << " (valid once every founder signs)\n"
      << "threshold   " << threshold << " of " << n << "\n"
      << "founders    " << absl::StrJoin(agencies, ", ") << "\n\n"
      << "Next, each founder signs in turn:\n"
      << "  tidings roster sign --roster " << out_path
      << " --key <AGENCY>.key\n";
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// roster sign (a genesis file)

absl::Status RunRosterSign(const Args& args, std::ostream& out) {
  if (args.Find("proposal") != nullptr) {
    return RunRosterSignProposal(args, out);
  }
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, args.Required("roster"));
  TIDINGS_ASSIGN_OR_RETURN(const std::string key_path, args.Required("key"));
  TIDINGS_ASSIGN_OR_RETURN(crypto::Identity identity,
                           LoadKeyFlag(args, key_path));
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  if (absl::Status s = SignGenesis(signed_roster, identity); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  // Atomic replace: a crash leaves the old file or the new one.
  TIDINGS_RETURN_IF_ERROR(WriteProtoFile(path, signed_roster));

  const std::vector<std::string> missing = MissingSignatures(signed_roster);
  absl::StatusOr<Roster> verified = Roster::FromSigned(signed_roster);
  if (args.Bool("json")) {
    JsonObject json;
    json.String("roster_file", path)
        .String("signed_by", identity.principal())
        .Raw("missing", JsonStringArray(missing))
        .Bool("verified", verified.ok());
    if (verified.ok()) {
      json.String("network_id", crypto::ToHex(verified->network_id().view()));
    }
    out << json.Build() << "\n";
    return absl::OkStatus();
  }
  out << "signed " << path << " as " << identity.principal() << "\n";
  if (verified.ok()) {
    out << "every founder has signed; network id "
        << crypto::ToHex(verified->network_id().view()) << "\n";
  } else if (!missing.empty()) {
    out << "still to sign: " << absl::StrJoin(missing, ", ") << "\n";
  } else {
    out << "the roster does not verify: "
        << Printable(verified.status().message(), Lines::kEscape) << "\n";
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// roster verify

// The refusal of `path`, with --json's account of it on `out`.
absl::Status RefuseRoster(const Args& args, const std::string& path,
                          const proto::SignedRoster& signed_roster,
                          const absl::Status& refused, std::ostream& out) {
  const std::vector<std::string> missing = MissingSignatures(signed_roster);
  if (args.Bool("json")) {
    out << JsonObject()
               .String("roster_file", path)
               .Bool("verified", false)
               .String("error", refused.message())
               .Raw("missing", JsonStringArray(missing))
               .Build()
        << "\n";
  }
  std::string message = absl::StrCat(path, ": ", refused.message());
  // FromSigned stops at the first failing check; the officer also needs to
  // know whom to chase for a signature (unless that was the check).
  if (!missing.empty() && !IsMissingFounderSignatures(refused)) {
    absl::StrAppend(&message, "; no valid signature yet from ",
                    absl::StrJoin(missing, ", "));
  }
  return absl::Status(refused.code(), message);
}

absl::Status RunRosterVerify(const Args& args, std::ostream& out) {
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, args.Required("roster"));
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  absl::StatusOr<Roster> roster = Roster::FromSigned(signed_roster);
  if (!roster.ok()) {
    return RefuseRoster(args, path, signed_roster, roster.status(), out);
  }

  const proto::Roster& r = roster->roster();
  const std::string network_id = crypto::ToHex(roster->network_id().view());
  if (args.Bool("json")) {
    std::vector<std::string> members;
    for (const proto::Member& m : r.members()) {
      members.push_back(MemberJson(m).Build());
    }
    out << JsonObject()
               .String("roster_file", path)
               .Bool("verified", true)
               .String("network_name", r.network_name())
               .String("network_id", network_id)
               .Int("threshold", r.threshold())
               .Raw("members", JsonArray(members))
               .Build()
        << "\n";
    return absl::OkStatus();
  }
  out << path << ": verified, signed by all " << r.members_size()
      << " founders\n"
      << "network     " << Printable(r.network_name(), Lines::kEscape) << "\n"
      << "network id  " << network_id << "\n"
      << "threshold   " << r.threshold() << " of " << r.members_size() << "\n"
      << "members\n";
  for (const proto::Member& m : r.members()) PrintMember(m, out, "");
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// roster show (a file)

// Who has signed a roster file, and whether it verifies.
struct Signatures {
  std::vector<std::string> missing;    // no valid signature, sorted
  std::set<std::string> present;       // any signature entry, valid or not
  std::vector<std::string> strangers;  // signatures by non-members
  absl::Status verified;

  std::string StateOf(const std::string& agency) const {
    if (std::find(missing.begin(), missing.end(), agency) == missing.end()) {
      return "signed";
    }
    return present.contains(agency) ? "INVALID signature" : "not signed";
  }
};

Signatures SignaturesOf(const proto::SignedRoster& signed_roster,
                        const proto::Roster& r) {
  Signatures s;
  s.missing = MissingSignatures(signed_roster);
  std::set<std::string> members;
  for (const proto::Member& m : r.members()) members.insert(m.agency());
  for (const proto::RosterSignature& sig : signed_roster.signatures()) {
    s.present.insert(sig.agency());
    if (!members.contains(sig.agency())) s.strangers.push_back(sig.agency());
  }
  s.verified = Roster::FromSigned(signed_roster).status();
  return s;
}

std::string RosterFileJson(const std::string& path, const proto::Roster& r,
                           absl::string_view network_id, const Signatures& s) {
  std::vector<std::string> member_json;
  for (const proto::Member& m : r.members()) {
    member_json.push_back(
        MemberJson(m).String("signature", s.StateOf(m.agency())).Build());
  }
  JsonObject json;
  json.String("roster_file", path)
      .Int("version", r.version())
      .String("network_name", r.network_name())
      .String("network_id", network_id)
      .Int("threshold", r.threshold())
      .Int("created_unix_ms", r.created_unix_ms())
      .Raw("members", JsonArray(member_json))
      .Raw("missing", JsonStringArray(s.missing))
      .Raw("non_member_signatures", JsonStringArray(s.strangers))
      .Bool("verified", s.verified.ok());
  if (!s.verified.ok()) json.String("error", s.verified.message());
  return json.Build();
}

void PrintRosterFile(const std::string& path, const proto::Roster& r,
                     absl::string_view network_id, const Signatures& s,
                     std::ostream& out) {
  out << "roster      " << path << "\n"
      << "network     " << Printable(r.network_name(), Lines::kEscape) << "\n"
      << "network id  " << network_id << "\n"
      << "version     " << r.version() << "\n"
      << "created     " << IsoTime(r.created_unix_ms()) << "\n"
      << "threshold   " << r.threshold() << " of " << r.members_size() << "\n"
      << "signatures  "
      << (r.members_size() - static_cast<int>(s.missing.size())) << " of "
      << r.members_size() << " founders";
  if (!s.missing.empty()) {
    out << "; missing " << absl::StrJoin(s.missing, ", ");
  }
  out << "\n";
  for (const std::string& stranger : s.strangers) {
    out << "            signature by non-member "
        << Printable(stranger, Lines::kEscape) << "\n";
  }
  out << "verified    "
      << (s.verified.ok() ? "yes"
                          : absl::StrCat("no: ", Printable(s.verified.message(),
                                                           Lines::kEscape)))
      << "\nmembers\n";
  for (const proto::Member& m : r.members()) {
    PrintMember(m, out, s.StateOf(m.agency()));
  }
}

absl::Status RunRosterShow(const Args& args, std::ostream& out) {
  if (args.Find("roster") == nullptr) return RunRosterShowNode(args, out);
  TIDINGS_ASSIGN_OR_RETURN(const std::string path, args.Required("roster"));
  proto::SignedRoster signed_roster;
  TIDINGS_RETURN_IF_ERROR(ReadProtoFile(path, signed_roster));
  TIDINGS_ASSIGN_OR_RETURN(const proto::Roster r,
                           ParseRosterBytes(signed_roster, path));
  const Signatures signatures = SignaturesOf(signed_roster, r);
  const std::string network_id =
      crypto::ToHex(crypto::Hash(signed_roster.roster()).view());
  if (args.Bool("json")) {
    out << RosterFileJson(path, r, network_id, signatures) << "\n";
    return absl::OkStatus();
  }
  PrintRosterFile(path, r, network_id, signatures, out);
  return absl::OkStatus();
}

}  // namespace

Command RosterInitCommand() {
  return {
      "roster init",
      "--name NETWORK --threshold K --out FILE A.pub B.pub ... [--json]",
      "create an unsigned genesis roster from founders' .pub files",
      "Creates the genesis roster of a new network from the founders' public\n"
      "identity files. Every founder must then sign it with `tidings roster\n"
      "sign`. K, the number of signatures later roster changes need, must be\n"
      "a majority of the founders.",
      {{"name", "NETWORK", "the network's name (required)"},
       {"threshold", "K", "signatures needed for a change, > n/2 (required)"},
       {"out", "FILE", "the roster file to create (required)"},
       kJsonFlag},
      1,
      SIZE_MAX,
      "the founders' .pub files",
      &RunRosterInit};
}

Command RosterSignCommand() {
  return {
      "roster sign",
      "(--roster FILE --key ID.key | --proposal HASH (--socket PATH | "
      "--config FILE)) [--json]",
      "sign a genesis roster file, or a pending proposal on the node",
      "With --roster: signs the genesis roster in FILE with the key file's\n"
      "identity, which must be a founder whose keys match the roster, and\n"
      "rewrites FILE atomically.\n"
      "With --proposal: the node signs the pending roster proposal HASH with\n"
      "its own key and gossips it; it applies once it has enough signatures.\n"
      "A node signs at most one proposal per roster version.",
      {{"roster", "FILE", "the genesis roster file"},
       {"key", "FILE", "this agency's secret key file (with --roster)"},
       {"passphrase-file", "FILE", "the key file's passphrase, if sealed"},
       {"proposal", "HASH", "a pending proposal's hash (64 hex digits)"},
       kSocketFlag,
       kConfigFlag,
       kJsonFlag},
      0,
      0,
      "",
      &RunRosterSign};
}

Command RosterVerifyCommand() {
  return {
      "roster verify",
      "--roster FILE [--json]",
      "check a roster completely; exit 1 unless it is valid",
      "Runs every check a node runs on the roster. Prints the network id and\n"
      "the members; or the failing check and the founders whose valid\n"
      "signature is still missing, with exit status 1.",
      {{"roster", "FILE", "the roster file (required)"}, kJsonFlag},
      0,
      0,
      "",
      &RunRosterVerify};
}

Command RosterShowCommand() {
  return {
      "roster show",
      "(--roster FILE | (--socket PATH | --config FILE) [--history]) "
      "[--json]",
      "print a roster file, or the node's roster chain",
      "With --roster: prints the roster's members, keys, endpoints,\n"
      "threshold, which founders have signed and whether it verifies. Exit 0\n"
      "whenever the file can be read.\n"
      "With --socket or --config: prints the node's current roster, its\n"
      "revocations, pending proposals and any equivocation (two conflicting\n"
      "updates with a quorum each); --history lists every version from the\n"
      "genesis, with who signed it.",
      {{"roster", "FILE", "a roster file"},
       {"history", "", "every version, not only the current one"},
       kSocketFlag,
       kConfigFlag,
       kJsonFlag},
      0,
      0,
      "",
      &RunRosterShow};
}

JsonObject MemberJson(const proto::Member& member) {
  JsonObject json;
  json.String("agency", member.agency())
      .String("name", member.name())
      .Raw("endpoints",
           JsonStringArray(std::vector<std::string>(member.endpoints().begin(),
                                                    member.endpoints().end())))
      .String("sign_pk", crypto::ToHex(member.sign_pk()))
      .String("box_pk", crypto::ToHex(member.box_pk()))
      .String("tls_cert_sha256", crypto::ToHex(member.tls_cert_sha256()));
  return json;
}

void PrintMember(const proto::Member& member, std::ostream& out,
                 absl::string_view state) {
  out << "  " << Printable(member.agency(), Lines::kEscape);
  if (!state.empty()) out << "  [" << state << "]";
  out << "\n";
  if (!member.name().empty()) {
    out << "    name       " << Printable(member.name(), Lines::kEscape)
        << "\n";
  }
  std::vector<std::string> endpoints;
  for (const std::string& e : member.endpoints()) {
    endpoints.push_back(Printable(e, Lines::kEscape));
  }
  out << "    endpoints  "
      << (endpoints.empty() ? "-" : absl::StrJoin(endpoints, ", ")) << "\n"
      << "    sign key   " << crypto::ToHex(member.sign_pk()) << "\n"
      << "    box key    " << crypto::ToHex(member.box_pk()) << "\n"
      << "    tls cert   "
      << (member.tls_cert_sha256().empty()
              ? "-"
              : absl::StrCat("sha256 ",
                             crypto::ToHex(member.tls_cert_sha256())))
      << "\n";
}

}  // namespace tidings::node::cli_internal

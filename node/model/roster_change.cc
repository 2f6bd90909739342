#include "node/model/roster_change.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace tidings::node {
namespace {

using Request = proto::RosterProposeRequest;

// Applies one change to `next`, the successor being made of `current`.
using ApplyChange = absl::Status (*)(const Roster& current,
                                     const Request& request,
                                     const RosterChangeContext& context,
                                     proto::Roster& next);

proto::Member* FindMember(proto::Roster& roster, absl::string_view agency) {
  for (proto::Member& m : *roster.mutable_members()) {
    if (m.agency() == agency) return &m;
  }
  return nullptr;
}

absl::StatusOr<proto::Member*> ExistingMember(proto::Roster& roster,
                                              absl::string_view agency) {
  proto::Member* member = FindMember(roster, agency);
  if (member == nullptr) {
    return absl::NotFoundError(absl::StrCat(agency, " is not a member"));
  }
  return member;
}

// Revokes `old`'s signing key from the successor's version on, cut at the
// head of each of its feeds this node holds.
enum class Removed { kYes, kNo };
void AddRevocation(const Roster& current, const proto::Member& old,
                   Removed removed, const RosterChangeContext& context,
                   proto::Roster& next) {
  proto::Revocation* r = next.add_revocations();
  r->set_agency(old.agency());
  r->set_sign_pk(old.sign_pk());
  r->set_at_version(current.version() + 1);
  r->set_removed(removed == Removed::kYes);
  if (context.cuts_for == nullptr) return;
  for (proto::FeedCut& cut : context.cuts_for(old.agency())) {
    *r->add_cuts() = std::move(cut);
  }
}

absl::Status Admit(const Roster&, const Request& request,
                   const RosterChangeContext&, proto::Roster& next) {
  const std::string& agency = request.member().agency();
  TIDINGS_RETURN_IF_ERROR(ValidateAgencyId(agency));
  if (FindMember(next, agency) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat(agency, " is already a member"));
  }
  *next.add_members() = request.member();
  next.set_change(absl::StrCat("admit ", agency));
  return absl::OkStatus();
}

absl::Status Remove(const Roster& current, const Request& request,
                    const RosterChangeContext& context, proto::Roster& next) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Member * member,
                           ExistingMember(next, request.agency()));
  AddRevocation(current, *member, Removed::kYes, context, next);
  auto* members = next.mutable_members();
  for (int i = 0; i < members->size(); ++i) {
    if (members->Get(i).agency() == request.agency()) {
      members->DeleteSubrange(i, 1);
      break;
    }
  }
  next.set_change(absl::StrCat("remove ", request.agency()));
  return absl::OkStatus();
}

// Rotate and revoke: the member takes the new keys of request.member; a
// compromised old key is revoked as well.
enum class OldKey { kRetired, kCompromised };
absl::Status ReplaceKeys(const Roster& current, const Request& request,
                         const RosterChangeContext& context, OldKey old_key,
                         proto::Roster& next) {
  TIDINGS_ASSIGN_OR_RETURN(proto::Member * member,
                           ExistingMember(next, request.agency()));
  if (request.member().agency() != request.agency()) {
    return absl::InvalidArgumentError(absl::StrCat("the new key file is for ",
                                                   request.member().agency(),
                                                   ", not ", request.agency()));
  }
  if (old_key == OldKey::kCompromised) {
    AddRevocation(current, *member, Removed::kNo, context, next);
  }
  *member = request.member();
  return absl::OkStatus();
}

absl::Status Rotate(const Roster& current, const Request& request,
                    const RosterChangeContext& context, proto::Roster& next) {
  TIDINGS_RETURN_IF_ERROR(
      ReplaceKeys(current, request, context, OldKey::kRetired, next));
  next.set_change(absl::StrCat("rotate the keys of ", request.agency()));
  return absl::OkStatus();
}

absl::Status Revoke(const Roster& current, const Request& request,
                    const RosterChangeContext& context, proto::Roster& next) {
  TIDINGS_RETURN_IF_ERROR(
      ReplaceKeys(current, request, context, OldKey::kCompromised, next));
  next.set_change(
      absl::StrCat("revoke the compromised key of ", request.agency()));
  return absl::OkStatus();
}

absl::Status SetThreshold(const Roster&, const Request& request,
                          const RosterChangeContext&, proto::Roster& next) {
  next.set_threshold(request.threshold());
  next.set_change(absl::StrCat("threshold ", request.threshold()));
  return absl::OkStatus();
}

// Whether a change of the member count re-computes k.
enum class Recount { kYes, kNo };

struct OpEntry {
  absl::string_view name;
  ApplyChange apply;
  Recount recount;
};

// In the order the refusal of an unknown op lists them.
constexpr OpEntry kOps[] = {
    {"admit", &Admit, Recount::kYes},
    {"remove", &Remove, Recount::kYes},
    {"rotate", &Rotate, Recount::kNo},
    {"revoke", &Revoke, Recount::kNo},
    {"threshold", &SetThreshold, Recount::kNo},
};

const OpEntry* EntryNamed(absl::string_view name) {
  for (const OpEntry& entry : kOps) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

absl::Status UnknownOp(absl::string_view name) {
  std::vector<absl::string_view> names;
  for (const OpEntry& entry : kOps) names.push_back(entry.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown roster change '", name.substr(0, 32), "'; one of ",
                   absl::StrJoin(names, ", ")));
}

// Keeps k unless the new member count makes it invalid; then the smallest
// majority. An explicit request.threshold wins.
uint32_t RecountedThreshold(const proto::Roster& next, uint32_t requested) {
  const auto n = static_cast<uint32_t>(next.members_size());
  if (requested != 0) return requested;
  const uint32_t k = next.threshold();
  return k > n || 2 * k <= n ? n / 2 + 1 : k;
}

}  // namespace

absl::StatusOr<proto::Roster> NextRoster(const Roster& current,
                                         const Request& request,
                                         const RosterChangeContext& context) {
  const OpEntry* entry = EntryNamed(request.op());
  if (entry == nullptr) return UnknownOp(request.op());
  proto::Roster next = current.roster();
  next.clear_version();
  next.clear_prev_hash();
  next.set_created_unix_ms(absl::ToUnixMillis(context.now));
  TIDINGS_RETURN_IF_ERROR(entry->apply(current, request, context, next));
  if (entry->recount == Recount::kYes) {
    next.set_threshold(RecountedThreshold(next, request.threshold()));
  }
  return next;
}

}  // namespace tidings::node

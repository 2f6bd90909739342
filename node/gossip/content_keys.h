// Content keys for field nodes. A field node may hold envelopes whose
// content key was not wrapped for it (its origin did not know the node yet).
// It remembers each one as held unread (a state record, written before the
// envelope is stored) and asks its agency's node with a KeyRequest; that
// node answers its own certified, active field nodes with ContentKeys for
// what it holds and they may read (within the node's backlog).
//
// Two roles, one always present: an agency's node runs ContentKeyServer
// (answers requests, refuses ContentKeys), a field node ContentKeyClient
// (asks, learns, refuses requests). MakeContentKeys picks by principal.
//
// Thread-safety: callable from any thread.
#ifndef TIDINGS_NODE_GOSSIP_CONTENT_KEYS_H_
#define TIDINGS_NODE_GOSSIP_CONTENT_KEYS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/gossip/context.h"
#include "node/gossip/forward_secrecy.h"
#include "node/gossip/sub_protocol.h"

namespace tidings::node {

// Envelope ids per KeyRequest, and content keys per answer.
inline constexpr size_t kMaxContentKeysPerMessage = 256;
// How often a field node asks again for what it still holds unread: after
// this, doubling while no key comes, up to the most (a key its agency's
// node will never give, from before the node's backlog, must not be asked
// for every minute forever).
inline constexpr absl::Duration kUnreadRetryInterval = absl::Minutes(1);
inline constexpr absl::Duration kMaxUnreadRetryInterval = absl::Hours(24);

class ContentKeys : public SubProtocol {
 public:
  // Both borrowed.
  ContentKeys(const GossipContext& context, const ForwardSecrecy& keys)
      : context_(context), keys_(keys) {}

  std::vector<proto::PeerMessage::MsgCase> Routes() const override;
  absl::Status OnMessage(absl::string_view peer,
                         const proto::PeerMessage& message) override;

  // Notes envelopes about to be stored without a content key for this
  // node, in one synced write, so that a crash cannot leave them unread for
  // good. Logs a failure.
  void MarkUnread(const std::vector<std::string>& ids);
  // Asks for the content keys of `ids` (just stored unread). Nothing on an
  // agency's node.
  virtual void RequestKeys(const std::vector<std::string>& ids) = 0;

 protected:
  virtual absl::Status HandleKeyRequest(absl::string_view peer,
                                        const proto::KeyRequest& request) = 0;
  virtual absl::Status HandleContentKeys(absl::string_view peer,
                                         const proto::ContentKeys& keys) = 0;
  // Counts `what` refused and holds it against `peer`.
  absl::Status Refuse(absl::string_view peer, absl::string_view what);

  const GossipContext context_;
  const ForwardSecrecy& keys_;
};

// On an agency's node: answers its own field nodes.
class ContentKeyServer final : public ContentKeys {
 public:
  using ContentKeys::ContentKeys;
  void RequestKeys(const std::vector<std::string>&) override {}

 private:
  absl::Status HandleKeyRequest(absl::string_view peer,
                                const proto::KeyRequest& request) override;
  // Only field nodes take content keys.
  absl::Status HandleContentKeys(absl::string_view peer,
                                 const proto::ContentKeys&) override {
    return Refuse(peer, "content_keys");
  }
};

// On a field node: asks its agency's node for what it holds unread.
class ContentKeyClient final : public ContentKeys {
 public:
  ContentKeyClient(const GossipContext& context, const ForwardSecrecy& keys);

  // On the link to our agency's node: asks for everything held unread.
  void OnLinkUp(absl::string_view peer) override;
  // Asks again for what is still unread (keys the agency's node did not
  // have yet when first asked): kUnreadRetryInterval after the last time a
  // key came, doubling while none comes.
  void OnTick(absl::Time now) override;
  void RequestKeys(const std::vector<std::string>& ids) override;

 private:
  // Only an agency's node answers requests.
  absl::Status HandleKeyRequest(absl::string_view peer,
                                const proto::KeyRequest&) override {
    return Refuse(peer, "key_request");
  }
  absl::Status HandleContentKeys(absl::string_view peer,
                                 const proto::ContentKeys& keys) override;
  // RequestKeys for every envelope noted as held unread (and forgets notes
  // of envelopes not held, or readable by now).
  void RequestUnread();

  const std::string agency_;  // the node we ask

  absl::Mutex mu_;
  absl::Time next_retry_ ABSL_GUARDED_BY(mu_);
  absl::Duration retry_interval_ ABSL_GUARDED_BY(mu_) = kUnreadRetryInterval;
};

// ContentKeyClient on a field node, ContentKeyServer on an agency's node.
std::unique_ptr<ContentKeys> MakeContentKeys(const GossipContext& context,
                                             const ForwardSecrecy& keys);

}  // namespace tidings::node

#endif  // TIDINGS_NODE_GOSSIP_CONTENT_KEYS_H_

// envelope_bench: what one envelope costs, next to the libsodium primitives
// and the fdatasync that bound it from below.
//
// Each of our per-envelope operations (compose, verify, store, the full
// accept path) runs in the same process as the raw primitives it cannot
// avoid, so the ratio table printed at the end compares like with like on
// whatever machine this runs: absolute numbers move with the hardware, the
// ratios much less.
//
// Usage (bench/run_envelope_bench.sh wraps it):
//   envelope_bench [--benchmark_* flags] [--ratios_out=FILE] [--commit=SHA]
// --benchmark_out=FILE writes Google Benchmark's JSON; --ratios_out=FILE
// writes per-envelope times and the ratio table as JSON; --commit is recorded
// in both.
//
// Every benchmark measures wall-clock time (UseRealTime): fsync-bound code
// spends almost no CPU, and the ratios must compare one clock with itself.
// Times are per item (SetItemsProcessed): per envelope for ours, per
// operation for the floors.
//
// Storage benchmarks write to a fresh directory under $TMPDIR (or /tmp) per
// run and remove it afterwards; their figures hold for that filesystem only.
//
// Thread-safety: the fixtures are built lazily by single-threaded benchmarks;
// the one multi-threaded benchmark (BM_StoreConcurrent) touches only
// function-local statics, whose initialisation C++ makes thread-safe.
#include <fcntl.h>
#include <sodium.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/json.h"
#include "benchmark/benchmark.h"
#include "crypto/hash.h"
#include "crypto/identity.h"
#include "crypto/seal.h"
#include "crypto/sign.h"
#include "crypto/types.h"
#include "node/gossip/engine.h"
#include "node/model/envelope.h"
#include "node/model/roster.h"
#include "proto/envelope.pb.h"
#include "proto/roster.pb.h"
#include "storage/log.h"

namespace tidings::bench {
namespace {

constexpr int kMembers = 196;
// A notice body: title and a paragraph of text, as officers write them.
constexpr size_t kBodyBytes = 1024;
// Audience of the received envelopes (verify, accept, store): an origin and
// three neighbouring agencies, the common case in the regional working group.
constexpr int kReceiveAudience = 4;
// Accept path target of the issue: at most this many Ed25519 verifies.
constexpr double kAcceptTarget = 1.5;

// Setup failures are bugs in this file or in the code under test, never
// something to measure around: stop loudly.
[[noreturn]] void Die(absl::string_view what, absl::string_view why) {
  std::fprintf(stderr, "envelope_bench: %.*s: %.*s\n",
               static_cast<int>(what.size()), what.data(),
               static_cast<int>(why.size()), why.data());
  std::abort();
}

void CheckOk(const absl::Status& status, absl::string_view what) {
  if (!status.ok()) Die(what, status.ToString());
}

const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

size_t ToSize(int64_t n) { return static_cast<size_t>(n); }

std::string AgencyOf(int i) { return absl::StrFormat("AG%03d", i); }

// 196 member agencies (an INTERPOL-wide diffusion), their verified genesis
// roster and one Keyring each. Member 0 is the origin of every benchmark
// envelope, member 1 the receiver.
class Network {
 public:
  static Network& Get() {
    static Network* const network = new Network();
    return *network;
  }

  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  const node::Roster& roster() const { return *roster_; }
  const node::RosterChain& chain() const { return *chain_; }
  const crypto::Identity& identity(int i) const {
    return identities_[static_cast<size_t>(i)];
  }
  crypto::Keyring& keyring(int i) { return *keyrings_[static_cast<size_t>(i)]; }
  // A serialized proto::Body of exactly kBodyBytes.
  const std::string& body() const { return body_; }

  // The first `n` agencies: sorted, and including the origin (member 0),
  // i.e. already what NormalizeAudience would return.
  std::vector<std::string> Audience(int n) const {
    std::vector<std::string> audience;
    for (int i = 0; i < n; ++i) audience.push_back(AgencyOf(i));
    return audience;
  }

 private:
  Network() {
    std::vector<proto::Member> members;
    for (int i = 0; i < kMembers; ++i) {
      identities_.push_back(crypto::Identity::Generate(AgencyOf(i)));
      members.push_back(node::PublicIdentityOf(identities_.back(),
                                               absl::StrCat("Agency ", i),
                                               {"127.0.0.1:7100"})
                            .member());
    }
    absl::StatusOr<proto::SignedRoster> genesis = node::MakeGenesis(
        "bench", kMembers / 2 + 1, std::move(members), 1700000000000);
    CheckOk(genesis.status(), "MakeGenesis");
    for (const crypto::Identity& id : identities_) {
      CheckOk(node::SignGenesis(*genesis, id), "SignGenesis");
    }
    absl::StatusOr<node::Roster> roster = node::Roster::FromSigned(*genesis);
    CheckOk(roster.status(), "Roster::FromSigned");
    roster_.emplace(*std::move(roster));
    chain_.emplace(std::vector<std::shared_ptr<const node::Roster>>{
        std::make_shared<const node::Roster>(*roster_)});

    for (const crypto::Identity& id : identities_) {
      const crypto::BoxSecretKey& secret = id.box_secret();
      std::optional<crypto::BoxSecretKey> copy =
          crypto::BoxSecretKey::FromBytes(absl::string_view(
              reinterpret_cast<const char*>(secret.data()), secret.size()));
      if (!copy.has_value()) Die("Network", "box secret of the wrong size");
      keyrings_.push_back(std::make_unique<crypto::Keyring>(*std::move(copy)));
    }

    proto::Body body;
    body.set_title("Suspicious vessel sighted near the strait, heading east");
    const size_t without_text = body.ByteSizeLong();
    // 3 bytes of framing for the text field: its tag and a 2-byte length.
    body.set_text(std::string(kBodyBytes - without_text - 3, 't'));
    body_ = body.SerializeAsString();
    if (body_.size() != kBodyBytes) {
      Die("Network", absl::StrCat("body is ", body_.size(), " bytes"));
    }
  }

  std::vector<crypto::Identity> identities_;
  std::vector<std::unique_ptr<crypto::Keyring>> keyrings_;
  std::optional<node::Roster> roster_;
  std::optional<node::RosterChain> chain_;
  std::string body_;
};

node::ComposeInput InputAt(int audience, uint64_t seq, std::string prev_id) {
  Network& network = Network::Get();
  node::ComposeInput input;
  input.kind = proto::KIND_NOTICE;
  input.precedence = proto::PRECEDENCE_PRIORITY;
  input.audience = network.Audience(audience);
  input.plaintext = network.body();
  input.created_unix_ms = 1700000000000;
  input.seq = seq;
  input.prev_id = std::move(prev_id);
  return input;
}

node::Composed ComposeOrDie(const node::ComposeInput& input) {
  Network& network = Network::Get();
  absl::StatusOr<node::Composed> composed = node::Compose(
      network.identity(0), network.keyring(0), network.roster(), input);
  CheckOk(composed.status(), "Compose");
  return *std::move(composed);
}

// An envelope of the receive audience, mid-feed (it has a prev_id), whose
// sizes the floors use.
const node::Composed& SampleEnvelope() {
  static const node::Composed* const sample = new node::Composed(
      ComposeOrDie(InputAt(kReceiveAudience, 2, std::string(32, 'p'))));
  return *sample;
}

// Exactly the bytes crypto::Sign hands to Ed25519 for the sample envelope:
// domain prefix, NUL, header. The floors sign and verify this, so that they
// hash as many bytes as ours do.
const std::string& EnvelopeSizedMessage() {
  static const std::string* const message = new std::string(absl::StrCat(
      crypto::DomainPrefix(crypto::Domain::kEnvelope),
      absl::string_view("\0", 1), SampleEnvelope().envelope.header()));
  return *message;
}

// One feed (origin member 0, the first `audience` agencies), seq 1, 2, ...:
// the distinct, correctly chained envelopes a receiver would get. Grown on
// demand outside the timed region and kept for the whole process, since
// composing one costs about as much as what the benchmarks measure.
// Single-threaded use only.
class Chain {
 public:
  static Chain& Of(int audience) {
    static auto* const chains = new std::map<int, std::unique_ptr<Chain>>();
    std::unique_ptr<Chain>& chain = (*chains)[audience];
    if (chain == nullptr) chain.reset(new Chain(audience));
    return *chain;
  }

  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  // Makes sure envelopes at indexes [0, n) exist.
  void Reserve(size_t n) {
    while (serialized_.size() < n) {
      node::Composed composed = ComposeOrDie(
          InputAt(audience_, serialized_.size() + 1, std::move(head_id_)));
      head_id_ = std::move(composed.id);
      serialized_.push_back(std::move(composed.serialized));
    }
  }

  // The envelope at seq i + 1.
  const std::string& at(size_t i) const { return serialized_[i]; }

 private:
  explicit Chain(int audience) : audience_(audience) {}

  const int audience_;
  std::vector<std::string> serialized_;
  std::string head_id_;  // empty before seq 1
};

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string path =
        absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp",
                     "/tidings-bench-XXXXXX");
    if (mkdtemp(path.data()) == nullptr) Die(path, std::strerror(errno));
    path_ = std::move(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

enum class Sync { kNo, kYes };

std::unique_ptr<storage::Log> OpenLogOrDie(const TempDir& dir, Sync sync) {
  storage::LogOptions options;
  options.path = absl::StrCat(dir.path(), "/log");
  options.sync = sync == Sync::kYes;
  absl::StatusOr<std::unique_ptr<storage::Log>> log =
      storage::Log::Open(options);
  CheckOk(log.status(), "Log::Open");
  return *std::move(log);
}

// The record the engine stores for a verified envelope.
storage::EnvelopeRecord RecordOf(node::Verified verified, int64_t now_us) {
  return node::RecordOf(
      verified.header, std::move(verified.id), std::move(verified.feed_id),
      std::move(verified.serialized), absl::FromUnixMicros(now_us));
}

// Records for the storage benchmarks: a correctly chained feed of `count`
// envelopes of the sample's size, without the crypto (the log checks
// structure, not signatures), so that thousands cost microseconds to make.
std::vector<storage::EnvelopeRecord> SyntheticFeed(absl::string_view name,
                                                   size_t count) {
  const node::Composed& sample = SampleEnvelope();
  const std::string feed_id = crypto::Hash(absl::StrCat("feed/", name)).str();
  const int64_t now_us = absl::ToUnixMicros(absl::Now());
  std::vector<storage::EnvelopeRecord> records(count);
  std::string prev_id;
  for (size_t i = 0; i < count; ++i) {
    storage::EnvelopeRecord& record = records[i];
    record.id = crypto::Hash(absl::StrCat(name, "/", i + 1)).str();
    record.feed_id = feed_id;
    record.seq = i + 1;
    record.prev_id = std::move(prev_id);
    record.origin = AgencyOf(0);
    record.audience = Network::Get().Audience(kReceiveAudience);
    record.envelope = sample.serialized;
    record.stored_unix_us = now_us;
    prev_id = record.id;
  }
  return records;
}

// Appends every record of `records` in one call; an error unless all were
// stored (anything else would mean we measured a no-op write).
absl::Status AppendAll(storage::Log& log,
                       absl::Span<const storage::EnvelopeRecord> records) {
  absl::StatusOr<std::vector<storage::AppendResult>> results =
      log.Append(records);
  if (!results.ok()) return results.status();
  for (const storage::AppendResult& result : *results) {
    if (result.outcome != storage::AppendOutcome::kStored) {
      return absl::InternalError(
          absl::StrCat("append: ", storage::OutcomeName(result.outcome)));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The floors: libsodium and the disk, without any of our code.

void BM_Ed25519Sign(benchmark::State& state) {
  const std::string& message = EnvelopeSizedMessage();
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk;
  crypto_sign_keypair(pk.data(), sk.data());
  std::array<unsigned char, crypto_sign_BYTES> sig;
  for (auto _ : state) {
    crypto_sign_detached(sig.data(), nullptr, Bytes(message), message.size(),
                         sk.data());
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["msg_bytes"] = static_cast<double>(message.size());
}
BENCHMARK(BM_Ed25519Sign)->UseRealTime();

void BM_Ed25519Verify(benchmark::State& state) {
  const std::string& message = EnvelopeSizedMessage();
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk;
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk;
  crypto_sign_keypair(pk.data(), sk.data());
  std::array<unsigned char, crypto_sign_BYTES> sig;
  crypto_sign_detached(sig.data(), nullptr, Bytes(message), message.size(),
                       sk.data());
  for (auto _ : state) {
    int rc = crypto_sign_verify_detached(sig.data(), Bytes(message),
                                         message.size(), pk.data());
    benchmark::DoNotOptimize(rc);
    if (rc != 0) {
      state.SkipWithError("signature does not verify");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["msg_bytes"] = static_cast<double>(message.size());
}
BENCHMARK(BM_Ed25519Verify)->UseRealTime();

// One Diffie-Hellman: what a crypto_box_seal per recipient would add to
// every envelope, and what the Keyring's cache saves.
void BM_X25519(benchmark::State& state) {
  std::array<unsigned char, crypto_scalarmult_SCALARBYTES> mine;
  std::array<unsigned char, crypto_scalarmult_SCALARBYTES> theirs;
  std::array<unsigned char, crypto_scalarmult_BYTES> their_public;
  std::array<unsigned char, crypto_scalarmult_BYTES> shared;
  randombytes_buf(mine.data(), mine.size());
  randombytes_buf(theirs.data(), theirs.size());
  crypto_scalarmult_base(their_public.data(), theirs.data());
  for (auto _ : state) {
    if (crypto_scalarmult(shared.data(), mine.data(), their_public.data()) !=
        0) {
      state.SkipWithError("crypto_scalarmult refused the point");
      break;
    }
    benchmark::DoNotOptimize(shared);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_X25519)->UseRealTime();

// 32 bytes is a wrapped content key; 1 KiB a notice body; 64 KiB the largest
// title or text a Body may carry.
void BM_XChaCha20Poly1305(benchmark::State& state) {
  const size_t size = ToSize(state.range(0));
  std::array<unsigned char, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> key;
  std::array<unsigned char, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce;
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  randombytes_buf(nonce.data(), nonce.size());
  // As long as a body AAD (a BLAKE2b-256 digest).
  const std::string aad(32, 'a');
  const std::string plaintext(size, 'p');
  std::string ciphertext(size + crypto_aead_xchacha20poly1305_ietf_ABYTES,
                         '\0');
  for (auto _ : state) {
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        reinterpret_cast<unsigned char*>(ciphertext.data()), nullptr,
        Bytes(plaintext), plaintext.size(), Bytes(aad), aad.size(), nullptr,
        nonce.data(), key.data());
    benchmark::DoNotOptimize(ciphertext.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(plaintext.size()));
}
BENCHMARK(BM_XChaCha20Poly1305)
    ->ArgName("bytes")
    ->Arg(32)
    ->Arg(1024)
    ->Arg(65536)
    ->UseRealTime();

// The cheapest durable write this filesystem offers, and the one a log
// appending to a file has to make: 4 KiB pwrite + fdatasync, either over the
// same block (no metadata changes; append:0) or at the end of a growing file
// (the size changes, so the journal commits too; append:1).
void BM_Fdatasync4K(benchmark::State& state) {
  const bool append = state.range(0) != 0;
  TempDir dir;
  const std::string path = absl::StrCat(dir.path(), "/file");
  const int fd =
      open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die(path, std::strerror(errno));
  const std::string block(4096, 'b');
  const auto block_size = static_cast<ssize_t>(block.size());
  off_t offset = 0;
  if (!append) {
    // Allocate the block first, so that the timed overwrites never extend
    // the file.
    if (pwrite(fd, block.data(), block.size(), 0) != block_size ||
        fdatasync(fd) != 0) {
      Die(path, std::strerror(errno));
    }
  }
  std::string error;
  for (auto _ : state) {
    if (pwrite(fd, block.data(), block.size(), offset) != block_size ||
        fdatasync(fd) != 0) {
      error = absl::StrCat("write: ", std::strerror(errno));
      state.SkipWithError(error.c_str());
      break;
    }
    if (append) offset += block_size;
  }
  close(fd);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Fdatasync4K)->ArgName("append")->Arg(0)->Arg(1)->UseRealTime();

// ---------------------------------------------------------------------------
// Ours: what one envelope costs the node.

// Seal (content key, body encryption, one wrap per member) and sign, for an
// audience of n including the origin. The wrap keys are cached in the
// Keyring first: a running node has derived them long before.
void BM_ComposeEnvelope(benchmark::State& state) {
  Network& network = Network::Get();
  const node::ComposeInput input =
      InputAt(static_cast<int>(state.range(0)), 2, std::string(32, 'p'));
  const node::Composed warm = ComposeOrDie(input);
  for (auto _ : state) {
    absl::StatusOr<node::Composed> composed = node::Compose(
        network.identity(0), network.keyring(0), network.roster(), input);
    if (!composed.ok()) {
      state.SkipWithError("Compose failed");
      break;
    }
    benchmark::DoNotOptimize(composed->serialized.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["header_bytes"] =
      static_cast<double>(warm.envelope.header().size());
}
BENCHMARK(BM_ComposeEnvelope)
    ->ArgName("audience")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(196)
    ->UseRealTime();

// Every check of node::Verify on receipt, including opening the body, as
// member 1 receiving from the origin. Each iteration gets the next envelope
// of one feed.
void BM_VerifyEnvelope(benchmark::State& state) {
  Network& network = Network::Get();
  Chain& chain = Chain::Of(static_cast<int>(state.range(0)));
  chain.Reserve(ToSize(state.max_iterations));
  const std::string self = AgencyOf(1);
  const std::string sender = AgencyOf(0);
  const node::VerifyContext context{network.chain(), self, network.keyring(1),
                                    sender};
  // Derives and caches the receiver's wrap key with the origin, as a running
  // node has.
  CheckOk(node::Verify(context, chain.at(0)).status(), "Verify");
  size_t next = 0;
  for (auto _ : state) {
    absl::StatusOr<node::Verified> verified =
        node::Verify(context, chain.at(next++));
    if (!verified.ok()) {
      state.SkipWithError("Verify refused a valid envelope");
      break;
    }
    benchmark::DoNotOptimize(verified->plaintext.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_VerifyEnvelope)
    ->ArgName("audience")
    ->Arg(4)
    ->Arg(16)
    ->Arg(196)
    ->UseRealTime();

// Log::Append of synthetic records, `batch` per synced (or unsynced) call,
// into a fresh log.
void RunStore(benchmark::State& state, Sync sync, size_t batch) {
  TempDir dir;
  std::unique_ptr<storage::Log> log = OpenLogOrDie(dir, sync);
  const std::vector<storage::EnvelopeRecord> records =
      SyntheticFeed("store", ToSize(state.max_iterations) * batch);
  size_t next = 0;
  std::string error;
  for (auto _ : state) {
    absl::Status status =
        AppendAll(*log, absl::MakeConstSpan(records).subspan(next, batch));
    next += batch;
    if (!status.ok()) {
      error = status.ToString();
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}

// One envelope, one synced write: what the origin pays before it may send.
void BM_StoreSynced(benchmark::State& state) { RunStore(state, Sync::kYes, 1); }
BENCHMARK(BM_StoreSynced)->UseRealTime();

// The same without the sync: the CPU part of an Append.
void BM_StoreUnsynced(benchmark::State& state) {
  RunStore(state, Sync::kNo, 1);
}
BENCHMARK(BM_StoreUnsynced)->UseRealTime();

// k envelopes per synced Append, as the engine's committer batches them.
void BM_StoreGroupCommit(benchmark::State& state) {
  RunStore(state, Sync::kYes, ToSize(state.range(0)));
}
BENCHMARK(BM_StoreGroupCommit)
    ->ArgName("batch")
    ->Arg(8)
    ->Arg(64)
    ->Arg(512)
    ->UseRealTime();

// N threads each appending one envelope per synced call to its own feed of
// one shared log: whether concurrent writers share an fsync.
void BM_StoreConcurrent(benchmark::State& state) {
  // Thread 0 opens the log before the loop and closes it after; the
  // framework starts no thread's loop before all reach it, and lets none
  // leave before all are done.
  static TempDir* dir = nullptr;
  static storage::Log* log = nullptr;
  if (state.thread_index() == 0) {
    dir = new TempDir();
    log = OpenLogOrDie(*dir, Sync::kYes).release();
  }
  const std::vector<storage::EnvelopeRecord> records =
      SyntheticFeed(absl::StrCat("thread-", state.thread_index()),
                    ToSize(state.max_iterations));
  size_t next = 0;
  std::string error;
  for (auto _ : state) {
    absl::Status status = AppendAll(*log, {&records[next++], 1});
    if (!status.ok()) {
      error = status.ToString();
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete log;
    log = nullptr;
    delete dir;
    dir = nullptr;
  }
}
BENCHMARK(BM_StoreConcurrent)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->Threads(8)
    ->UseRealTime();

// A received envelope from bytes to durable: Verify (parse, signature,
// audience, open), the engine's record, and a synced Append; `batch`
// envelopes per Append (1: each alone; 64: group-committed).
//
// Not included, because they live in the engine: its duplicate pre-check
// (parse, hash, one lookup), queueing to the committer thread, forwarding,
// and the receipt envelope it composes and stores per commit.
void BM_AcceptPath(benchmark::State& state) {
  const size_t batch = ToSize(state.range(0));
  Network& network = Network::Get();
  Chain& chain = Chain::Of(kReceiveAudience);
  chain.Reserve(ToSize(state.max_iterations) * batch);
  const std::string self = AgencyOf(1);
  const std::string sender = AgencyOf(0);
  const node::VerifyContext context{network.chain(), self, network.keyring(1),
                                    sender};
  CheckOk(node::Verify(context, chain.at(0)).status(), "Verify");
  TempDir dir;
  std::unique_ptr<storage::Log> log = OpenLogOrDie(dir, Sync::kYes);

  std::vector<storage::EnvelopeRecord> records;
  records.reserve(batch);
  size_t next = 0;
  std::string error;
  for (auto _ : state) {
    records.clear();
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    absl::Status status;
    for (size_t i = 0; i < batch; ++i) {
      absl::StatusOr<node::Verified> verified =
          node::Verify(context, chain.at(next++));
      if (!verified.ok()) {
        status = verified.status();
        break;
      }
      records.push_back(RecordOf(*std::move(verified), now_us));
    }
    if (status.ok()) status = AppendAll(*log, records);
    if (!status.ok()) {
      error = status.ToString();
      state.SkipWithError(error.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}
BENCHMARK(BM_AcceptPath)->ArgName("batch")->Arg(1)->Arg(64)->UseRealTime();

// ---------------------------------------------------------------------------
// Recording the runs, and the ratio table.

// Prints as the console reporter does, and keeps the wall-clock time per
// item of every (non-aggregate, successful) run by benchmark name.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  using benchmark::ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& reports) override {
    for (const Run& run : reports) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred) continue;
      ns_per_item_[run.benchmark_name()].push_back(NsPerItem(run));
    }
    benchmark::ConsoleReporter::ReportRuns(reports);
  }

  // Median over repetitions, or NaN if the benchmark did not run.
  double NsPerItem(const std::string& name) const {
    auto it = ns_per_item_.find(name);
    if (it == ns_per_item_.end()) return std::nan("");
    std::vector<double> values = it->second;
    std::sort(values.begin(), values.end());
    const size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  }

  const std::map<std::string, std::vector<double>>& all() const {
    return ns_per_item_;
  }

 private:
  static double NsPerItem(const Run& run) {
    // items_per_second is total items over wall time (all threads), so its
    // inverse is the amortised cost of one item even for threaded runs.
    auto it = run.counters.find("items_per_second");
    if (it != run.counters.end() && it->second.value > 0) {
      return 1e9 / it->second.value;
    }
    return run.GetAdjustedRealTime() *
           (benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
            benchmark::GetTimeUnitMultiplier(run.time_unit));
  }

  std::map<std::string, std::vector<double>> ns_per_item_;
};

struct Floor {
  std::string label;
  double ns;
};

struct RatioRow {
  std::string ours;
  double ours_ns;
  std::vector<Floor> floors;
};

std::string Name(absl::string_view base) {
  return absl::StrCat(base, "/real_time");
}

std::vector<RatioRow> Ratios(const RecordingReporter& r) {
  const double sign = r.NsPerItem(Name("BM_Ed25519Sign"));
  const double verify = r.NsPerItem(Name("BM_Ed25519Verify"));
  const double wrap = r.NsPerItem(Name("BM_XChaCha20Poly1305/bytes:32"));
  const double body = r.NsPerItem(Name("BM_XChaCha20Poly1305/bytes:1024"));
  const double sync_ns = r.NsPerItem(Name("BM_Fdatasync4K/append:0"));
  const double sync_append_ns = r.NsPerItem(Name("BM_Fdatasync4K/append:1"));
  const double open_floor = verify + wrap + body;

  std::vector<RatioRow> rows;
  for (int n : {1, 4, 16}) {
    const std::string name =
        Name(absl::StrCat("BM_ComposeEnvelope/audience:", n));
    rows.push_back(
        {name,
         r.NsPerItem(name),
         {{"Ed25519 sign", sign},
          {absl::StrCat("sign + XChaCha 1 KiB + ", n, " x XChaCha 32 B"),
           sign + body + n * wrap}}});
  }
  for (int n : {4, 16}) {
    const std::string name =
        Name(absl::StrCat("BM_VerifyEnvelope/audience:", n));
    rows.push_back({name,
                    r.NsPerItem(name),
                    {{"Ed25519 verify", verify},
                     {"verify + XChaCha 32 B + XChaCha 1 KiB", open_floor}}});
  }
  rows.push_back({Name("BM_AcceptPath/batch:1"),
                  r.NsPerItem(Name("BM_AcceptPath/batch:1")),
                  {{"Ed25519 verify (target)", verify},
                   {"verify + open + fdatasync 4 KiB", open_floor + sync_ns}}});
  rows.push_back(
      {Name("BM_AcceptPath/batch:64"),
       r.NsPerItem(Name("BM_AcceptPath/batch:64")),
       {{"Ed25519 verify (target)", verify},
        {"verify + open + fdatasync / 64", open_floor + sync_ns / 64}}});
  rows.push_back({Name("BM_StoreSynced"),
                  r.NsPerItem(Name("BM_StoreSynced")),
                  {{"fdatasync 4 KiB in place", sync_ns},
                   {"fdatasync 4 KiB appended", sync_append_ns}}});
  for (int k : {8, 64, 512}) {
    const std::string name =
        Name(absl::StrCat("BM_StoreGroupCommit/batch:", k));
    rows.push_back(
        {name,
         r.NsPerItem(name),
         {{absl::StrCat("fdatasync 4 KiB in place / ", k), sync_ns / k}}});
  }
  for (int n : {1, 2, 4, 8}) {
    const std::string name =
        absl::StrCat(Name("BM_StoreConcurrent"), "/threads:", n);
    rows.push_back(
        {name,
         r.NsPerItem(name),
         {{"fdatasync 4 KiB in place", sync_ns},
          {absl::StrCat("fdatasync / ", n, " (shared by ", n, " writers)"),
           sync_ns / n}}});
  }
  return rows;
}

bool Measured(double ns) { return std::isfinite(ns) && ns > 0; }

void PrintRatios(const std::vector<RatioRow>& rows) {
  std::printf(
      "\nPer-envelope cost against the floor it cannot beat "
      "(wall-clock ns per item, median over repetitions)\n");
  std::printf("%-42s %12s  %-42s %12s %8s\n", "ours", "ns", "floor", "ns",
              "ratio");
  for (const RatioRow& row : rows) {
    if (!Measured(row.ours_ns)) continue;
    bool first = true;
    for (const Floor& floor : row.floors) {
      if (!Measured(floor.ns)) continue;
      std::printf("%-42s %12s  %-42s %12.0f %8.2f\n",
                  first ? row.ours.c_str() : "",
                  first ? absl::StrFormat("%.0f", row.ours_ns).c_str() : "",
                  floor.label.c_str(), floor.ns, row.ours_ns / floor.ns);
      first = false;
    }
  }
}

void PrintTarget(const RecordingReporter& r) {
  const double verify = r.NsPerItem(Name("BM_Ed25519Verify"));
  if (!Measured(verify)) return;
  std::printf("\nTarget: accept path <= %.1f x Ed25519 verify (%.0f ns)\n",
              kAcceptTarget, verify);
  for (const char* batch : {"1", "64"}) {
    const double ns =
        r.NsPerItem(Name(absl::StrCat("BM_AcceptPath/batch:", batch)));
    if (!Measured(ns)) continue;
    std::printf("  %-28s %10.0f ns  %6.2f x  %s\n",
                absl::StrCat("batch of ", batch, " per fsync").c_str(), ns,
                ns / verify, ns / verify <= kAcceptTarget ? "met" : "MISSED");
  }
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return absl::StrCat(one, " ", five, " ", fifteen);
}

using base::JsonString;

std::string JsonNumber(double v) {
  return Measured(v) ? base::JsonFixed(v, 3) : "null";
}

// The same figures as the printed table, for tools.
bool WriteRatiosJson(const std::string& path, const std::string& commit,
                     const std::string& load_before,
                     const std::string& load_after, const RecordingReporter& r,
                     const std::vector<RatioRow>& rows) {
  std::string out = "{\n";
  absl::StrAppend(&out, "  \"commit\": ", JsonString(commit), ",\n");
  absl::StrAppend(&out, "  \"load_average_before\": ", JsonString(load_before),
                  ",\n");
  absl::StrAppend(&out, "  \"load_average_after\": ", JsonString(load_after),
                  ",\n");
  absl::StrAppend(&out, "  \"ns_per_item\": {");
  bool first = true;
  for (const auto& [name, values] : r.all()) {
    absl::StrAppend(&out, first ? "\n" : ",\n", "    ", JsonString(name), ": ",
                    JsonNumber(r.NsPerItem(name)));
    first = false;
  }
  absl::StrAppend(&out, "\n  },\n  \"ratios\": [");
  first = true;
  for (const RatioRow& row : rows) {
    if (!Measured(row.ours_ns)) continue;
    for (const Floor& floor : row.floors) {
      if (!Measured(floor.ns)) continue;
      absl::StrAppend(&out, first ? "\n" : ",\n",
                      "    {\"ours\": ", JsonString(row.ours),
                      ", \"ours_ns\": ", JsonNumber(row.ours_ns),
                      ", \"floor\": ", JsonString(floor.label),
                      ", \"floor_ns\": ", JsonNumber(floor.ns),
                      ", \"ratio\": ", JsonNumber(row.ours_ns / floor.ns), "}");
      first = false;
    }
  }
  const double verify = r.NsPerItem(Name("BM_Ed25519Verify"));
  absl::StrAppend(
      &out, "\n  ],\n  \"accept_target\": {\"max_ratio_to_ed25519_verify\": ",
      JsonNumber(kAcceptTarget), ", \"batch_1\": ",
      JsonNumber(r.NsPerItem(Name("BM_AcceptPath/batch:1")) / verify),
      ", \"batch_64\": ",
      JsonNumber(r.NsPerItem(Name("BM_AcceptPath/batch:64")) / verify),
      "}\n}\n");
  std::ofstream file(path, std::ios::trunc);
  file << out;
  file.close();
  return static_cast<bool>(file);
}

// Removes --<name>=<value> from argv (Google Benchmark refuses flags it does
// not know) and returns the value.
std::optional<std::string> TakeFlag(int& argc, char** argv,
                                    absl::string_view name) {
  const std::string prefix = absl::StrCat("--", name, "=");
  std::optional<std::string> value;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg.substr(0, prefix.size()) == prefix) {
      value = std::string(arg.substr(prefix.size()));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return value;
}

int Main(int argc, char** argv) {
  const std::optional<std::string> ratios_out =
      TakeFlag(argc, argv, "ratios_out");
  const std::string commit = TakeFlag(argc, argv, "commit").value_or("unknown");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const std::string load_before = LoadAverage();
  benchmark::AddCustomContext("tidings_commit", commit);
  benchmark::AddCustomContext("load_average_before", load_before);
  RecordingReporter reporter(isatty(STDOUT_FILENO) != 0
                                 ? benchmark::ConsoleReporter::OO_ColorTabular
                                 : benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const std::string load_after = LoadAverage();

  const std::vector<RatioRow> rows = Ratios(reporter);
  PrintRatios(rows);
  PrintTarget(reporter);
  std::printf("\nload average (1/5/15 min) before: %s, after: %s\n",
              load_before.c_str(), load_after.c_str());
  int rc = 0;
  if (ratios_out.has_value()) {
    if (WriteRatiosJson(*ratios_out, commit, load_before, load_after, reporter,
                        rows)) {
      std::printf("ratios written to %s\n", ratios_out->c_str());
    } else {
      std::fprintf(stderr, "envelope_bench: cannot write %s\n",
                   ratios_out->c_str());
      rc = 1;
    }
  }
  benchmark::Shutdown();
  return rc;
}

}  // namespace
}  // namespace tidings::bench

int main(int argc, char** argv) { return tidings::bench::Main(argc, argv); }

// network_bench: a loopback network of real tidingsd processes, driven
// through the client service and measured from the nodes' own stores
// (Inbox `stored_unix_us`), counters (Stats) and /proc.
//
// Phases, in order (bench/README.md explains every figure):
//   1. traffic: `--envelopes` sends spread over every node as origin, at
//      `--rate` (0: as fast as Send returns) from `--senders` threads; waits
//      until the network is quiet, then reads every node's Inbox.
//   2. idle: `--idle_seconds` without traffic; wire bytes per link.
//   3. catch-up: one node stops, `--backlog` envelopes are sent to an audience
//      including it, it restarts; envelopes per second until it holds them.
// One JSON object goes to `--out`; a summary to stdout.
//
// Single-threaded except for the sender threads of a phase, which only call
// Cluster::Send (thread-safe) and write their own slots of a vector.
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/json.h"
#include "base/status_macros.h"
#include "node/model/envelope.h"
#include "proto/client.pb.h"
#include "proto/envelope.pb.h"
#include "tests/testing/cluster.h"

ABSL_FLAG(int, nodes, 4, "Number of tidingsd nodes (2..64).");
ABSL_FLAG(int, links_per_node, 3,
          "Links per node: a ring plus seeded chords (>= nodes-1: full "
          "mesh; at least 2 when nodes > 2).");
ABSL_FLAG(int, audience, 0,
          "Audience size, origin included; 0 = every node. A smaller audience "
          "is the origin plus the nearest nodes in the link graph, so that it "
          "stays connected (only audience members may relay).");
ABSL_FLAG(int, body_bytes, 1024, "Bytes of body text per envelope.");
ABSL_FLAG(int, envelopes, 2000, "Envelopes sent in the traffic phase.");
ABSL_FLAG(double, rate, 0,
          "Offered envelopes per second over all senders (open loop); 0 = as "
          "fast as Send returns (closed loop).");
ABSL_FLAG(int, senders, 0, "Sender threads; 0 = two per node.");
ABSL_FLAG(std::string, precedence_mix, "routine:1",
          "Precedence weights, e.g. flash:1,immediate:1,priority:2,routine:6.");
ABSL_FLAG(int, backlog, 0,
          "Catch-up phase: envelopes sent while one node is down; 0 skips "
          "the phase.");
ABSL_FLAG(std::string, backlog_audience, "all",
          "Audience of the backlog: 'all' (every node; the peers also store "
          "and receipt it) or 'pairs' (each of the restarted node's link "
          "neighbours sends to itself and that node only: quicker to build).");
ABSL_FLAG(int, idle_seconds, 20, "Length of the idle phase; 0 skips it.");
ABSL_FLAG(int, idle_warmup_seconds, 0,
          "Wait this long after the traffic before the idle window, so that "
          "anti-entropy backoff reaches its idle pace (one round a minute).");
ABSL_FLAG(int, anti_entropy_ms, 2000, "Anti-entropy period of every node.");
ABSL_FLAG(std::string, out, "",
          "Where the JSON goes: a file ending in .json, or a directory "
          "(default: <source>/bench/results).");
ABSL_FLAG(std::string, label, "", "Name of the run (default from parameters).");
ABSL_FLAG(std::string, commit, "",
          "Commit measured (default: git rev-parse HEAD in the source dir).");
ABSL_FLAG(std::string, note, "", "Free text stored with the result.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the topology and precedence draw.");
ABSL_FLAG(int, settle_timeout_s, 300,
          "How long to wait for delivery after the last send (each phase).");

namespace tidings::bench {
namespace {

using testing::Cluster;
using testing::ClusterOptions;

constexpr uint32_t kMaxInbox = 10000;  // the client service's cap

int64_t NowUs() { return absl::GetCurrentTimeNanos() / 1000; }

double Seconds(int64_t us) { return static_cast<double>(us) / 1e6; }

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream contents;
  contents << in.rdbuf();
  return std::move(contents).str();
}

// ---------------------------------------------------------------------------
// JSON output (base/json.h): numbers with 6 significant digits.

using base::JsonObject;

constexpr int kDigits = 6;

std::string JsonNumbers(const std::vector<double>& values) {
  std::vector<std::string> parts;
  for (double x : values) parts.push_back(base::JsonDouble(x, kDigits));
  return base::JsonArray(parts);
}

// ---------------------------------------------------------------------------
// Distributions.

// Nearest-rank percentile of sorted `v`; NaN if empty.
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return NAN;
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

struct Distribution {
  std::vector<double> sorted;

  explicit Distribution(std::vector<double> values)
      : sorted(std::move(values)) {
    std::sort(sorted.begin(), sorted.end());
  }
  double p(double q) const { return Percentile(sorted, q); }
  double mean() const {
    if (sorted.empty()) return NAN;
    double sum = 0;
    for (double x : sorted) sum += x;
    return sum / static_cast<double>(sorted.size());
  }
  // p50 p90 p99 max mean count, and the 0..100 percentiles for a CDF plot.
  JsonObject ToJson(bool with_cdf) const {
    JsonObject out;
    out.Double("p50", p(50), kDigits)
        .Double("p90", p(90), kDigits)
        .Double("p99", p(99), kDigits)
        .Double("max", sorted.empty() ? NAN : sorted.back(), kDigits)
        .Double("mean", mean(), kDigits)
        .Int("count", static_cast<int64_t>(sorted.size()));
    if (with_cdf) {
      std::vector<double> cdf;
      for (int q = 0; q <= 100; ++q) cdf.push_back(p(q));
      out.Raw("cdf_percentiles_0_to_100", JsonNumbers(cdf));
    }
    return out;
  }
};

// ---------------------------------------------------------------------------
// /proc: the nodes' pids, CPU time, memory and written bytes.

struct ProcSample {
  double cpu_s = 0;    // utime + stime, all threads
  int64_t hwm_kb = 0;  // VmHWM: peak resident set
  int64_t rss_kb = 0;  // VmRSS
};

// The pid of the running child tidingsd whose command line names `config`.
std::optional<pid_t> FindNodePid(const std::string& config) {
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return std::nullopt;
  std::optional<pid_t> found;
  const pid_t self = ::getpid();
  while (dirent* entry = ::readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    const std::string base = absl::StrCat("/proc/", pid);
    std::optional<std::string> cmdline = ReadWholeFile(base + "/cmdline");
    if (!cmdline.has_value()) continue;
    std::vector<absl::string_view> args = absl::StrSplit(*cmdline, '\0');
    if (std::find(args.begin(), args.end(), config) == args.end()) continue;
    std::optional<std::string> status = ReadWholeFile(base + "/status");
    if (!status.has_value()) continue;
    for (absl::string_view line : absl::StrSplit(*status, '\n')) {
      int ppid = 0;
      if (absl::ConsumePrefix(&line, "PPid:") &&
          absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &ppid) &&
          ppid == self) {
        found = pid;
      }
    }
    if (found.has_value()) break;
  }
  ::closedir(proc);
  return found;
}

int64_t StatusField(absl::string_view status, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(status, '\n')) {
    if (!absl::ConsumePrefix(&line, name)) continue;
    if (!absl::ConsumePrefix(&line, ":")) continue;
    line = absl::StripAsciiWhitespace(line);
    absl::ConsumeSuffix(&line, " kB");
    int64_t v = 0;
    if (absl::SimpleAtoi(line, &v)) return v;
  }
  return 0;
}

std::optional<ProcSample> SampleProc(pid_t pid) {
  const std::string base = absl::StrCat("/proc/", pid);
  std::optional<std::string> stat = ReadWholeFile(base + "/stat");
  std::optional<std::string> status = ReadWholeFile(base + "/status");
  if (!stat.has_value() || !status.has_value()) return std::nullopt;
  // Fields after the command name (which may hold spaces): state is field 3,
  // utime 14 and stime 15.
  const size_t paren = stat->rfind(')');
  if (paren == std::string::npos) return std::nullopt;
  std::vector<absl::string_view> fields = absl::StrSplit(
      absl::string_view(*stat).substr(paren + 2), ' ', absl::SkipEmpty());
  if (fields.size() < 13) return std::nullopt;
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (!absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return std::nullopt;
  }
  ProcSample sample;
  sample.cpu_s = static_cast<double>(utime + stime) /
                 static_cast<double>(::sysconf(_SC_CLK_TCK));
  sample.hwm_kb = StatusField(*status, "VmHWM");
  sample.rss_kb = StatusField(*status, "VmRSS");
  return sample;
}

// TCP counters of the peer links, from `ss -tin`: every established
// socket whose local port is a node's listen port, i.e. the accepting end of
// each link, so that each connection counts once. Payload includes HTTP/2
// framing; `segments` lets us add IP and TCP headers.
struct TcpTotals {
  bool ok = false;
  uint64_t payload = 0;   // bytes sent + received by the accepting ends
  uint64_t segments = 0;  // segments out + in
};

struct TcpSample {
  bool ok = false;
  // "local peer" -> (payload, segments)
  std::map<std::string, std::pair<uint64_t, uint64_t>> sockets;
};

TcpSample SampleTcp(const std::set<std::string>& listen_ports) {
  TcpSample sample;
  FILE* pipe = ::popen("ss -tinH state established 2>/dev/null", "r");
  if (pipe == nullptr) return sample;
  std::string text;
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) text += buffer;
  sample.ok = ::pclose(pipe) == 0 && !text.empty();
  std::string current;  // key of the socket whose info line comes next
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty()) continue;
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (line[0] != ' ' && line[0] != '\t') {
      current.clear();
      if (f.size() < 4) continue;
      const size_t colon = f[2].rfind(':');
      if (colon == absl::string_view::npos) continue;
      if (listen_ports.count(std::string(f[2].substr(colon + 1))) == 0) {
        continue;
      }
      current = absl::StrCat(f[2], " ", f[3]);
      continue;
    }
    if (current.empty()) continue;
    uint64_t payload = 0;
    uint64_t segments = 0;
    for (absl::string_view field : f) {
      uint64_t v = 0;
      for (absl::string_view name :
           {"bytes_sent:", "bytes_received:", "segs_out:", "segs_in:"}) {
        absl::string_view rest = field;
        if (!absl::ConsumePrefix(&rest, name) || !absl::SimpleAtoi(rest, &v)) {
          continue;
        }
        (absl::StartsWith(name, "bytes") ? payload : segments) += v;
      }
    }
    sample.sockets[current] = {payload, segments};
    current.clear();
  }
  return sample;
}

// Growth from `before` to `after`; a socket new in `after` counts from 0.
TcpTotals TcpDelta(const TcpSample& before, const TcpSample& after) {
  TcpTotals totals;
  totals.ok = before.ok && after.ok;
  for (const auto& [key, counts] : after.sockets) {
    auto it = before.sockets.find(key);
    const std::pair<uint64_t, uint64_t> base =
        it == before.sockets.end() ? std::make_pair(uint64_t{0}, uint64_t{0})
                                   : it->second;
    totals.payload += counts.first - std::min(counts.first, base.first);
    totals.segments += counts.second - std::min(counts.second, base.second);
  }
  return totals;
}

// IPv4 (20) + TCP with timestamps (32) per segment; no link layer.
constexpr uint64_t kIpTcpHeaderBytes = 52;

// Busy and total jiffies of the whole machine (/proc/stat "cpu" line).
struct MachineCpu {
  uint64_t busy = 0;
  uint64_t total = 0;
};

MachineCpu SampleMachineCpu() {
  MachineCpu cpu;
  std::optional<std::string> stat = ReadWholeFile("/proc/stat");
  if (!stat.has_value()) return cpu;
  absl::string_view first = *stat;
  first = first.substr(0, first.find('\n'));
  std::vector<absl::string_view> f =
      absl::StrSplit(first, ' ', absl::SkipEmpty());
  for (size_t i = 1; i < f.size() && i <= 8; ++i) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(f[i], &v)) continue;
    cpu.total += v;
    if (i != 4 && i != 5) cpu.busy += v;  // not idle, not iowait
  }
  return cpu;
}

// Completed writes and cache flushes of the block device holding `path`
// (/proc/diskstats; flushes are what fsync costs on a disk with a cache).
struct DiskSample {
  bool ok = false;
  uint64_t writes = 0;
  uint64_t flushes = 0;
  uint64_t busy_ms = 0;  // time with I/O in flight
};

DiskSample SampleDisk(const std::string& path) {
  DiskSample sample;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sample;
  const std::string major = absl::StrCat(major(st.st_dev));
  const std::string minor = absl::StrCat(minor(st.st_dev));
  std::optional<std::string> stats = ReadWholeFile("/proc/diskstats");
  if (!stats.has_value()) return sample;
  for (absl::string_view line : absl::StrSplit(*stats, '\n')) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    // major minor name, then 4 read, 4 write, 3 queue, 4 discard, 2 flush.
    if (f.size() < 12 || f[0] != major || f[1] != minor) continue;
    sample.ok = absl::SimpleAtoi(f[7], &sample.writes) &&
                absl::SimpleAtoi(f[12], &sample.busy_ms);
    if (f.size() >= 20) sample.ok &= absl::SimpleAtoi(f[18], &sample.flushes);
  }
  return sample;
}

double SelfCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) /
             1e6;
}

// ---------------------------------------------------------------------------
// Machine and source description.

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[256];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) out += buffer;
  ::pclose(pipe);
  return std::string(absl::StripAsciiWhitespace(out));
}

std::string FirstMatch(const std::string& path, absl::string_view key) {
  std::optional<std::string> contents = ReadWholeFile(path);
  if (!contents.has_value()) return "";
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    if (!absl::StartsWith(line, key)) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  }
  return "";
}

std::string LoadAverage() {
  std::optional<std::string> load = ReadWholeFile("/proc/loadavg");
  if (!load.has_value()) return "";
  std::vector<absl::string_view> f =
      absl::StrSplit(*load, ' ', absl::SkipEmpty());
  if (f.size() < 3) return "";
  return absl::StrCat(f[0], " ", f[1], " ", f[2]);
}

JsonObject MachineInfo(const std::string& data_dir) {
  JsonObject machine;
  utsname uts{};
  ::uname(&uts);
  machine.Int("nproc", ::sysconf(_SC_NPROCESSORS_ONLN))
      .String("cpu_model", FirstMatch("/proc/cpuinfo", "model name"))
      .String("mem_total", FirstMatch("/proc/meminfo", "MemTotal"))
      .String("kernel", absl::StrCat(uts.sysname, " ", uts.release))
      .String("hostname", uts.nodename)
      .String("data_filesystem",
              RunCommand(absl::StrCat("df --output=fstype ", data_dir,
                                      " 2>/dev/null | tail -1")))
      .String("loadavg_at_start", LoadAverage());
  return machine;
}

// ---------------------------------------------------------------------------
// Parameters.

struct Params {
  int nodes = 4;
  int links_per_node = 3;
  int audience = 0;  // resolved: 2..nodes
  int body_bytes = 1024;
  int envelopes = 2000;
  double rate = 0;
  int senders = 0;
  std::string precedence_mix;
  std::vector<std::pair<proto::Precedence, double>> mix;
  int backlog = 0;
  bool backlog_to_all = true;
  int idle_seconds = 20;
  int idle_warmup_seconds = 0;
  absl::Duration anti_entropy = absl::Seconds(2);
  uint64_t seed = 1;
  absl::Duration settle_timeout = absl::Seconds(300);
  std::string label;
};

absl::StatusOr<std::vector<std::pair<proto::Precedence, double>>> ParseMix(
    absl::string_view text) {
  std::vector<std::pair<proto::Precedence, double>> mix;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<absl::string_view> kv =
        absl::StrSplit(part, absl::ByAnyChar(":="));
    double weight = 0;
    std::optional<proto::Precedence> precedence =
        kv.size() == 2 ? node::PrecedenceFromName(absl::AsciiStrToLower(
                             absl::StripAsciiWhitespace(kv[0])))
                       : std::nullopt;
    if (!precedence.has_value() ||
        !absl::SimpleAtod(absl::StripAsciiWhitespace(kv[1]), &weight) ||
        weight < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--precedence_mix: '", part,
                       "' is not <flash|immediate|priority|routine>:<weight>"));
    }
    if (weight > 0) mix.emplace_back(*precedence, weight);
  }
  if (mix.empty()) {
    return absl::InvalidArgumentError(
        "--precedence_mix has no positive weight");
  }
  return mix;
}

absl::StatusOr<Params> ParamsFromFlags() {
  Params p;
  p.nodes = absl::GetFlag(FLAGS_nodes);
  p.links_per_node = absl::GetFlag(FLAGS_links_per_node);
  p.audience = absl::GetFlag(FLAGS_audience);
  p.body_bytes = absl::GetFlag(FLAGS_body_bytes);
  p.envelopes = absl::GetFlag(FLAGS_envelopes);
  p.rate = absl::GetFlag(FLAGS_rate);
  p.senders = absl::GetFlag(FLAGS_senders);
  p.precedence_mix = absl::GetFlag(FLAGS_precedence_mix);
  p.backlog = absl::GetFlag(FLAGS_backlog);
  const std::string backlog_audience = absl::GetFlag(FLAGS_backlog_audience);
  if (backlog_audience != "all" && backlog_audience != "pairs") {
    return absl::InvalidArgumentError("--backlog_audience: all or pairs");
  }
  p.backlog_to_all = backlog_audience == "all";
  p.idle_seconds = absl::GetFlag(FLAGS_idle_seconds);
  p.idle_warmup_seconds = absl::GetFlag(FLAGS_idle_warmup_seconds);
  p.anti_entropy = absl::Milliseconds(absl::GetFlag(FLAGS_anti_entropy_ms));
  p.seed = absl::GetFlag(FLAGS_seed);
  p.settle_timeout = absl::Seconds(absl::GetFlag(FLAGS_settle_timeout_s));
  if (p.nodes < 2 || p.nodes > 64) {
    return absl::InvalidArgumentError("--nodes must be 2..64");
  }
  if (p.envelopes < 1 || p.body_bytes < 1 || p.backlog < 0 ||
      p.idle_seconds < 0 || p.idle_warmup_seconds < 0 || p.rate < 0 ||
      p.senders < 0 || p.anti_entropy <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--envelopes, --body_bytes >= 1; --backlog, --idle_seconds, "
        "--idle_warmup_seconds, --rate, "
        "--senders >= 0; --anti_entropy_ms > 0");
  }
  p.links_per_node =
      std::clamp(p.links_per_node, p.nodes > 2 ? 2 : 1, p.nodes - 1);
  if (p.audience <= 0 || p.audience > p.nodes) p.audience = p.nodes;
  if (p.audience < 2) {
    return absl::InvalidArgumentError("--audience must be 0 or >= 2");
  }
  if (p.senders == 0) p.senders = 2 * p.nodes;
  TIDINGS_ASSIGN_OR_RETURN(p.mix, ParseMix(p.precedence_mix));
  p.label = absl::GetFlag(FLAGS_label);
  if (p.label.empty()) {
    p.label = absl::StrCat(
        "n", p.nodes, "-k", p.links_per_node, "-a", p.audience, "-b",
        p.body_bytes, "-",
        p.rate == 0 ? std::string("max") : absl::StrCat("r", p.rate));
    if (p.backlog > 0) {
      absl::StrAppend(&p.label, "-backlog", p.backlog,
                      p.backlog_to_all ? "" : "-pairs");
    }
  }
  return p;
}

// ---------------------------------------------------------------------------
// Topology and audiences.

std::string AgencyName(int i) { return absl::StrFormat("NODE%02d", i); }

// Undirected edges {a, b}, a < b: a ring, then seeded chords until every
// node has `k` links (or no pair is left to join).
std::vector<std::pair<int, int>> BuildTopology(int n, int k, uint64_t seed) {
  std::set<std::pair<int, int>> edges;
  std::vector<int> degree(static_cast<size_t>(n), 0);
  auto add = [&](int a, int b) {
    if (a == b) return false;
    if (a > b) std::swap(a, b);
    if (!edges.insert({a, b}).second) return false;
    ++degree[static_cast<size_t>(a)];
    ++degree[static_cast<size_t>(b)];
    return true;
  };
  if (n == 2) {
    add(0, 1);
  } else {
    for (int i = 0; i < n; ++i) add(i, (i + 1) % n);
  }
  std::mt19937_64 rng(seed);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    std::vector<int> open;
    for (int i = 0; i < n; ++i) {
      if (degree[static_cast<size_t>(i)] < k) open.push_back(i);
    }
    if (open.size() < 2) break;
    std::shuffle(open.begin(), open.end(), rng);
    bool added = false;
    for (size_t i = 0; i < open.size() && !added; ++i) {
      for (size_t j = i + 1; j < open.size() && !added; ++j) {
        added = add(open[i], open[j]);
      }
    }
    if (!added) break;
  }
  return {edges.begin(), edges.end()};
}

std::vector<std::vector<int>> Neighbours(
    int n, const std::vector<std::pair<int, int>>& edges) {
  std::vector<std::vector<int>> out(static_cast<size_t>(n));
  for (const auto& [a, b] : edges) {
    out[static_cast<size_t>(a)].push_back(b);
    out[static_cast<size_t>(b)].push_back(a);
  }
  for (std::vector<int>& list : out) std::sort(list.begin(), list.end());
  return out;
}

// The origin and the `size - 1` nodes nearest to it (breadth first): a
// connected audience, since only audience members relay its envelopes.
std::vector<int> AudienceOf(int origin, int size,
                            const std::vector<std::vector<int>>& neighbours) {
  std::vector<int> order = {origin};
  std::vector<bool> seen(neighbours.size(), false);
  seen[static_cast<size_t>(origin)] = true;
  for (size_t i = 0;
       i < order.size() && order.size() < static_cast<size_t>(size); ++i) {
    for (int next : neighbours[static_cast<size_t>(order[i])]) {
      if (seen[static_cast<size_t>(next)]) continue;
      seen[static_cast<size_t>(next)] = true;
      order.push_back(next);
      if (order.size() == static_cast<size_t>(size)) break;
    }
  }
  std::sort(order.begin(), order.end());
  return order;
}

// Hops between every pair of nodes in the link graph (-1: unreachable).
std::vector<std::vector<int>> Distances(
    const std::vector<std::vector<int>>& neighbours) {
  const size_t n = neighbours.size();
  std::vector<std::vector<int>> dist(n, std::vector<int>(n, -1));
  for (size_t s = 0; s < n; ++s) {
    std::vector<size_t> queue = {s};
    dist[s][s] = 0;
    for (size_t i = 0; i < queue.size(); ++i) {
      for (int next : neighbours[queue[i]]) {
        const size_t u = static_cast<size_t>(next);
        if (dist[s][u] >= 0) continue;
        dist[s][u] = dist[s][queue[i]] + 1;
        queue.push_back(u);
      }
    }
  }
  return dist;
}

int Diameter(const std::vector<std::vector<int>>& neighbours) {
  int diameter = 0;
  for (const std::vector<int>& row : Distances(neighbours)) {
    for (int d : row) diameter = std::max(diameter, d);
  }
  return diameter;
}

// ---------------------------------------------------------------------------
// The network under test.

struct NodeSnapshot {
  bool ok = false;
  std::map<std::string, uint64_t> counters;
  uint64_t envelopes_stored = 0;
  size_t connected_peers = 0;
  ProcSample proc;
};

class Network {
 public:
  Network(std::unique_ptr<Cluster> cluster, std::vector<std::string> agencies)
      : cluster_(std::move(cluster)), agencies_(std::move(agencies)) {}

  Cluster& cluster() { return *cluster_; }
  const std::vector<std::string>& agencies() const { return agencies_; }
  int size() const { return static_cast<int>(agencies_.size()); }

  // Finds the pid of node `i` again (after a start).
  void ResolvePid(int i) {
    pids_[i] = FindNodePid(absl::StrCat(
        cluster_->dir(), "/", agencies_[static_cast<size_t>(i)], ".conf"));
  }
  void ResolvePids() {
    for (int i = 0; i < size(); ++i) ResolvePid(i);
  }

  NodeSnapshot Snapshot(int i) {
    NodeSnapshot snap;
    absl::StatusOr<proto::StatsResponse> stats =
        cluster_->Stats(agencies_[static_cast<size_t>(i)]);
    if (stats.ok()) {
      snap.ok = true;
      snap.counters.insert(stats->counters().begin(), stats->counters().end());
      snap.envelopes_stored = stats->envelopes_stored();
      snap.connected_peers = static_cast<size_t>(stats->connected_peers_size());
    }
    auto pid = pids_.find(i);
    if (pid != pids_.end() && pid->second.has_value()) {
      if (std::optional<ProcSample> proc = SampleProc(*pid->second)) {
        snap.proc = *proc;
      }
    }
    return snap;
  }
  // CPU and memory only (no RPC): cheap enough to take mid-phase.
  std::vector<ProcSample> ProcAll(const std::vector<int>& nodes) {
    std::vector<ProcSample> out(agencies_.size());
    for (int i : nodes) {
      auto pid = pids_.find(i);
      if (pid == pids_.end() || !pid->second.has_value()) continue;
      if (std::optional<ProcSample> proc = SampleProc(*pid->second)) {
        out[static_cast<size_t>(i)] = *proc;
      }
    }
    return out;
  }
  std::vector<NodeSnapshot> SnapshotAll(const std::vector<int>& nodes) {
    std::vector<NodeSnapshot> out(agencies_.size());
    for (int i : nodes) out[static_cast<size_t>(i)] = Snapshot(i);
    return out;
  }

  // OK if every node in `nodes` runs; else names those that exited, with
  // the tail of their logs.
  absl::Status CheckRunning(const std::vector<int>& nodes) {
    std::string dead;
    for (int i : nodes) {
      const std::string& agency = agencies_[static_cast<size_t>(i)];
      if (cluster_->IsRunning(agency)) continue;
      absl::StrAppend(&dead, agency, " is not running; log tail:\n",
                      cluster_->LogTail(agency, 15));
    }
    if (dead.empty()) return absl::OkStatus();
    return absl::InternalError(dead);
  }

  // Waits until no node in `nodes` stores or receives anything for `window`.
  // False on timeout.
  bool WaitQuiet(const std::vector<int>& nodes, absl::Duration window,
                 absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    std::vector<std::pair<uint64_t, uint64_t>> last(agencies_.size());
    absl::Time changed = absl::Now();
    while (absl::Now() < deadline) {
      bool any_change = false;
      for (int i : nodes) {
        absl::StatusOr<proto::StatsResponse> stats =
            cluster_->Stats(agencies_[static_cast<size_t>(i)]);
        if (!stats.ok()) {
          any_change = true;
          continue;
        }
        auto received = stats->counters().find("received");
        std::pair<uint64_t, uint64_t> now = {
            stats->envelopes_stored(),
            received == stats->counters().end() ? 0 : received->second};
        if (now != last[static_cast<size_t>(i)]) any_change = true;
        last[static_cast<size_t>(i)] = now;
      }
      if (any_change) changed = absl::Now();
      if (absl::Now() - changed >= window) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return false;
  }

 private:
  std::unique_ptr<Cluster> cluster_;
  std::vector<std::string> agencies_;
  std::map<int, std::optional<pid_t>> pids_;
};

uint64_t CounterOf(const NodeSnapshot& s, absl::string_view name) {
  auto it = s.counters.find(std::string(name));
  return it == s.counters.end() ? 0 : it->second;
}

// Sum over `nodes` of every counter's growth from `before` to `after`.
std::map<std::string, uint64_t> CounterDeltas(
    const std::vector<NodeSnapshot>& before,
    const std::vector<NodeSnapshot>& after, const std::vector<int>& nodes) {
  std::map<std::string, uint64_t> sum;
  for (int i : nodes) {
    const NodeSnapshot& b = before[static_cast<size_t>(i)];
    for (const auto& [name, value] : after[static_cast<size_t>(i)].counters) {
      const uint64_t base = CounterOf(b, name);
      sum[name] += value >= base ? value - base : value;
    }
  }
  return sum;
}

JsonObject CountersJson(const std::map<std::string, uint64_t>& counters) {
  JsonObject out;
  for (const auto& [name, value] : counters) {
    out.Int(name, static_cast<int64_t>(value));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Sending.

struct SentEnvelope {
  bool ok = false;
  std::string id;
  int origin = 0;
  std::vector<int> audience;
  proto::Precedence precedence = proto::PRECEDENCE_ROUTINE;
  int64_t send_us = 0;  // just before the Send RPC
  int64_t done_us = 0;  // when it returned
};

struct SendPlan {
  std::vector<int> origins;  // envelope i comes from origins[i % size]
  int count = 0;
  double rate = 0;  // 0: closed loop
  int senders = 1;
  int body_bytes = 1024;
  absl::string_view title_prefix;
};

struct SendOutcome {
  std::vector<SentEnvelope> sent;
  int64_t start_us = 0;
  int64_t end_us = 0;
  int errors = 0;
  std::string first_error;
};

SendOutcome SendAll(Network& net, const SendPlan& plan,
                    const std::vector<std::vector<int>>& audiences,
                    const std::vector<proto::Precedence>& precedences) {
  SendOutcome outcome;
  outcome.sent.resize(static_cast<size_t>(plan.count));
  const std::string text(static_cast<size_t>(plan.body_bytes), 'x');
  std::atomic<int> next{0};
  std::atomic<int> errors{0};
  absl::Mutex error_mu;
  std::string first_error;
  outcome.start_us = NowUs();
  const int64_t start_us = outcome.start_us;
  std::vector<std::thread> threads;
  for (int t = 0; t < plan.senders; ++t) {
    threads.emplace_back([&] {
      while (true) {
        const int i = next.fetch_add(1);
        if (i >= plan.count) return;
        if (plan.rate > 0) {
          const int64_t due =
              start_us +
              static_cast<int64_t>(static_cast<double>(i) * 1e6 / plan.rate);
          const int64_t wait = due - NowUs();
          if (wait > 0) absl::SleepFor(absl::Microseconds(wait));
        }
        SentEnvelope& slot = outcome.sent[static_cast<size_t>(i)];
        slot.origin =
            plan.origins[static_cast<size_t>(i) % plan.origins.size()];
        slot.audience = audiences[static_cast<size_t>(slot.origin)];
        slot.precedence =
            precedences[static_cast<size_t>(i) % precedences.size()];
        std::vector<std::string> audience;
        for (int member : slot.audience) {
          audience.push_back(net.agencies()[static_cast<size_t>(member)]);
        }
        slot.send_us = NowUs();
        absl::StatusOr<proto::SendResponse> sent = net.cluster().Send(
            net.agencies()[static_cast<size_t>(slot.origin)],
            proto::KIND_NOTICE, audience, absl::StrCat(plan.title_prefix, i),
            text, slot.precedence);
        slot.done_us = NowUs();
        if (sent.ok()) {
          slot.ok = true;
          slot.id = sent->envelope_id();
        } else {
          errors.fetch_add(1);
          absl::MutexLock lock(&error_mu);
          if (first_error.empty()) first_error = sent.status().ToString();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  outcome.end_us = NowUs();
  outcome.errors = errors.load();
  outcome.first_error = first_error;
  return outcome;
}

std::vector<proto::Precedence> DrawPrecedences(
    int count, const std::vector<std::pair<proto::Precedence, double>>& mix,
    uint64_t seed) {
  std::vector<double> weights;
  for (const auto& [precedence, weight] : mix) weights.push_back(weight);
  std::discrete_distribution<size_t> pick(weights.begin(), weights.end());
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<proto::Precedence> out;
  for (int i = 0; i < count; ++i) out.push_back(mix[pick(rng)].first);
  return out;
}

// ---------------------------------------------------------------------------
// Delivery, from every node's Inbox.

struct Delivery {
  std::vector<double> per_delivery_ms;
  // By hops from the origin to the recipient in the link graph.
  std::map<int, std::vector<double>> per_delivery_ms_by_hops;
  std::vector<double> time_to_all_ms;
  std::map<proto::Precedence, std::vector<double>> time_to_all_by_precedence;
  int64_t deliveries_expected = 0;
  int64_t deliveries_seen = 0;
  int complete = 0;  // envelopes held by their whole audience
  int64_t last_stored_us = 0;
};

// `hops`: Distances() of the link graph, or empty.
Delivery MeasureDelivery(Network& net, const std::vector<SentEnvelope>& sent,
                         const std::vector<int>& nodes,
                         const std::vector<std::vector<int>>& hops = {}) {
  Delivery d;
  absl::flat_hash_map<std::string, size_t> index;
  for (size_t i = 0; i < sent.size(); ++i) {
    if (!sent[i].ok) continue;
    index[sent[i].id] = i;
    d.deliveries_expected += static_cast<int64_t>(sent[i].audience.size()) - 1;
  }
  std::vector<int> held(sent.size(), 0);
  std::vector<int64_t> last(sent.size(), 0);
  const uint32_t limit =
      static_cast<uint32_t>(std::min<size_t>(kMaxInbox, index.size()));
  for (int node : nodes) {
    absl::StatusOr<std::vector<proto::EnvelopeSummary>> inbox =
        net.cluster().Inbox(net.agencies()[static_cast<size_t>(node)], limit);
    if (!inbox.ok()) {
      std::fprintf(stderr, "inbox of %s: %s\n",
                   net.agencies()[static_cast<size_t>(node)].c_str(),
                   inbox.status().ToString().c_str());
      continue;
    }
    for (const proto::EnvelopeSummary& summary : *inbox) {
      auto it = index.find(summary.envelope_id());
      if (it == index.end()) continue;
      const SentEnvelope& s = sent[it->second];
      if (s.origin == node) continue;  // the origin's copy is no delivery
      const double ms =
          static_cast<double>(summary.stored_unix_us() - s.send_us) / 1000.0;
      d.per_delivery_ms.push_back(ms);
      if (!hops.empty()) {
        d.per_delivery_ms_by_hops[hops[static_cast<size_t>(s.origin)]
                                      [static_cast<size_t>(node)]]
            .push_back(ms);
      }
      ++d.deliveries_seen;
      ++held[it->second];
      last[it->second] = std::max(last[it->second], summary.stored_unix_us());
    }
  }
  for (size_t i = 0; i < sent.size(); ++i) {
    if (!sent[i].ok) continue;
    if (held[i] + 1 < static_cast<int>(sent[i].audience.size())) continue;
    ++d.complete;
    const double ms = static_cast<double>(last[i] - sent[i].send_us) / 1000.0;
    d.time_to_all_ms.push_back(ms);
    d.time_to_all_by_precedence[sent[i].precedence].push_back(ms);
    d.last_stored_us = std::max(d.last_stored_us, last[i]);
  }
  return d;
}

// Seen deliveries by node, for the wait: cheap enough to poll every second.
bool AllDelivered(Network& net, const std::vector<SentEnvelope>& sent,
                  const std::vector<int>& nodes) {
  Delivery d = MeasureDelivery(net, sent, nodes);
  return d.deliveries_seen >= d.deliveries_expected;
}

// ---------------------------------------------------------------------------
// The run.

double Mb(int64_t kb) { return static_cast<double>(kb) / 1024.0; }

double Ratio(double a, double b) { return b > 0 ? a / b : NAN; }

// Everything fixed once the network is up.
struct Setup {
  Params p;
  std::vector<std::string> agencies;
  std::vector<std::pair<int, int>> edges;  // {a, b}, a < b; b dials a
  std::vector<std::vector<int>> neighbours;
  std::vector<std::vector<int>> audiences;  // by origin
  std::vector<int> all;
  std::set<std::string> listen_ports;
  std::string data_dir;
  // No stored or received envelope for this long means quiet: longer than
  // an anti-entropy period, so that a pending pull shows.
  absl::Duration quiet_window;
};

// CPU, disk and machine use over a window.
struct Usage {
  double seconds = 0;
  double machine_busy_s = 0;
  std::vector<double> node_cpu_s;  // by node index
  double nodes_cpu_s = 0;
  double driver_cpu_s = 0;
  bool disk_ok = false;
  uint64_t disk_writes = 0;
  uint64_t disk_flushes = 0;
  uint64_t disk_busy_ms = 0;

  JsonObject ToJson() const {
    JsonObject out;
    out.Double("seconds", seconds, kDigits)
        .Double("machine_busy_cores", Ratio(machine_busy_s, seconds), kDigits)
        .Double("nodes_busy_cores", Ratio(nodes_cpu_s, seconds), kDigits)
        .Double("driver_busy_cores", Ratio(driver_cpu_s, seconds), kDigits)
        .Double("other_busy_cores",
                Ratio(machine_busy_s - nodes_cpu_s - driver_cpu_s, seconds),
                kDigits)
        .Double(
            "disk_writes_per_s",
            disk_ok ? Ratio(static_cast<double>(disk_writes), seconds) : NAN,
            kDigits)
        .Double(
            "disk_flushes_per_s",
            disk_ok ? Ratio(static_cast<double>(disk_flushes), seconds) : NAN,
            kDigits)
        .Double("disk_busy_fraction",
                disk_ok
                    ? Ratio(static_cast<double>(disk_busy_ms) / 1000.0, seconds)
                    : NAN,
                kDigits);
    return out;
  }
};

// Samples at construction; Read() gives the use since then.
class UsageMeter {
 public:
  UsageMeter(Network& net, const Setup& setup, const std::vector<int>& nodes)
      : net_(net),
        nodes_(nodes),
        disk_path_(setup.data_dir),
        start_us_(NowUs()),
        machine_(SampleMachineCpu()),
        procs_(net.ProcAll(nodes)),
        self_(SelfCpuSeconds()),
        disk_(SampleDisk(disk_path_)) {}

  Usage Read() {
    Usage u;
    u.seconds = Seconds(NowUs() - start_us_);
    const MachineCpu machine = SampleMachineCpu();
    u.machine_busy_s = static_cast<double>(machine.busy - machine_.busy) /
                       static_cast<double>(::sysconf(_SC_CLK_TCK));
    const std::vector<ProcSample> procs = net_.ProcAll(nodes_);
    u.node_cpu_s.assign(procs.size(), 0);
    for (int i : nodes_) {
      const size_t k = static_cast<size_t>(i);
      u.node_cpu_s[k] = procs[k].cpu_s - procs_[k].cpu_s;
      u.nodes_cpu_s += u.node_cpu_s[k];
    }
    u.driver_cpu_s = SelfCpuSeconds() - self_;
    const DiskSample disk = SampleDisk(disk_path_);
    u.disk_ok = disk_.ok && disk.ok;
    u.disk_writes = disk.writes - disk_.writes;
    u.disk_flushes = disk.flushes - disk_.flushes;
    u.disk_busy_ms = disk.busy_ms - disk_.busy_ms;
    return u;
  }

 private:
  Network& net_;
  const std::vector<int> nodes_;
  const std::string disk_path_;
  const int64_t start_us_;
  const MachineCpu machine_;
  const std::vector<ProcSample> procs_;
  const double self_;
  const DiskSample disk_;
};

// ---- Phase 1: traffic.

struct TrafficResult {
  SendOutcome outcome;
  int sent_ok = 0;
  std::vector<double> send_rpc_ms;
  Delivery delivery;
  bool settled = false;
  std::map<std::string, uint64_t> counters;  // summed over nodes
  TcpTotals tcp;
  Usage during_sends;
  Usage until_settled;
  double throughput = 0;  // envelopes delivered to all per second

  double Counter(absl::string_view name) const {
    auto it = counters.find(std::string(name));
    return static_cast<double>(it == counters.end() ? 0 : it->second);
  }
  double deliveries() const {
    return static_cast<double>(delivery.deliveries_expected);
  }
};

absl::StatusOr<TrafficResult> RunTraffic(Network& net, const Setup& setup) {
  const Params& p = setup.p;
  TrafficResult r;
  const std::vector<NodeSnapshot> before = net.SnapshotAll(setup.all);
  const TcpSample tcp_before = SampleTcp(setup.listen_ports);
  UsageMeter meter(net, setup, setup.all);

  SendPlan plan;
  plan.origins = setup.all;
  plan.count = p.envelopes;
  plan.rate = p.rate;
  plan.senders = p.senders;
  plan.body_bytes = p.body_bytes;
  plan.title_prefix = "bench ";
  std::printf(
      "traffic: %d envelopes at %s from %d sender threads...\n", p.envelopes,
      p.rate == 0 ? "max rate" : absl::StrCat(p.rate, "/s").c_str(), p.senders);
  std::fflush(stdout);
  r.outcome = SendAll(net, plan, setup.audiences,
                      DrawPrecedences(p.envelopes, p.mix, p.seed));
  r.during_sends = meter.Read();
  if (r.outcome.errors > 0) {
    std::fprintf(stderr, "%d sends failed; first: %s\n", r.outcome.errors,
                 r.outcome.first_error.c_str());
  }
  for (const SentEnvelope& s : r.outcome.sent) {
    if (!s.ok) continue;
    ++r.sent_ok;
    r.send_rpc_ms.push_back(static_cast<double>(s.done_us - s.send_us) /
                            1000.0);
  }

  // Quiet first (cheap Stats polls), then the Inbox check; anti-entropy may
  // still be repairing what a dropped push missed.
  const absl::Time deadline = absl::Now() + p.settle_timeout;
  r.settled = net.WaitQuiet(setup.all, setup.quiet_window, p.settle_timeout);
  while (true) {
    TIDINGS_RETURN_IF_ERROR(net.CheckRunning(setup.all));
    if (AllDelivered(net, r.outcome.sent, setup.all)) break;
    r.settled = false;
    if (absl::Now() >= deadline) break;
    absl::SleepFor(absl::Seconds(1));
  }
  r.until_settled = meter.Read();
  const std::vector<NodeSnapshot> after = net.SnapshotAll(setup.all);
  r.tcp = TcpDelta(tcp_before, SampleTcp(setup.listen_ports));
  r.counters = CounterDeltas(before, after, setup.all);
  r.delivery = MeasureDelivery(net, r.outcome.sent, setup.all,
                               Distances(setup.neighbours));
  const double window_s =
      Seconds(r.delivery.last_stored_us - r.outcome.start_us);
  r.throughput = r.delivery.complete > 0 && window_s > 0
                     ? static_cast<double>(r.delivery.complete) / window_s
                     : 0;
  return r;
}

// ---- Phase 2: idle.

struct IdleResult {
  bool ran = false;
  double warmup_bytes_per_link_per_min = NAN;  // protocol bytes
  double protocol_bytes_per_link_per_min = NAN;
  double tcp_payload_per_link_per_min = NAN;
  double ip_bytes_per_link_per_min = NAN;
  std::map<std::string, uint64_t> counters;
};

IdleResult RunIdle(Network& net, const Setup& setup) {
  IdleResult r;
  if (setup.p.idle_seconds == 0) return r;
  std::printf("idle: %d s after %d s of warm-up...\n", setup.p.idle_seconds,
              setup.p.idle_warmup_seconds);
  std::fflush(stdout);
  r.ran = true;
  const double links = static_cast<double>(setup.edges.size());
  // No Stats calls inside the windows: only the links talk.
  if (setup.p.idle_warmup_seconds > 0) {
    const std::vector<NodeSnapshot> start = net.SnapshotAll(setup.all);
    absl::SleepFor(absl::Seconds(setup.p.idle_warmup_seconds));
    const std::vector<NodeSnapshot> end = net.SnapshotAll(setup.all);
    r.warmup_bytes_per_link_per_min =
        static_cast<double>(
            CounterDeltas(start, end, setup.all)["wire_bytes_out"]) /
        (links * setup.p.idle_warmup_seconds / 60.0);
  }
  const std::vector<NodeSnapshot> before = net.SnapshotAll(setup.all);
  const TcpSample tcp_before = SampleTcp(setup.listen_ports);
  absl::SleepFor(absl::Seconds(setup.p.idle_seconds));
  const TcpTotals tcp = TcpDelta(tcp_before, SampleTcp(setup.listen_ports));
  const std::vector<NodeSnapshot> after = net.SnapshotAll(setup.all);
  r.counters = CounterDeltas(before, after, setup.all);
  const double per = links * setup.p.idle_seconds / 60.0;
  r.protocol_bytes_per_link_per_min =
      static_cast<double>(r.counters["wire_bytes_out"]) / per;
  if (tcp.ok) {
    r.tcp_payload_per_link_per_min = static_cast<double>(tcp.payload) / per;
    r.ip_bytes_per_link_per_min =
        static_cast<double>(tcp.payload + tcp.segments * kIpTcpHeaderBytes) /
        per;
  }
  return r;
}

// ---- Phase 3: catch-up.

struct CatchupResult {
  bool ran = false;
  double per_s = NAN;
  JsonObject json;
};

// The backlog sent while the rejoiner is down: from every live node to all,
// or from each of its neighbours to the pair of it and the rejoiner.
struct BacklogPlan {
  SendPlan plan;
  std::vector<std::vector<int>> audiences;  // by node
};

BacklogPlan PlanBacklog(const Setup& setup, int rejoiner,
                        const std::vector<int>& live) {
  const Params& p = setup.p;
  BacklogPlan b;
  b.plan.count = p.backlog;
  b.plan.senders = p.senders;
  b.plan.body_bytes = p.body_bytes;
  b.plan.title_prefix = "backlog ";
  b.audiences.resize(static_cast<size_t>(p.nodes));
  if (p.backlog_to_all) {
    b.plan.origins = live;
    for (int i : live) b.audiences[static_cast<size_t>(i)] = setup.all;
  } else {
    b.plan.origins = setup.neighbours[static_cast<size_t>(rejoiner)];
    for (int i : b.plan.origins) {
      b.audiences[static_cast<size_t>(i)] = {i, rejoiner};
    }
  }
  return b;
}

// What the restarted node lacks, receipts of the peers included: `at_stop`
// was taken when it stopped, `held` once the live nodes settled.
uint64_t MissingAtRejoiner(const Params& p, int rejoiner,
                           const std::vector<int>& live,
                           const std::vector<NodeSnapshot>& at_stop,
                           const std::vector<NodeSnapshot>& held) {
  uint64_t missing = 0;
  uint64_t peers_max = 0;
  for (int i : live) {
    const uint64_t now = held[static_cast<size_t>(i)].envelopes_stored;
    peers_max = std::max(peers_max, now);
    // Pairs: each peer's new envelopes are its backlog feed to the node.
    if (!p.backlog_to_all) {
      missing += now - at_stop[static_cast<size_t>(i)].envelopes_stored;
    }
  }
  if (p.backlog_to_all) {
    // All: every peer holds what the node held plus everything new.
    const uint64_t had =
        at_stop[static_cast<size_t>(rejoiner)].envelopes_stored;
    missing = peers_max > had ? peers_max - had : 0;
  }
  return missing;
}

struct BacklogSent {
  SendOutcome generated;
  Usage usage;
  double seconds = 0;
  bool peers_settled = false;
  double settled_s = 0;
  uint64_t missing = 0;
};

// Stops the rejoiner, sends the backlog from the live nodes and waits for
// them to settle.
absl::StatusOr<BacklogSent> SendBacklog(Network& net, const Setup& setup,
                                        int rejoiner,
                                        const std::vector<int>& live) {
  const Params& p = setup.p;
  const std::string& name = setup.agencies[static_cast<size_t>(rejoiner)];
  const std::vector<NodeSnapshot> at_stop = net.SnapshotAll(setup.all);
  std::printf("catch-up: stopping %s, sending a backlog of %d (%s)...\n",
              name.c_str(), p.backlog,
              p.backlog_to_all ? "audience all" : "pairs");
  std::fflush(stdout);
  TIDINGS_RETURN_IF_ERROR(net.cluster().Stop(name));

  const BacklogPlan backlog = PlanBacklog(setup, rejoiner, live);
  BacklogSent r;
  UsageMeter meter(net, setup, live);
  r.generated = SendAll(net, backlog.plan, backlog.audiences,
                        {proto::PRECEDENCE_ROUTINE});
  r.usage = meter.Read();
  r.seconds = Seconds(r.generated.end_us - r.generated.start_us);
  r.peers_settled = net.WaitQuiet(live, setup.quiet_window, p.settle_timeout);
  TIDINGS_RETURN_IF_ERROR(net.CheckRunning(live));
  r.settled_s = Seconds(NowUs() - r.generated.start_us);
  r.missing =
      MissingAtRejoiner(p, rejoiner, live, at_stop, net.SnapshotAll(live));
  return r;
}

struct Rejoin {
  int64_t spawn_us = 0;
  int64_t ready_us = 0;
  int64_t first_us = 0;  // 0: no envelope arrived
  int64_t done_us = 0;
  bool caught_up = false;
  Usage usage;
};

// Restarts the rejoiner and polls until it has accepted `missing`
// envelopes or the settle timeout passes.
absl::StatusOr<Rejoin> RestartAndFetch(Network& net, const Setup& setup,
                                       int rejoiner, uint64_t missing) {
  const std::string& name = setup.agencies[static_cast<size_t>(rejoiner)];
  Rejoin r;
  r.spawn_us = NowUs();
  TIDINGS_RETURN_IF_ERROR(net.cluster().Start(name));
  r.ready_us = NowUs();
  net.ResolvePid(rejoiner);
  UsageMeter meter(net, setup, setup.all);
  const absl::Time deadline = absl::Now() + setup.p.settle_timeout;
  while (absl::Now() < deadline) {
    const NodeSnapshot s = net.Snapshot(rejoiner);
    const uint64_t accepted = CounterOf(s, "accepted");
    if (accepted > 0 && r.first_us == 0) r.first_us = NowUs();
    if (accepted >= missing) {
      r.done_us = NowUs();
      break;
    }
    TIDINGS_RETURN_IF_ERROR(net.CheckRunning({rejoiner}));
    absl::SleepFor(absl::Milliseconds(50));
  }
  r.caught_up = r.done_us != 0;
  if (!r.caught_up) r.done_us = NowUs();
  r.usage = meter.Read();
  return r;
}

absl::StatusOr<CatchupResult> RunCatchup(Network& net, const Setup& setup) {
  const Params& p = setup.p;
  CatchupResult r;
  if (p.backlog == 0) return r;
  r.ran = true;
  // The last node dials all of its links (see Run), so they come back as
  // soon as it does.
  const int rejoiner = p.nodes - 1;
  const std::string& name = setup.agencies[static_cast<size_t>(rejoiner)];
  const std::vector<int> live(setup.all.begin(), setup.all.end() - 1);
  TIDINGS_ASSIGN_OR_RETURN(const BacklogSent sent,
                           SendBacklog(net, setup, rejoiner, live));
  std::printf(
      "catch-up: %d sent in %.1f s (%.0f/s, %d errors); restarting %s to "
      "fetch %llu envelopes (receipts included)...\n",
      p.backlog, sent.seconds, p.backlog / sent.seconds, sent.generated.errors,
      name.c_str(), static_cast<unsigned long long>(sent.missing));
  std::fflush(stdout);

  TIDINGS_ASSIGN_OR_RETURN(const Rejoin rejoin,
                           RestartAndFetch(net, setup, rejoiner, sent.missing));
  const double fetch_s = Seconds(rejoin.done_us - rejoin.ready_us);
  r.per_s = static_cast<double>(p.backlog) / fetch_s;
  // Its own catch-up receipts still travel; wait for them before reading.
  net.WaitQuiet(setup.all, setup.quiet_window, p.settle_timeout);
  TIDINGS_RETURN_IF_ERROR(net.CheckRunning(setup.all));
  const NodeSnapshot rejoined = net.Snapshot(rejoiner);
  r.json.Int("backlog", p.backlog)
      .String("backlog_audience", p.backlog_to_all ? "all" : "pairs")
      .String("rejoining_node", name)
      .Int("generation_errors", sent.generated.errors)
      .Double("generation_s", sent.seconds, kDigits)
      .Double("generation_per_s", p.backlog / sent.seconds, kDigits)
      .Object("generation_usage", sent.usage.ToJson())
      .Double("generation_settled_s", sent.settled_s, kDigits)
      .Bool("peers_settled", sent.peers_settled)
      .Int("envelopes_missing_incl_receipts",
           static_cast<int64_t>(sent.missing))
      .Bool("caught_up", rejoin.caught_up)
      .Double("restart_to_ready_s", Seconds(rejoin.ready_us - rejoin.spawn_us),
              kDigits)
      .Double("ready_to_first_envelope_s",
              rejoin.first_us == 0 ? NAN
                                   : Seconds(rejoin.first_us - rejoin.ready_us),
              kDigits)
      .Double("ready_to_caught_up_s", fetch_s, kDigits)
      .Double("catchup_per_s", r.per_s, kDigits)
      .Double("catchup_incl_receipts_per_s",
              static_cast<double>(sent.missing) / fetch_s, kDigits)
      .Object("fetch_usage", rejoin.usage.ToJson())
      .Object("rejoiner_counters", CountersJson(rejoined.counters))
      .Int("rejoiner_envelopes_stored",
           static_cast<int64_t>(rejoined.envelopes_stored))
      .Double("rejoiner_rss_mb", Mb(rejoined.proc.rss_kb), kDigits)
      .Double("rejoiner_peak_rss_mb", Mb(rejoined.proc.hwm_kb), kDigits);
  return r;
}

// ---- Result.

struct Memory {
  double peak_rss_mb_max = 0;
  std::vector<double> peak_rss_mb;  // by node
  double rss_mb_at_end_max = 0;
  uint64_t stored_min = 0;
  uint64_t stored_max = 0;
};

// `peaks`: samples taken before the restart that resets a node's VmHWM.
Memory MeasureMemory(Network& net, const Setup& setup,
                     const std::vector<ProcSample>& peaks) {
  Memory m;
  const std::vector<NodeSnapshot> end = net.SnapshotAll(setup.all);
  m.stored_min = UINT64_MAX;
  for (int i : setup.all) {
    const size_t k = static_cast<size_t>(i);
    const double peak = Mb(std::max(peaks[k].hwm_kb, end[k].proc.hwm_kb));
    m.peak_rss_mb.push_back(peak);
    m.peak_rss_mb_max = std::max(m.peak_rss_mb_max, peak);
    m.rss_mb_at_end_max = std::max(m.rss_mb_at_end_max, Mb(end[k].proc.rss_kb));
    m.stored_min = std::min(m.stored_min, end[k].envelopes_stored);
    m.stored_max = std::max(m.stored_max, end[k].envelopes_stored);
  }
  return m;
}

struct Source {
  std::string commit;  // full hash, or what --commit said
  bool dirty = false;  // tracked files differ from it
  // "<short commit>[-dirty]", as bench/results names files.
  std::string name() const {
    return absl::StrCat(commit.substr(0, 7), dirty ? "-dirty" : "");
  }
};

Source DescribeSource() {
  Source source;
  source.commit = absl::GetFlag(FLAGS_commit);
  if (!source.commit.empty()) return source;
  const std::string git = absl::StrCat("git -C ", TIDINGS_SOURCE_DIR);
  source.commit = RunCommand(git + " rev-parse HEAD 2>/dev/null");
  if (source.commit.empty()) source.commit = "unknown";
  source.dirty =
      RunCommand(git + " diff --quiet HEAD -- 2>/dev/null || echo dirty") ==
      "dirty";
  return source;
}

// --out as given if it ends in .json; else
// <dir>/network_bench-<label>-<commit>.json, <dir> created if missing.
std::string OutputPath(const Params& p, const Source& source) {
  std::string out = absl::GetFlag(FLAGS_out);
  if (out.empty()) out = absl::StrCat(TIDINGS_SOURCE_DIR, "/bench/results");
  if (absl::EndsWith(out, ".json")) return out;
  ::mkdir(out.c_str(), 0755);
  return absl::StrCat(out, "/network_bench-", p.label, "-", source.name(),
                      ".json");
}

// The run's parameters, appended to `out` in the result file's order.
void AddParameterFields(const Setup& setup, JsonObject& out) {
  const Params& p = setup.p;
  std::vector<std::string> links;
  for (const auto& [a, b] : setup.edges)
    links.push_back(absl::StrCat(a, "-", b));
  out.Int("nodes", p.nodes)
      .Int("links_per_node", p.links_per_node)
      .Int("links", static_cast<int64_t>(setup.edges.size()))
      .Int("diameter", Diameter(setup.neighbours))
      .Raw("topology", base::JsonStringArray(links))
      .Int("audience_size", p.audience)
      .Int("body_bytes", p.body_bytes)
      .Int("envelopes", p.envelopes)
      .Double("rate", p.rate, kDigits)
      .Int("senders", p.senders)
      .String("precedence_mix", p.precedence_mix)
      .Int("backlog", p.backlog)
      .String("backlog_audience", p.backlog_to_all ? "all" : "pairs")
      .Int("idle_seconds", p.idle_seconds)
      .Int("idle_warmup_seconds", p.idle_warmup_seconds)
      .Int("anti_entropy_ms", absl::ToInt64Milliseconds(p.anti_entropy))
      .Int("seed", static_cast<int64_t>(p.seed));
}

// The traffic phase's sends, deliveries and latencies, appended to `out`.
void AddDeliveryFields(const TrafficResult& t, double startup_s,
                       JsonObject& out) {
  JsonObject by_hops;
  for (const auto& [hops, values] : t.delivery.per_delivery_ms_by_hops) {
    by_hops.Object(absl::StrCat(hops), Distribution(values).ToJson(false));
  }
  JsonObject by_precedence;
  for (const auto& [precedence, values] :
       t.delivery.time_to_all_by_precedence) {
    by_precedence.Object(node::PrecedenceName(precedence),
                         Distribution(values).ToJson(false));
  }
  out.Double("startup_s", startup_s, kDigits)
      .Int("sent_ok", t.sent_ok)
      .Int("send_errors", t.outcome.errors)
      .Double("offered_per_s",
              Ratio(t.sent_ok, Seconds(t.outcome.end_us - t.outcome.start_us)),
              kDigits)
      .Object("send_rpc_ms", Distribution(t.send_rpc_ms).ToJson(false))
      .Bool("settled", t.settled)
      .Int("deliveries_expected", t.delivery.deliveries_expected)
      .Int("deliveries_seen", t.delivery.deliveries_seen)
      .Int("envelopes_delivered_to_all", t.delivery.complete)
      .Double("throughput_delivered_to_all_per_s", t.throughput, kDigits)
      .Object("latency_per_delivery_ms",
              Distribution(t.delivery.per_delivery_ms).ToJson(true))
      .Double("delivery_ratio",
              Ratio(static_cast<double>(t.delivery.deliveries_seen),
                    static_cast<double>(t.delivery.deliveries_expected)),
              kDigits)
      .Object("latency_time_to_all_ms",
              Distribution(t.delivery.time_to_all_ms).ToJson(true))
      // The same, under the key every result file of the matrix shares.
      .Object("time_to_all_ms",
              Distribution(t.delivery.time_to_all_ms).ToJson(false))
      .Object("latency_time_to_all_ms_by_precedence", by_precedence)
      .Object("latency_per_delivery_ms_by_hops", by_hops);
}

// What the traffic phase's deliveries cost (duplicates, receipts, bytes,
// CPU) and its counters, appended to `out`.
void AddTrafficCostFields(const TrafficResult& t, JsonObject& out) {
  const double deliveries = t.deliveries();
  const double receipt_deliveries =
      t.Counter("accepted") - static_cast<double>(t.delivery.deliveries_seen);
  const Usage& u = t.until_settled;
  out.Double("duplicates_per_node_per_envelope",
             Ratio(t.Counter("duplicates"), deliveries), kDigits)
      .Double("duplicates_per_stored_envelope",
              Ratio(t.Counter("duplicates"), t.Counter("accepted")), kDigits)
      .Double("received_per_delivery", Ratio(t.Counter("received"), deliveries),
              kDigits)
      .Double("duplicates_per_delivery",
              Ratio(t.Counter("duplicates"), deliveries), kDigits)
      // Delivered state is holdings records now, not receipt envelopes.
      .Double("holdings_signed_per_envelope",
              Ratio(t.Counter("holdings.signed"), t.sent_ok), kDigits)
      .Double("receipt_bytes_per_delivery",
              Ratio(t.Counter("holdings.sent_bytes"), deliveries), kDigits)
      .Double("receipt_share_of_stored",
              Ratio(receipt_deliveries, t.Counter("accepted")), kDigits)
      .Double("wire_bytes_per_delivery",
              Ratio(t.Counter("wire_bytes_out"), deliveries), kDigits)
      .Double("tcp_payload_bytes_per_delivery",
              t.tcp.ok ? Ratio(static_cast<double>(t.tcp.payload), deliveries)
                       : NAN,
              kDigits)
      .Double(
          "ip_bytes_per_delivery",
          t.tcp.ok
              ? Ratio(static_cast<double>(t.tcp.payload +
                                          t.tcp.segments * kIpTcpHeaderBytes),
                      deliveries)
              : NAN,
          kDigits)
      .Double("cpu_s_per_delivery", Ratio(u.nodes_cpu_s, deliveries), kDigits)
      .Double("cpu_s_nodes_total", u.nodes_cpu_s, kDigits)
      .Raw("cpu_s_per_node", JsonNumbers(u.node_cpu_s))
      .Double("cpu_s_driver", u.driver_cpu_s, kDigits)
      .Object("usage_during_sends", t.during_sends.ToJson())
      .Object("usage_until_delivered", u.ToJson())
      .Object("counters_traffic", CountersJson(t.counters));
}

void AddMemoryFields(const Memory& memory, JsonObject& out) {
  out.Double("peak_rss_mb_max", memory.peak_rss_mb_max, kDigits)
      .Raw("peak_rss_mb_per_node", JsonNumbers(memory.peak_rss_mb))
      .Double("rss_mb_at_end_max", memory.rss_mb_at_end_max, kDigits)
      .Int("envelopes_stored_at_end_min",
           static_cast<int64_t>(memory.stored_min))
      .Int("envelopes_stored_at_end_max",
           static_cast<int64_t>(memory.stored_max));
}

void AddIdleFields(const IdleResult& idle, JsonObject& out) {
  out.Double("idle_bytes_per_link_per_min",
             idle.protocol_bytes_per_link_per_min, kDigits)
      .Double("idle_tcp_payload_bytes_per_link_per_min",
              idle.tcp_payload_per_link_per_min, kDigits)
      .Double("idle_ip_bytes_per_link_per_min", idle.ip_bytes_per_link_per_min,
              kDigits)
      .Double("idle_warmup_bytes_per_link_per_min",
              idle.warmup_bytes_per_link_per_min, kDigits)
      .Object("counters_idle", CountersJson(idle.counters));
}

// The result file: provenance, then parameters, traffic, memory, catch-up
// and idle; `run_s` last. Later runs are compared key by key, so the keys
// and their order stay as they are.
JsonObject ResultJson(const Setup& setup, const Source& source,
                      JsonObject machine, absl::Time started, double startup_s,
                      const TrafficResult& t, const IdleResult& idle,
                      const CatchupResult& catchup, const Memory& memory) {
  machine.String("loadavg_at_end", LoadAverage());
  JsonObject out;
  out.String("bench", "network_bench")
      .String("label", setup.p.label)
      .String("timestamp",
              absl::FormatTime(absl::RFC3339_sec, started, absl::UTCTimeZone()))
      .String("commit", source.commit)
      .Bool("commit_dirty", source.dirty)
      .String("note", absl::GetFlag(FLAGS_note))
      .Object("machine", machine);
  AddParameterFields(setup, out);
  AddDeliveryFields(t, startup_s, out);
  AddTrafficCostFields(t, out);
  AddMemoryFields(memory, out);
  out.Double("catchup_per_s", catchup.per_s, kDigits)
      .Object("catchup", catchup.json);
  AddIdleFields(idle, out);
  out.Double("run_s", absl::ToDoubleSeconds(absl::Now() - started), kDigits);
  return out;
}

std::string Fmt(double v, int decimals = 1) {
  if (!std::isfinite(v)) return "-";
  return absl::StrFormat("%.*f", decimals, v);
}

// One summary line: the name in a column of 18, then the text.
void PrintLine(absl::string_view name, const std::string& text) {
  std::printf("%-18s %s\n", std::string(name).c_str(), text.c_str());
}

std::string DistributionText(const Distribution& d) {
  return absl::StrFormat("p50 %7s  p90 %7s  p99 %7s  max %7s ms", Fmt(d.p(50)),
                         Fmt(d.p(90)), Fmt(d.p(99)),
                         Fmt(d.sorted.empty() ? NAN : d.sorted.back()));
}

void PrintHeader(const Setup& setup, const Source& source) {
  const Params& p = setup.p;
  std::printf("\n== network_bench %s (commit %.12s%s)\n", p.label.c_str(),
              source.commit.c_str(), source.dirty ? ", dirty tree" : "");
  std::printf(
      "%d nodes, %d links per node (%zu links, diameter %d), audience %d, "
      "%d-byte bodies, %d envelopes at %s, %d senders, mix %s\n",
      p.nodes, p.links_per_node, setup.edges.size(), Diameter(setup.neighbours),
      p.audience, p.body_bytes, p.envelopes,
      p.rate == 0 ? "max rate" : absl::StrCat(p.rate, "/s").c_str(), p.senders,
      p.precedence_mix.c_str());
}

// Offered and delivered rates and the latencies.
void PrintDelivery(const TrafficResult& t) {
  const Distribution rpc(t.send_rpc_ms);
  PrintLine(
      "offered",
      absl::StrFormat(
          "%s envelopes/s (%d send errors; Send RPC p50 %s ms, p99 %s ms)",
          Fmt(Ratio(t.sent_ok, Seconds(t.outcome.end_us - t.outcome.start_us)),
              0),
          t.outcome.errors, Fmt(rpc.p(50)), Fmt(rpc.p(99))));
  PrintLine(
      "delivered to all",
      absl::StrFormat("%s envelopes/s (%d of %d to their whole audience%s)",
                      Fmt(t.throughput, 0), t.delivery.complete, t.sent_ok,
                      t.settled ? "" : "; NOT settled"));
  PrintLine("latency/delivery",
            DistributionText(Distribution(t.delivery.per_delivery_ms)));
  std::vector<std::string> hops;
  for (const auto& [n, values] : t.delivery.per_delivery_ms_by_hops) {
    const Distribution d(values);
    hops.push_back(absl::StrFormat("%d: %s/%s", n, Fmt(d.p(50)), Fmt(d.p(99))));
  }
  PrintLine("  by hops",
            absl::StrCat("p50/p99 ms  ", absl::StrJoin(hops, "  ")));
  PrintLine("time to all",
            DistributionText(Distribution(t.delivery.time_to_all_ms)));
}

// Duplicates and receipts, bytes and CPU per delivery.
void PrintTrafficCost(const TrafficResult& t) {
  const double deliveries = t.deliveries();
  const Usage& u = t.until_settled;
  PrintLine(
      "duplicates",
      absl::StrFormat(
          "%s per node per envelope (%s per stored envelope; "
          "%s holdings records signed per envelope, %s receipt bytes "
          "per delivery, %s%% of stored envelopes are receipts)",
          Fmt(Ratio(t.Counter("duplicates"), deliveries), 2),
          Fmt(Ratio(t.Counter("duplicates"), t.Counter("accepted")), 2),
          Fmt(Ratio(t.Counter("holdings.signed"), t.sent_ok)),
          Fmt(Ratio(t.Counter("holdings.sent_bytes"), deliveries), 0),
          Fmt(100 * Ratio(t.Counter("accepted") -
                              static_cast<double>(t.delivery.deliveries_seen),
                          t.Counter("accepted")),
              0)));
  PrintLine(
      "wire",
      absl::StrFormat(
          "%s bytes per delivery (peer messages; TCP payload %s, with "
          "IP/TCP headers %s)",
          Fmt(Ratio(t.Counter("wire_bytes_out"), deliveries), 0),
          Fmt(t.tcp.ok ? Ratio(static_cast<double>(t.tcp.payload), deliveries)
                       : NAN,
              0),
          Fmt(t.tcp.ok ? Ratio(static_cast<double>(t.tcp.payload +
                                                   t.tcp.segments *
                                                       kIpTcpHeaderBytes),
                               deliveries)
                       : NAN,
              0)));
  PrintLine(
      "CPU",
      absl::StrFormat(
          "%s us per delivery (nodes %s s in all, busiest node %s s, "
          "driver %s s)",
          Fmt(Ratio(u.nodes_cpu_s, deliveries) * 1e6), Fmt(u.nodes_cpu_s),
          Fmt(u.node_cpu_s.empty() ? NAN
                                   : *std::max_element(u.node_cpu_s.begin(),
                                                       u.node_cpu_s.end())),
          Fmt(u.driver_cpu_s)));
}

// The machine's load while the traffic was being sent.
void PrintLoadWhileSending(const Usage& s) {
  PrintLine(
      "while sending",
      absl::StrFormat(
          "%s cores busy: nodes %s, driver %s, others %s; disk "
          "%s flushes/s, %s%% busy",
          Fmt(Ratio(s.machine_busy_s, s.seconds), 2),
          Fmt(Ratio(s.nodes_cpu_s, s.seconds), 2),
          Fmt(Ratio(s.driver_cpu_s, s.seconds), 2),
          Fmt(Ratio(s.machine_busy_s - s.nodes_cpu_s - s.driver_cpu_s,
                    s.seconds),
              2),
          Fmt(s.disk_ok ? Ratio(static_cast<double>(s.disk_flushes), s.seconds)
                        : NAN,
              0),
          Fmt(s.disk_ok
                  ? 100 * Ratio(static_cast<double>(s.disk_busy_ms) / 1000.0,
                                s.seconds)
                  : NAN,
              0)));
}

void PrintSummary(const Setup& setup, const Source& source,
                  const TrafficResult& t, const IdleResult& idle,
                  const CatchupResult& catchup, const Memory& memory,
                  const std::string& path) {
  PrintHeader(setup, source);
  PrintDelivery(t);
  PrintTrafficCost(t);
  PrintLoadWhileSending(t.during_sends);
  PrintLine("peak RSS",
            absl::StrFormat(
                "%s MB max per node (%s MB at end; %llu..%llu "
                "envelopes stored per node)",
                Fmt(memory.peak_rss_mb_max), Fmt(memory.rss_mb_at_end_max),
                static_cast<unsigned long long>(memory.stored_min),
                static_cast<unsigned long long>(memory.stored_max)));
  if (catchup.ran) {
    PrintLine("catch-up",
              absl::StrFormat("%s envelopes/s (backlog %d)",
                              Fmt(catchup.per_s, 0), setup.p.backlog));
  }
  if (idle.ran) {
    PrintLine("idle", absl::StrFormat(
                          "%s bytes per link per minute (peer messages; TCP "
                          "payload %s, with IP/TCP headers %s; %s during the "
                          "warm-up)",
                          Fmt(idle.protocol_bytes_per_link_per_min, 0),
                          Fmt(idle.tcp_payload_per_link_per_min, 0),
                          Fmt(idle.ip_bytes_per_link_per_min, 0),
                          Fmt(idle.warmup_bytes_per_link_per_min, 0)));
  }
  PrintLine("result", path);
}

absl::Status Run() {
  TIDINGS_ASSIGN_OR_RETURN(Params params, ParamsFromFlags());
  const absl::Time started = absl::Now();
  Setup setup;
  setup.p = params;
  const Params& p = setup.p;
  const int n = p.nodes;

  setup.edges = BuildTopology(n, p.links_per_node, p.seed);
  setup.neighbours = Neighbours(n, setup.edges);
  for (int i = 0; i < n; ++i) {
    setup.agencies.push_back(AgencyName(i));
    setup.all.push_back(i);
    setup.audiences.push_back(AudienceOf(i, p.audience, setup.neighbours));
  }
  setup.quiet_window = std::max(absl::Seconds(1), p.anti_entropy * 3 / 2);

  ClusterOptions options;
  options.principals = setup.agencies;
  // The higher-numbered end dials: the last node, which the catch-up phase
  // restarts, dials all of its links.
  for (const auto& [a, b] : setup.edges) {
    options.links.emplace_back(setup.agencies[static_cast<size_t>(b)],
                               setup.agencies[static_cast<size_t>(a)]);
  }
  options.anti_entropy_interval = p.anti_entropy;
  options.log_level = "warn";
  options.ready_timeout = absl::Seconds(60);
  TIDINGS_ASSIGN_OR_RETURN(std::unique_ptr<Cluster> cluster,
                           Cluster::Create(options));
  setup.data_dir = cluster->dir();
  for (const std::string& agency : setup.agencies) {
    const std::string address = cluster->listen_address(agency);
    setup.listen_ports.insert(address.substr(address.rfind(':') + 1));
  }
  Network net(std::move(cluster), setup.agencies);
  JsonObject machine = MachineInfo(setup.data_dir);
  const Source source = DescribeSource();

  std::printf("network_bench %s: starting %d nodes, %zu links...\n",
              p.label.c_str(), n, setup.edges.size());
  std::fflush(stdout);
  const absl::Time start_begin = absl::Now();
  TIDINGS_RETURN_IF_ERROR(net.cluster().StartAll());
  if (::testing::AssertionResult up =
          net.cluster().WaitAllLinksUp(absl::Seconds(60));
      !up) {
    return absl::DeadlineExceededError(up.message());
  }
  const double startup_s = absl::ToDoubleSeconds(absl::Now() - start_begin);
  net.ResolvePids();
  // The link-up anti-entropy exchanges are not part of the traffic.
  net.WaitQuiet(setup.all, absl::Milliseconds(500), absl::Seconds(10));

  TIDINGS_ASSIGN_OR_RETURN(TrafficResult traffic, RunTraffic(net, setup));
  const IdleResult idle = RunIdle(net, setup);
  const std::vector<ProcSample> peaks = net.ProcAll(setup.all);
  TIDINGS_ASSIGN_OR_RETURN(CatchupResult catchup, RunCatchup(net, setup));
  const Memory memory = MeasureMemory(net, setup, peaks);

  const std::string path = OutputPath(p, source);
  const JsonObject result =
      ResultJson(setup, source, std::move(machine), started, startup_s, traffic,
                 idle, catchup, memory);
  std::ofstream out(path, std::ios::trunc);
  out << result.BuildPretty();
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  PrintSummary(setup, source, traffic, idle, catchup, memory, path);
  return absl::OkStatus();
}

}  // namespace
}  // namespace tidings::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Starts a loopback network of tidingsd processes and measures it; see "
      "bench/README.md.");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = tidings::bench::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "network_bench: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}

// tidingsd: one agency's node. Flags, signals and process limits only; see
// node/daemon.h.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "node/config/config.h"
#include "node/daemon/daemon.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace {
// Below this many descriptors a node warns at start.
constexpr rlim_t kWantedOpenFiles = 65536;
}  // namespace

ABSL_FLAG(std::string, config, "", "path of the node's config file (required)");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tidingsd --config FILE\n"
      "Runs one agency's Tidings node. See deploy/tidingsd.conf.example.");
  absl::ParseCommandLine(argc, argv);
  const std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    std::fprintf(stderr, "tidingsd: --config FILE is required\n");
    return 2;
  }
  absl::StatusOr<tidings::node::Config> config =
      tidings::node::LoadConfig(path);
  if (!config.ok()) {
    std::fprintf(stderr, "tidingsd: %s\n",
                 std::string(config.status().message()).c_str());
    return 2;
  }
  spdlog::set_default_logger(spdlog::stderr_logger_mt("tidingsd"));
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  spdlog::set_pattern(
      absl::StrCat("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [", config->principal, "] %v"));
  // Everything this process creates (RocksDB files, sockets) is private.
  ::umask(077);

  // Signals are taken synchronously by this thread; block them before any
  // other thread starts so that none of those receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // No core dump holds the node's keys; and descriptors for every peer: a
  // process starts with a soft limit of 1,024 on most systems, which
  // connections that never finish TLS used up once (and gRPC does not
  // recover from running out).
  const rlimit no_core{0, 0};
  if (::setrlimit(RLIMIT_CORE, &no_core) != 0) {
    spdlog::warn("cannot disable core dumps: {}", std::strerror(errno));
  }
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 &&
      files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) {
      spdlog::warn("cannot raise the open-files limit: {}",
                   std::strerror(errno));
    }
  }
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    spdlog::info("open files: at most {}", files.rlim_cur);
    if (files.rlim_cur < kWantedOpenFiles) {
      spdlog::warn(
          "the open-files limit is {} (hard limit); at least {} is "
          "recommended (LimitNOFILE= in the unit)",
          files.rlim_cur, kWantedOpenFiles);
    }
  }

  absl::StatusOr<std::unique_ptr<tidings::node::Daemon>> daemon =
      tidings::node::Daemon::Start(*config);
  if (!daemon.ok()) {
    std::fprintf(stderr, "tidingsd: %s\n",
                 std::string(daemon.status().message()).c_str());
    return 1;
  }
  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal {}: shutting down", received);
  (*daemon)->Shutdown();
  return 0;
}

// tidingsd: one agency's node. Flags and signals only; see node/daemon.h.
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "node/config/config.h"
#include "node/daemon/daemon.h"
#include "spdlog/sinks/stdout_sinks.h"

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

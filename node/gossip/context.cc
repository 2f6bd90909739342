#include "node/gossip/context.h"

namespace tidings::node {
namespace {

class SystemClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
};

}  // namespace

Clock& RealClock() {
  static SystemClock* clock = new SystemClock();
  return *clock;
}

void Counters::Add(absl::string_view name, uint64_t delta) {
  absl::MutexLock lock(&mu_);
  values_[name] += delta;
}

std::map<std::string, uint64_t> Counters::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return std::map<std::string, uint64_t>(values_.begin(), values_.end());
}

}  // namespace tidings::node

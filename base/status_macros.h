// TIDINGS_RETURN_IF_ERROR and TIDINGS_ASSIGN_OR_RETURN: Debian 12's Abseil
// ships neither. This is the lowest C++ layer, so every module uses them from
// here.
#ifndef TIDINGS_BASE_STATUS_MACROS_H_
#define TIDINGS_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TIDINGS_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status tidings_status_ = (expr);           \
    if (!tidings_status_.ok()) return tidings_status_; \
  } while (0)

#define TIDINGS_STATUS_CONCAT_INNER_(a, b) a##b
#define TIDINGS_STATUS_CONCAT_(a, b) TIDINGS_STATUS_CONCAT_INNER_(a, b)

// TIDINGS_ASSIGN_OR_RETURN(auto x, Foo()); declares or assigns `x`.
#define TIDINGS_ASSIGN_OR_RETURN(lhs, expr) \
  TIDINGS_ASSIGN_OR_RETURN_IMPL_(           \
      TIDINGS_STATUS_CONCAT_(tidings_statusor_, __LINE__), lhs, expr)

#define TIDINGS_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()

#endif  // TIDINGS_BASE_STATUS_MACROS_H_

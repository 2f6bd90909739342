# network_bench: real tidingsd processes on 127.0.0.1, driven through the
# client service (tests/testing/cluster.h). See bench/README.md.
#
# Included from bench/CMakeLists.txt. It needs the test harness, which exists
# only with TIDINGS_TESTS.
include_guard(GLOBAL)

if(NOT TIDINGS_TESTS)
  message(STATUS "network_bench: skipped (needs TIDINGS_TESTS for tidings_testing)")
  return()
endif()

find_package(GTest CONFIG REQUIRED)

add_executable(network_bench ${CMAKE_CURRENT_LIST_DIR}/network_bench.cc)
target_link_libraries(network_bench PRIVATE
  tidings_testing tidings_flags absl::flags absl::flags_parse absl::strings
  absl::str_format absl::time absl::synchronization absl::status
  absl::statusor)
target_compile_definitions(network_bench PRIVATE
  TIDINGS_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
# The cluster spawns tidingsd: build it with the bench.
add_dependencies(network_bench tidingsd)

# Smoke test: tiny parameters, every phase once, a JSON in the build dir. It
# never asserts timings; it fails only if the harness cannot run a phase.
add_test(NAME bench_network_smoke
  COMMAND network_bench --nodes=3 --links_per_node=2 --envelopes=20
          --backlog=50 --idle_seconds=2 --anti_entropy_ms=500
          --senders=3 --precedence_mix=flash:1,routine:3 --settle_timeout_s=60
          --out=${CMAKE_CURRENT_BINARY_DIR}/bench_network_smoke.json)
set_tests_properties(bench_network_smoke PROPERTIES
  LABELS bench
  TIMEOUT 120)

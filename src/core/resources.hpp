// What a job asks for on one node, and retry / timeout policy shared by job
// definitions and jobs. Names follow AWS Batch (vCPUs, memory in MiB, GPUs).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace drover {

struct Resources {
  int vcpus = 1;             // hardware threads (hwloc PUs), like AWS vCPUs
  std::int64_t memory_mib = 0;  // 0: no limit asked
  int gpus = 0;
  bool operator==(const Resources&) const = default;
};

// One evaluateOnExit rule: globs over exit code, reason and status reason.
struct ExitRule {
  std::string on_exit_code;      // empty: matches anything
  std::string on_reason;
  std::string on_status_reason;
  std::string action = "RETRY";  // RETRY or EXIT
  bool operator==(const ExitRule&) const = default;
};

struct RetryStrategy {
  int attempts = 1;  // 1..10, total attempts including the first
  std::vector<ExitRule> evaluate_on_exit;
  bool operator==(const RetryStrategy&) const = default;
};

// Limits accepted by validation, documented in docs/LIMITS.md.
inline constexpr int kMaxAttempts = 10;
inline constexpr int kMaxVcpus = 1 << 20;
inline constexpr std::int64_t kMaxTimeoutSeconds = 365LL * 24 * 3600;

}  // namespace drover

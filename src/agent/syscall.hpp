// Thin helpers for system calls in the agent: errors as text, EINTR retried.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

namespace drover::agent {

inline std::string errno_text(int err) { return std::strerror(err); }

// Retries a system call that reports failure as -1 with errno while it fails with EINTR.
template <class F>
auto retry_eintr(F&& call) {
  for (;;) {
    auto rc = call();
    if (rc != -1 || errno != EINTR) return rc;
  }
}

}  // namespace drover::agent

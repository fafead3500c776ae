// MUNGE credentials (as Slurm sites already run munged): a peer proves who it
// is by sending a credential that only munged, with the cluster's shared key,
// can make and read. The payload binds the credential to its purpose (an agent
// hello, a step launch) so one cannot be replayed as the other; munged itself
// refuses a credential decoded twice or older than its time to live.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace drover::transport {

struct MungeIdentity {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string payload;
};

// socket: munged's socket ("" = the default, /run/munge/munge.socket.2).
Result<std::string> munge_encode(const std::string& payload, const std::string& socket = {});
// Checks the credential with munged: forged, expired, replayed or unreadable
// ones are errors that say which.
Result<MungeIdentity> munge_decode(const std::string& credential, const std::string& socket = {});

}  // namespace drover::transport

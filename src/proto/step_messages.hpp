// Messages of the step protocol (docs/PROTOCOL.md, "Step protocol"): drover-launch
// asks a node's agent to run a command inside a job that runs there, as mpirun's
// rsh agent would ask sshd. One TCP connection per step; the client sends one
// step_launch, the agent answers step_refused (and closes) or step_accepted,
// then step_output chunks, then step_exit (and closes). Frames as everywhere
// (proto/frame.hpp), but bounded by kMaxStepFrame.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/job_definition.hpp"
#include "core/result.hpp"
#include "proto/codec.hpp"

namespace drover::proto {

inline constexpr int kStepProtocolVersion = 1;
// A launch request carries the client's whole environment, which on HPC systems
// (modules, Spack) can be large; the kernel's limit for argv + environment is a
// few MiB, so nothing runnable is larger.
inline constexpr std::size_t kMaxStepFrame = 4u << 20;
inline constexpr std::size_t kMaxStepOutputChunk = 64u << 10;  // raw bytes per step_output
inline constexpr std::size_t kMaxStepWords = 65536;            // argv entries, environment entries
inline constexpr std::size_t kMaxCredential = 64u << 10;
// The MUNGE payload's purpose, so that a credential made for something else
// (an agent's hello) cannot start processes.
inline constexpr const char* kStepCredentialPurpose = "drover-step";

// client -> agent: the first and only message of a connection.
struct StepLaunch {
  int version = kStepProtocolVersion;
  std::string credential;         // MUNGE; payload from step_credential_payload()
  std::int64_t job_id = 0;
  std::string node;               // the node the client means to reach
  std::vector<std::string> argv;  // joined with spaces and run by the user's shell -c, as sshd does
  std::string cwd;                // where to run it; empty: the job's working directory
  KeyValues environment;          // the client's environment, in order
};

// agent -> client
struct StepAccepted {
  std::string step_id;  // "<job>.<n>", also DROVER_STEP_ID in the step's environment
};
struct StepRefused {
  std::string reason;
};
enum class StepStream { Stdout, Stderr };
struct StepOutput {
  StepStream stream = StepStream::Stdout;
  std::string data;  // raw bytes (base64 on the wire); at most kMaxStepOutputChunk
};
struct StepExit {
  std::optional<int> exit_code;  // absent when killed by a signal
  int signal = 0;
  std::string reason;            // why the agent stopped it, if it did
};
using StepReply = std::variant<StepAccepted, StepRefused, StepOutput, StepExit>;

// The credential's payload: {"purpose":"drover-step","job":ID,"node":NAME}.
std::string step_credential_payload(std::int64_t job_id, const std::string& node);
struct StepClaim {
  std::int64_t job_id = 0;
  std::string node;
};
// Reads a decoded credential's payload; errors when it is not a step credential.
Result<StepClaim> step_claim_from_payload(std::string_view payload);

Json to_json(const StepLaunch& m);
Json to_json(const StepAccepted& m);
Json to_json(const StepRefused& m);
Json to_json(const StepOutput& m);
Json to_json(const StepExit& m);

// Decoders take a whole frame and never throw: bad JSON, a missing or mistyped
// field, a value out of bounds are errors naming what was wrong.
Result<StepLaunch> step_launch_from_frame(std::string_view frame);
// Also accepts the generic refusal {"ok": false, "error": ...} that a Connection
// sends when a frame is too large.
Result<StepReply> step_reply_from_frame(std::string_view frame);

std::string base64_encode(std::string_view bytes);
Result<std::string> base64_decode(std::string_view text);

}  // namespace drover::proto

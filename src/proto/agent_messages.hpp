// Messages between droverd and drover-noded (docs/PROTOCOL.md). Each is one
// JSON frame with a "type". They carry everything by value, so the same bytes
// work over a Unix socket today and TCP between machines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/job_definition.hpp"
#include "core/result.hpp"
#include "core/topology.hpp"
#include "proto/codec.hpp"

namespace drover::proto {

// 2: launch orders of array tasks name an environment base (environmentBase),
// which an agent of version 1 would ignore, starting tasks without the
// submitter's environment. The head refuses an agent of another version.
inline constexpr int kAgentProtocolVersion = 2;

// The reason of an agent's exit report for an array task whose order named an
// environment base the agent does not hold (head and agent out of step: not
// expected). Nothing ran; the head sends the base again and requeues the task.
inline constexpr const char* kNoEnvironmentBase = "cannot start: this agent does not hold environment base";

// head -> agent: run this attempt.
struct LaunchOrder {
  std::int64_t job_id = 0;
  int attempt = 0;  // 1-based; reports name it so stale ones are recognised
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  std::vector<std::string> argv;
  std::string script;
  KeyValues environment;
  // An array's tasks share most of their environment (the submitter's): it is
  // sent to an agent once, as a base named by the array's id, and each task's
  // order then carries only its own variables (environment), set over the base
  // by name (a name the base has keeps its place, others are appended).
  // environment_base: the base this order builds on (0: none, environment is
  // whole); has_base_environment: this order carries that base's variables
  // (base_environment), which the agent keeps for the orders after it.
  std::int64_t environment_base = 0;
  bool has_base_environment = false;
  KeyValues base_environment;
  std::string working_dir;
  std::string stdout_path;  // absolute, patterns expanded
  std::string stderr_path;  // empty: with stdout
  std::vector<int> cpus;
  std::vector<int> gpus;
  std::int64_t memory_mib = 0;
  std::int64_t timeout_seconds = 0;
  bool append_output = false;
  // Multi-node jobs: this node's place (0 = the main node, which runs the
  // script; the others only hold the job's cgroup and binding for processes
  // that mpirun starts there through drover-launch) and, for the main node,
  // the allocation as an Open MPI hostfile ("node slots=N" lines).
  int node_index = 0;
  int num_nodes = 1;
  std::string hostfile;
  // The main node of a job with more than one task: an Open MPI rankfile that
  // binds each rank to its own PUs of the plan ("rank R=NODE slot=PU,...").
  std::string rankfile;
  // Jobs that checkpoint (main node): the signal to send checkpoint_seconds
  // before the time limit, to the batch shell only or to the rest of the
  // job's processes, and the checkpoint directory, made as the job's owner.
  int checkpoint_signal = 0;
  int checkpoint_seconds = 0;
  bool checkpoint_batch_only = false;
  std::string checkpoint_dir;
  bool member() const { return node_index > 0; }
};

// head -> agent: send a signal to a running job now (a checkpoint before a
// preemption or `drover checkpoint`). batch_only: the batch shell only;
// otherwise every process of the job on this node that has a handler for it
// (a batch shell that traps it included; see signal_job_handlers).
struct SignalOrder {
  std::int64_t job_id = 0;
  int attempt = 0;
  int signal = 0;
  bool batch_only = false;
};

// agent -> head: an attempt ended (or could not start). Kept by the agent
// until the head acknowledges it, so no exit is lost while the head is away.
struct ExitReport {
  std::int64_t job_id = 0;
  int attempt = 0;
  std::int64_t at = 0;
  std::optional<int> exit_code;
  int signal = 0;
  std::string reason;
  // When the newest checkpoint in the job's checkpoint directory was
  // committed (epoch ms; 0: none or the job does not checkpoint).
  std::int64_t checkpoint_at = 0;
};

struct RunningReport {
  std::int64_t job_id = 0;
  int attempt = 0;
  std::int64_t started_at = 0;
};

struct AgentHello {
  int version = kAgentProtocolVersion;
  std::string node_name;
  // Over TCP: a MUNGE credential whose payload is hello_payload(node_name),
  // made by root (or droverd's user); over a Unix socket peer credentials do.
  std::string credential;
  // Where drover-launch reaches this agent (tcp:IP:PORT); empty: nowhere.
  std::string step_address;
  NodeTopology topology;
  std::vector<std::string> features;  // node features (--constraint), sorted
  std::vector<RunningReport> running;
  std::vector<ExitReport> exited;
};

// What the MUNGE credentials between head and agent say, so that neither can
// be used as the other or for another node.
std::string hello_payload(const std::string& node_name);    // agent -> head
std::string welcome_payload(const std::string& node_name);  // head -> agent

Json to_json(const LaunchOrder& m);
// The same bytes as dump(to_json(m)), written straight into a string: a launch
// order is built for every job and every task of an array, and the Json value
// (an object per environment variable) cost more than the rest of the launch.
std::string dump_launch_order(const LaunchOrder& m);
Json to_json(const ExitReport& m);
Json to_json(const RunningReport& m);
Json to_json(const AgentHello& m);
Json to_json(const SignalOrder& m);
Result<SignalOrder> signal_order_from_json(const Json& j);
Result<LaunchOrder> launch_order_from_json(const Json& j);
// A launch frame read straight into a LaunchOrder, without a Json value: what
// launch_order_from_json(Json::parse(frame)) gives, for a launch order as
// dump_launch_order writes it (any key order). nullopt for anything else (another
// type, a key it does not know or twice, null, another type of value, a field out
// of range, bad JSON): the caller then takes the general way, which says what is wrong.
std::optional<LaunchOrder> read_launch_frame(const std::string& frame);
Result<ExitReport> exit_report_from_json(const Json& j);
Result<RunningReport> running_report_from_json(const Json& j);
Result<AgentHello> agent_hello_from_json(const Json& j);

}  // namespace drover::proto

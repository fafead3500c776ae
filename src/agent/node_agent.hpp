// drover-noded's core: keeps one connection to the head, launches the jobs it
// is given, enforces their time limits, and reports how they ended. Jobs keep
// running while the head is away; their exits are held until the head has
// acknowledged them, and a reconnecting agent tells the head what it runs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "agent/cgroup.hpp"
#include "agent/gpu_devices.hpp"
#include "agent/job_launcher.hpp"
#include "agent/step_server.hpp"
#include "proto/agent_messages.hpp"
#include "transport/connection.hpp"
#include "transport/event_loop.hpp"

namespace drover::agent {

struct AgentConfig {
  std::string head_address;     // unix:/path or tcp:host:port
  std::string node_name;
  std::vector<std::string> features;  // node features (--constraint matches them), sorted
  std::string state_dir;        // job scratch directories (scripts)
  std::string topology_xml;     // tests: an hwloc XML instead of this machine
  std::string cgroup_parent = "drover";
  std::int64_t kill_grace_ms = 30000;    // SIGTERM -> SIGKILL, like Slurm's KillWait
  std::string launcher_path;  // drover-launch, for mpirun in multi-node jobs (default: next to this program)
  std::int64_t reconnect_ms = 500;
  std::int64_t heartbeat_ms = 10000;  // droverd declares a node lost after its --node-timeout
  // Step service for drover-launch (tcp:HOST:PORT); empty: none.
  std::string listen_address;
  std::string munge_socket;  // munged's socket (head over TCP, step service); empty: libmunge's default
  // GPU device files by GPU index ("0=/dev/nvidia0,1=/dev/nvidia1"); empty: found
  // from sysfs and the NVIDIA driver (gpu_devices.hpp).
  std::string gpu_devices;
};

class NodeAgent {
 public:
  explicit NodeAgent(AgentConfig config);
  ~NodeAgent();
  Status start();
  transport::EventLoop& loop() { return loop_; }
  // Stops the loop; running jobs are left running (a restarted agent does not
  // re-adopt them yet: it kills what is left of them in their cgroups, and the
  // head requeues or fails them when it reconnects).
  void stop() {
    send_started();  // what the head has not heard yet (best effort)
    loop_.stop();
  }
  // Kills every job (used on `drover down`).
  void kill_all_jobs();

 private:
  struct RunningJob {
    proto::LaunchOrder order;
    LaunchedJob launched;
    std::int64_t started_at = 0;
    std::uint64_t timeout_timer = 0;
    std::uint64_t kill_timer = 0;
    std::uint64_t checkpoint_timer = 0;  // the checkpoint signal before the time limit
    bool timed_out = false;
    std::string kill_reason;   // set when the head asked to kill it
    // Where its memory is counted (place::memory_share, by NUMA domain): what
    // the next job's memory binding must leave to it.
    std::vector<std::int64_t> numa_memory;
  };

  void clear_stale_jobs();  // kills what is left of an earlier agent's jobs
  void connect();
  void schedule_reconnect();
  void on_message(std::string frame);
  void on_launch(const proto::LaunchOrder& order);
  void on_kill(std::int64_t job_id, int attempt, const std::string& reason);
  void terminate(RunningJob& job);  // SIGTERM now, SIGKILL after the grace period
  // The checkpoint signal: to the main process (batch_only), else to every
  // process of the job here that handles it.
  void send_signal(RunningJob& job, int sig, bool batch_only, const std::string& why);
  void arm_checkpoint_timer(RunningJob& job);
  void launch_member(const proto::LaunchOrder& order);
  // A multi-node job's part here is over (if it is still that attempt's).
  void end_member(std::int64_t job_id, int attempt);
  // Starts the launch that waited for an earlier attempt of the job to stop here.
  void start_deferred_launch(std::int64_t job_id);
  void reap();
  void finish(pid_t pid, int wait_status);
  void report(const proto::ExitReport& r);
  void send(const proto::Json& j);
  void heartbeat();
  bool tcp_ = false;  // the head is over TCP: MUNGE both ways
  Status start_step_service();
  Status find_gpu_files();
  CgroupLimits cgroup_limits(const proto::LaunchOrder& o) const;
  // Memory the jobs running here hold in each NUMA domain (by index).
  std::vector<std::int64_t> numa_memory_used() const;
  std::optional<StepTarget> step_target(std::int64_t job_id) const;

  AgentConfig config_;
  transport::EventLoop loop_;
  NodeTopology topology_;
  CgroupLayout cgroups_;
  std::vector<GpuDeviceFiles> gpu_files_;  // each GPU's device files, for device cgroups
  ScriptCache scripts_;  // <state-dir>/scripts: batch scripts shared by an array's tasks
  CgroupPool cgroup_pool_;  // ended jobs' cgroups, reset for the next (v1)
  std::shared_ptr<transport::Connection> conn_;
  bool welcomed_ = false;
  std::map<std::int64_t, RunningJob> jobs_;       // by job id
  std::map<pid_t, std::int64_t> job_of_pid_;
  std::map<std::int64_t, proto::ExitReport> unacked_;  // by job id
  // Array tasks' shared environments (LaunchOrder::base_environment) from the
  // head on this connection, most recently used first. Twice as many as the
  // head counts on (Head::kEnvironmentBasesPerAgent).
  static constexpr std::size_t kEnvironmentBases = 16;
  std::vector<std::pair<std::int64_t, KeyValues>> environment_bases_;
  // "started" reports not sent yet (report_started), and the timer that sends them.
  static constexpr std::int64_t kStartedDelayMs = 5;
  std::vector<std::string> started_;
  std::uint64_t started_timer_ = 0;
  void report_started(const proto::RunningReport& r);
  void send_started();
  // The order's whole environment: its base's with its variables set over it.
  bool resolve_environment(proto::LaunchOrder& o);
  // Launches of a later attempt of a job whose earlier attempt still runs here (a lost
  // node requeued it while this node's part was being killed), by job id.
  std::map<std::int64_t, proto::LaunchOrder> deferred_launches_;
  int sigchld_fd_ = -1;
  bool reconnect_pending_ = false;
  std::unique_ptr<StepServer> step_server_;  // declared last: goes first, while jobs_ still exists
};

}  // namespace drover::agent

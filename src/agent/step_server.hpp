// The agent's step service: what sshd is to mpirun's rsh launch. drover-launch
// (launcher/) connects over TCP, proves its user with a MUNGE credential bound to
// "drover-step", a job and this node, and asks for a command to run inside that
// job here. The command runs as the job's owner, in the job's cgroup and CPU
// binding, by the owner's shell (`sh -c "<words joined by spaces>"`, as sshd
// runs it); its stdout and stderr stream back, then its exit status.
//
// A step belongs to its connection and its job: a connection that closes before
// the step has ended, kill_steps(job) or the server's destruction stop it with
// SIGTERM to its process group (and to every process of the job's cgroup that
// carries its DROVER_STEP_ID, so a daemonized child goes too), then SIGKILL
// after the grace. What a step leaves running after it has ended normally
// (`orted --daemonize`) belongs to the job and goes when the job does.
//
// Single-threaded: lives in the agent's EventLoop. The agent reaps children and
// hands the ones it does not own to on_child_exit().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/cgroup.hpp"
#include "core/job_definition.hpp"
#include "core/result.hpp"
#include "proto/step_messages.hpp"
#include "transport/connection.hpp"
#include "transport/event_loop.hpp"

namespace drover::agent {

// A job's part on this node, as the agent knows it.
struct StepTarget {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::string user;
  std::string working_dir;            // where steps start when the client's cwd is missing here
  std::vector<int> cpus;              // bind to these (sched_setaffinity); empty: no binding
  std::vector<int> gpus;
  const JobCgroup* cgroup = nullptr;  // may be null or inactive; copied at launch
  KeyValues environment_overrides;    // node-specific variables set over the client's
};

class StepServer {
 public:
  // The job running here now with this id, or nullopt.
  using Lookup = std::function<std::optional<StepTarget>(std::int64_t job_id)>;

  // munge_socket: munged's socket ("" = libmunge's default).
  StepServer(transport::EventLoop& loop, std::string node_name, std::string munge_socket, Lookup lookup);
  // Kills every step at once (SIGKILL): nothing could report their ends any more.
  ~StepServer();
  StepServer(const StepServer&) = delete;
  StepServer& operator=(const StepServer&) = delete;

  // "tcp:HOST:PORT"; port 0 picks a free one.
  Status listen(const std::string& address);
  // The bound address, e.g. tcp:10.0.0.2:6819; "" before listen().
  std::string address() const;

  // The agent reaps every child; true if pid was a step's (then it is handled).
  bool on_child_exit(pid_t pid, int wait_status);
  // SIGTERM to the job's steps now, SIGKILL after the grace; their clients get
  // step_exit with the signal and the reason.
  void kill_steps(std::int64_t job_id, const std::string& reason = "the job ended on this node");
  // SIGKILL to every step now (the agent is going down with its jobs).
  void kill_all_steps();
  std::size_t step_count() const { return steps_.size(); }

  // SIGTERM -> SIGKILL. Short by default: a step is stopped because its client
  // or its job has gone, and nothing waits for it to finish cleanly.
  void set_kill_grace_ms(std::int64_t ms) { kill_grace_ms_ = ms; }
  std::int64_t kill_grace_ms() const { return kill_grace_ms_; }
  // How long a connection may take to send its request.
  void set_request_timeout_ms(std::int64_t ms) { request_timeout_ms_ = ms; }

 private:
  struct Step;
  struct Pending {
    std::shared_ptr<transport::Connection> conn;
    std::string peer;
    std::uint64_t timer = 0;
  };

  void on_accept(int fd);
  void on_request(std::uint64_t conn_id, const std::string& frame);
  // Why the request may not run, or "" when it may (then target is set).
  std::string authorize(const proto::StepLaunch& request, StepTarget& target, std::uint32_t& uid);
  void refuse(std::uint64_t conn_id, const std::string& reason);
  void start_step(std::uint64_t conn_id, const proto::StepLaunch& request, const StepTarget& target,
                  std::uint32_t asked_by);
  void watch_output(Step& step);
  void read_output(std::uint64_t number, int which);
  void pause_output(Step& step);
  void close_output(Step& step, int which);
  void on_disconnect(std::uint64_t number, const std::string& why);
  void terminate(Step& step, const std::string& reason);
  void signal_step(const Step& step, int sig) const;
  void maybe_finish(std::uint64_t number);
  // Keeps a connection until what is queued on it has gone out.
  void close_after_flush(std::uint64_t conn_id, std::shared_ptr<transport::Connection> conn);

  transport::EventLoop& loop_;
  std::string node_name_;
  std::string munge_socket_;
  Lookup lookup_;
  std::unique_ptr<transport::Listener> listener_;
  std::int64_t kill_grace_ms_ = 5000;
  std::int64_t request_timeout_ms_ = 10000;
  std::uint64_t next_conn_ = 1;
  std::uint64_t next_step_ = 1;
  std::map<std::uint64_t, Pending> pending_;                // connections before their request
  std::map<std::uint64_t, std::unique_ptr<Step>> steps_;    // by step number
  std::map<std::uint64_t, std::shared_ptr<transport::Connection>> closing_;  // flushing, then gone
  std::map<pid_t, std::uint64_t> step_of_pid_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for timers and deferred work
};

}  // namespace drover::agent

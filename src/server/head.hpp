// droverd's core: owns the model, the store, the API and agent listeners, and
// the scheduling loop. Single-threaded on an EventLoop. Every turn of the loop
// ends with flush(): one scheduling pass if anything changed, one transaction
// for everything that changed, then the replies and agent orders go out, so
// nothing is acknowledged or launched before it is committed. A turn that
// answered a user's change (a submit, a cancel, a new queue ...) commits
// durably (fsync) before the reply leaves; launches and kills commit lazily
// (no fsync); a turn that tells nobody anything (exits, "started", wait
// reasons) is committed by a later turn. Everything is durable within
// sync_delay_ms, and an agent's exit report is acknowledged only once it is.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/cluster_state.hpp"
#include "core/job_request.hpp"
#include "proto/agent_messages.hpp"
#include "proto/codec.hpp"
#include "sched/scheduler.hpp"
#include "store/store.hpp"
#include "transport/connection.hpp"
#include "transport/event_loop.hpp"

namespace drover::server {

struct HeadConfig {
  std::string state_dir;          // holds state.db
  std::string api_address;        // unix socket for users (mode 0666)
  std::string agent_address;      // where agents connect (unix 0600, or tcp)
  std::string default_queue = "default";
  // Create queue "default" and environment "local" holding this node if absent.
  std::string init_local_node;
  bool synchronous_full = true;
  // Lazy commits (launches, exits) are fsync'd at most this long after them.
  std::int64_t sync_delay_ms = 100;
  std::size_t max_request_bytes = 16u << 20;
  uid_t admin_uid = 0;            // besides root, who may manage queues and nodes
  // Finished jobs stay in memory this long (like Slurm's MinJobAge), then only
  // in the store, where history and lookups by id still find them.
  std::int64_t keep_finished_ms = 300'000;
  // Agents over TCP prove who they are with MUNGE (this munged socket; empty:
  // libmunge's default). A node that is silent this long (no heartbeat, or
  // not connected) is lost: its jobs end with a reason naming it, and their
  // retry strategies decide (like Slurm's SlurmdTimeout).
  std::string munge_socket;
  std::int64_t node_timeout_ms = 120'000;
};

class Head {
 public:
  explicit Head(HeadConfig config);
  ~Head();
  // Opens the store, loads the state, starts listening. Start-up errors only.
  Status start();
  transport::EventLoop& loop() { return loop_; }
  void stop();
  const ClusterState& state() const { return state_; }
  std::string agent_address() const;

 private:
  struct Caller {
    uid_t uid;
    gid_t gid;
    bool admin;
  };
  using ConnPtr = std::shared_ptr<transport::Connection>;

  void accept_api(int fd);
  void accept_agent(int fd);
  void on_api_message(const ConnPtr& conn, std::string frame);
  void on_agent_message(const ConnPtr& conn, std::string frame);
  void on_agent_closed(const ConnPtr& conn);

  // API operations: each returns the "result" object or an error.
  Result<proto::Json> op_submit(const Caller& c, const proto::Json& args);
  proto::Json test_only(const Job& job);
  Result<proto::Json> op_describe_jobs(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_list_jobs(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_terminate(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_hold(const Caller& c, const proto::Json& args, bool hold);
  Result<proto::Json> op_requeue(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_checkpoint(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_update(const Caller& c, const proto::Json& args);
  // The job if the caller may change it (its owner, root or the admin).
  Result<const Job*> own_job(const Caller& c, const proto::Json& args, const std::string& what);
  Result<proto::Json> op_read_log(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_history(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_register_definition(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_describe_definitions(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_deregister_definition(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_save_queue(const Caller& c, const proto::Json& args, bool create);
  Result<proto::Json> op_describe_queues(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_save_environment(const Caller& c, const proto::Json& args, bool create);
  Result<proto::Json> op_describe_environments(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_list_nodes(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_status(const Caller& c, const proto::Json& args);
  Result<proto::Json> op_shutdown(const Caller& c, const proto::Json& args);

  // Agent side.
  void on_hello(const ConnPtr& conn, const proto::AgentHello& hello);
  // Over TCP: checks the hello's MUNGE credential; the error says why not.
  Status authenticate_agent(const ConnPtr& conn, const proto::AgentHello& hello);
  Result<proto::Json> op_update_node(const Caller& c, const proto::Json& args);
  void watch_nodes();  // heartbeats and lost nodes, every second
  // `spare`: jobs already being stopped another way (they end when their
  // agent reports).
  void node_lost(const std::string& node, const std::string& reason, const std::set<std::int64_t>& spare = {});
  void on_exit_report(const std::string& node, const proto::ExitReport& r);
  void send_to_agent(const std::string& node, proto::Json msg);
  void launch(const Job& job);
  // A job's payload from the store. An array's (array = true) is kept in a
  // small cache, so that its tasks' launches and descriptions do not read and
  // parse it each time; payloads never change after submit.
  Result<std::shared_ptr<const JobPayload>> payload(std::int64_t id, bool array);

  Status apply(const Event& e);
  void request_flush();
  void evict_finished();
  // Dependencies on jobs no longer in memory: recalled from the store.
  Status resolve_forgotten_dependencies(JobRequest& req);
  void flush();
  void send_held_acks();
  Result<std::optional<Job>> find_job(std::int64_t id);
  // A job named in a request: "123", an array task "123_5" or "123:5" (its own
  // id once it has started), or tasks by index ranges ("arrayIndexes").
  struct JobRef {
    std::int64_t id = 0;      // the job, or the task's own id; 0: a task not started
    std::int64_t parent = 0;  // the array, when tasks were named by index
    std::vector<IndexRange> indexes;
    std::string text;         // as the user wrote it, for messages
  };
  Result<JobRef> job_ref(const proto::Json& args);
  // A task not started, described from its array.
  proto::Json describe_unstarted_task(const Job& parent, std::int64_t index);
  void send_kill(const Job& job, const std::string& reason);
  // Stops a running job the scheduler or an admin interrupts (preemption, a
  // node set DOWN, drover checkpoint --requeue): a job that checkpoints gets
  // its checkpoint signal on every node and checkpoint_seconds to write one
  // (and may exit by itself), then it is killed. requeue: the attempt ends
  // as requeued (same id; the next attempt resumes); else the job is cancelled.
  void interrupt_job(std::int64_t id, const std::string& reason, bool requeue);
  // The job's checkpoint signal (SIGUSR1 when it names none) to every node of it.
  void send_checkpoint_signal(const Job& job);
  std::string user_name(uid_t uid);

  HeadConfig config_;
  transport::EventLoop loop_;
  ClusterState state_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<transport::Listener> api_listener_;
  std::unique_ptr<transport::Listener> agent_listener_;
  std::unordered_map<transport::Connection*, ConnPtr> api_conns_;
  std::unordered_map<transport::Connection*, ConnPtr> agent_conns_;
  std::map<std::string, ConnPtr> agents_by_node_;  // node name -> its connection
  // The arrays whose environment base (LaunchOrder::base_environment) each
  // connected agent holds, most recently used first; the agent keeps at least
  // as many (kAgentEnvironmentBases), so it has every one named here.
  static constexpr std::size_t kEnvironmentBasesPerAgent = 8;
  std::map<std::string, std::vector<std::int64_t>> environment_bases_;
  std::unordered_map<transport::Connection*, std::string> node_of_conn_;
  std::map<std::string, std::int64_t> last_heard_;      // connected nodes: last message
  std::map<std::string, std::int64_t> disconnected_at_;  // nodes away, not yet declared lost
  std::map<std::string, std::string> step_address_;      // where drover-launch reaches each node
  // Multi-node jobs stopped because a node lost its part: their attempt ends
  // as interrupted by a lost node when the main node reports the exit.
  std::set<std::int64_t> lost_part_;

  // Held until the next flush has committed.
  std::vector<std::pair<std::weak_ptr<transport::Connection>, std::string>> replies_;
  std::vector<std::pair<std::string, proto::Json>> agent_out_;
  std::vector<std::pair<std::int64_t, JobPayload>> new_payloads_;
  std::vector<std::int64_t> to_launch_;
  // This turn answered a change a user asked for: its commit must be durable.
  bool durable_turn_ = false;
  // Exit reports' acknowledgements, held until what they acknowledge is durable.
  std::vector<std::pair<std::string, proto::Json>> held_acks_;
  std::uint64_t sync_timer_ = 0;
  bool sync_due_ = false;     // the sync timer fired: commit and fsync everything
  bool uncommitted_ = false;  // changes held back for a later commit
  // Ids below this are never given again after a restart (Store::reserve_job_ids):
  // array tasks get theirs in lazy commits. 0: not written by this head yet.
  std::int64_t id_floor_ = 0;
  struct CachedPayload {
    std::int64_t id;
    std::shared_ptr<const JobPayload> payload;
    std::uint64_t used;  // payload_clock_ at the last use
  };
  std::vector<CachedPayload> payload_cache_;  // arrays' payloads, least recently used dropped
  std::uint64_t payload_clock_ = 0;
  bool flush_queued_ = false;
  bool schedule_needed_ = true;
  // Only new jobs arrived since the last pass (no resources freed, nothing
  // reconfigured): the next pass may start from the first new id.
  bool full_pass_needed_ = true;
  std::int64_t first_new_job_ = 0;
  // The pass for the earliest time a RUNNABLE job waits for (ClusterState::next_start_time).
  std::int64_t wake_at_ = 0;
  std::uint64_t wake_timer_ = 0;
  std::int64_t started_at_ = 0;
  std::map<uid_t, std::string> user_names_;
  std::string hostname_;
};

}  // namespace drover::server

// The `drover` command line: one function per subcommand, each taking the
// arguments after its name. Output for people by default, JSON with --json.
#pragma once

#include <string>
#include <vector>

namespace drover::cli {

using Args = std::vector<std::string>;

// Options every command accepts.
struct Global {
  std::string socket;  // empty: default_socket_path()
};

int run(int argc, char** argv);

int cmd_submit(const Global& g, const Args& args);
// srun: submits and waits, streaming the output (inside a job: runs in its allocation).
int cmd_run(const Global& g, const Args& args);
int cmd_jobs(const Global& g, const Args& args);
int cmd_show(const Global& g, const Args& args);
int cmd_cancel(const Global& g, const Args& args);
int cmd_logs(const Global& g, const Args& args);
int cmd_hold(const Global& g, const Args& args);
int cmd_release(const Global& g, const Args& args);
int cmd_requeue(const Global& g, const Args& args);
int cmd_checkpoint(const Global& g, const Args& args);
int cmd_update(const Global& g, const Args& args);
int cmd_history(const Global& g, const Args& args);
int cmd_nodes(const Global& g, const Args& args);
int cmd_definitions(const Global& g, const Args& args);
int cmd_queues(const Global& g, const Args& args);
int cmd_envs(const Global& g, const Args& args);
int cmd_up(const Global& g, const Args& args);
int cmd_down(const Global& g, const Args& args);
int cmd_status(const Global& g, const Args& args);
// Offline: replays a workload trace through sched::schedule (src/sched/simulator.hpp).
int cmd_simulate(const Global& g, const Args& args);

}  // namespace drover::cli

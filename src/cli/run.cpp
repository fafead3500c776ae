#include <iostream>
#include <map>

#include "cli/commands.hpp"

namespace drover::cli {

namespace {
const char* kUsage = R"(drover: run batch jobs on your cluster (Slurm-like commands, AWS Batch model).

Usage: drover [--socket PATH] COMMAND [options]

Running jobs
  submit      submit a batch script or a command        drover submit job.sh
  run         run a program, output here (srun)         drover run -n 4 ./app
  jobs        list queued and running jobs (squeue)     drover jobs -u alice
  show        everything about a job                    drover show 42
  cancel      cancel jobs (scancel)                     drover cancel 42 43
  logs        print a job's output                      drover logs 42 -f
  history     finished jobs (sacct)                     drover history --since 1h
  hold        keep waiting jobs from starting           drover hold 42
  release     let held jobs start again                 drover release 42
  requeue     stop running jobs and queue them again    drover requeue 42
  checkpoint  ask running jobs to checkpoint now        drover checkpoint 42 --requeue
  update      change a waiting job                      drover update 42 -t 2:00:00 -p long

The cluster
  nodes       nodes, cores and memory in use (sinfo)    drover nodes
  definitions job definitions (register, list, show, deregister)
  queues      job queues (create, list, update)
  envs        compute environments (create, list, update)
  up          start a one-machine cluster               drover up
  down        stop it                                   drover down
  status      what runs                                 drover status

Planning
  simulate    replay an SWF workload trace through the scheduler (no daemon)
              drover simulate trace.swf --policy fifo,easy,conservative --svg out.svg

Each command has --help with an example. The daemon is found through --socket,
$DROVER_SOCKET, the cluster `drover up` started for you, or /run/drover/droverd.sock.
)";
}  // namespace

int run(int argc, char** argv) {
  Global g;
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--socket" && i + 1 < argc) {
      g.socket = argv[++i];
    } else if (a.rfind("--socket=", 0) == 0) {
      g.socket = a.substr(9);
    } else if (a == "-h" || a == "--help" || a == "help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version" || a == "-V") {
      std::cout << "drover 0.1.0\n";
      return 0;
    } else {
      break;
    }
  }
  if (i >= argc) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string cmd = argv[i];
  Args args(argv + i + 1, argv + argc);
  static const std::map<std::string, int (*)(const Global&, const Args&)> kCommands = {
      {"submit", cmd_submit}, {"sbatch", cmd_submit},   {"run", cmd_run},
      {"srun", cmd_run},   {"jobs", cmd_jobs},
      {"squeue", cmd_jobs},   {"show", cmd_show},       {"cancel", cmd_cancel},
      {"scancel", cmd_cancel}, {"logs", cmd_logs},      {"history", cmd_history},
      {"hold", cmd_hold},     {"release", cmd_release}, {"requeue", cmd_requeue},
      {"update", cmd_update}, {"checkpoint", cmd_checkpoint},
      {"sacct", cmd_history}, {"nodes", cmd_nodes},     {"sinfo", cmd_nodes},
      {"definitions", cmd_definitions}, {"queues", cmd_queues}, {"envs", cmd_envs},
      {"up", cmd_up},         {"down", cmd_down},       {"status", cmd_status},
      {"simulate", cmd_simulate}};
  auto it = kCommands.find(cmd);
  if (it == kCommands.end()) {
    std::cerr << "drover: unknown command '" << cmd << "'\n\n" << kUsage;
    return 2;
  }
  try {
    return it->second(g, args);
  } catch (const std::exception& e) {
    std::cerr << "drover " << cmd << ": " << e.what() << "\n(see drover " << cmd << " --help)\n";
    return 2;
  }
}

}  // namespace drover::cli

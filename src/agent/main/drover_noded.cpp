// drover-noded: the node agent. Options, signals, and the event loop.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <fstream>
#include <iostream>

#include "agent/node_agent.hpp"
#include "core/node_selection.hpp"
#include "transport/log.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  drover::agent::AgentConfig cfg;
  double grace_s = 30;
  double heartbeat_s = 10;
  std::string features, config_file;
  po::options_description opts(
      "drover-noded: the Drover node agent; runs jobs on this node for droverd.\n"
      "Usually started by `drover up`. Example:\n"
      "  drover-noded --head /run/drover/agents.sock --name node01 --state-dir /var/lib/drover-node\n"
      "A node of a multi-node cluster, reachable by drover-launch from the others' jobs:\n"
      "  drover-noded --head tcp:10.0.0.1:6818 --name node02 --state-dir /var/lib/drover-node \\\n"
      "               --listen tcp:0.0.0.0:6819\n"
      "The same from a config file (one `option = value` a line, options without the --):\n"
      "  drover-noded --config /etc/drover/noded.conf\n"
      "  # /etc/drover/noded.conf\n"
      "  head = tcp:10.0.0.1:6818\n"
      "  name = node02\n"
      "  features = gpu,a100\n"
      "  state-dir = /var/lib/drover-node\n"
      "Options on the command line win over the file.\n\n"
      "Options");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  opts.add_options()("help,h", "show this help")(
      "head", po::value(&cfg.head_address)->required(), "droverd's agent address (socket path or tcp:HOST:PORT)")(
      "name", po::value(&cfg.node_name)->default_value(host), "this node's name")(
      "config", po::value(&config_file), "read options from this file (option = value lines)")(
      "features", po::value(&features),
      "this node's features, which jobs select with --constraint: gpu,a100,ib (comma-separated)")(
      "state-dir", po::value(&cfg.state_dir)->required(), "directory for job scripts")(
      "topology-xml", po::value(&cfg.topology_xml), "use an hwloc XML topology instead of this machine's (testing)")(
      "cgroup-parent", po::value(&cfg.cgroup_parent)->default_value("drover"),
      "cgroup directory (under each hierarchy) for job cgroups")(
      "kill-grace", po::value(&grace_s)->default_value(30),
      "seconds between SIGTERM and SIGKILL when a job is stopped")(
      "listen", po::value(&cfg.listen_address),
      "serve drover-launch (what mpirun uses instead of ssh inside multi-node jobs) on this "
      "TCP address, e.g. tcp:0.0.0.0:6819 (the port drover-launch tries by default); port 0 "
      "picks a free one, logged at start. Clients prove their user with MUNGE. "
      "Default: no step service")(
      "munge-socket", po::value(&cfg.munge_socket),
      "munged's socket, for a head over TCP and for checking drover-launch's credentials "
      "(default: libmunge's, /run/munge/munge.socket.2)")(
      "gpu-devices", po::value(&cfg.gpu_devices),
      "each GPU's device files, when the agent does not find them itself (it reads the NVIDIA "
      "driver's /proc/driver/nvidia/gpus and /sys/bus/pci/devices/*/drm): GPU=FILE[+FILE], "
      "comma-separated, e.g. 0=/dev/nvidia0,1=/dev/nvidia1. A job may open only its own GPUs' files")(
      "heartbeat", po::value(&heartbeat_s)->default_value(10),
      "seconds between heartbeats to the head (keep well below droverd's --node-timeout)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return 0;
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream in(path);
      if (!in) throw std::runtime_error("cannot read config file " + path);
      po::store(po::parse_config_file(in, opts), vm);  // the command line was stored first and wins
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "drover-noded: " << e.what() << "\n(see drover-noded --help)\n";
    return 2;
  }
  auto parsed_features = drover::parse_features(features);
  if (!parsed_features) {
    std::cerr << "drover-noded: --features: " << parsed_features.message() << "\n";
    return 2;
  }
  cfg.features = std::move(*parsed_features);
  cfg.kill_grace_ms = static_cast<std::int64_t>(grace_s * 1000);
  cfg.heartbeat_ms = static_cast<std::int64_t>(heartbeat_s * 1000);
  drover::log::set_name("drover-noded[" + cfg.node_name + "]");
  signal(SIGPIPE, SIG_IGN);
  try {
    drover::agent::NodeAgent agent(cfg);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    if (auto s = agent.start(); !s) {
      std::cerr << "drover-noded: " << s.message() << "\n";
      return 1;
    }
    const int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    bool kill_jobs = false;
    agent.loop().add(sfd, EPOLLIN, [&](std::uint32_t) {
      signalfd_siginfo si{};
      while (::read(sfd, &si, sizeof si) == sizeof si) {
        // SIGINT (drover down): stop the jobs too. SIGTERM: leave them running.
        kill_jobs = si.ssi_signo == SIGINT;
        agent.stop();
      }
    });
    agent.loop().run();
    if (kill_jobs) agent.kill_all_jobs();
  } catch (const std::exception& e) {
    std::cerr << "drover-noded: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// droverd: the head daemon. Options parsing, signals and the event loop.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "server/head.hpp"
#include "transport/log.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  drover::server::HeadConfig cfg;
  po::options_description opts(
      "droverd: the Drover head daemon (scheduler, state, API).\n"
      "Usually started by `drover up`. Example:\n"
      "  droverd --state-dir /var/lib/drover --socket /run/drover/droverd.sock \\\n"
      "          --agent-socket /run/drover/agents.sock\n\nOptions");
  std::string sync = "full";
  opts.add_options()("help,h", "show this help")(
      "state-dir", po::value(&cfg.state_dir)->required(), "directory for state.db (created if missing)")(
      "socket", po::value(&cfg.api_address)->required(), "Unix socket for users and the CLI")(
      "agent-socket", po::value(&cfg.agent_address)->required(),
      "where node agents connect: a Unix socket path, or tcp:HOST:PORT")(
      "default-queue", po::value(&cfg.default_queue)->default_value("default"),
      "queue for jobs submitted without --queue")(
      "init-local-node", po::value(&cfg.init_local_node),
      "create environment 'local' with this node and the default queue, if absent")(
      "sync", po::value(&sync)->default_value("full"),
      "full: fsync every commit (survives power loss); normal: survives a droverd crash only")(
      "admin-uid", po::value<unsigned>(), "a user besides root who may manage queues and nodes")(
      "keep-finished", po::value<double>()->default_value(300),
      "seconds a finished job stays in memory (then only in the store: history, show)")(
      "munge-socket", po::value(&cfg.munge_socket),
      "munged's socket, to check agents connecting over TCP (default: MUNGE's own, /run/munge/munge.socket.2)")(
      "node-timeout", po::value<double>()->default_value(120),
      "seconds without a heartbeat after which a node is lost: its jobs end (and are retried if their retry strategy says so)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("help")) {
      std::cout << opts << "\n";
      return 0;
    }
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "droverd: " << e.what() << "\n(see droverd --help)\n";
    return 2;
  }
  if (sync != "full" && sync != "normal") {
    std::cerr << "droverd: --sync must be full or normal\n";
    return 2;
  }
  cfg.synchronous_full = sync == "full";
  cfg.keep_finished_ms = static_cast<std::int64_t>(vm["keep-finished"].as<double>() * 1000);
  cfg.node_timeout_ms = static_cast<std::int64_t>(vm["node-timeout"].as<double>() * 1000);
  if (cfg.node_timeout_ms < 100) {
    std::cerr << "droverd: --node-timeout must be at least 0.1 seconds\n";
    return 2;
  }
  cfg.admin_uid = vm.count("admin-uid") ? vm["admin-uid"].as<unsigned>() : ::getuid();
  drover::log::set_name("droverd");

  try {
    drover::server::Head head(cfg);
    if (auto s = head.start(); !s) {
      std::cerr << "droverd: " << s.message() << "\n";
      return 1;
    }
    // SIGTERM/SIGINT stop cleanly; everything acknowledged is already on disk.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);
    const int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    head.loop().add(sfd, EPOLLIN, [&](std::uint32_t) {
      signalfd_siginfo si{};
      while (::read(sfd, &si, sizeof si) == sizeof si) {
        drover::log::info("signal " + std::to_string(si.ssi_signo) + ": stopping");
        head.stop();
      }
    });
    head.loop().run();
    head.loop().remove(sfd);
    ::close(sfd);
    drover::log::info("stopped");
  } catch (const std::exception& e) {
    std::cerr << "droverd: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// drover up / down / status: the embedded one-machine cluster.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/output.hpp"

namespace drover::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;
using proto::Json;

namespace {

// The daemons live next to the drover binary (build tree or install prefix).
std::string sibling(const std::string& name) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path p = self.parent_path() / name;
    if (fs::exists(p)) return p.string();
  }
  return name;  // from PATH
}

std::string hostname() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string h = host;
  if (auto dot = h.find('.'); dot != std::string::npos) h.resize(dot);
  return h.empty() ? "localhost" : h;
}

// Starts a daemon detached from this terminal, output appended to log.
Result<pid_t> spawn(const std::vector<std::string>& argv, const std::string& log) {
  const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (out < 0) return make_error("cannot open " + log, std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) return make_error("cannot start " + argv[0], std::strerror(errno));
  if (pid == 0) {
    ::setsid();
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "cannot run %s: %s\n", args[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(out);
  return pid;
}

void write_pid(const std::string& path, pid_t pid) { std::ofstream(path) << pid << "\n"; }

pid_t read_pid(const std::string& path) {
  std::ifstream in(path);
  pid_t p = 0;
  in >> p;
  return p;
}

bool alive(pid_t p) { return p > 0 && ::kill(p, 0) == 0; }

std::string tail_of(const std::string& log) {
  std::ifstream in(log);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.size() > 1500) all = all.substr(all.size() - 1500);
  return all;
}

}  // namespace

int cmd_up(const Global& g, const Args& args) {
  std::string dir = default_state_dir(), node = hostname(), topology;
  double grace = 10;
  po::options_description desc(
      "Usage: drover up [options]\n\nStart a one-machine cluster: droverd and one drover-noded for this machine,\n"
      "a compute environment 'local' with this node and the queue 'default'. State is kept\n"
      "under the state directory, so jobs survive `drover down` / `drover up`.\n\n"
      "Example:\n  drover up && drover submit --wrap hostname\n\nOptions");
  desc.add_options()("help,h", "show this help")("state-dir", po::value(&dir), "where state and logs go")(
      "node-name", po::value(&node), "this node's name (default: the host name)")(
      "topology-xml", po::value(&topology), "pretend this machine has the hwloc XML topology (testing)")(
      "kill-grace", po::value(&grace), "seconds from SIGTERM to SIGKILL when stopping a job (10)");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  po::notify(vm);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("up", "cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0755);
  const std::string sock = g.socket.empty() ? dir + "/droverd.sock" : g.socket;
  const std::string agents = dir + "/agents.sock";

  if (auto c = ApiClient::connect(sock)) {
    if (c->call("Status", Json::object(), 5000)) {
      std::cout << "Drover is already up (state in " << dir << "). `drover down` stops it.\n";
      return 0;
    }
  }
  auto head = spawn({sibling("droverd"), "--state-dir", dir, "--socket", sock, "--agent-socket", agents,
                     "--init-local-node", node},
                    dir + "/droverd.log");
  if (!head) return fail("up", head.message());
  write_pid(dir + "/droverd.pid", *head);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!alive(*head)) break;
    if (auto c = ApiClient::connect(sock)) ready = static_cast<bool>(c->call("Status", Json::object(), 2000));
  }
  if (!ready)
    return fail("up", "droverd did not start; its log (" + dir + "/droverd.log) ends with:\n" + tail_of(dir + "/droverd.log"));

  std::vector<std::string> agent_argv = {sibling("drover-noded"), "--head", agents, "--name", node,
                                         "--state-dir", dir + "/node", "--kill-grace", std::to_string(grace)};
  if (!topology.empty()) {
    agent_argv.push_back("--topology-xml");
    agent_argv.push_back(topology);
  }
  auto agent = spawn(agent_argv, dir + "/noded.log");
  if (!agent) return fail("up", agent.message());
  write_pid(dir + "/noded.pid", *agent);
  Json me;
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!alive(*agent)) break;
    auto c = ApiClient::connect(sock);
    if (!c) continue;
    auto r = c->call("ListNodes");
    if (!r) continue;
    for (const auto& n : (*r)["nodes"])
      if (str(n, "nodeName") == node && n.value("connected", false)) me = n;
    if (!me.is_null()) break;
  }
  if (me.is_null())
    return fail("up", "drover-noded did not connect; its log (" + dir + "/noded.log) ends with:\n" + tail_of(dir + "/noded.log"));
  std::cout << "Drover is up: node " << node << " (" << num(me, "vcpus") << " CPUs, " << num(me, "memoryMiB")
            << " MiB, " << num(me, "gpus") << " GPUs), queue 'default'.\n"
            << "State and logs: " << dir << "\n"
            << "Try: drover submit --wrap \"hostname\" && drover jobs\n";
  return 0;
}

int cmd_down(const Global& g, const Args& args) {
  std::string dir = default_state_dir();
  po::options_description desc(
      "Usage: drover down [--state-dir DIR]\n\nStop the cluster started by `drover up`. Running jobs are "
      "stopped; queued jobs stay queued for the next `drover up`.\n\nExample:\n  drover down && drover up\n\nOptions");
  desc.add_options()("help,h", "show this help")("state-dir", po::value(&dir), "the cluster's state directory");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  po::notify(vm);
  const pid_t agent = read_pid(dir + "/noded.pid");
  const pid_t head = read_pid(dir + "/droverd.pid");
  if (!alive(agent) && !alive(head)) {
    std::cout << "Drover is not running (state in " << dir << ").\n";
    return 0;
  }
  // Agent first (SIGINT: stop its jobs), so the head records nothing odd.
  auto stop = [](pid_t p, int sig) {
    if (!alive(p)) return;
    ::kill(p, sig);
    for (int i = 0; i < 200 && alive(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (alive(p)) ::kill(p, SIGKILL);
  };
  stop(agent, SIGINT);
  stop(head, SIGTERM);
  std::filesystem::remove(dir + "/noded.pid");
  std::filesystem::remove(dir + "/droverd.pid");
  std::cout << "Drover stopped.\n";
  return 0;
}

int cmd_status(const Global& g, const Args& args) {
  po::options_description desc("Usage: drover status [--json]\n\nWhat runs: the head, its nodes, job counts.\n\nExample:\n  drover status --json\n\nOptions");
  desc.add_options()("help,h", "show this help")("json", "JSON");
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(desc).run(), vm);
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  const std::string sock = g.socket.empty() ? default_socket_path() : g.socket;
  auto c = ApiClient::connect(sock);
  if (!c) {
    std::cout << "droverd: not reachable at " << sock << " (start one with: drover up)\n";
    return 3;
  }
  auto r = c->call("Status");
  if (!r) return fail("status", r.message());
  if (vm.count("json")) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  std::cout << "droverd: running (pid " << num(*r, "pid") << ", since " << format_time(num(*r, "startedAt"))
            << ")\n  socket: " << str(*r, "apiAddress") << "\n  state:  " << str(*r, "stateDir")
            << "\n  default queue: " << str(*r, "defaultQueue") << "\nnodes:";
  for (const auto& n : (*r)["nodes"])
    std::cout << " " << str(n, "nodeName") << " (" << str(n, "state") << (n.value("connected", false) ? "" : ", not connected") << ")";
  std::cout << "\njobs:";
  for (auto it = (*r)["jobs"].begin(); it != (*r)["jobs"].end(); ++it) std::cout << " " << it.key() << "=" << it.value();
  std::cout << "\n";
  return 0;
}

}  // namespace drover::cli

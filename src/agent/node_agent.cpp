#include "agent/node_agent.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/job_environment.hpp"
#include "place/discovery.hpp"
#include "place/memory_nodes.hpp"
#include "transport/log.hpp"
#include "transport/munge_credential.hpp"

namespace drover::agent {

using proto::Json;

namespace {
constexpr const char* kTimeoutReason = "Job attempt duration exceeded timeout";
constexpr const char* kOomReason = "OutOfMemoryError: Container killed due to memory usage";

// When the newest committed checkpoint in a job's checkpoint directory was
// written (epoch ms; 0: none): its manifest's modification time. A committed
// checkpoint is a directory ckpt-<step> with a manifest.json (docs/CHECKPOINT.md).
std::int64_t newest_checkpoint_ms(const std::string& dir) {
  std::int64_t newest = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("ckpt-", 0) != 0) continue;
    struct stat st {};
    if (::stat((it->path() / "manifest.json").c_str(), &st) != 0) continue;
    newest = std::max<std::int64_t>(newest, static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000 +
                                                st.st_mtim.tv_nsec / 1'000'000);
  }
  return newest;
}
}  // namespace

NodeAgent::NodeAgent(AgentConfig config)
    : config_(std::move(config)), scripts_(config_.state_dir + "/scripts") {}

NodeAgent::~NodeAgent() {
  if (sigchld_fd_ >= 0) {
    loop_.remove(sigchld_fd_);
    ::close(sigchld_fd_);
  }
}

Status NodeAgent::start() {
  auto topo = place::discover_topology(config_.topology_xml);
  if (!topo) return topo.error();
  topology_ = std::move(*topo);
  cgroups_ = detect_cgroups(config_.cgroup_parent);
  if (cgroups_.mode == CgroupMode::None)
    log::warn("no usable cgroups (" + cgroups_.why_none +
              "): jobs run without memory limits or CPU sets, only CPU affinity");
  else
    log::info(std::string("cgroups: ") + (cgroups_.mode == CgroupMode::V1 ? "v1" : "v2"));
  if (auto st = find_gpu_files(); !st) return st;
  clear_stale_jobs();
  std::error_code ec;
  std::filesystem::create_directories(config_.state_dir + "/jobs", ec);
  if (ec) return make_error("cannot create " + config_.state_dir + "/jobs", ec.message());
  ::chmod((config_.state_dir + "/jobs").c_str(), 0711);
  // Shared scripts of an earlier agent: their jobs were cleared above.
  std::filesystem::remove_all(config_.state_dir + "/scripts", ec);
  std::filesystem::create_directories(config_.state_dir + "/scripts", ec);
  if (ec) return make_error("cannot create " + config_.state_dir + "/scripts", ec.message());
  ::chmod((config_.state_dir + "/scripts").c_str(), 0711);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  sigchld_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  loop_.add(sigchld_fd_, EPOLLIN, [this](std::uint32_t) {
    signalfd_siginfo si{};
    while (::read(sigchld_fd_, &si, sizeof si) == sizeof si) {
    }
    reap();
  });
  heartbeat();
  if (auto st = start_step_service(); !st) return st;
  log::info("node " + config_.node_name + ": " + std::to_string(topology_.pu_count()) + " PUs, " +
            std::to_string(topology_.numa.size()) + " NUMA, " + std::to_string(topology_.memory_mib) +
            " MiB, " + std::to_string(topology_.gpus.size()) + " GPUs; head at " + config_.head_address);
  connect();
  return {};
}

Status NodeAgent::start_step_service() {
  if (config_.listen_address.empty()) return {};
  step_server_ = std::make_unique<StepServer>(loop_, config_.node_name, config_.munge_socket,
                                              [this](std::int64_t id) { return step_target(id); });
  if (config_.kill_grace_ms < step_server_->kill_grace_ms()) step_server_->set_kill_grace_ms(config_.kill_grace_ms);
  if (auto st = step_server_->listen(config_.listen_address); !st) return st;
  log::info("step service (drover-launch) listening on " + step_server_->address() + ", MUNGE socket " +
            (config_.munge_socket.empty() ? "(default)" : config_.munge_socket));
  return {};
}

// Each GPU's device files, so that a job's cgroup denies those of the GPUs it
// was not given. Said once at start when that cannot be done.
Status NodeAgent::find_gpu_files() {
  if (topology_.gpus.empty()) return {};
  std::vector<std::string> missing;
  if (!config_.gpu_devices.empty()) {
    auto parsed = parse_gpu_devices_option(config_.gpu_devices, static_cast<int>(topology_.gpus.size()));
    if (!parsed) return parsed.error();
    gpu_files_ = std::move(*parsed);
    for (const auto& g : topology_.gpus)
      if (std::none_of(gpu_files_.begin(), gpu_files_.end(), [&](const auto& f) { return f.gpu == g.index; }))
        missing.push_back("GPU " + std::to_string(g.index));
  } else {
    gpu_files_ = find_gpu_device_files(topology_, DeviceRoots{}, &missing);
  }
  std::string found;
  for (const auto& g : gpu_files_)
    for (const auto& f : g.files) found += (found.empty() ? "" : ", ") + std::to_string(g.gpu) + "=" + f.path;
  if (!found.empty()) log::info("GPU device files: " + found);
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    log::warn("no device file found for " + names +
              ": jobs are not kept off it (set gpu-devices, e.g. gpu-devices = 0=/dev/nvidia0)");
  }
  if (!found.empty() && !cgroups_.devices) {
    log::warn("GPU device isolation is not available (" +
              (cgroups_.why_none.empty() ? cgroups_.why_no_devices : cgroups_.why_none) +
              "): jobs see their GPUs through CUDA_VISIBLE_DEVICES and the like, but can open every GPU");
    gpu_files_.clear();
  }
  return {};
}

// What a job's cgroup here enforces: memory, CPUs, the NUMA nodes of those CPUs,
// and no access to the device files of GPUs it was not given.
CgroupLimits NodeAgent::cgroup_limits(const proto::LaunchOrder& o) const {
  CgroupLimits limits;
  limits.memory_limit_mib = o.memory_mib;
  limits.cpus = o.cpus;
  // The NUMA nodes of its PUs, widened where other jobs' memory leaves them too little.
  limits.mems = place::memory_nodes(topology_, o.cpus, o.memory_mib, numa_memory_used());
  if (const auto own = place::memory_nodes(topology_, o.cpus, 0); limits.mems.size() > own.size()) {
    std::string list;
    for (int m : limits.mems) list += (list.empty() ? "" : ",") + std::to_string(m);
    log::info("job " + std::to_string(o.job_id) + ": " + std::to_string(o.memory_mib) +
              " MiB do not fit what its CPUs' NUMA nodes have left; memory on NUMA nodes " + list);
  }
  limits.denied_devices = denied_device_files(gpu_files_, o.gpus);
  return limits;
}

std::vector<std::int64_t> NodeAgent::numa_memory_used() const {
  std::vector<std::int64_t> used(topology_.numa.size(), 0);
  for (const auto& [id, j] : jobs_)
    for (std::size_t i = 0; i < used.size() && i < j.numa_memory.size(); ++i) used[i] += j.numa_memory[i];
  return used;
}

std::optional<StepTarget> NodeAgent::step_target(std::int64_t job_id) const {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return std::nullopt;
  const proto::LaunchOrder& o = it->second.order;
  StepTarget t;
  t.uid = o.uid;
  t.gid = o.gid;
  t.user = o.user;
  t.working_dir = o.working_dir;
  t.cpus = o.cpus;
  t.gpus = o.gpus;
  t.cgroup = &it->second.launched.cgroup;
  // What is this node's own in a job's environment; the rest comes from the client.
  auto join = [](const std::vector<int>& v) {
    std::string s;
    for (int x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
  };
  // Variables that describe this node (its index, name, CPUs) come from this
  // node's launch order, not from mpirun on the main node.
  for (const char* name : {"DROVER_NODE_NAME", "DROVER_NODE_INDEX", "DROVER_CPUS", "SLURM_NODEID", "SLURMD_NODENAME",
                           "SLURM_CPUS_ON_NODE", "SLURM_NTASKS_PER_NODE", "AWS_BATCH_JOB_NODE_INDEX",
                           "AWS_BATCH_JOB_MAIN_NODE_PRIVATE_IPV4_ADDRESS"})
    if (const std::string* v = find_value(o.environment, name)) set_value(t.environment_overrides, name, *v);
  if (!o.cpus.empty()) set_value(t.environment_overrides, "DROVER_CPU_LIST", join(o.cpus));
  // This node's GPUs, in its tasks' order as the head gave them (DROVER_TASK_GPUS:
  // each task's own), not the main node's.
  if (!o.gpus.empty()) {
    for (const char* name : {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "ZE_AFFINITY_MASK", "DROVER_GPUS"}) {
      const std::string* v = find_value(o.environment, name);
      set_value(t.environment_overrides, name, v ? *v : join(o.gpus));
    }
    const std::string* per_task = find_value(o.environment, "DROVER_TASK_GPUS");
    set_value(t.environment_overrides, "DROVER_TASK_GPUS", per_task ? *per_task : "");
  }
  return t;
}

void NodeAgent::clear_stale_jobs() {
  // Job cgroups of an earlier agent (killed, crashed) under our parent. This agent
  // does not adopt their jobs, so the head reports them lost once we say hello and
  // hands their CPUs and memory out again: what still runs of them must go first.
  std::set<std::string> names;
  for (const std::string& base : {cgroups_.v1_memory, cgroups_.v1_cpuset, cgroups_.v1_devices, cgroups_.v2_dir}) {
    if (base.empty()) continue;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(base, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("job_", 0) == 0 && entry.is_directory(ec)) names.insert(name);
    }
  }
  for (const auto& name : names) {
    const JobCgroup stale = JobCgroup::open(cgroups_, name);
    const auto left = stale.pids().size();
    if (auto st = stale.kill_all(); !st) log::warn(st.message());
    if (auto st = stale.remove(); !st) log::warn(st.message());
    if (name.rfind("job_idle", 0) == 0 && left == 0) continue;  // kept for reuse (CgroupPool), held nothing
    log::warn("cleared " + name + " left by an earlier agent (" + std::to_string(left) +
              " processes killed)");
  }
}

void NodeAgent::schedule_reconnect() {
  if (reconnect_pending_) return;
  reconnect_pending_ = true;
  loop_.after(config_.reconnect_ms, [this] {
    reconnect_pending_ = false;
    connect();
  });
}

void NodeAgent::connect() {
  auto addr = transport::Address::parse(config_.head_address);
  if (!addr) {
    log::error(addr.message());
    return;
  }
  tcp_ = addr->tcp;
  std::string credential;
  if (tcp_) {
    auto cred = transport::munge_encode(proto::hello_payload(config_.node_name), config_.munge_socket);
    if (!cred) {
      log::error(cred.message() + "; retrying");
      schedule_reconnect();
      return;
    }
    credential = std::move(*cred);
  }
  auto fd = transport::connect_to(*addr);
  if (!fd) {
    schedule_reconnect();
    return;
  }
  welcomed_ = !tcp_;
  environment_bases_.clear();  // the head sends them again on a new connection
  started_.clear();            // the hello lists every running job
  if (started_timer_) loop_.cancel(started_timer_);
  started_timer_ = 0;
  conn_ = transport::Connection::adopt(loop_, *fd, proto::kDefaultMaxFrame);
  conn_->on_message([this](const auto&, std::string f) { on_message(std::move(f)); });
  conn_->on_close([this](const auto&, const std::string& why) {
    log::warn("lost the head (" + why + "); " + std::to_string(jobs_.size()) +
              " jobs keep running; reconnecting");
    loop_.defer([this] { conn_.reset(); });
    schedule_reconnect();
  });
  conn_->start();
  proto::AgentHello hello;
  hello.node_name = config_.node_name;
  hello.credential = std::move(credential);
  if (step_server_) {
    // Listening on every address: tell the head the one it reaches us by.
    std::string a = step_server_->address();
    const std::string any = "tcp:0.0.0.0:";
    if (a.rfind(any, 0) == 0 && !conn_->local_ip().empty()) a = "tcp:" + conn_->local_ip() + ":" + a.substr(any.size());
    hello.step_address = a;
  }
  hello.topology = topology_;
  hello.features = config_.features;
  for (const auto& [id, j] : jobs_)
    hello.running.push_back({id, j.order.attempt, j.started_at});
  for (const auto& [id, e] : unacked_) hello.exited.push_back(e);
  conn_->send(proto::dump(proto::to_json(hello)));
  log::info("connected to the head");
}

void NodeAgent::heartbeat() {
  if (welcomed_) send(Json{{"type", "heartbeat"}});
  loop_.after(std::max<std::int64_t>(50, config_.heartbeat_ms), [this] { heartbeat(); });
}

void NodeAgent::send(const Json& j) {
  if (!conn_ || !conn_->open()) return;
  for (const auto& frame : started_) conn_->queue(frame);  // before anything that follows them
  started_.clear();
  if (started_timer_) loop_.cancel(started_timer_);
  started_timer_ = 0;
  conn_->send(proto::dump(j));
}

void NodeAgent::on_message(std::string frame) {
  // A launch order comes for every job and every task of an array: read it
  // without building a Json value. Anything else, or a launch it does not
  // take, goes the general way below.
  if (welcomed_)
    if (auto o = proto::read_launch_frame(frame)) {
      if (resolve_environment(*o)) on_launch(*o);
      return;
    }
  Json m = Json::parse(frame, nullptr, false);
  if (m.is_discarded() || !m.is_object()) {
    log::warn("garbled message from the head; ignored");
    return;
  }
  const std::string type = m.value("type", "");
  if (type == "welcome") {
    // Over TCP nothing is obeyed before the head has proved who it is.
    auto id = transport::munge_decode(m.value("credential", ""), config_.munge_socket);
    if (!id || (id->uid != 0 && id->uid != ::getuid()) ||
        id->payload != proto::welcome_payload(config_.node_name)) {
      log::error("the head's welcome is not genuine (" + (id ? "uid " + std::to_string(id->uid) + ", '" + id->payload + "'" : id.message()) +
                 "): disconnecting");
      if (conn_) conn_->close("bad welcome");
      return;
    }
    welcomed_ = true;
    log::info("the head is authenticated (MUNGE)");
    return;
  }
  if (m.contains("ok") && !m.value("ok", true)) {
    log::error("the head refused this agent: " + m.value("error", ""));
    return;
  }
  if (!welcomed_) {
    log::warn("message '" + type + "' before the head's welcome: ignored");
    return;
  }
  if (type == "launch") {
    auto o = proto::launch_order_from_json(m);
    if (!o) return log::warn(o.message());
    if (resolve_environment(*o)) on_launch(*o);
  } else if (type == "kill") {
    on_kill(m.value("jobId", std::int64_t{0}), m.value("attempt", 0), m.value("reason", ""));
  } else if (type == "signal") {
    auto o = proto::signal_order_from_json(m);
    if (!o) return log::warn(o.message());
    auto it = jobs_.find(o->job_id);
    if (it == jobs_.end() || (o->attempt && it->second.order.attempt != o->attempt)) return;
    send_signal(it->second, o->signal, o->batch_only, "asked by the head");
  } else if (type == "ack_exit") {
    auto it = unacked_.find(m.value("jobId", std::int64_t{0}));
    if (it != unacked_.end() && it->second.attempt == m.value("attempt", 0)) unacked_.erase(it);
  } else if (m.contains("ok") && !m.value("ok", true)) {
    log::error("the head refused this agent: " + m.value("error", ""));
  } else {
    log::warn("unknown message from the head: " + type);
  }
}

bool NodeAgent::resolve_environment(proto::LaunchOrder& o) {
  if (!o.environment_base) return true;
  auto at = std::find_if(environment_bases_.begin(), environment_bases_.end(),
                         [&](const auto& b) { return b.first == o.environment_base; });
  if (o.has_base_environment) {
    if (at != environment_bases_.end()) environment_bases_.erase(at);
    if (environment_bases_.size() >= kEnvironmentBases) environment_bases_.pop_back();
    environment_bases_.emplace(environment_bases_.begin(), o.environment_base, std::move(o.base_environment));
    o.base_environment.clear();
    o.has_base_environment = false;
  } else if (at == environment_bases_.end()) {
    // The head sends a base with the first order that needs it on a connection:
    // this cannot happen unless the two are out of step.
    const std::string why = std::string(proto::kNoEnvironmentBase) + " " + std::to_string(o.environment_base);
    log::error("job " + std::to_string(o.job_id) + ": " + why);
    proto::ExitReport r;
    r.job_id = o.job_id;
    r.attempt = o.attempt;
    r.at = transport::epoch_ms();
    r.reason = why;
    report(r);
    return false;
  } else {
    std::rotate(environment_bases_.begin(), at, at + 1);  // most recently used first, as the head orders them
  }
  KeyValues env = environment_bases_.front().second;
  set_over(env, o.environment);
  o.environment = std::move(env);
  o.environment_base = 0;
  return true;
}

void NodeAgent::on_launch(const proto::LaunchOrder& o) {
  if (auto it = jobs_.find(o.job_id); it != jobs_.end()) {
    RunningJob& earlier = it->second;
    if (o.attempt <= earlier.order.attempt) {
      log::warn("job " + std::to_string(o.job_id) + " is already running here; launch ignored");
      return;
    }
    // The head has moved on: a lost node ended the earlier attempt and the job was
    // requeued and placed here again while its processes here are still being killed
    // (the head's kill may even come after this launch). The new attempt starts once
    // the earlier one has stopped: the two never share the job's cgroup or CPUs.
    log::info("job " + std::to_string(o.job_id) + ": attempt " + std::to_string(o.attempt) +
              " starts once attempt " + std::to_string(earlier.order.attempt) + " has stopped here");
    if (earlier.kill_reason.empty()) {
      earlier.kill_reason = "superseded by attempt " + std::to_string(o.attempt);
      terminate(earlier);
    }
    deferred_launches_[o.job_id] = o;
    return;
  }
  // Other nodes of a multi-node job hold its cgroup for mpirun's daemons; a
  // node group with its own command (AWS nodeRangeProperties) also runs that.
  if (o.member() && o.argv.empty()) return launch_member(o);
  LaunchSpec spec;
  spec.job_id = o.job_id;
  spec.uid = o.uid;
  spec.gid = o.gid;
  spec.user = o.user;
  spec.argv = o.argv;
  spec.script = o.script;
  spec.environment = o.environment;
  spec.working_dir = o.working_dir;
  spec.stdout_path = o.stdout_path;
  spec.stderr_path = o.stderr_path;
  spec.cpus = o.cpus;
  spec.memory_limit_mib = o.memory_mib;
  const CgroupLimits limits = cgroup_limits(o);
  spec.mems = limits.mems;
  spec.denied_devices = limits.denied_devices;
  spec.append_output = o.append_output;
  spec.job_dir = config_.state_dir + "/jobs/" + std::to_string(o.job_id);
  // An array's tasks run one script: one file for all of them, not one each.
  spec.scripts = &scripts_;
  spec.cgroup_pool = &cgroup_pool_;
  if (o.checkpoint_signal && !o.member()) spec.make_dir = o.checkpoint_dir;
  if (!o.hostfile.empty()) {
    // The main node of a multi-node job: mpirun finds the allocation in the
    // hostfile and starts its daemons on the other nodes through drover-launch.
    const std::string hostfile = spec.job_dir + "/hostfile";
    std::error_code ec;
    std::filesystem::create_directories(spec.job_dir, ec);
    if (FILE* f = ::fopen(hostfile.c_str(), "we")) {
      std::fwrite(o.hostfile.data(), 1, o.hostfile.size(), f);
      std::fclose(f);
      ::chmod(hostfile.c_str(), 0644);
    }
    // The job's own directory, as a script written there would make it (with a
    // shared script, none is).
    (void)::chown(spec.job_dir.c_str(), o.uid, o.gid);
    ::chmod(spec.job_dir.c_str(), 0700);
    std::string launcher = config_.launcher_path;
    if (launcher.empty()) {
      std::error_code e2;
      launcher = std::filesystem::read_symlink("/proc/self/exe", e2).parent_path().string() + "/drover-launch";
    }
    set_value(spec.environment, "DROVER_HOSTFILE", hostfile);
    set_value(spec.environment, "OMPI_MCA_orte_default_hostfile", hostfile);
    set_value(spec.environment, "OMPI_MCA_plm", "rsh");
    set_value(spec.environment, "OMPI_MCA_plm_rsh_agent", launcher);
    if (!config_.munge_socket.empty()) set_value(spec.environment, "DROVER_MUNGE_SOCKET", config_.munge_socket);
  }
  if (!o.rankfile.empty()) {
    // Each rank on its own PUs of the plan: a plain `mpirun` reads this rankfile
    // (PU OS indexes, so physical, hardware threads as CPUs). `mpirun -np K` with
    // K up to the job's tasks uses its first K lines.
    const std::string rankfile = spec.job_dir + "/rankfile";
    std::error_code ec;
    std::filesystem::create_directories(spec.job_dir, ec);
    if (FILE* f = ::fopen(rankfile.c_str(), "we")) {
      const bool ok = std::fwrite(o.rankfile.data(), 1, o.rankfile.size(), f) == o.rankfile.size();
      if (std::fclose(f) == 0 && ok) {
        ::chmod(rankfile.c_str(), 0644);
        set_value(spec.environment, "DROVER_RANKFILE", rankfile);
        set_value(spec.environment, "OMPI_MCA_rmaps_rank_file_path", rankfile);
        set_value(spec.environment, "OMPI_MCA_rmaps_rank_file_physical", "1");
        set_value(spec.environment, "OMPI_MCA_hwloc_base_use_hwthreads_as_cpus", "1");
      }
    } else {
      log::warn("job " + std::to_string(o.job_id) + ": cannot write " + rankfile + ": " + std::strerror(errno) +
                "; its ranks are bound by mpirun");
    }
  }
  auto launched = launch_job(spec, cgroups_);
  const auto now = transport::epoch_ms();
  if (!launched) {
    log::warn("job " + std::to_string(o.job_id) + " could not start: " + launched.message());
    proto::ExitReport r;
    r.job_id = o.job_id;
    r.attempt = o.attempt;
    r.at = now;
    r.reason = "cannot start: " + launched.message();
    report(r);
    return;
  }
  RunningJob& j = jobs_[o.job_id];
  j.numa_memory = place::memory_share(topology_, o.cpus, limits.mems, o.memory_mib, numa_memory_used());
  j.order = o;
  j.launched = std::move(*launched);
  j.started_at = now;
  job_of_pid_[j.launched.pid] = o.job_id;
  if (o.timeout_seconds > 0 && !o.member()) {  // the main node enforces the limit
    const auto id = o.job_id;
    j.timeout_timer = loop_.after(o.timeout_seconds * 1000, [this, id] {
      auto it = jobs_.find(id);
      if (it == jobs_.end()) return;
      it->second.timeout_timer = 0;
      it->second.timed_out = true;
      log::info("job " + std::to_string(id) + " reached its time limit");
      terminate(it->second);
    });
  }
  arm_checkpoint_timer(j);
  report_started(proto::RunningReport{o.job_id, o.attempt, now});
}

// "Started" waits up to kStartedDelayMs for the next message to the head (a
// trivial job's exit report, another job's start) and goes out in the same
// write: the head wakes once for both. Its time is the one taken at the start.
void NodeAgent::report_started(const proto::RunningReport& r) {
  started_.push_back(proto::dump(proto::to_json(r)));
  if (!started_timer_)
    started_timer_ = loop_.after(kStartedDelayMs, [this] {
      started_timer_ = 0;
      send_started();
    });
}

void NodeAgent::send_started() {
  if (started_timer_) loop_.cancel(started_timer_);
  started_timer_ = 0;
  if (conn_ && conn_->open()) {
    for (const auto& frame : started_) conn_->queue(frame);
    conn_->send_queued();
  }
  started_.clear();
}

// A job that checkpoints gets its signal checkpoint_seconds before its time
// limit (at once when the limit is shorter), on every node of it.
void NodeAgent::arm_checkpoint_timer(RunningJob& j) {
  const auto& o = j.order;
  if (!o.checkpoint_signal || o.timeout_seconds <= 0) return;
  const auto id = o.job_id;
  const std::int64_t at_ms = std::max<std::int64_t>(0, o.timeout_seconds - o.checkpoint_seconds) * 1000;
  j.checkpoint_timer = loop_.after(at_ms, [this, id] {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    it->second.checkpoint_timer = 0;
    const auto& o = it->second.order;
    send_signal(it->second, o.checkpoint_signal, o.checkpoint_batch_only,
                std::to_string(o.checkpoint_seconds) + " s before its time limit");
  });
}

void NodeAgent::send_signal(RunningJob& j, int sig, bool batch_only, const std::string& why) {
  const auto id = std::to_string(j.order.job_id);
  if (batch_only) {
    if (j.order.member()) return;  // the batch shell runs on the main node
    if (j.launched.pid > 0) ::kill(j.launched.pid, sig);
    log::info("job " + id + ": signal " + std::to_string(sig) + " to its batch shell (" + why + ")");
    return;
  }
  const int n = signal_job_handlers(j.launched, sig);
  if (n == 0)
    log::warn("job " + id + ": no process here handles signal " + std::to_string(sig) + " (" + why +
              "); none was sent, it would only have killed them");
  else
    log::info("job " + id + ": signal " + std::to_string(sig) + " to " + std::to_string(n) +
              (n == 1 ? " process" : " processes") + " (" + why + ")");
}

// A node of a multi-node job other than its main node: the job's cgroup and
// binding, and no process until mpirun starts one here through drover-launch.
void NodeAgent::launch_member(const proto::LaunchOrder& o) {
  const auto now = transport::epoch_ms();
  const CgroupLimits limits = cgroup_limits(o);
  auto cg = JobCgroup::create(cgroups_, "job_" + std::to_string(o.job_id), limits);
  if (!cg) {
    log::warn("job " + std::to_string(o.job_id) + " could not start here: " + cg.message());
    proto::ExitReport r;
    r.job_id = o.job_id;
    r.attempt = o.attempt;
    r.at = now;
    r.reason = "cannot start: " + cg.message();
    report(r);
    return;
  }
  RunningJob& j = jobs_[o.job_id];
  j.numa_memory = place::memory_share(topology_, o.cpus, limits.mems, o.memory_mib, numa_memory_used());
  j.order = o;
  j.launched.cgroup = std::move(*cg);
  j.started_at = now;
  arm_checkpoint_timer(j);
  log::info("job " + std::to_string(o.job_id) + ": node " + std::to_string(o.node_index) + " of " +
            std::to_string(o.num_nodes) + " ready");
  send(proto::to_json(proto::RunningReport{o.job_id, o.attempt, now}));
}

void NodeAgent::end_member(std::int64_t job_id, int attempt) {
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || it->second.order.attempt != attempt) return;
  RunningJob& j = it->second;
  if (j.kill_timer) loop_.cancel(j.kill_timer);
  if (j.checkpoint_timer) loop_.cancel(j.checkpoint_timer);
  if (step_server_) step_server_->kill_steps(job_id);
  if (j.launched.pid > 0) ::kill(-j.launched.pid, SIGKILL);
  (void)j.launched.cgroup.kill_all();
  if (j.launched.pid > 0)
    loop_.defer([cgroup = j.launched.cgroup] { (void)cgroup.remove(); });  // once the program is reaped
  else
    (void)j.launched.cgroup.remove();
  proto::ExitReport r;
  r.job_id = job_id;
  r.attempt = j.order.attempt;
  r.at = transport::epoch_ms();
  r.exit_code = 0;
  r.reason = j.kill_reason;
  log::info("job " + std::to_string(job_id) + ": its part on this node ended (" + j.kill_reason + ")");
  jobs_.erase(it);
  report(r);
  loop_.defer([this, job_id] { start_deferred_launch(job_id); });
}

void NodeAgent::start_deferred_launch(std::int64_t job_id) {
  auto d = deferred_launches_.find(job_id);
  if (d == deferred_launches_.end() || jobs_.count(job_id)) return;
  const proto::LaunchOrder o = std::move(d->second);
  deferred_launches_.erase(d);
  log::info("job " + std::to_string(job_id) + ": starting attempt " + std::to_string(o.attempt));
  on_launch(o);
}

void NodeAgent::terminate(RunningJob& job) {
  if (job.order.member()) {
    // Processes started here by drover-launch get SIGTERM, then the rest of
    // the grace period; with none left the part ends at once.
    const auto id = job.order.job_id;
    const int attempt = job.order.attempt;
    if (step_server_) step_server_->kill_steps(id, job.kill_reason.empty() ? "the job ended" : job.kill_reason);
    const bool program = job.launched.pid > 0;  // a node group's own program still runs
    if (program) ::kill(-job.launched.pid, SIGTERM);
    if (job.launched.cgroup.signal_all(SIGTERM) == 0 && !program &&
        (!step_server_ || step_server_->step_count() == 0)) {
      loop_.defer([this, id, attempt] { end_member(id, attempt); });
      return;
    }
    if (!job.kill_timer)
      job.kill_timer = loop_.after(config_.kill_grace_ms, [this, id, attempt] { end_member(id, attempt); });
    return;
  }
  signal_job(job.launched, SIGTERM);
  if (step_server_)
    step_server_->kill_steps(job.order.job_id, job.timed_out ? "the job reached its time limit"
                                               : job.kill_reason.empty() ? "the job was killed"
                                                                        : "the job was killed: " + job.kill_reason);
  if (job.kill_timer) return;
  const auto id = job.order.job_id;
  job.kill_timer = loop_.after(config_.kill_grace_ms, [this, id] {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return;
    it->second.kill_timer = 0;
    signal_job(it->second.launched, SIGKILL);
    (void)it->second.launched.cgroup.kill_all();
  });
}

void NodeAgent::on_kill(std::int64_t job_id, int attempt, const std::string& reason) {
  if (auto d = deferred_launches_.find(job_id);
      d != deferred_launches_.end() && (!attempt || d->second.attempt == attempt)) {
    // Killed before it could start: it ends without having run.
    proto::ExitReport r;
    r.job_id = job_id;
    r.attempt = d->second.attempt;
    r.at = transport::epoch_ms();
    r.reason = reason;
    deferred_launches_.erase(d);
    log::info("job " + std::to_string(job_id) + ": attempt " + std::to_string(r.attempt) +
              " killed before it started: " + reason);
    report(r);
    if (attempt) return;
  }
  auto it = jobs_.find(job_id);
  if (it == jobs_.end() || (attempt && it->second.order.attempt != attempt)) return;
  log::info("killing job " + std::to_string(job_id) + ": " + reason);
  it->second.kill_reason = reason;
  terminate(it->second);
}

void NodeAgent::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (!job_of_pid_.count(pid) && step_server_ && step_server_->on_child_exit(pid, status)) continue;
    finish(pid, status);
  }
}

void NodeAgent::finish(pid_t pid, int wait_status) {
  auto p = job_of_pid_.find(pid);
  if (p == job_of_pid_.end()) return;  // a grandchild reparented to us, or unknown
  const auto id = p->second;
  job_of_pid_.erase(p);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  RunningJob& j = it->second;
  if (j.order.member()) {
    // A node group's own program ended (AWS nodeRangeProperties): the job goes
    // on until its main node's process ends; this node's part stays for mpirun.
    const ExitStatus es = decode_wait_status(wait_status);
    log::info("job " + std::to_string(id) + ": the program of node " + std::to_string(j.order.node_index) +
              " ended: " + (es.signal ? "signal " + std::to_string(es.signal) : "exit " + std::to_string(es.exit_code)));
    j.launched.pid = -1;
    if (j.kill_timer && j.launched.cgroup.pids().empty() && (!step_server_ || step_server_->step_count() == 0)) {
      const int attempt = j.order.attempt;
      loop_.defer([this, id, attempt] { end_member(id, attempt); });
    }
    return;
  }
  if (j.timeout_timer) loop_.cancel(j.timeout_timer);
  if (j.kill_timer) loop_.cancel(j.kill_timer);
  if (j.checkpoint_timer) loop_.cancel(j.checkpoint_timer);
  const bool oom = j.launched.cgroup.oom_killed();
  // The job ends when its main process ends: nothing it started may outlive it.
  (void)j.launched.cgroup.kill_all();
  if (!j.launched.cgroup.active()) ::kill(-pid, SIGKILL);
  // The report goes first; the cgroup (now empty) and the job's directory are
  // removed at the end of this loop turn, before any new order can arrive.
  loop_.defer([this, cgroup = j.launched.cgroup, trusted = j.order.uid != 0,
               dir = config_.state_dir + "/jobs/" + std::to_string(id)] {
    cgroup_pool_.release(cgroups_, cgroup, trusted);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  });

  const ExitStatus es = decode_wait_status(wait_status);
  proto::ExitReport r;
  r.job_id = id;
  r.attempt = j.order.attempt;
  r.at = transport::epoch_ms();
  if (es.signal == 0) r.exit_code = es.exit_code;
  r.signal = es.signal;
  if (j.timed_out)
    r.reason = kTimeoutReason;
  else if (oom)
    r.reason = kOomReason;
  else if (!j.kill_reason.empty())
    r.reason = j.kill_reason;
  if (j.order.checkpoint_signal) r.checkpoint_at = newest_checkpoint_ms(j.order.checkpoint_dir);
  log::info("job " + std::to_string(id) + " ended: " +
            (es.signal ? "signal " + std::to_string(es.signal) : "exit " + std::to_string(es.exit_code)) +
            (r.reason.empty() ? "" : " (" + r.reason + ")"));
  if (!j.launched.shared_script.empty()) scripts_.release(j.launched.shared_script);
  jobs_.erase(it);
  if (step_server_) step_server_->kill_steps(id);
  report(r);
  // After the cleanup deferred above: a waiting attempt gets a fresh cgroup and directory.
  loop_.defer([this, id] { start_deferred_launch(id); });
}

void NodeAgent::report(const proto::ExitReport& r) {
  unacked_[r.job_id] = r;
  send(proto::to_json(r));
}

void NodeAgent::kill_all_jobs() {
  deferred_launches_.clear();
  for (auto& [id, j] : jobs_) {
    signal_job(j.launched, SIGKILL);
    (void)j.launched.cgroup.kill_all();
  }
  if (step_server_) step_server_->kill_all_steps();
}

}  // namespace drover::agent

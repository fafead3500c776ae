// drover run: srun for Drover. Submits a job for one program (or N tasks of it),
// prints its output and errors here as the job writes them (through ReadLog, as
// `drover logs -f` does), and exits with the program's exit code. Inside a job it
// starts the tasks in that job's allocation instead, as srun does inside sbatch.
//
// N tasks are started by Open MPI's mpirun, the way MPI jobs already run in Drover:
// over the job's hostfile, with drover-launch as its rsh agent on multi-node jobs.
// A one-line sh wrapper turns mpirun's OMPI_COMM_WORLD_* into Slurm's task variables.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <thread>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/submit_request.hpp"
#include "script/directives.hpp"
#include "script/option_table.hpp"

namespace drover::cli {

using proto::Json;

namespace {

// drover run's own failures (bad options, droverd unreachable, the program never
// ran): distinct from the program's exit codes, as `docker run` and `env` do.
constexpr int kRunFailed = 125;

const char* kRunUsage = R"(Usage: drover run [options] PROGRAM [args...]

Run a program as a job and wait for it, like srun: its output and errors appear here
as they are written, and drover run exits with the program's exit code (128+N when
signal N killed it, 125 when Drover failed or the program never ran). Ctrl-C cancels
the job and waits until every process of it has ended.

-n N runs N copies of the program (tasks), spread over the job's nodes and started by
Open MPI's mpirun; each task has SLURM_PROCID (0..N-1), SLURM_LOCALID (its number on
its node), SLURM_NODEID and SLURM_NTASKS. In a batch script (inside a job) drover run
starts the tasks in that job's nodes and CPUs instead of submitting another job.

Takes drover submit's options (below), except those for batch jobs (--array, --wrap,
-o/-e/-i, --hold, ...), plus:
  -l, --label                prefix each output line with its task number ("2: text")
  --gpu-bind=closest|none    closest (the default): when the job's GPUs split among its
                             tasks (--gpus-per-task), each task sees only its own GPUs, the
                             ones next to its CPUs; none: every task sees all of its node's

Examples:
  drover run hostname
  drover run -n 4 hostname                    # four lines, one per task
  drover run -N 2 -n 4 ./app input.dat        # two nodes, two tasks on each
  drover run -c 8 --mem 16G -t 30 python3 fit.py
  drover run -l -n 2 sh -c 'echo task $SLURM_PROCID on $(hostname)'
  drover run -n 4 --gpus-per-task 1 ./train   # one GPU each: CUDA_VISIBLE_DEVICES=0, 1, ...

)";

// Options of drover submit that have no meaning for a job one waits for here.
struct Refused {
  const char* name;
  const char* why;
};
constexpr Refused kRefused[] = {
    {"array", "drover run runs one job; for many, use drover submit --array"},
    {"wrap", "give the command itself: drover run sh -c 'cmd1; cmd2'"},
    {"output", "drover run prints the program's output here; redirect it (drover run ./app > out.txt) "
               "or use drover submit -o"},
    {"error", "drover run prints the program's errors here; redirect them (drover run ./app 2> err.txt) "
              "or use drover submit -e"},
    {"input", "the program's standard input is empty; give it a file as an argument, or use drover submit -i"},
    {"open-mode", "drover run writes no output files"},
    {"definition", "a job definition brings its own command; use drover submit --definition"},
    {"hold", "a held job waits until released; use drover submit --hold"},
    {"test-only", "use drover submit --test-only to see where and when it would start"},
    {"parsable", "drover run prints the program's output, not the job id; use drover submit --parsable"},
    {"json", "drover run prints the program's output; use drover submit --json"},
    {"wait", "drover run always waits for the program"},
};

volatile sig_atomic_t g_signal = 0;  // the last SIGINT/SIGTERM/SIGHUP received
volatile sig_atomic_t g_signals = 0;

extern "C" void on_signal(int sig) {
  g_signal = sig;
  g_signals = g_signals + 1;
}

void catch_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(s, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed pipe ends that stream's copy, not the job
}

bool is_terminal(const std::string& state) { return state == "SUCCEEDED" || state == "FAILED"; }
bool is_allocated(const std::string& state) {
  return state == "STARTING" || state == "RUNNING" || is_terminal(state);
}

std::string quote(const std::string& word) {
  if (!word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,^+@%") ==
                           std::string::npos)
    return word;
  std::string q = "'";
  for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Each task: Slurm's per-task variables from mpirun's, then the program.
const char* kTaskWrapper =
    "export SLURM_PROCID=\"$OMPI_COMM_WORLD_RANK\" SLURM_LOCALID=\"$OMPI_COMM_WORLD_LOCAL_RANK\" "
    "SLURM_NTASKS=\"$OMPI_COMM_WORLD_SIZE\" SLURM_NPROCS=\"$OMPI_COMM_WORLD_SIZE\"; ";
// --gpu-bind=closest: the node's task number j (mpirun's local rank, which the
// rankfile puts on the j-th task's PUs of the plan) sees the j-th GPU list of
// DROVER_TASK_GPUS ("0,1;2,3"; set by the agent when the GPUs split among tasks).
const char* kTaskGpus =
    "if [ -n \"${DROVER_TASK_GPUS:-}\" ]; then i=0; IFS=';'; for g in $DROVER_TASK_GPUS; do "
    "if [ \"$i\" = \"$OMPI_COMM_WORLD_LOCAL_RANK\" ]; then export CUDA_VISIBLE_DEVICES=\"$g\" "
    "ROCR_VISIBLE_DEVICES=\"$g\" ZE_AFFINITY_MASK=\"$g\" DROVER_GPUS=\"$g\"; fi; i=$((i+1)); done; unset IFS; fi; ";

// mpirun starting `ntasks` tasks, up to the program. Inside Drover the job's CPUs are
// already bound; Slurm's allocation variables (SLURM_JOB_ID...) must not make Open MPI
// read the allocation from Slurm: the hostfile (multi-node) or this node is it.
std::vector<std::string> mpirun_words(int ntasks, bool tag_output, const std::string& hosts, bool gpu_per_task) {
  std::vector<std::string> w = {"mpirun",           "--mca", "ras",  "^slurm", "--oversubscribe",
                                "--bind-to",        "none",  "-np",  std::to_string(ntasks)};
  if (tag_output) w.push_back("--tag-output");
  if (!hosts.empty()) {
    w.push_back("--host");
    w.push_back(hosts);
  }
  const std::string wrapper = std::string(kTaskWrapper) + (gpu_per_task ? kTaskGpus : "") + "exec \"$@\"";
  for (const std::string& x : {std::string("sh"), std::string("-c"), wrapper, std::string("drover-task")})
    w.push_back(x);
  return w;
}

// The job script for N tasks; the program and its arguments are the script's arguments.
// drover run's own options (srun's), not in submit's table.
struct RunOptions {
  bool label = false;     // -l/--label
  bool gpu_bind = true;   // --gpu-bind=closest (true) or none
};

std::string task_script(int ntasks, const RunOptions& ro) {
  std::string mpirun;
  for (const auto& w : mpirun_words(ntasks, ro.label, "", ro.gpu_bind)) mpirun += quote(w) + " ";
  return "#!/bin/sh\n"
         "# Written by drover run: " + std::to_string(ntasks) +
         " tasks of the program given as arguments, started by Open MPI's mpirun.\n"
         "if ! command -v mpirun >/dev/null 2>&1; then\n"
         "  echo \"drover run: -n " + std::to_string(ntasks) +
         " starts its tasks with Open MPI's mpirun, which is not installed on $(hostname)"
         " (install openmpi-bin, or load its module before drover run)\" >&2\n"
         "  exit 127\n"
         "fi\n"
         "if [ \"$(id -u)\" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi\n"
         "# One node: the tasks start here, not through Slurm's srun.\n"
         "if [ \"${DROVER_NUM_NODES:-1}\" = 1 ]; then export OMPI_MCA_plm=^slurm; fi\n"
         "exec " + mpirun + "\"$@\"\n";
}

// --label: "[1,2]<stdout>:text" (mpirun --tag-output) becomes "2: text"; a single
// task's lines get "0: ". Whole lines only; the rest waits for its newline.
class Labeler {
 public:
  explicit Labeler(bool tagged) : tagged_(tagged) {}
  std::string feed(const std::string& data, bool flush) {
    pending_ += data;
    std::string out;
    std::size_t start = 0;
    for (;;) {
      const auto nl = pending_.find('\n', start);
      if (nl == std::string::npos) break;
      out += label(pending_.substr(start, nl - start)) + "\n";
      start = nl + 1;
    }
    pending_.erase(0, start);
    if (flush && !pending_.empty()) {
      out += label(pending_);
      pending_.clear();
    }
    return out;
  }

 private:
  std::string label(const std::string& line) const {
    if (!tagged_) return "0: " + line;
    static const std::regex tag(R"(^\[\d+,(\d+)\]<std(out|err)>:)");
    std::smatch m;
    if (std::regex_search(line, m, tag)) return m[1].str() + ": " + line.substr(m[0].length());
    return line;  // mpirun's own messages
  }
  bool tagged_;
  std::string pending_;
};

// Writes all of data to fd; after an error (a closed pipe) that stream is dropped.
void write_all(int fd, const std::string& data, bool& broken) {
  std::size_t done = 0;
  while (!broken && done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      broken = true;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
}

// -l/--label and --gpu-bind are srun's, not in submit's table: taken out of the
// option words (which end at the program or "--") before the rest is parsed.
Result<std::vector<std::string>> take_run_options(const std::vector<std::string>& args, RunOptions& ro) {
  std::vector<std::string> rest;
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const std::string& w = args[i];
    if (w == "--" || w.size() < 2 || w[0] != '-') break;
    if (w == "-l" || w == "--label") {
      ro.label = true;
      continue;
    }
    if (w == "--gpu-bind" || w.rfind("--gpu-bind=", 0) == 0) {
      std::string v;
      if (w.size() > 10) v = w.substr(11);
      else if (i + 1 < args.size()) v = args[++i];
      if (v != "closest" && v != "none")
        return make_error("--gpu-bind", (v.empty() ? std::string("needs a value") : "'" + v + "' is not known") +
                                             ": give closest (each task its own GPUs) or none (all the node's), "
                                             "e.g. drover run -n 4 --gpu-bind=none ./app");
      ro.gpu_bind = v == "closest";
      continue;
    }
    rest.push_back(w);
    if (w[1] == '-') {
      if (w.find('=') != std::string::npos) continue;
      auto spec = script::lookup_option(w);
      if (spec && (*spec)->value == script::OptionValue::Required && i + 1 < args.size()) rest.push_back(args[++i]);
      continue;
    }
    for (std::size_t k = 1; k < w.size(); ++k) {
      const script::OptionSpec* spec = script::find_short_option(w[k]);
      if (!spec || spec->value == script::OptionValue::Optional) break;
      if (spec->value == script::OptionValue::Required) {
        if (k + 1 == w.size() && i + 1 < args.size()) rest.push_back(args[++i]);
        break;
      }
    }
  }
  rest.insert(rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return rest;
}

int failed(const std::string& message) {
  std::cerr << "drover run: " << message << "\n";
  return kRunFailed;
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

int positive_env(const char* name, int fallback) {
  const std::string v = env_or(name, "");
  if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos) return fallback;
  const int n = std::stoi(v);
  return n > 0 ? n : fallback;
}

// ---- inside a job: the tasks run in its allocation ----

int run_in_allocation(const script::SubmitOptions& o, const script::CommandLine& cl, const RunOptions& ro) {
  const std::string job = env_or("DROVER_JOB_ID", "");
  const int job_nodes = positive_env("DROVER_NUM_NODES", 1);
  int nodes = job_nodes;
  if (o.nodes) {
    nodes = o.nodes->min;
    if (nodes > job_nodes)
      return failed("-N " + std::to_string(nodes) + ": job " + job + " has " + std::to_string(job_nodes) +
                    " node" + (job_nodes == 1 ? "" : "s") + "; inside a job drover run uses its nodes");
  }
  const int ntasks = o.ntasks            ? *o.ntasks
                     : o.ntasks_per_node ? *o.ntasks_per_node * nodes
                     : o.nodes           ? nodes
                                         : positive_env("DROVER_NTASKS", 1);
  if (ntasks < nodes)
    return failed("-n " + std::to_string(ntasks) + " tasks cannot use -N " + std::to_string(nodes) + " nodes");
  std::string ignored;
  for (const auto& [field, origin] : o.set_by)
    if (field != "nodes" && field != "ntasks" && field != "ntasks-per-node" && field != "chdir" &&
        field != "quiet" && field != "verbose" && origin.source == script::Source::CommandLine)
      ignored += (ignored.empty() ? "--" : ", --") + field;
  if (!ignored.empty() && !o.quiet)
    std::cerr << "drover run: inside job " << job << " the job's own resources are used; ignored: " << ignored
              << "\n";
  if (ro.label) std::cerr << "drover run: --label works only outside a job (when drover run submits one); ignored\n";
  if (o.chdir && ::chdir(o.chdir->c_str()) != 0)
    return failed("-D " + *o.chdir + ": " + std::strerror(errno));

  std::vector<std::string> words;
  if (ntasks == 1) {
    ::setenv("SLURM_PROCID", "0", 1);
    ::setenv("SLURM_LOCALID", "0", 1);
    ::setenv("SLURM_NTASKS", "1", 1);
    ::setenv("SLURM_NPROCS", "1", 1);
  } else {
    // Fewer nodes than the job has: its first ones, with their slots.
    std::string hosts;
    const std::string hostfile = env_or("DROVER_HOSTFILE", "");
    if (nodes < job_nodes && !hostfile.empty()) {
      std::ifstream in(hostfile);
      std::string name, slots;
      for (int k = 0; k < nodes && in >> name >> slots; ++k) {
        const auto eq = slots.find('=');
        hosts += (hosts.empty() ? "" : ",") + name + ":" + (eq == std::string::npos ? "1" : slots.substr(eq + 1));
      }
    }
    if (::getuid() == 0) {
      ::setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
      ::setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    }
    if (job_nodes == 1) ::setenv("OMPI_MCA_plm", "^slurm", 1);
    // The job's rankfile binds its first ranks to their planned PUs; it cannot
    // place more ranks than the job has tasks, nor keep to fewer nodes.
    const int job_tasks = positive_env("DROVER_NTASKS", 1);
    if (!env_or("OMPI_MCA_rmaps_rank_file_path", "").empty() && (ntasks > job_tasks || nodes < job_nodes)) {
      ::unsetenv("OMPI_MCA_rmaps_rank_file_path");
      ::unsetenv("DROVER_TASK_GPUS");  // nor give task j the j-th task's GPUs
      if (!o.quiet)
        std::cerr << "drover run: " << ntasks << " tasks on " << nodes << " of the job's " << job_nodes
                  << " nodes differ from its plan (" << job_tasks
                  << " tasks): they share the job's CPUs instead of one set each\n";
    }
    words = mpirun_words(ntasks, false, hosts, ro.gpu_bind);
  }
  words.insert(words.end(), cl.operands.begin(), cl.operands.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::cout.flush();
  ::execvp(argv[0], argv.data());
  const int err = errno;
  if (ntasks > 1 && err == ENOENT)
    std::cerr << "drover run: -n " << ntasks << " starts its tasks with Open MPI's mpirun, which is not "
              << "installed here (install openmpi-bin, or load its module)\n";
  else
    std::cerr << "drover run: cannot run " << argv[0] << ": " << std::strerror(err) << "\n";
  return err == ENOENT ? 127 : 126;
}

// ---- outside: submit, follow, exit like the program ----

// A connection to droverd that comes back after droverd restarts (for up to 20 s).
class Link {
 public:
  Link(std::string socket, ApiClient client) : socket_(std::move(socket)) { client_.emplace(std::move(client)); }
  Result<Json> call(const std::string& op, const Json& args) {
    auto r = client_->call(op, args, 15000);
    if (r) return r;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline && g_signals < 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      auto c = connect(socket_);
      if (!c) continue;
      client_.reset();
      client_.emplace(std::move(*c));
      return client_->call(op, args, 15000);  // connected again: its answer stands
    }
    return r;
  }

 private:
  std::string socket_;
  std::optional<ApiClient> client_;
};

struct Stream {
  const char* name;
  int fd;
  std::int64_t offset = 0;
  std::int64_t attempt = -1;
  bool broken = false;
  Labeler labeler;
};

int exit_code_of(Link& link, const std::string& id, bool verbose) {
  auto r = link.call("DescribeJobs", {{"jobs", {id}}});
  if (!r || (*r)["jobs"].empty()) return failed("job " + id + " ended, but its exit code is unknown" +
                                                (r ? std::string() : ": " + r.message()));
  const Json& j = (*r)["jobs"][0];
  const std::string state = str(j, "status");
  if (state == "SUCCEEDED") return 0;
  const Json& attempts = j.value("attempts", Json::array());
  const Json c = attempts.empty() ? Json::object() : attempts.back().value("container", Json::object());
  const std::string why = str(j, "statusReason");
  if (c.contains("exitCode") && c["exitCode"].is_number_integer() && !c.contains("signal") &&
      str(c, "reason").empty()) {
    const int code = c["exitCode"].get<int>();
    if (verbose) std::cerr << "drover run: job " << id << " " << (why.empty() ? state : why) << "\n";
    return code != 0 ? code : kRunFailed;
  }
  if (c.contains("signal")) {
    std::cerr << "drover run: job " << id << ": " << (why.empty() ? "killed by a signal" : why) << "\n";
    return 128 + static_cast<int>(num(c, "signal"));
  }
  std::cerr << "drover run: job " << id << " FAILED: " << (why.empty() ? str(c, "reason") : why) << "\n";
  return c.contains("exitCode") && num(c, "exitCode") != 0 ? static_cast<int>(num(c, "exitCode")) : kRunFailed;
}

int submit_and_follow(const Global& g, const script::SubmitOptions& o, script::CommandLine cl, const RunOptions& ro) {
  const bool label = ro.label;
  if (auto s = refuse_what_would_change_the_job(o); !s) return failed(s.message());
  if (!o.quiet)
    for (const auto& w : o.warnings) std::cerr << "drover run: warning: " << w << "\n";
  cl.double_dash = true;  // the operands are the program and its arguments
  auto env = submitter_environment();
  auto req = build_request(o, cl, "", "", env);
  if (!req) return failed(req.message());
  const int nodes = o.nodes ? o.nodes->min : 1;
  const int ntasks = req->contains("ntasks") ? (*req)["ntasks"].get<int>() : nodes;
  const bool tasks = ntasks > 1;
  if (tasks) req->operator[]("script") = task_script(ntasks, ro);
  // Distinct files for the two streams, read back through droverd and removed at the end.
  (*req)["stdoutPath"] = ".drover-run-%j.out";
  (*req)["stderrPath"] = ".drover-run-%j.err";
  (*req)["openMode"] = "truncate";
  const std::string dir = str(*req, "workingDirectory");

  catch_signals();
  auto client = connect(g.socket);
  if (!client) return failed(client.message());
  Link link(g.socket.empty() ? default_socket_path() : g.socket, std::move(*client));
  auto submitted = link.call("SubmitJob", *req);
  if (!submitted) return failed(submitted.message());
  const std::string id = str(*submitted, "jobId");
  if (o.verbose) std::cerr << "drover run: job " << id << " submitted\n";
  const auto remove_files = [&] {
    for (const char* ext : {".out", ".err"}) ::unlink((dir + "/.drover-run-" + id + ext).c_str());
  };

  Stream streams[] = {{"stdout", 1, 0, -1, false, Labeler(tasks)}, {"stderr", 2, 0, -1, false, Labeler(tasks)}};
  const auto start = std::chrono::steady_clock::now();
  bool queued_said = false, allocated_said = false, cancelled = false;
  int cancel_signal = 0;
  for (;;) {
    if (g_signals > 0 && !cancelled) {
      cancelled = true;
      cancel_signal = g_signal;
      std::cerr << "drover run: " << (cancel_signal == SIGINT ? "interrupted" : strsignal(cancel_signal))
                << ": cancelling job " << id << " and waiting until its processes have ended"
                << " (again to stop waiting)\n";
      auto r = link.call("TerminateJob", {{"jobId", id}, {"reason", "drover run was interrupted"}});
      if (!r) std::cerr << "drover run: cannot cancel job " << id << ": " << r.message() << "\n";
    }
    if (g_signals > 1) {
      std::cerr << "drover run: not waiting; job " << id << " is being cancelled (drover show " << id << ")\n";
      return 128 + cancel_signal;
    }
    bool got = false, ended = true;
    std::string state;
    for (auto& s : streams) {
      auto r = link.call("ReadLog", {{"jobId", id}, {"offset", s.offset}, {"stream", s.name}});
      if (!r)
        return failed("lost droverd while following job " + id + ": " + r.message() + "; it may still run (drover show " +
                      id + ", drover cancel " + id + ")");
      const std::int64_t attempt = num(*r, "attempt");
      if (s.attempt >= 0 && attempt != s.attempt && s.offset > 0) s.offset = 0;  // a new attempt's file
      s.attempt = attempt;
      const std::string data = str(*r, "data") + decode_base64(str(*r, "dataBase64"));
      s.offset = num(*r, "offset");
      state = str(*r, "status");
      if (!data.empty()) {
        got = true;
        write_all(s.fd, label ? s.labeler.feed(data, false) : data, s.broken);
      }
      if (!is_terminal(state)) ended = false;  // (the state was read before the file)
    }
    if (is_allocated(state) && !allocated_said && (queued_said || o.verbose) && !cancelled) {
      allocated_said = true;
      std::cerr << "drover run: job " << id << " has been allocated resources\n";
    }
    if (!is_allocated(state) && !queued_said && !o.quiet &&
        std::chrono::steady_clock::now() - start > std::chrono::seconds(1)) {
      queued_said = true;
      std::cerr << "drover run: job " << id << " queued and waiting for resources\n";
    }
    if (got) continue;
    if (ended) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(is_allocated(state) ? 100 : 250));
  }
  if (label)
    for (auto& s : streams) write_all(s.fd, s.labeler.feed("", true), s.broken);
  remove_files();
  if (cancelled) {
    std::cerr << "drover run: job " << id << " cancelled; all its processes have ended\n";
    return 128 + cancel_signal;
  }
  return exit_code_of(link, id, o.verbose > 0);
}

}  // namespace

int cmd_run(const Global& g, const Args& all) {
  RunOptions ro;
  const auto args = take_run_options(all, ro);
  if (!args) return failed(args.message());
  auto cl = script::parse_command_line(*args);
  if (!cl) return failed(cl.message() + " (see drover run --help)");
  for (const auto& u : cl->options)
    if (u.name == "help" || u.name == "usage") {
      std::cout << kRunUsage << script::options_help();
      return 0;
    }
  // sbatch's SBATCH_* input variables are for batch jobs; srun does not read them.
  KeyValues env;
  for (const auto& kv : submitter_environment())
    if (kv.first.rfind("SBATCH_", 0) != 0) env.push_back(kv);
  auto o = script::merge_options(nullptr, env, *cl, local_clock());
  if (!o) return failed(o.message());
  if (o->version) {
    std::cout << "drover 0.1.0\n";
    return 0;
  }
  for (const auto& r : kRefused)
    if (o->set_by.count(r.name)) {
      const auto& origin = o->set_by.at(r.name);
      return failed("--" + std::string(r.name) +
                    (origin.source == script::Source::CommandLine ? "" : " (" + origin.describe() + ")") + ": " +
                    r.why);
    }
  if (cl->operands.empty())
    return failed(cl->double_dash ? "nothing after --: give a program, e.g. drover run -- hostname"
                                  : "what should run? give a program, e.g. drover run -n 4 hostname");
  if (!env_or("DROVER_JOB_ID", "").empty()) return run_in_allocation(*o, *cl, ro);
  return submit_and_follow(g, *o, *cl, ro);
}

}  // namespace drover::cli

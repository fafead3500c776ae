#include <unistd.h>

#include <boost/program_options.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <thread>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/submit_request.hpp"
#include "core/units.hpp"
#include "script/dependency.hpp"
#include "core/hostlist.hpp"
#include "script/signal_spec.hpp"

namespace drover::cli {

namespace po = boost::program_options;
using proto::Json;

namespace {

bool parse(const char* help, po::options_description& desc, const Args& args, po::variables_map& vm,
           po::positional_options_description* pos = nullptr) {
  po::options_description all(help);
  all.add_options()("help,h", "show this help");
  all.add(desc);
  auto parser = po::command_line_parser(args).options(all);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), vm);
  if (vm.count("help")) {
    std::cout << all << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

std::string elapsed(const Json& j) {
  const auto started = num(j, "startedAt");
  if (!started) return "0:00";
  const auto stopped = num(j, "stoppedAt");
  return format_duration(((stopped ? stopped : now_ms()) - started) / 1000);
}

// Relative ("1h", "30m", "2d") or absolute (epoch seconds) times for --since.
Result<std::int64_t> parse_since(const std::string& s) {
  if (s.empty()) return std::int64_t{0};
  const char unit = s.back();
  const std::string n = std::isdigit(static_cast<unsigned char>(unit)) ? s : s.substr(0, s.size() - 1);
  if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos || n.size() > 12)
    return make_error("--since '" + s + "'", "use 30m, 12h, 7d or epoch seconds");
  const std::int64_t v = std::stoll(n);
  switch (unit) {
    case 's': return now_ms() - v * 1000;
    case 'm': return now_ms() - v * 60'000;
    case 'h': return now_ms() - v * 3'600'000;
    case 'd': return now_ms() - v * 86'400'000;
    default:
      if (std::isdigit(static_cast<unsigned char>(unit))) return v * 1000;
      return make_error("--since '" + s + "'", "use 30m, 12h, 7d or epoch seconds");
  }
}

}  // namespace

int cmd_jobs(const Global& g, const Args& args) {
  std::string user, states, queue;
  po::options_description desc("Options");
  desc.add_options()("user,u", po::value(&user), "only this user's jobs")(
      "state,t", po::value(&states), "only these states, comma separated (RUNNING,RUNNABLE,...)")(
      "queue,p", po::value(&queue), "only this queue")("me", "only my jobs")(
      "all,a", "include finished jobs still held in memory")(
      "start", "show when waiting jobs are expected to start (from backfill; N/A when unknown)")(
      "priority", "show each job's priority and where it comes from (priority, nice, fair share)")(
      "json", "JSON (jobSummaryList)");
  po::variables_map vm;
  if (!parse("Usage: drover jobs [options]\n\nQueued and running jobs, like squeue.\n\n"
             "Examples:\n  drover jobs\n  drover jobs -u alice -t RUNNING\n  drover jobs --start\n"
             "  drover jobs --priority -t RUNNABLE\n  drover jobs --json\n",
             desc, args, vm))
    return 0;
  Json a = Json::object();
  if (vm.count("me")) user = std::to_string(::getuid());
  if (!user.empty()) a["user"] = user;
  if (!queue.empty()) a["jobQueue"] = queue;
  Json st = Json::array();
  std::stringstream ss(states);
  for (std::string s; std::getline(ss, s, ',');)
    if (!s.empty()) st.push_back(s);
  if (vm.count("all") && st.empty())
    st = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"};
  if (!st.empty()) a["jobStatus"] = st;
  auto c = connect(g.socket);
  if (!c) return fail("jobs", c.message());
  auto r = c->call("ListJobs", a);
  if (!r) return fail("jobs", r.message());
  if (vm.count("json")) {
    std::cout << r->dump(2) << "\n";
    return 0;
  }
  const bool with_start = vm.count("start");
  const bool with_priority = vm.count("priority");
  std::vector<std::string> header = {"JOBID", "NAME", "USER", "QUEUE", "STATE", "TIME", "CPUS"};
  if (with_start) header.push_back("START");
  if (with_priority) {
    header.push_back("PRIORITY");
    header.push_back("FROM");
  }
  header.push_back("NODE (REASON)");
  Table t(header);
  for (const auto& j : (*r)["jobSummaryList"]) {
    std::string state = str(j, "status");
    std::string id = str(j, "jobId");
    if (const Json* ap = j.contains("arrayProperties") ? &j["arrayProperties"] : nullptr) {
      if (ap->contains("parentJobId")) {
        id = str(*ap, "parentJobId") + "_" + std::to_string(num(*ap, "index"));  // a task: 123_4
      } else {
        // An array: one row for its tasks not started, 123_[5-999%10]; those that
        // started have rows of their own.
        const bool finished = state == "SUCCEEDED" || state == "FAILED";
        if (!finished && num(*ap, "pendingCount") == 0) continue;
        std::string idx = finished ? str(*ap, "indexes") : str(*ap, "pendingIndexes");
        if (num(*ap, "maxRunning") > 0) idx += "%" + std::to_string(num(*ap, "maxRunning"));
        id += idx.find_first_of(",-%") == std::string::npos ? "_" + idx : "_[" + idx + "]";
        if (state == "RUNNING") state = "RUNNABLE";
      }
    }
    std::string where = str(j, "nodeName");
    if (state == "RUNNABLE")
      where = "(" + (str(j, "pendingReason").empty() ? std::string("Priority") : str(j, "pendingReason")) + ")";
    else if (state == "PENDING")  // "DependencyNeverSatisfied: ..." shows its first word; drover show the rest
      where = "(" + (str(j, "statusReason").empty() ? std::string("Dependency")
                                                     : str(j, "statusReason").substr(0, str(j, "statusReason").find(':'))) +
              ")";
    else if (state == "FAILED" || state == "SUCCEEDED")
      where = str(j, "statusReason").empty() ? where : where + " (" + str(j, "statusReason") + ")";
    std::vector<std::string> row = {id, str(j, "jobName"), str(j["owner"], "user"),
                                    str(j, "jobQueue"), state, elapsed(j), std::to_string(num(j, "vcpus"))};
    if (with_start)
      row.push_back(state == "RUNNING" || state == "STARTING" ? format_time(num(j, "startedAt"))
                    : j.contains("estimatedStartAt")          ? format_time(num(j, "estimatedStartAt"))
                                                              : "N/A");
    if (with_priority) {
      row.push_back(std::to_string(num(j, "priority")));
      std::string from;
      if (num(j, "schedulingPriority")) from = "priority " + std::to_string(num(j, "schedulingPriority"));
      if (num(j, "nice")) from += (from.empty() ? "" : ", ") + std::string("nice ") + std::to_string(num(j, "nice"));
      if (j.contains("shareWeight")) {
        std::ostringstream w;
        w << j["shareWeight"].get<double>();
        from += (from.empty() ? "" : ", ") + std::string("fair share ") + str(j, "shareIdentifier") +
                " (weight " + w.str() + ")";
      }
      row.push_back(from.empty() ? "FIFO" : from);
    }
    row.push_back(where);
    t.add(std::move(row));
  }
  t.print(std::cout);
  return 0;
}

namespace {
// 1536 -> "1.5 KiB".
std::string format_bytes(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  std::ostringstream out;
  out.precision(u == 0 ? 0 : 1);
  out << std::fixed << v << " " << units[u];
  return out.str();
}

// The committed checkpoints in a job's checkpoint directory, newest first, from
// their manifests (docs/CHECKPOINT.md); what cannot be read is said, not hidden.
void print_checkpoints(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    std::cout << "  checkpoints:      none (" << dir << " does not exist)\n";
    return;
  }
  std::vector<std::pair<std::string, Json>> found;
  std::vector<std::string> unreadable;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind("ckpt-", 0) != 0) continue;
    std::ifstream in(it->path() / "manifest.json");
    Json m = in ? Json::parse(in, nullptr, false) : Json();
    if (!m.is_object()) {
      unreadable.push_back(name);
      continue;
    }
    found.emplace_back(name, std::move(m));
  }
  if (ec) {
    std::cout << "  checkpoints:      cannot read " << dir << ": " << ec.message() << "\n";
    return;
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::cout << "  checkpoints:      " << found.size() << " in " << dir << "\n";
  if (!found.empty()) {
    Table t({"    STEP", "TIME", "SIZE", "WRITTEN", "DIRECTORY"});
    for (const auto& [name, m] : found) {
      std::ostringstream time;
      if (m.contains("time") && m["time"].is_number()) time << m["time"].get<double>();
      t.add({"    " + std::to_string(num(m, "step")), time.str(), format_bytes(num(m, "bytes")),
             format_time(num(m, "createdAt")), name});
    }
    t.print(std::cout);
  }
  for (const auto& name : unreadable)
    std::cout << "    " << name << ": no readable manifest.json (incomplete or damaged)\n";
}
}  // namespace

int cmd_show(const Global& g, const Args& args) {
  std::vector<std::string> ids;
  po::options_description desc("Options");
  desc.add_options()("job", po::value(&ids), "job id")("json", "JSON (as AWS DescribeJobs)");
  po::positional_options_description pos;
  pos.add("job", -1);
  po::variables_map vm;
  if (!parse("Usage: drover show JOB... [--json]\n\nEverything about a job, its attempts included.\n\n"
             "Example:\n  drover show 42\n",
             desc, args, vm, &pos))
    return 0;
  if (ids.empty()) return fail("show", "which job? e.g. drover show 42");
  auto c = connect(g.socket);
  if (!c) return fail("show", c.message());
  auto r = c->call("DescribeJobs", {{"jobs", ids}});
  if (!r) return fail("show", r.message());
  const Json& jobs = (*r)["jobs"];
  if (vm.count("json")) {
    std::cout << jobs.dump(2) << "\n";
    return jobs.size() == ids.size() ? 0 : 1;
  }
  int rc = jobs.size() == ids.size() ? 0 : 1;
  if (rc) std::cerr << "drover show: some jobs were not found\n";
  for (const auto& j : jobs) {
    auto line = [](const std::string& k, const std::string& v) {
      if (!v.empty()) std::cout << "  " << k << std::string(k.size() < 18 ? 18 - k.size() : 1, ' ') << v << "\n";
    };
    std::cout << "Job " << str(j, "jobId") << " (" << str(j, "jobName") << ")\n";
    line("state", str(j, "status"));
    line("reason", str(j, "statusReason"));
    line("waiting for", str(j, "pendingReason"));
    if (j.contains("estimatedStartAt")) line("expected start", format_time(num(j, "estimatedStartAt")));
    if (const Json* ap = j.contains("arrayProperties") ? &j["arrayProperties"] : nullptr) {
      if (ap->contains("parentJobId")) {
        line("array task", std::to_string(num(*ap, "index")) + " of array " + str(*ap, "parentJobId"));
      } else {
        std::string what = str(*ap, "indexes") + " (" + std::to_string(num(*ap, "size")) + " tasks)";
        if (num(*ap, "maxRunning") > 0) what += ", at most " + std::to_string(num(*ap, "maxRunning")) + " at once";
        line("array", what);
        std::string counts;
        for (auto it = (*ap)["statusSummary"].begin(); it != (*ap)["statusSummary"].end(); ++it)
          if (it.value().get<std::int64_t>() > 0)
            counts += (counts.empty() ? "" : ", ") + it.key() + " " + it.value().dump();
        line("tasks", counts);
        line("not started", str(*ap, "pendingIndexes"));
        if (num(*ap, "cancelled") > 0) line("cancelled", std::to_string(num(*ap, "cancelled")) + " before they started");
      }
    }
    line("owner", str(j["owner"], "user") + " (uid " + str(j["owner"], "uid") + ")");
    line("queue", str(j, "jobQueue"));
    line("definition", str(j, "jobDefinition"));
    if (j.contains("nodeSelection")) {
      const Json& ns = j["nodeSelection"];
      auto names = [&](const char* k) {
        std::vector<std::string> v;
        if (ns.contains(k))
          for (const auto& x : ns[k]) v.push_back(x.get<std::string>());
        return compress_hostlist(v);
      };
      std::string sel;
      if (ns.contains("constraint")) sel += "--constraint=" + str(ns, "constraint");
      if (ns.contains("nodeList")) sel += (sel.empty() ? "" : " ") + std::string("--nodelist=") + names("nodeList");
      if (ns.contains("exclude")) sel += (sel.empty() ? "" : " ") + std::string("--exclude=") + names("exclude");
      if (ns.value("exclusive", false)) sel += (sel.empty() ? "" : " ") + std::string("--exclusive");
      line("nodes asked", sel);
    }
    if (j.contains("submitOptions") && j["submitOptions"].contains("comment"))
      line("comment", str(j["submitOptions"], "comment"));
    auto resources = [&](const Json& list) {
      std::string res;
      for (const auto& rr : list)
        res += (res.empty() ? "" : ", ") + str(rr, "value") + " " +
               (str(rr, "type") == "MEMORY" ? std::string("MiB") : str(rr, "type") == "VCPU" ? std::string("vCPU") : str(rr, "type"));
      return res;
    };
    // Node groups that ask different resources carry their own.
    bool by_group = false;
    if (j.contains("nodeProperties") && j["nodeProperties"].contains("nodeRangeProperties"))
      for (const auto& g : j["nodeProperties"]["nodeRangeProperties"])
        by_group |= g.contains("container") && g["container"].contains("resourceRequirements");
    std::string res = resources(j["resourceRequirements"]);
    if (by_group)
      res = str(j["nodeProperties"], "numNodes") + " nodes, by node group (below); " + str(j, "ntasks") + " tasks";
    else if (j.contains("nodeProperties"))
      res = str(j["nodeProperties"], "numNodes") + " nodes, each " + res + "; " + str(j, "ntasks") + " tasks";
    line("resources", res);
    // -m/--distribution, when asked: block:block (compact) is the default.
    if (j.contains("distribution")) line("distribution", str(j, "distribution") + " (nodes:cores)");
    if (j.contains("nodeProperties") && j["nodeProperties"].contains("nodeRangeProperties"))
      for (const auto& g : j["nodeProperties"]["nodeRangeProperties"]) {
        std::string cmd;
        for (const auto& w : g["container"].value("command", Json::array()))
          cmd += (cmd.empty() ? "" : " ") + w.get<std::string>();
        std::string what = cmd.empty() ? "(the job's command)" : cmd;
        if (by_group && g["container"].contains("resourceRequirements"))
          what = resources(g["container"]["resourceRequirements"]) + " each: " + what;
        line("nodes " + str(g, "targetNodes"), what);
      }
    if (j.contains("timeout")) line("time limit", format_duration(num(j["timeout"], "attemptDurationSeconds")));
    if (j.contains("timeMinSeconds"))
      line("time min", format_duration(num(j, "timeMinSeconds")) + " (the limit may be cut down to this to start sooner)");
    if (j.contains("attempts") && !j["attempts"].empty() && j["attempts"].back().contains("timeLimitSeconds"))
      line("this attempt's limit", format_duration(num(j["attempts"].back(), "timeLimitSeconds")) +
                                       " (shortened to fit a backfill hole)");
    line("retry attempts", str(j["retryStrategy"], "attempts"));
    if (j.contains("checkpoint")) {
      const Json& ck = j["checkpoint"];
      line("checkpoint signal", script::signal_name(static_cast<int>(num(ck, "signal"))) + ", " +
                                    std::to_string(num(ck, "secondsBefore")) + " s before a stop" +
                                    (ck.value("batchShellOnly", false) ? " (batch shell only)" : ""));
    }
    if (j.contains("requeue")) line("requeue", j["requeue"].get<bool>() ? "after a lost node or preemption" : "never");
    line("submitted", format_time(num(j, "createdAt")));
    if (j.contains("beginAt")) line("not before", format_time(num(j, "beginAt")));
    line("started", j.contains("startedAt") ? format_time(num(j, "startedAt")) : "");
    line("stopped", j.contains("stoppedAt") ? format_time(num(j, "stoppedAt")) : "");
    line("directory", str(j, "workingDirectory"));
    line("output", str(j, "stdoutPath"));
    line("error", str(j, "stderrPath"));
    if (j.contains("dependsOn")) {
      // afterok:42, after:43+10 (minutes), afterok:44_7 (a task), singleton, SEQUENTIAL;
      // "or" between them for '?' (any of).
      const std::string join = j.value("dependsOnAny", false) ? " or " : ", ";
      std::string d;
      for (const auto& x : j["dependsOn"]) {
        std::string one = str(x, "type");
        if (x.contains("jobId")) one += ":" + str(x, "jobId");
        if (x.contains("minutes")) one += "+" + str(x, "minutes");
        d += (d.empty() ? "" : join) + one;
      }
      line("depends on", d);
      // Met, but not yet allowed to start: after:ID+MINUTES, or only its singleton rule may.
      const std::int64_t ready = num(j, "dependenciesReadyAt");
      if (ready > 0 && str(j, "status") == "RUNNABLE")
        line("may start", ready == std::numeric_limits<std::int64_t>::max()
                              ? "once no other job named " + str(j, "jobName") + " of its owner runs or waits ahead"
                              : "from " + format_time(ready) + " (its dependencies allow it then)");
    }
    if (const Json* ap = j.contains("arrayProperties") ? &j["arrayProperties"] : nullptr) {
      if (ap->contains("dependencyWaitingIndexes")) {
        std::string w;
        for (const auto& x : (*ap)["dependencyWaitingIndexes"])
          if (!x.get<std::string>().empty()) w += (w.empty() ? "" : "; ") + x.get<std::string>();
        if (!w.empty()) line("tasks waiting", w + " (for the task they depend on)");
      }
      if (ap->contains("dependencyFailedIndexes"))
        line("never started", str(*ap, "dependencyFailedIndexes") + " (the task they depend on failed)");
    }
    if (j.contains("parameters")) line("parameters", j["parameters"].dump());
    if (j.contains("tags")) line("tags", j["tags"].dump());
    if (j.contains("submitOptions")) {
      // What was asked, as asked (sbatch options and directives), and where from.
      std::cout << "  asked at submit:\n";
      const Json& asked = j["submitOptions"];
      for (auto it = asked.begin(); it != asked.end(); ++it)
        if (it.key() != "setBy" && it.key() != "warnings")
          std::cout << "    " << it.key() << " = " << it.value().dump() << "\n";
      if (asked.contains("setBy")) {
        std::string from;
        for (auto it = asked["setBy"].begin(); it != asked["setBy"].end(); ++it)
          from += (from.empty() ? "" : ", ") + it.key() + " (" + it.value().get<std::string>() + ")";
        if (!from.empty()) std::cout << "    set by: " << from << "\n";
      }
    }
    const Json& attempts = j["attempts"];
    if (!attempts.empty()) {
      std::cout << "  attempts:\n";
      Table t({"    #", "NODE", "CPUS", "STARTED", "STOPPED", "EXIT", "REASON"});
      int n = 0;
      for (const auto& a : attempts) {
        const Json& ct = a["container"];
        std::string cpus, nodes = str(ct, "nodeName");
        for (const auto& x : ct.value("cpus", Json::array())) cpus += (cpus.empty() ? "" : ",") + x.dump();
        // Multi-node: every node, and the CPUs on each ("0,1 | 2,3").
        for (const auto& other : ct.value("otherNodes", Json::array())) {
          nodes += "," + str(other, "nodeName");
          std::string more;
          for (const auto& x : other.value("cpus", Json::array())) more += (more.empty() ? "" : ",") + x.dump();
          cpus += " | " + more;
        }
        std::string exit = ct.contains("exitCode") ? str(ct, "exitCode") : ct.contains("signal") ? "sig " + str(ct, "signal") : "-";
        std::string reason = str(a, "statusReason").empty() ? str(ct, "reason") : str(a, "statusReason");
        t.add({"    " + std::to_string(++n), nodes, cpus, format_time(num(a, "startedAt")),
               format_time(num(a, "stoppedAt")), exit, reason});
      }
      t.print(std::cout);
    }
    if (j.contains("checkpoint") || j.contains("checkpointDirectory")) {
      const std::string dir = str(j, "checkpointDirectory");
      if (j.contains("checkpoint") || (!dir.empty() && std::filesystem::exists(dir)))
        print_checkpoints(dir);
    }
  }
  return rc;
}

int cmd_cancel(const Global& g, const Args& args) {
  std::vector<std::string> ids;
  std::string reason;
  po::options_description desc("Options");
  desc.add_options()("job", po::value(&ids), "job ids")("reason", po::value(&reason), "why (recorded on the job)");
  po::positional_options_description pos;
  pos.add("job", -1);
  po::variables_map vm;
  if (!parse("Usage: drover cancel JOB... [--reason TEXT]\n\nCancel queued jobs and stop running ones "
             "(SIGTERM, then SIGKILL after the grace period). Array tasks: 42_7, or ranges 42_[1-5,9].\n\n"
             "Examples:\n  drover cancel 42 43\n  drover cancel 42_[100-199]\n",
             desc, args, vm, &pos))
    return 0;
  if (ids.empty()) return fail("cancel", "which job? e.g. drover cancel 42");
  auto c = connect(g.socket);
  if (!c) return fail("cancel", c.message());
  int rc = 0;
  for (const auto& id : ids) {
    auto ref = job_ref_args(id);
    if (!ref) {
      rc = fail("cancel", ref.message());
      continue;
    }
    Json a = std::move(*ref);
    if (!reason.empty()) a["reason"] = reason;
    auto r = c->call("TerminateJob", a);
    if (!r) {
      rc = fail("cancel", r.message());
      continue;
    }
    if (r->value("alreadyFinished", false))
      std::cerr << "drover cancel: job " << id << " had already finished (" << str(*r, "status") << ")\n";
  }
  return rc;
}

namespace {
// hold, release, requeue: one operation on each job named.
int per_job(const Global& g, const Args& args, const char* cmd, const char* op, const char* help) {
  std::vector<std::string> ids;
  std::string reason;
  po::options_description desc("Options");
  desc.add_options()("job", po::value(&ids), "job ids")("reason", po::value(&reason), "why (recorded)");
  po::positional_options_description pos;
  pos.add("job", -1);
  po::variables_map vm;
  if (!parse(help, desc, args, vm, &pos)) return 0;
  if (ids.empty()) return fail(cmd, std::string("which job? e.g. drover ") + cmd + " 42");
  auto c = connect(g.socket);
  if (!c) return fail(cmd, c.message());
  int rc = 0;
  for (const auto& id : ids) {
    Json a = {{"jobId", id}};
    if (!reason.empty()) a["reason"] = reason;
    if (auto r = c->call(op, a); !r) rc = fail(cmd, r.message());
  }
  return rc;
}
}  // namespace

int cmd_hold(const Global& g, const Args& args) {
  return per_job(g, args, "hold", "HoldJob",
                 "Usage: drover hold JOB...\n\nKeep waiting jobs from starting (reason Held) until released.\n\n"
                 "Example:\n  drover hold 42 43\n");
}

int cmd_release(const Global& g, const Args& args) {
  return per_job(g, args, "release", "ReleaseJob",
                 "Usage: drover release JOB...\n\nLet held jobs start again.\n\nExample:\n  drover release 42\n");
}

int cmd_requeue(const Global& g, const Args& args) {
  return per_job(g, args, "requeue", "RequeueJob",
                 "Usage: drover requeue JOB... [--reason TEXT]\n\nStop running jobs (SIGTERM, then SIGKILL) and "
                 "queue them again with the same id; the stopped attempt stays in their record.\n\n"
                 "Example:\n  drover requeue 42\n");
}

int cmd_checkpoint(const Global& g, const Args& args) {
  std::vector<std::string> ids;
  po::options_description desc("Options");
  desc.add_options()("job", po::value(&ids), "job ids")(
      "requeue", "then stop it (after its grace period) and queue it again; it resumes from the checkpoint")(
      "cancel", "then stop it (after its grace period) and cancel it");
  po::positional_options_description pos;
  pos.add("job", -1);
  po::variables_map vm;
  if (!parse("Usage: drover checkpoint JOB... [--requeue | --cancel]\n\n"
             "Ask running jobs to write a checkpoint now: each gets its checkpoint signal (--signal,\n"
             "--checkpoint-signal; SIGUSR1 when it names none) on every node. With --requeue or --cancel\n"
             "it then has its grace period to write it, and is stopped.\n\n"
             "Examples:\n  drover checkpoint 42\n  drover checkpoint 42 --requeue\n",
             desc, args, vm, &pos))
    return 0;
  if (ids.empty()) return fail("checkpoint", "which job? e.g. drover checkpoint 42");
  if (vm.count("requeue") && vm.count("cancel")) return fail("checkpoint", "give --requeue or --cancel, not both");
  auto c = connect(g.socket);
  if (!c) return fail("checkpoint", c.message());
  const std::string then = vm.count("requeue") ? "REQUEUE" : vm.count("cancel") ? "CANCEL" : "CONTINUE";
  int rc = 0;
  for (const auto& id : ids) {
    auto r = c->call("CheckpointJob", {{"jobId", id}, {"then", then}});
    if (!r) {
      rc = fail("checkpoint", r.message());
      continue;
    }
    std::cout << "job " << id << ": sent SIG" << script::signal_name(static_cast<int>(num(*r, "signal")));
    if (then != "CONTINUE")
      std::cout << "; " << (then == "REQUEUE" ? "requeued" : "cancelled") << " in " << num(*r, "graceSeconds") << " s";
    std::cout << "\n";
  }
  return rc;
}

int cmd_update(const Global& g, const Args& args) {
  std::string id, time, queue, mem, dependency;
  int cpus = 0, gpus = 0, priority = 0, nice = 0;
  po::options_description desc("Options");
  desc.add_options()("job", po::value(&id), "job id")("time,t", po::value(&time), "new time limit")(
      "priority", po::value(&priority), "0-9999, higher first (raising it takes root or the admin)")(
      "nice", po::value(&nice), "-10000..10000, higher waits longer (lowering it takes root or the admin)")(
      "queue,p", po::value(&queue), "move to this queue")("cpus,c", po::value(&cpus), "vCPUs")(
      "mem", po::value(&mem), "memory, e.g. 4G")("gpus,G", po::value(&gpus), "GPUs")(
      "dependency,d", po::value(&dependency), "new dependencies, as sbatch --dependency (\"\": none)")(
      "json", "print the job as JSON");
  po::positional_options_description pos;
  pos.add("job", 1);
  po::variables_map vm;
  if (!parse("Usage: drover update JOB [-t TIME] [-p QUEUE] [-c CPUS] [--mem MEM] [--gpus N]\n"
             "                        [--priority N] [--nice N] [--dependency SPEC]\n\n"
             "Change a job that has not started yet.\n\n"
             "--dependency replaces all of its dependencies (same syntax as submit; \"\" removes them),\n"
             "e.g. to let a job wait on a new run after the one it needed failed\n"
             "(DependencyNeverSatisfied). Unknown jobs and cycles are refused.\n\n"
             "Examples:\n  drover update 42 -t 4:00:00 -p long\n"
             "  drover update 42 --nice 500\n"
             "  drover update 43 --dependency afterok:45\n"
             "  drover update 43 --dependency \"\"\n",
             desc, args, vm, &pos))
    return 0;
  if (id.empty()) return fail("update", "which job? e.g. drover update 42 -t 1:00:00");
  Json a = {{"jobId", id}};
  if (!time.empty()) {
    auto t = parse_time_limit(time);
    if (!t) return fail("update", "--time: " + t.message());
    a["timeout"] = {{"attemptDurationSeconds", *t}};
  }
  if (!queue.empty()) a["jobQueue"] = queue;
  Json rr = Json::array();
  if (vm.count("cpus")) rr.push_back({{"type", "VCPU"}, {"value", std::to_string(cpus)}});
  if (!mem.empty()) {
    auto m = parse_memory_mib(mem);
    if (!m) return fail("update", "--mem: " + m.message());
    rr.push_back({{"type", "MEMORY"}, {"value", std::to_string(*m)}});
  }
  if (vm.count("gpus")) rr.push_back({{"type", "GPU"}, {"value", std::to_string(gpus)}});
  if (!rr.empty()) a["resourceRequirements"] = rr;
  if (vm.count("priority")) a["schedulingPriority"] = priority;
  if (vm.count("nice")) a["nice"] = nice;
  if (vm.count("dependency")) {
    auto d = script::parse_dependency(dependency);
    if (!d) return fail("update", "--dependency " + dependency + ": " + d.message());
    for (const auto& t : d->terms)
      if (t.kind == script::DependencyKind::AfterBurstBuffer)
        return fail("update", "--dependency: afterburstbuffer: Drover has no burst buffers");
    a["dependsOn"] = depends_on_json(*d);
    if (d->any && a["dependsOn"].size() > 1) a["dependsOnAny"] = true;
  }
  if (a.size() == 1)
    return fail("update", "nothing to change: give -t, -p, -c, --mem, --gpus, --priority, --nice or --dependency");
  auto c = connect(g.socket);
  if (!c) return fail("update", c.message());
  auto r = c->call("UpdateJob", a);
  if (!r) return fail("update", r.message());
  if (vm.count("json")) std::cout << r->dump(2) << "\n";
  return 0;
}

int cmd_logs(const Global& g, const Args& args) {
  std::string id;
  po::options_description desc("Options");
  desc.add_options()("job", po::value(&id), "job id")("follow,f", "keep printing until the job ends")(
      "stderr", "the error file (when --error was given)");
  po::positional_options_description pos;
  pos.add("job", 1);
  po::variables_map vm;
  if (!parse("Usage: drover logs JOB [-f] [--stderr]\n\nPrint a job's output file.\n\n"
             "Examples:\n  drover logs 42\n  drover logs -f 42\n",
             desc, args, vm, &pos))
    return 0;
  if (id.empty()) return fail("logs", "which job? e.g. drover logs 42");
  auto c = connect(g.socket);
  if (!c) return fail("logs", c.message());
  std::int64_t offset = 0;
  std::int64_t attempt = -1;
  const bool follow = vm.count("follow");
  for (;;) {
    Json a = {{"jobId", id}, {"offset", offset}, {"stream", vm.count("stderr") ? "stderr" : "stdout"}};
    auto r = c->call("ReadLog", a);
    if (!r) return fail("logs", r.message());
    const std::int64_t now_attempt = num(*r, "attempt");
    if (attempt >= 0 && now_attempt != attempt && offset > 0) {
      // A retry rewrote the output file: read the new attempt's from its start.
      attempt = now_attempt;
      offset = 0;
      continue;
    }
    attempt = now_attempt;
    const std::string data = str(*r, "data") + decode_base64(str(*r, "dataBase64"));
    std::cout << data << std::flush;
    offset = num(*r, "offset");
    const std::string state = str(*r, "status");
    const bool ended = state == "SUCCEEDED" || state == "FAILED";
    if (!data.empty()) continue;  // drain before deciding
    if (!follow || ended) {
      if (!r->value("exists", true) && !follow)
        return fail("logs", "no output yet for job " + id + " (" + state + ")" +
                                (str(*r, "path").empty() ? "" : ": " + str(*r, "path") + ": " + str(*r, "error")));
      return 0;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

int cmd_history(const Global& g, const Args& args) {
  std::string since, state, user, queue;
  int limit = 1000;
  po::options_description desc("Options");
  desc.add_options()("since,S", po::value(&since), "finished within: 30m, 12h, 7d (default: all)")(
      "state,s", po::value(&state), "SUCCEEDED or FAILED")("user,u", po::value(&user), "only this user")(
      "queue,p", po::value(&queue), "only this queue")("limit", po::value(&limit), "at most this many (1000)")(
      "json", "JSON");
  po::variables_map vm;
  if (!parse("Usage: drover history [options]\n\nFinished jobs, newest first, like sacct.\n\n"
             "Examples:\n  drover history --since 1d\n  drover history --state FAILED -u alice --json\n",
             desc, args, vm))
    return 0;
  auto s = parse_since(since);
  if (!s) return fail("history", s.message());
  Json a = {{"since", *s}, {"limit", limit}};
  if (!state.empty()) a["jobStatus"] = state;
  if (!user.empty()) a["user"] = user;
  if (!queue.empty()) a["jobQueue"] = queue;
  auto c = connect(g.socket);
  if (!c) return fail("history", c.message());
  auto r = c->call("ListJobHistory", a);
  if (!r) return fail("history", r.message());
  if (vm.count("json")) {
    std::cout << (*r)["jobs"].dump(2) << "\n";
    return 0;
  }
  Table t({"JOBID", "NAME", "USER", "QUEUE", "STATE", "EXIT", "ELAPSED", "ATTEMPTS", "END", "REASON"});
  for (const auto& j : (*r)["jobs"]) {
    const Json& ct = j.value("container", Json::object());
    t.add({str(j, "jobId"), str(j, "jobName"), str(j["owner"], "user"), str(j, "jobQueue"), str(j, "status"),
           ct.contains("exitCode") ? str(ct, "exitCode") : "-", elapsed(j), std::to_string(j["attempts"].size()),
           format_time(num(j, "stoppedAt")), str(j, "statusReason")});
  }
  t.print(std::cout);
  return 0;
}

}  // namespace drover::cli

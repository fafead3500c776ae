// Job priorities and fair-share queues in a real droverd: within a queue, waiting
// jobs start by schedulingPriority - nice, then FIFO; a fair-share queue starts the
// share that used least (relative to its weight) next. Start order is read from
// each job's startedAt; jobs that use every core run one at a time, so that order
// is the scheduler's decision order. Jobs wait on gate files, never on sleeps,
// except where a job's run time is what is measured (fair share by past use).
#include <algorithm>

#include "cluster.hpp"

namespace drover::it {
namespace {

class PriorityTest : public ClusterTest {
 protected:
  int cores() { return cluster().node_info().value("vcpus", 0); }
  std::string all_cores() { return std::to_string(cores()); }
  std::string gate(const std::string& name) const { return cluster_->work_dir() + "/gate-" + name; }
  // A command that runs until the gate file `name` exists.
  std::string wait_for_gate(const std::string& name) const {
    return "while [ ! -e " + gate(name) + " ]; do sleep 0.05; done";
  }
  void open(const std::string& name) { write_file(gate(name), ""); }

  // Waits until every job has ended (each must succeed) and returns their
  // names in the order they started (by startedAt; equal times keep `jobs` order).
  std::vector<std::string> start_order(const std::vector<std::pair<std::string, std::string>>& jobs,
                                       int timeout_ms = 30000) {
    std::vector<std::pair<std::int64_t, std::string>> started;
    for (const auto& [name, id] : jobs) {
      const Json j = cluster().wait_for_end(id, timeout_ms);
      EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << name << ": " << j.dump(2);
      started.emplace_back(j.value("startedAt", 0LL), name);
    }
    std::stable_sort(started.begin(), started.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<std::string> names;
    for (const auto& s : started) names.push_back(s.second);
    return names;
  }

  static std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
    return s;
  }

  // Waits until the job's pendingReason is `reason`.
  bool wait_reason(const std::string& id, const std::string& reason, int timeout_ms = 5000) {
    return wait_until([&] { return cluster().describe(id).value("pendingReason", "") == reason; }, timeout_ms);
  }

  // The queue as DescribeJobQueues returns it; null if unknown.
  Json queue(const std::string& name) {
    auto c = cluster().api();
    if (!c) return nullptr;
    auto r = c->call("DescribeJobQueues", Json::object(), 5000);
    if (!r) return nullptr;
    for (const auto& q : (*r)["jobQueues"])
      if (q.value("jobQueueName", "") == name) return q;
    return nullptr;
  }

  // The row of `drover jobs --priority` for job `id`, split into words.
  static std::vector<std::string> row_of(const std::string& table, const std::string& id) {
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::vector<std::string> w;
      for (std::string x; words >> x;) w.push_back(x);
      if (!w.empty() && w[0] == id) return w;
    }
    return {};
  }
  static std::string line_of(const std::string& table, const std::string& id) {
    std::istringstream in(table);
    for (std::string line; std::getline(in, line);)
      if (line.rfind(id + " ", 0) == 0) return line;
    return "";
  }

  void make_fair_share(const std::vector<std::string>& more) {
    std::vector<std::string> a = {"queues", "update", "default", "--fair-share"};
    a.insert(a.end(), more.begin(), more.end());
    const CliResult r = cluster().run_cli(a);
    ASSERT_EQ(r.code, 0) << r.describe();
    ASSERT_TRUE(queue("default")["fairsharePolicy"].is_object()) << queue("default").dump(2);
  }
};

// A (no priority), B (--priority 100), C (--priority 100 --nice=50), D (--nice=10),
// E (--nice, 100): B 100, C 50, A 0, D -10, E -100.
TEST_F(PriorityTest, PriorityMinusNiceThenFifo) {
  ASSERT_GT(cores(), 0);
  // The gate has a time limit, so the first waiting job gets a backfill reservation.
  const std::string g = cluster().submit({"-c", all_cores(), "-t", "1:00", "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  const std::string a = cluster().submit({"-c", all_cores(), "-J", "A", "--wrap", "sleep 0.05"});
  const std::string b = cluster().submit({"-c", all_cores(), "-J", "B", "--priority", "100", "--wrap", "sleep 0.05"});
  const std::string c = cluster().submit(
      {"-c", all_cores(), "-J", "C", "--priority", "100", "--nice=50", "--wrap", "sleep 0.05"});
  const std::string d = cluster().submit({"-c", all_cores(), "-J", "D", "--nice=10", "--wrap", "sleep 0.05"});
  // --nice without a value is 100 (and, as in sbatch, a value needs '=').
  const std::string e = cluster().submit({"-c", all_cores(), "-J", "E", "--nice", "--wrap", "sleep 0.05"});
  ASSERT_FALSE(a.empty() || b.empty() || c.empty() || d.empty() || e.empty());

  // The reservation goes to the first job in priority order, B, not to the oldest.
  EXPECT_TRUE(wait_reason(b, "Resources")) << cluster().describe(b).dump(2);
  for (const auto& id : {a, c, d, e})
    EXPECT_TRUE(wait_reason(id, "Priority")) << cluster().describe(id).dump(2);
  const Json jc = cluster().describe(c);
  EXPECT_EQ(jc.value("schedulingPriority", -1), 100) << jc.dump(2);
  EXPECT_EQ(jc.value("nice", -1), 50) << jc.dump(2);

  // `drover jobs --priority`: PRIORITY is priority - nice, FROM says where it comes from.
  const CliResult jobs = cluster().cli("jobs", "--priority");
  ASSERT_EQ(jobs.code, 0) << jobs.describe();
  EXPECT_TRUE(contains(jobs.out, "PRIORITY")) << jobs.out;
  EXPECT_TRUE(contains(jobs.out, "FROM")) << jobs.out;
  const std::map<std::string, std::pair<std::string, std::string>> want = {
      {a, {"0", "FIFO"}}, {b, {"100", "priority 100"}}, {c, {"50", "priority 100, nice 50"}}, {d, {"-10", "nice 10"}},
      {e, {"-100", "nice 100"}}};
  for (const auto& [id, pf] : want) {
    const std::string line = line_of(jobs.out, id);
    const auto w = row_of(jobs.out, id);
    EXPECT_NE(std::find(w.begin(), w.end(), pf.first), w.end()) << "job " << id << " priority " << pf.first
                                                                << ":\n" << jobs.out;
    EXPECT_TRUE(contains(line, pf.second)) << "job " << id << " from '" << pf.second << "':\n" << jobs.out;
  }
  // B's FROM is "priority 100" exactly, with no nice.
  EXPECT_FALSE(contains(line_of(jobs.out, b), "nice")) << jobs.out;
  // ListJobs carries the numbers.
  auto api = cluster().api();
  ASSERT_TRUE(api);
  auto list = api->call("ListJobs", Json{{"jobStatus", "RUNNABLE"}});
  ASSERT_TRUE(list) << list.message();
  std::map<std::string, Json> summaries;
  for (const auto& s : (*list)["jobSummaryList"]) summaries[s.value("jobId", "")] = s;
  ASSERT_EQ(summaries.size(), 5u) << list->dump(2);
  EXPECT_EQ(summaries[d].value("priority", 0), -10) << summaries[d].dump(2);
  EXPECT_EQ(summaries[d].value("nice", 0), 10) << summaries[d].dump(2);
  EXPECT_EQ(summaries[c].value("priority", 0), 50) << summaries[c].dump(2);
  EXPECT_EQ(summaries[c].value("schedulingPriority", 0), 100) << summaries[c].dump(2);
  EXPECT_FALSE(summaries[a].contains("shareWeight")) << "a FIFO queue has no share weights";

  open("main");
  EXPECT_EQ(joined(start_order({{"A", a}, {"B", b}, {"C", c}, {"D", d}, {"E", e}})), "B C A D E");
}

// --priority=TOP is 9999; a job definition's schedulingPriority is the job's unless
// the submit overrides it (AWS schedulingPriorityOverride).
TEST_F(PriorityTest, TopAndDefinitionPriority) {
  ASSERT_GT(cores(), 0);
  auto api = cluster().api();
  ASSERT_TRUE(api);
  auto reg = api->call("RegisterJobDefinition",
                       Json{{"jobDefinitionName", "urgent"},
                            {"type", "single"},
                            {"command", {"sleep", "0.05"}},
                            {"schedulingPriority", 200},
                            {"resourceRequirements", {{{"type", "VCPU"}, {"value", all_cores()}}}}});
  ASSERT_TRUE(reg) << reg.message();
  auto bad = api->call("RegisterJobDefinition", Json{{"jobDefinitionName", "toourgent"},
                                                     {"type", "single"},
                                                     {"command", {"true"}},
                                                     {"schedulingPriority", 10000}});
  ASSERT_FALSE(bad) << "a definition with schedulingPriority 10000 was accepted";
  EXPECT_TRUE(contains(bad.message(), "schedulingPriority")) << bad.message();

  const std::string g = cluster().submit({"-c", all_cores(), "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  const std::string plain = cluster().submit({"-c", all_cores(), "--priority", "50", "--wrap", "sleep 0.05"});
  const std::string from_def = cluster().submit({"--definition", "urgent"});
  const std::string overridden = cluster().submit({"--definition", "urgent", "--priority", "10"});
  auto top = api->call("SubmitJob", Json{{"jobDefinition", "urgent"},
                                         {"workingDirectory", cluster().work_dir()},
                                         {"schedulingPriorityOverride", 300}});
  ASSERT_TRUE(top) << top.message();
  const std::string api_top = top->value("jobId", "");
  const std::string cli_top = cluster().submit({"-c", all_cores(), "--priority=TOP", "--wrap", "sleep 0.05"});
  ASSERT_FALSE(plain.empty() || from_def.empty() || overridden.empty() || api_top.empty() || cli_top.empty());
  EXPECT_EQ(cluster().describe(from_def).value("schedulingPriority", 0), 200) << cluster().describe(from_def).dump(2);
  EXPECT_EQ(cluster().describe(overridden).value("schedulingPriority", 0), 10);
  EXPECT_EQ(cluster().describe(api_top).value("schedulingPriority", 0), 300);
  EXPECT_EQ(cluster().describe(cli_top).value("schedulingPriority", 0), 9999);
  ASSERT_TRUE(cluster().wait_for_state(cli_top, "RUNNABLE"));

  open("main");
  EXPECT_EQ(joined(start_order({{"plain50", plain},
                                {"def200", from_def},
                                {"def-override10", overridden},
                                {"api300", api_top},
                                {"top", cli_top}})),
            "top api300 def200 plain50 def-override10");
}

// Negative nice and raising a job's priority take root (or the admin); lowering
// one's own job's priority or raising its nice does not.
TEST_F(PriorityTest, NonAdminMayOnlyLowerPriority) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create a user";
  auto alice = cluster().create_user("p");
  ASSERT_TRUE(alice);
  CliOptions as_alice;
  as_alice.as = &*alice;
  as_alice.cwd = cluster().make_user_dir(*alice, "alice");

  const CliResult negative = cluster().run_cli({"submit", "--nice=-5", "--wrap", "true"}, as_alice);
  EXPECT_NE(negative.code, 0) << negative.describe();
  EXPECT_TRUE(contains(negative.err, "nice")) << negative.describe();
  EXPECT_TRUE(trim(negative.out).empty()) << negative.describe();
  // Root may.
  const std::string root_job = cluster().submit({"--hold", "--nice=-5", "--wrap", "true"});
  ASSERT_FALSE(root_job.empty());
  EXPECT_EQ(cluster().describe(root_job).value("nice", 0), -5);

  // Held, so that it waits while it is updated.
  const std::string id = cluster().submit({"--hold", "--nice=5", "--wrap", "echo ran"}, as_alice);
  ASSERT_FALSE(id.empty());
  ASSERT_TRUE(wait_reason(id, "Held")) << cluster().describe(id).dump(2);
  EXPECT_EQ(cluster().describe(id).value("nice", 0), 5);

  // Root lifts it to 100 first, so that alice has something to lower.
  CliResult r = cluster().cli("update", id, "--priority", "100");
  ASSERT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("schedulingPriority", 0), 100);

  r = cluster().run_cli({"update", id, "--priority", "200"}, as_alice);
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "priority")) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("schedulingPriority", 0), 100) << "a refused update changed the job";

  r = cluster().run_cli({"update", id, "--priority", "40"}, as_alice);
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("schedulingPriority", 0), 40);

  // Nice: up is fine, down is not.
  r = cluster().run_cli({"update", id, "--nice", "20"}, as_alice);
  EXPECT_EQ(r.code, 0) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("nice", 0), 20);
  r = cluster().run_cli({"update", id, "--nice", "0"}, as_alice);
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_TRUE(contains(r.err, "nice")) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("nice", 0), 20);

  // Root may raise it again, and lower the nice, even below 0.
  r = cluster().cli("update", id, "--priority", "500", "--nice", "-1");
  EXPECT_EQ(r.code, 0) << r.describe();
  const Json j = cluster().describe(id);
  EXPECT_EQ(j.value("schedulingPriority", 0), 500) << j.dump(2);
  EXPECT_EQ(j.value("nice", 0), -1) << j.dump(2);

  // Another user may not touch it at all.
  auto bob = cluster().create_user("q");
  ASSERT_TRUE(bob);
  CliOptions as_bob;
  as_bob.as = &*bob;
  as_bob.cwd = cluster().make_user_dir(*bob, "bob");
  r = cluster().run_cli({"update", id, "--nice", "1000"}, as_bob);
  EXPECT_NE(r.code, 0) << r.describe();
  EXPECT_EQ(cluster().describe(id).value("nice", 0), -1);

  ASSERT_EQ(cluster().run_cli({"release", id}, as_alice).code, 0);
  EXPECT_EQ(cluster().wait_for_end(id).value("status", ""), "SUCCEEDED");
  // A started job's priority no longer changes.
  r = cluster().cli("update", id, "--priority", "1");
  EXPECT_NE(r.code, 0) << r.describe();
  ASSERT_EQ(cluster().cli("cancel", root_job).code, 0);
}

// Fair share by past use (shareDecaySeconds > 0): jobs that use every core run one
// at a time, and the share that has used fewer vCPU-seconds goes next. Alpha's jobs
// run 0.4 s and beta's 0.6 s, so that no comparison is a tie:
//   a1 (both 0), b1 (0.8 vs 0), a2 (0.8 vs 1.2), b2 (1.6 vs 1.2), a3, a4.
// FIFO would run a1 a2 a3 a4 b1 b2.
TEST_F(PriorityTest, FairShareAlternatesBetweenShares) {
  ASSERT_GT(cores(), 0);
  make_fair_share({"--share-decay", "1:00:00"});
  const CliResult list = cluster().cli("queues", "list");
  EXPECT_TRUE(contains(line_of(list.out, "default"), "fair share")) << list.out;
  const std::string g = cluster().submit({"-c", all_cores(), "-A", "gate", "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  std::vector<std::pair<std::string, std::string>> jobs;
  for (int i = 1; i <= 4; ++i)
    jobs.emplace_back("a" + std::to_string(i),
                      cluster().submit({"-c", all_cores(), "--account=alpha", "--wrap", "sleep 0.4"}));
  for (int i = 1; i <= 2; ++i)
    jobs.emplace_back("b" + std::to_string(i),
                      cluster().submit({"-c", all_cores(), "--account=beta", "--wrap", "sleep 0.6"}));
  for (const auto& [name, id] : jobs) ASSERT_FALSE(id.empty()) << name;
  for (const auto& [name, id] : jobs) ASSERT_TRUE(cluster().wait_for_state(id, "RUNNABLE"));

  const CliResult shown = cluster().cli("jobs", "--priority");
  ASSERT_EQ(shown.code, 0) << shown.describe();
  EXPECT_TRUE(contains(line_of(shown.out, jobs[0].second), "fair share alpha (weight 1)")) << shown.out;
  EXPECT_TRUE(contains(line_of(shown.out, jobs[5].second), "fair share beta (weight 1)")) << shown.out;
  const Json sb = cluster().describe(jobs[5].second);
  EXPECT_EQ(sb.value("shareIdentifier", ""), "beta") << sb.dump(2);

  open("main");
  const auto order = start_order(jobs);
  EXPECT_EQ(joined(order), "a1 b1 a2 b2 a3 a4");
  // Whatever the timing, beta's two jobs are not both last.
  ASSERT_EQ(order.size(), 6u);
  EXPECT_FALSE(order[4][0] == 'b' && order[5][0] == 'b') << joined(order);

  // The queue has recorded each share's use.
  const Json usage = queue("default")["fairsharePolicy"]["shareUsage"];
  EXPECT_GT(usage["alpha"].value("vcpuSeconds", 0.0), usage["beta"].value("vcpuSeconds", 0.0)) << usage.dump(2);
  EXPECT_GT(usage["beta"].value("vcpuSeconds", 0.0), 0.0) << usage.dump(2);
}

// A lower weightFactor gets more: with beta at 0.25, beta's 2 jobs both go before
// alpha's second (alpha 2d against beta 0.25 * 2d after a1 and b1).
TEST_F(PriorityTest, FairShareWeights) {
  ASSERT_GT(cores(), 0);
  make_fair_share({"--share-decay", "1:00:00", "--share-weight", "beta=0.25", "--share-weight", "gam*=4"});
  const Json policy = queue("default")["fairsharePolicy"];
  ASSERT_EQ(policy["shareDistribution"].size(), 2u) << policy.dump(2);
  EXPECT_EQ(policy.value("shareDecaySeconds", 0), 3600) << policy.dump(2);

  const std::string g = cluster().submit({"-c", all_cores(), "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  std::vector<std::pair<std::string, std::string>> jobs;
  for (int i = 1; i <= 3; ++i)
    jobs.emplace_back("a" + std::to_string(i),
                      cluster().submit({"-c", all_cores(), "--account=alpha", "--wrap", "sleep 0.3"}));
  for (int i = 1; i <= 2; ++i)
    jobs.emplace_back("b" + std::to_string(i),
                      cluster().submit({"-c", all_cores(), "--account=beta", "--wrap", "sleep 0.3"}));
  // A prefix weight applies to every share it matches.
  const std::string gamma = cluster().submit({"--hold", "--account=gamma1", "--wrap", "true"});
  for (const auto& [name, id] : jobs) ASSERT_FALSE(id.empty()) << name;
  for (const auto& [name, id] : jobs) ASSERT_TRUE(cluster().wait_for_state(id, "RUNNABLE"));

  const CliResult shown = cluster().cli("jobs", "--priority");
  EXPECT_TRUE(contains(line_of(shown.out, jobs[3].second), "fair share beta (weight 0.25)")) << shown.out;
  EXPECT_TRUE(contains(line_of(shown.out, jobs[0].second), "fair share alpha (weight 1)")) << shown.out;
  EXPECT_TRUE(contains(line_of(shown.out, gamma), "fair share gamma1 (weight 4)")) << shown.out;
  // The user's name is the share when there is no account.
  EXPECT_TRUE(contains(line_of(shown.out, g), "fair share root (weight 1)")) << shown.out;

  open("main");
  EXPECT_EQ(joined(start_order(jobs)), "a1 b1 b2 a2 a3");
  ASSERT_EQ(cluster().cli("cancel", gamma).code, 0);
}

// Without decay only what runs now counts, and the order is re-evaluated after each
// start: on a 2-CPU node, 1-CPU jobs of alpha (a1 a2 a3) and beta (b1 b2) start as
// a1+b1, then the share whose job ended goes again. FIFO would start a1+a2.
TEST_F(PriorityTest, FairShareByRunningVcpus) {
  if (cores() != 2) GTEST_SKIP() << "this scenario is written for a 2-CPU node";
  make_fair_share({});
  EXPECT_EQ(queue("default")["fairsharePolicy"].value("shareDecaySeconds", -1), 0);
  const std::string g = cluster().submit({"-c", "2", "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  std::map<std::string, std::string> id;
  for (const std::string n : {"a1", "a2", "a3"})
    id[n] = cluster().submit({"-c", "1", "--account=alpha", "--wrap", wait_for_gate(n)});
  for (const std::string n : {"b1", "b2"})
    id[n] = cluster().submit({"-c", "1", "--account=beta", "--wrap", wait_for_gate(n)});
  for (const auto& [n, i] : id) ASSERT_TRUE(cluster().wait_for_state(i, "RUNNABLE")) << n;

  open("main");
  ASSERT_TRUE(cluster().wait_for_state(id["a1"], "RUNNING"));
  ASSERT_TRUE(cluster().wait_for_state(id["b1"], "RUNNING"));
  for (const std::string n : {"a2", "a3", "b2"}) EXPECT_EQ(cluster().state(id[n]), "RUNNABLE") << n;

  open("a1");
  ASSERT_TRUE(cluster().wait_for_state(id["a2"], "RUNNING"));
  for (const std::string n : {"a3", "b2"}) EXPECT_EQ(cluster().state(id[n]), "RUNNABLE") << n;

  open("b1");  // beta runs nothing now, alpha one job: beta goes next, before the older a3
  ASSERT_TRUE(cluster().wait_for_state(id["b2"], "RUNNING"));
  EXPECT_EQ(cluster().state(id["a3"]), "RUNNABLE");

  for (const std::string n : {"a2", "a3", "b2"}) open(n);
  for (const auto& [n, i] : id) EXPECT_EQ(cluster().wait_for_end(i).value("status", ""), "SUCCEEDED") << n;
  // No decay: nothing is remembered.
  EXPECT_TRUE(queue("default")["fairsharePolicy"]["shareUsage"].empty()) << queue("default").dump(2);
}

// The same with an array: each task is a start of its share, so alpha's array and
// beta's job start one task and one job, as a1 and b1 do above.
// DISABLED: fails. The scheduler re-evaluates the fair-share order only between
// jobs; an array's tasks start back to back in one go (sched/scheduler.cpp,
// Pass::run: the `while (!done)` loop over arr->pending takes every task that
// fits before order->next() is asked again), so alpha's tasks 0 and 1 take both
// CPUs and beta, which runs nothing, waits.
TEST_F(PriorityTest, FairShareIsReevaluatedBetweenArrayTasks) {
  if (cores() != 2) GTEST_SKIP() << "this scenario is written for a 2-CPU node";
  make_fair_share({});
  const std::string g = cluster().submit({"-c", "2", "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  const std::string arr =
      cluster().submit({"-c", "1", "--array=0-3", "--account=alpha", "--wrap", wait_for_gate("arr")});
  const std::string b = cluster().submit({"-c", "1", "--account=beta", "--wrap", wait_for_gate("b")});
  ASSERT_TRUE(cluster().wait_for_state(b, "RUNNABLE"));
  open("main");
  EXPECT_TRUE(cluster().wait_for_state(b, "RUNNING", 5000));
  EXPECT_TRUE(cluster().wait_for_state(arr + "_0", "RUNNING", 5000));
  EXPECT_NE(cluster().state(arr + "_1"), "RUNNING");
  open("arr");
  open("b");
  EXPECT_EQ(cluster().wait_for_end(arr, 20000).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(cluster().wait_for_end(b).value("status", ""), "SUCCEEDED");
}

// computeReservation 50 on 2 CPUs: with one share active, half the queue is kept
// for shares that run nothing; alpha's second job waits with a free CPU.
TEST_F(PriorityTest, ComputeReservationKeepsRoomForIdleShares) {
  if (cores() != 2) GTEST_SKIP() << "this scenario is written for a 2-CPU node";
  make_fair_share({"--compute-reservation", "50"});
  EXPECT_EQ(queue("default")["fairsharePolicy"].value("computeReservation", 0), 50);
  const std::string a1 = cluster().submit({"-c", "1", "--account=alpha", "--wrap", wait_for_gate("a1")});
  ASSERT_TRUE(cluster().wait_for_state(a1, "RUNNING"));
  const std::string a2 = cluster().submit({"-c", "1", "--account=alpha", "--wrap", "echo a2"});
  ASSERT_TRUE(wait_reason(a2, "ComputeReservation")) << cluster().describe(a2).dump(2);
  EXPECT_EQ(cluster().state(a2), "RUNNABLE");
  const CliResult shown = cluster().cli("jobs");
  EXPECT_TRUE(contains(line_of(shown.out, a2), "(ComputeReservation)")) << shown.out;
  // The kept CPU goes to another share.
  const std::string b1 = cluster().submit({"-c", "1", "--account=beta", "--wrap", wait_for_gate("b1")});
  ASSERT_TRUE(cluster().wait_for_state(b1, "RUNNING"));
  EXPECT_EQ(cluster().state(a2), "RUNNABLE");
  open("a1");
  EXPECT_EQ(cluster().wait_for_end(a2).value("status", ""), "SUCCEEDED");
  open("b1");
  EXPECT_EQ(cluster().wait_for_end(a1).value("status", ""), "SUCCEEDED");
  EXPECT_EQ(cluster().wait_for_end(b1).value("status", ""), "SUCCEEDED");
}

// Past use is kept in the queue (DescribeJobQueues' fairsharePolicy.shareUsage),
// survives a new policy and a head crash; waiting jobs keep their priorities, too.
TEST_F(PriorityTest, ShareUsageAndPrioritiesSurviveAHeadRestart) {
  ASSERT_GT(cores(), 0);
  make_fair_share({"--share-decay", "1:00:00"});
  const std::string a = cluster().submit({"-c", "1", "--account=alpha", "--wrap", "sleep 0.2"});
  EXPECT_EQ(cluster().wait_for_end(a).value("status", ""), "SUCCEEDED");
  Json usage = queue("default")["fairsharePolicy"]["shareUsage"];
  const double used = usage["alpha"].value("vcpuSeconds", 0.0);
  EXPECT_GE(used, 0.2) << usage.dump(2);
  EXPECT_LT(used, 30.0) << usage.dump(2);
  EXPECT_GT(usage["alpha"].value("at", 0LL), 0) << usage.dump(2);

  // A new policy keeps it.
  const CliResult again = cluster().cli("queues", "update", "default", "--fair-share", "--share-decay", "2:00:00");
  ASSERT_EQ(again.code, 0) << again.describe();
  usage = queue("default")["fairsharePolicy"]["shareUsage"];
  EXPECT_NEAR(usage["alpha"].value("vcpuSeconds", 0.0), used, used * 0.01) << usage.dump(2);

  // Waiting jobs with priorities, behind a gate.
  const std::string g = cluster().submit({"-c", all_cores(), "--wrap", wait_for_gate("main")});
  ASSERT_TRUE(cluster().wait_for_state(g, "RUNNING"));
  const std::string low = cluster().submit({"-c", all_cores(), "--account=alpha", "--wrap", "sleep 0.05"});
  const std::string high =
      cluster().submit({"-c", all_cores(), "--account=alpha", "--priority", "10", "--wrap", "sleep 0.05"});
  ASSERT_TRUE(cluster().wait_for_state(high, "RUNNABLE"));

  ASSERT_EQ(cluster().restart_head(), "");
  const Json q = queue("default");
  ASSERT_TRUE(q["fairsharePolicy"].is_object()) << q.dump(2);
  EXPECT_EQ(q["fairsharePolicy"].value("shareDecaySeconds", 0), 7200) << q.dump(2);
  EXPECT_NEAR(q["fairsharePolicy"]["shareUsage"]["alpha"].value("vcpuSeconds", 0.0), used, used * 0.01) << q.dump(2);
  EXPECT_EQ(cluster().describe(high).value("schedulingPriority", 0), 10);

  open("main");
  EXPECT_EQ(joined(start_order({{"low", low}, {"high", high}})), "high low");

  // --fifo turns fair share off, and forgets the use.
  const CliResult fifo = cluster().cli("queues", "update", "default", "--fifo");
  ASSERT_EQ(fifo.code, 0) << fifo.describe();
  EXPECT_TRUE(queue("default")["fairsharePolicy"].is_null()) << queue("default").dump(2);
  const CliResult list = cluster().cli("queues", "list");
  EXPECT_TRUE(contains(line_of(list.out, "default"), "FIFO")) << list.out;
}

// Out-of-range values are refused with the field named, and change nothing.
TEST_F(PriorityTest, BadValuesAreRefused) {
  const Json before = queue("default");
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Case& c : {Case{{"--share-weight", "x=0"}, "weightFactor"},
                        Case{{"--share-weight", "x=1000"}, "weightFactor"},
                        Case{{"--share-weight", "x"}, "share-weight"},
                        Case{{"--compute-reservation", "100"}, "computeReservation"},
                        Case{{"--compute-reservation", "-1"}, "computeReservation"},
                        Case{{"--share-decay", "8-00:00:00"}, "shareDecaySeconds"},
                        Case{{"--fair-share", "--fifo"}, "--fifo"}}) {
    std::vector<std::string> a = {"queues", "update", "default"};
    a.insert(a.end(), c.args.begin(), c.args.end());
    const CliResult r = cluster().run_cli(a);
    EXPECT_NE(r.code, 0) << c.args.back() << ": " << r.describe();
    EXPECT_TRUE(contains(r.err, c.says)) << c.args.back() << ": the message should name " << c.says << "\n"
                                         << r.describe();
  }
  EXPECT_EQ(queue("default"), before) << "a refused update changed the queue";

  for (const Case& c : {Case{{"--priority", "10000"}, "priority"},
                        Case{{"--priority", "-1"}, "priority"},
                        Case{{"--priority", "high"}, "priority"},
                        Case{{"--nice=10001"}, "nice"},
                        Case{{"--nice=-10001"}, "nice"}}) {
    std::vector<std::string> a = {"submit"};
    a.insert(a.end(), c.args.begin(), c.args.end());
    a.insert(a.end(), {"--wrap", "true"});
    const CliResult r = cluster().run_cli(a);
    EXPECT_NE(r.code, 0) << c.args.back() << ": " << r.describe();
    EXPECT_TRUE(trim(r.out).empty()) << r.describe();
    EXPECT_TRUE(contains(r.err, c.says)) << c.args.back() << ": " << r.describe();
  }

  auto api = cluster().api();
  ASSERT_TRUE(api);
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{{"schedulingPriority", -1},
                                                                              {"schedulingPriority", 10000},
                                                                              {"schedulingPriorityOverride", -1},
                                                                              {"nice", 10001}}) {
    auto r = api->call("SubmitJob", Json{{"command", {"true"}}, {"workingDirectory", cluster().work_dir()},
                                         {field, value}});
    EXPECT_FALSE(r) << field << "=" << value.dump() << " was accepted";
    if (!r) {
      const std::string says = field == "nice" ? "nice" : "schedulingPriority";
      EXPECT_TRUE(contains(r.message(), says)) << field << ": " << r.message();
    }
  }
  auto fp = api->call("UpdateJobQueue", Json{{"jobQueue", "default"},
                                             {"fairsharePolicy", {{"shareDistribution",
                                                                   {{{"shareIdentifier", "a"},
                                                                     {"weightFactor", 0.00001}}}}}}});
  EXPECT_FALSE(fp) << "weightFactor 0.00001 was accepted";
  if (!fp) {
    EXPECT_TRUE(contains(fp.message(), "weightFactor")) << fp.message();
  }

  // Nothing was created.
  auto list = api->call("ListJobs", Json{{"jobStatus", Json::array({"SUBMITTED", "PENDING", "RUNNABLE", "STARTING",
                                                                     "RUNNING", "SUCCEEDED", "FAILED"})}});
  ASSERT_TRUE(list) << list.message();
  EXPECT_TRUE((*list)["jobSummaryList"].empty()) << list->dump(2);

  // Updating a waiting job out of range is refused too.
  const std::string id = cluster().submit({"--hold", "--wrap", "true"});
  for (const auto& [opt, value] : std::vector<std::pair<std::string, std::string>>{
           {"--priority", "10000"}, {"--priority", "-1"}, {"--nice", "10001"}}) {
    const CliResult r = cluster().cli("update", id, opt, value);
    EXPECT_NE(r.code, 0) << opt << " " << value << ": " << r.describe();
  }
  const Json j = cluster().describe(id);
  EXPECT_FALSE(j.contains("schedulingPriority")) << j.dump(2);
  EXPECT_FALSE(j.contains("nice")) << j.dump(2);
  ASSERT_EQ(cluster().cli("cancel", id).code, 0);
}

}  // namespace
}  // namespace drover::it

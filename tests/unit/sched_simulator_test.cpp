// The trace simulator on tiny workloads whose metrics are worked out by hand,
// and the SWF parser (fields, comments, unknowns, errors with line numbers).
#include "sched/simulator.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "sched/swf.hpp"

namespace drover::sched {
namespace {

SimConfig one_node(int cpus, Backfill b) {
  SimConfig c;
  c.nodes = {{1, cpus}};
  c.policy.backfill = b;
  return c;
}

// A: 3 PUs for 100 s at 0; B: 4 PUs for 50 s at 10; C: 1 PU for 10 s at 20;
// limits = run times. FIFO: A 0-100, B 100-150, C 150-160. EASY: B is reserved
// at 100 and C (ends at 30) backfills at 20.
std::vector<SimJob> abc() {
  return {{1, 0, 100, 3, 100}, {2, 10, 50, 4, 50}, {3, 20, 10, 1, 10}};
}

TEST(Simulate, FifoByHand) {
  auto r = simulate(abc(), one_node(4, Backfill::None));
  ASSERT_TRUE(r) << r.message();
  ASSERT_EQ(r->jobs.size(), 3u);
  EXPECT_EQ(r->jobs[0].start_s, 0);
  EXPECT_EQ(r->jobs[1].start_s, 100);
  EXPECT_EQ(r->jobs[2].start_s, 150);
  const SimMetrics& m = r->metrics;
  EXPECT_EQ(m.jobs, 3u);
  EXPECT_EQ(m.makespan_s, 160);
  EXPECT_DOUBLE_EQ(m.utilization, 510.0 / (4 * 160));
  EXPECT_DOUBLE_EQ(m.mean_wait_s, (0 + 90 + 130) / 3.0);
  EXPECT_DOUBLE_EQ(m.p95_wait_s, 130);
  // max(1, (wait + run) / max(run, 10)): 1, 140/50, 140/10
  EXPECT_DOUBLE_EQ(m.mean_bounded_slowdown, (1 + 2.8 + 14) / 3);
}

TEST(Simulate, EasyByHand) {
  auto r = simulate(abc(), one_node(4, Backfill::Easy));
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->jobs[1].start_s, 100);
  EXPECT_EQ(r->jobs[2].start_s, 20);
  const SimMetrics& m = r->metrics;
  EXPECT_EQ(m.makespan_s, 150);
  EXPECT_DOUBLE_EQ(m.utilization, 510.0 / (4 * 150));
  EXPECT_DOUBLE_EQ(m.mean_wait_s, 30);
  EXPECT_DOUBLE_EQ(m.p95_wait_s, 90);
  EXPECT_DOUBLE_EQ(m.mean_bounded_slowdown, (1 + 2.8 + 1) / 3);
}

TEST(Simulate, LongJobDoesNotBackfillUnderEasy) {
  auto jobs = abc();
  jobs[2].run_s = jobs[2].limit_s = 200;  // C would delay B now
  auto easy = simulate(jobs, one_node(4, Backfill::Easy));
  ASSERT_TRUE(easy);
  EXPECT_EQ(easy->jobs[2].start_s, 150);
  auto greedy = simulate(jobs, one_node(4, Backfill::Greedy));
  ASSERT_TRUE(greedy);
  EXPECT_EQ(greedy->jobs[2].start_s, 20);
  EXPECT_EQ(greedy->jobs[1].start_s, 220);  // greedy delays the big job
}

TEST(Simulate, JobsEndAtTheirLimit) {
  std::vector<SimJob> jobs = {{1, 0, 100, 1, 30}};
  auto r = simulate(jobs, one_node(4, Backfill::Easy));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->jobs[0].end_s, 30);
}

TEST(Simulate, JobsBiggerThanAnyNodeAreLeftOut) {
  std::vector<SimJob> jobs = {{1, 0, 10, 8, 10}, {2, 0, 10, 2, 10}};
  auto r = simulate(jobs, one_node(4, Backfill::Easy));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->metrics.jobs, 1u);
  EXPECT_EQ(r->metrics.impossible, 1u);
}

TEST(Simulate, IsDeterministic) {
  std::vector<SimJob> jobs;
  for (int i = 0; i < 200; ++i)
    jobs.push_back({i + 1, i * 7 % 300, 5 + i * 13 % 97, 1 + i * 5 % 8, 5 + i * 13 % 97});
  SimConfig c = one_node(8, Backfill::Conservative);
  c.nodes = {{3, 8}};
  auto a = simulate(jobs, c), b = simulate(jobs, c);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->jobs.size(), b->jobs.size());
  for (std::size_t i = 0; i < a->jobs.size(); ++i) {
    EXPECT_EQ(a->jobs[i].start_s, b->jobs[i].start_s);
    EXPECT_EQ(a->jobs[i].node, b->jobs[i].node);
  }
  EXPECT_EQ(a->metrics.mean_wait_s, b->metrics.mean_wait_s);
}

TEST(Simulate, SvgHasOneLinePerPolicyAndPanel) {
  auto a = simulate(abc(), one_node(4, Backfill::None));
  auto b = simulate(abc(), one_node(4, Backfill::Easy));
  ASSERT_TRUE(a && b);
  const std::string svg = render_svg({{"fifo", &*a}, {"easy", &*b}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  std::size_t lines = 0;
  for (auto p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1))
    ++lines;
  EXPECT_EQ(lines, 4u);
  EXPECT_NE(svg.find("easy"), std::string::npos);
}

// ---- SWF ----------------------------------------------------------------------

TEST(Swf, ParsesJobsCommentsAndUnknowns) {
  std::istringstream in(
      "; Version: 2\n"
      "; MaxNodes: 128\n"
      "; MaxProcs: 256\n"
      "\n"
      "1 0 -1 100 16 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1 -1\n"
      "2   5 -1  20  1 -1 -1  4 600 -1 1 3 -1 -1 0 -1 -1 -1\n"
      "3 6 -1 -1 4 -1 -1 -1 -1 -1 0 3 -1 -1 0 -1 -1 -1\n"    // no run time
      "4 7 -1 10 -1 -1 -1 -1 -1 -1 5 3 -1 -1 0 -1 -1 -1\n"   // no processors
      "5 8 -1 12.6 2 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1 -1\r\n");
  auto t = parse_swf(in);
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t->max_procs, 256);
  EXPECT_EQ(t->skipped, 2u);
  ASSERT_EQ(t->jobs.size(), 3u);
  EXPECT_EQ(t->jobs[0].procs, 16);  // allocated when requested is unknown
  EXPECT_EQ(t->jobs[0].requested_time_s, -1);
  EXPECT_EQ(t->jobs[1].procs, 4);   // requested wins
  EXPECT_EQ(t->jobs[1].requested_time_s, 600);
  EXPECT_EQ(t->jobs[2].run_s, 13);

  const auto sim = sim_jobs_from_swf(*t);
  EXPECT_EQ(sim[0].limit_s, 100);  // no estimate: the run time
  EXPECT_EQ(sim[1].limit_s, 600);
}

TEST(Swf, Limit) {
  std::istringstream in(
      "1 0 -1 100 1 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1 -1\n"
      "2 0 -1 100 1 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1 -1\n"
      "garbage that is never read\n");
  auto t = parse_swf(in, 2);
  ASSERT_TRUE(t) << t.message();
  EXPECT_EQ(t->jobs.size(), 2u);
}

TEST(Swf, WrongFieldCountNamesTheLine) {
  std::istringstream in(
      "; header\n"
      "1 0 -1 100 1 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1 -1\n"
      "2 0 -1 100 1 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1\n");
  auto t = parse_swf(in);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.message(), "line 3: expected 18 fields, found 17");
}

TEST(Swf, NonNumericFieldNamesTheField) {
  std::istringstream in("1 0 -1 abc 1 -1 -1 -1 -1 -1 1 3 -1 -1 0 -1 -1 -1\n");
  auto t = parse_swf(in);
  ASSERT_FALSE(t);
  EXPECT_EQ(t.message(), "line 1: field 4 (run time) is not a number: 'abc'");
}

TEST(Swf, MissingFileIsAnError) {
  auto t = load_swf("/nonexistent/trace.swf");
  ASSERT_FALSE(t);
  EXPECT_NE(t.message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace drover::sched

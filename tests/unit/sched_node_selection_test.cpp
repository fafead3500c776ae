// Node selection in the scheduling pass: features (AND, OR, matching OR),
// --nodelist / --exclude, --exclusive with backfill and reservations, and the
// wait reasons Slurm uses (ReqNodeNotAvail, BadConstraints).
#include <gtest/gtest.h>

#include <set>

#include "sched/scheduler.hpp"
#include "test_cluster.hpp"

namespace drover::sched {
namespace {

using drover::testing::ClusterBuilder;
using drover::testing::make_test_job;
using drover::testing::make_topology;
using Features = std::vector<std::string>;

constexpr std::int64_t kNow = 1000;

Policy easy() {
  Policy p;
  p.backfill = Backfill::Easy;
  return p;
}

// n1: gpu,v100,rack1  n2: gpu,a100,rack1  n3: cpu,rack2  n4: cpu,gpu,a100,rack2; 4 cores each.
void cluster(ClusterBuilder& c) {
  c.node("n1", make_topology(4), 1, {"gpu", "rack1", "v100"});
  c.node("n2", make_topology(4), 1, {"a100", "gpu", "rack1"});
  c.node("n3", make_topology(4), 1, {"cpu", "rack2"});
  c.node("n4", make_topology(4), 1, {"a100", "cpu", "gpu", "rack2"});
  c.env("ce", {"n1", "n2", "n3", "n4"});
  c.queue("q", {"ce"});
}

Job selected(std::int64_t id, NodeSelection sel, int vcpus = 1, int nodes = 1, std::int64_t limit_s = 0) {
  Job j = make_test_job(id, "q", vcpus);
  j.nodes = nodes;
  j.ntasks = nodes;
  j.timeout_seconds = limit_s;
  j.selection = Boxed<NodeSelection>(std::move(sel));
  return j;
}

NodeSelection constraint(const std::string& text) {
  NodeSelection s;
  auto c = parse_constraint(text);
  EXPECT_TRUE(c) << c.message();
  if (c) s.constraint = *c;
  return s;
}

std::set<std::string> nodes_of(const Decision& d) {
  std::set<std::string> s{d.node};
  for (const auto& x : d.more_nodes) s.insert(x.node);
  return s;
}

void apply_starts(ClusterBuilder& c, const PassResult& r) {
  for (const auto& d : r.starts)
    c.ok(JobDispatched{d.job_id, d.node, d.cpus, d.gpus, kNow, d.array_index, 0, d.more_nodes});
}

const WaitReason* reason_of(const PassResult& r, std::int64_t id) {
  for (const auto& w : r.reasons)
    if (w.job_id == id) return &w;
  return nullptr;
}

struct PlaceCase {
  const char* name;
  const char* constraint;  // "" for none
  Features node_list;
  Features exclude;
  int nodes;
  std::set<std::string> expect;  // empty: does not start
};

class SelectsNodes : public ::testing::TestWithParam<PlaceCase> {};

TEST_P(SelectsNodes, OnAnEmptyCluster) {
  const PlaceCase& p = GetParam();
  ClusterBuilder c;
  cluster(c);
  NodeSelection s = *p.constraint ? constraint(p.constraint) : NodeSelection{};
  s.node_list = p.node_list;
  s.exclude = p.exclude;
  c.submit(selected(1, s, 1, p.nodes));
  const auto r = schedule(c.state(), kNow, easy());
  if (p.expect.empty()) {
    EXPECT_TRUE(r.starts.empty());
    return;
  }
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(nodes_of(r.starts[0]), p.expect);
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectsNodes,
    ::testing::Values(
        PlaceCase{"Feature", "cpu", {}, {}, 1, {"n3"}}, PlaceCase{"And", "cpu&gpu", {}, {}, 1, {"n4"}},
        PlaceCase{"Or", "v100|cpu", {}, {}, 1, {"n1"}}, PlaceCase{"Parens", "(v100|cpu)&rack2", {}, {}, 1, {"n3"}},
        PlaceCase{"NoSuchFeature", "h100", {}, {}, 1, {}},
        PlaceCase{"TwoNodesWithConstraint", "a100", {}, {}, 2, {"n2", "n4"}},
        // Plain OR may mix racks; matching OR may not: rack1 has n1, n2.
        PlaceCase{"OrMixes", "rack1|rack2", {}, {"n2"}, 2, {"n1", "n3"}},
        PlaceCase{"MatchingOrSameRack", "[rack1|rack2]", {}, {"n2"}, 2, {"n3", "n4"}},
        PlaceCase{"MatchingOrNoneFits", "[rack1|rack2]", {}, {"n2", "n3"}, 2, {}},
        PlaceCase{"MatchingOrWithAnd", "gpu&[rack1|rack2]", {}, {"n1"}, 2, {}},
        PlaceCase{"NodeList", "", {"n3"}, {}, 1, {"n3"}},
        PlaceCase{"NodeListPlusMore", "", {"n4"}, {}, 2, {"n1", "n4"}},
        PlaceCase{"NodeListAll", "", {"n2", "n4"}, {}, 2, {"n2", "n4"}},
        PlaceCase{"Exclude", "", {}, {"n1", "n2"}, 1, {"n3"}},
        PlaceCase{"ExcludeWithConstraint", "gpu", {}, {"n1", "n2"}, 1, {"n4"}},
        PlaceCase{"ListedNodeMustMatch", "cpu", {"n1"}, {}, 1, {}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(NodeSelection, ListedNodeBusyWaitsAndReservesIt) {
  ClusterBuilder c;
  cluster(c);
  Job filler = make_test_job(1, "q", 4);
  filler.timeout_seconds = 100;
  c.submit(filler);
  apply_starts(c, schedule(c.state(), kNow, easy()));  // job 1 fills n1
  ASSERT_EQ(c.state().job(1)->current_attempt()->node, "n1");
  NodeSelection s;
  s.node_list = {"n1"};
  c.submit(selected(2, s, 4, 1, 100));
  Job later = make_test_job(3, "q", 1);  // no limit: would run past job 2's start
  c.submit(later);
  Job small = make_test_job(4, "q", 1);
  small.timeout_seconds = 50;  // ends before job 1 does: may backfill anywhere
  c.submit(small);
  const auto r = schedule(c.state(), kNow, easy());
  const WaitReason* w = reason_of(r, 2);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->reason, "Resources");
  EXPECT_EQ(w->estimated_start_ms, kNow + 100'000) << "when job 1 ends on n1";
  std::map<std::int64_t, std::string> started;
  for (const auto& d : r.starts) started[d.job_id] = d.node;
  EXPECT_EQ(started.count(3), 1u);
  EXPECT_NE(started[3], "n1") << "job 3 would delay job 2's reservation of n1";
  EXPECT_EQ(started.count(4), 1u);
}

TEST(NodeSelection, ListedNodeDownWaitsWithReqNodeNotAvail) {
  ClusterBuilder c;
  cluster(c);
  c.ok(NodeStateSet{"n3", NodeState::Drain, "maintenance"});
  NodeSelection s;
  s.node_list = {"n3"};
  c.submit(selected(1, s));
  auto r = schedule(c.state(), kNow, easy());
  EXPECT_TRUE(r.starts.empty());
  ASSERT_NE(reason_of(r, 1), nullptr);
  EXPECT_EQ(reason_of(r, 1)->reason, "ReqNodeNotAvail");
  // Every node with the feature drained: the same.
  c.ok(NodeStateSet{"n4", NodeState::Drain, "maintenance"});
  c.submit(selected(2, constraint("cpu")));
  r = schedule(c.state(), kNow, easy());
  ASSERT_NE(reason_of(r, 2), nullptr);
  EXPECT_EQ(reason_of(r, 2)->reason, "ReqNodeNotAvail");
  // A feature no node has any more (an admin changed them): BadConstraints.
  c.submit(selected(3, constraint("h100")));
  r = schedule(c.state(), kNow, easy());
  ASSERT_NE(reason_of(r, 3), nullptr);
  EXPECT_EQ(reason_of(r, 3)->reason, "BadConstraints");
}

TEST(NodeSelection, AdminFeaturesTakeEffectInTheNextPass) {
  ClusterBuilder c;
  cluster(c);
  c.submit(selected(1, constraint("h100")));
  EXPECT_TRUE(schedule(c.state(), kNow, easy()).starts.empty());
  c.ok(NodeFeaturesSet{"n3", Features{"h100"}});
  const auto r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.starts.size(), 1u);
  EXPECT_EQ(r.starts[0].node, "n3");
}

TEST(Exclusive, GetsEveryPuAndGpuAndKeepsOthersOff) {
  ClusterBuilder c;
  c.node("g1", make_topology(8, 1, 16384, 2));
  c.node("g2", make_topology(8, 1, 16384, 2));
  c.env("ce", {"g1", "g2"});
  c.queue("q", {"ce"});
  NodeSelection s;
  s.exclusive = true;
  c.submit(selected(1, s, 2));
  c.submit(2, "q", 1);
  c.submit(3, "q", 1);
  const auto r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.starts.size(), 3u);
  EXPECT_EQ(r.starts[0].job_id, 1);
  EXPECT_EQ(r.starts[0].cpus.size(), 8u) << "all PUs of the node";
  EXPECT_EQ(r.starts[0].gpus.size(), 2u) << "and all its GPUs";
  EXPECT_NE(r.starts[1].node, r.starts[0].node);
  EXPECT_NE(r.starts[2].node, r.starts[0].node);
  apply_starts(c, r);
  EXPECT_EQ(c.state().node(r.starts[0].node)->pus_free(), 0);
}

TEST(Exclusive, WaitsForAnEmptyNodeAndIsNotDelayedByBackfill) {
  ClusterBuilder c;
  c.node("n1", make_topology(4));
  c.node("n2", make_topology(4));
  c.env("ce", {"n1", "n2"});
  c.queue("q", {"ce"});
  // One core busy on each node, until 100 s and 200 s.
  NodeSelection on1, on2;
  on1.node_list = {"n1"};
  on2.node_list = {"n2"};
  c.submit(selected(1, on1, 1, 1, 100));
  c.submit(selected(2, on2, 1, 1, 200));
  apply_starts(c, schedule(c.state(), kNow, easy()));
  ASSERT_NE(c.state().job(1)->current_attempt()->node, c.state().job(2)->current_attempt()->node);
  const std::string first_free = c.state().job(1)->current_attempt()->node;
  NodeSelection s;
  s.exclusive = true;
  c.submit(selected(3, s, 1, 1, 300));  // needs a whole node: from t = 100 s
  Job long_one = make_test_job(4, "q", 1);
  long_one.timeout_seconds = 1000;  // would delay job 3 wherever it lands
  c.submit(long_one);
  Job short_one = make_test_job(5, "q", 1);
  short_one.timeout_seconds = 50;  // ends before job 3 starts
  c.submit(short_one);
  const auto r = schedule(c.state(), kNow, easy());
  const WaitReason* w = reason_of(r, 3);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->reason, "Resources");
  EXPECT_EQ(w->estimated_start_ms, kNow + 100'000);
  std::map<std::int64_t, std::string> started;
  for (const auto& d : r.starts) started[d.job_id] = d.node;
  EXPECT_EQ(started.count(3), 0u);
  EXPECT_EQ(started.count(5), 1u);
  if (started.count(4)) EXPECT_NE(started[4], first_free) << "job 4 would delay job 3's whole node";
}

TEST(Exclusive, MultiNodeWithConstraintTakesWholeMatchingNodes) {
  ClusterBuilder c;
  cluster(c);
  c.submit(2, "q", 1);  // takes n1, the first node
  NodeSelection s = constraint("gpu");
  s.exclusive = true;
  c.submit(selected(3, s, 1, 2));
  const auto r = schedule(c.state(), kNow, easy());
  ASSERT_EQ(r.starts.size(), 2u);
  const Decision& d = r.starts[1];
  EXPECT_EQ(d.job_id, 3);
  EXPECT_EQ(nodes_of(d), (std::set<std::string>{"n2", "n4"})) << "n1 is shared already, n3 has no gpu";
  EXPECT_EQ(d.cpus.size(), 4u);
  ASSERT_EQ(d.more_nodes.size(), 1u);
  EXPECT_EQ(d.more_nodes[0].cpus.size(), 4u);
}

TEST(NodeSelection, MultiNodeMatchingOrReservesNodesOfOneAlternative) {
  ClusterBuilder c;
  cluster(c);
  // n3 busy until 100 s, n1 until 500 s: rack2 (n3, n4) is whole at 100 s.
  Job a = make_test_job(1, "q", 4);
  a.timeout_seconds = 500;
  c.submit(a);
  apply_starts(c, schedule(c.state(), kNow, easy()));  // n1
  NodeSelection on3;
  on3.node_list = {"n3"};
  Job b = selected(2, on3, 4, 1, 100);
  c.submit(b);
  apply_starts(c, schedule(c.state(), kNow, easy()));
  ASSERT_EQ(c.state().job(2)->current_attempt()->node, "n3");
  c.submit(selected(3, constraint("[rack1|rack2]"), 4, 2, 60));
  const auto r = schedule(c.state(), kNow, easy());
  EXPECT_TRUE(r.starts.empty());
  const WaitReason* w = reason_of(r, 3);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->estimated_start_ms, kNow + 100'000) << "rack2 frees first; rack1 only at 500 s";
}

}  // namespace
}  // namespace drover::sched

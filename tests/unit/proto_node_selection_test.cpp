// Node selection: the --constraint parser (every form and its errors), node
// features, and make_job refusing at submit what no node of the queue could
// ever satisfy (--constraint, --nodelist, --exclude), naming option and value.
#include "core/node_selection.hpp"

#include <gtest/gtest.h>

#include "core/job_request.hpp"
#include "proto/codec.hpp"
#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::ClusterBuilder;
using testing::make_topology;

using Features = std::vector<std::string>;

struct MatchCase {
  const char* constraint;
  Features features;
  bool matches;
};

class ConstraintMatches : public ::testing::TestWithParam<MatchCase> {};

TEST_P(ConstraintMatches, AgainstNodeFeatures) {
  auto c = parse_constraint(GetParam().constraint);
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->matches(GetParam().features), GetParam().matches);
  EXPECT_EQ(c->text(), GetParam().constraint);
}

INSTANTIATE_TEST_SUITE_P(
    Forms, ConstraintMatches,
    ::testing::Values(MatchCase{"gpu", {"a100", "gpu"}, true}, MatchCase{"gpu", {"cpu"}, false},
                      MatchCase{"gpu", {}, false}, MatchCase{"gpu&a100", {"a100", "gpu"}, true},
                      MatchCase{"gpu&a100", {"gpu", "v100"}, false}, MatchCase{"v100|a100", {"a100"}, true},
                      MatchCase{"v100|a100", {"gpu"}, false}, MatchCase{"(v100|a100)&ib", {"ib", "v100"}, true},
                      MatchCase{"(v100|a100)&ib", {"v100"}, false},
                      // & binds tighter than |, as in Slurm
                      MatchCase{"a|b&c", {"a"}, true}, MatchCase{"a|b&c", {"b"}, false},
                      MatchCase{"[rack1|rack2]", {"rack2"}, true}, MatchCase{"[rack1|rack2]", {"rack3"}, false},
                      MatchCase{"ib&[rack1|rack2]", {"ib", "rack1"}, true},
                      MatchCase{"ib&[rack1|rack2]", {"rack1"}, false},
                      MatchCase{"node-type.big:x_1", {"node-type.big:x_1"}, true}));

TEST(Constraint, MatchingOrFixesOneAlternative) {
  auto c = parse_constraint("ib&[rack1|(rack2|rack3)]");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->choices(), 2);
  EXPECT_TRUE(c->matches({"ib", "rack1"}, 0));
  EXPECT_FALSE(c->matches({"ib", "rack1"}, 1));
  EXPECT_TRUE(c->matches({"ib", "rack3"}, 1));
  EXPECT_FALSE(c->matches({"rack3"}, 1));
  EXPECT_EQ(c->features(), (Features{"ib", "rack1", "rack2", "rack3"}));
  EXPECT_EQ(parse_constraint("a|b")->choices(), 0);
}

struct BadCase {
  const char* constraint;
  const char* says;
};

class ConstraintRefuses : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConstraintRefuses, WithAClearReason) {
  auto c = parse_constraint(GetParam().constraint);
  ASSERT_FALSE(c) << GetParam().constraint;
  EXPECT_NE(c.message().find(GetParam().says), std::string::npos) << c.message();
  EXPECT_NE(c.message().find(std::string("'") + GetParam().constraint + "'"), std::string::npos) << c.message();
}

INSTANTIATE_TEST_SUITE_P(
    Errors, ConstraintRefuses,
    ::testing::Values(BadCase{"", "empty"}, BadCase{"gpu*2", "feature counts (*N) are not supported"},
                      BadCase{"[a*2&b*4]", "not supported"}, BadCase{"[a&b]", "feature counts"},
                      BadCase{"[a|b]*2", "not supported"}, BadCase{"a&", "ends after an operator"},
                      BadCase{"&a", "missing a feature before '&'"}, BadCase{"a||b", "missing a feature before '|'"},
                      BadCase{"(a|b", "'(' without a matching ')'"}, BadCase{"a|b)", "unbalanced ')'"},
                      BadCase{"[a|b", "without a matching ']'"}, BadCase{"a]", "unbalanced ']'"},
                      BadCase{"[a|b]&[c|d]", "only one matching OR"}, BadCase{"[a|[b|c]]", "brackets inside"},
                      BadCase{"a,b", "join features with & (all) or | (any)"}, BadCase{"!gpu", "negated"},
                      BadCase{"gpu a100", "spaces"}, BadCase{"gp$u", "unexpected '$'"},
                      BadCase{"((((((((((((((((((((((((((((((((((a))))))))))))))))))))))))))))))))))",
                              "nested too deeply"}));

TEST(Features, ParsedSortedUniqueAndChecked) {
  auto f = parse_features("gpu, a100,gpu,,ib");
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(*f, (Features{"a100", "gpu", "ib"}));
  EXPECT_EQ(join_features(*f), "a100,gpu,ib");
  EXPECT_TRUE(parse_features("")->empty());
  auto bad = parse_features("gpu,a&b");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("feature 'a&b'"), std::string::npos) << bad.message();
}

TEST(Features, AdminFeaturesReplaceTheAgentsUntilCleared) {
  ClusterBuilder c;
  c.node("n1", make_topology(4), 1, {"gpu", "v100"});
  EXPECT_EQ(c.state().node("n1")->features(), (Features{"gpu", "v100"}));
  c.ok(NodeFeaturesSet{"n1", Features{"a100"}});
  EXPECT_EQ(c.state().node("n1")->features(), (Features{"a100"}));
  // The agent reconnecting does not undo the admin's choice...
  c.node("n1", make_topology(4), 2, {"gpu", "v100"});
  EXPECT_EQ(c.state().node("n1")->features(), (Features{"a100"}));
  // ...and the codec (the store) keeps both.
  auto back = proto::node_from_json(proto::to_json(*c.state().node("n1")));
  ASSERT_TRUE(back) << back.message();
  EXPECT_EQ(back->agent_features, (Features{"gpu", "v100"}));
  ASSERT_TRUE(back->admin_features.has_value());
  EXPECT_EQ(back->features(), (Features{"a100"}));
  c.ok(NodeFeaturesSet{"n1", std::nullopt});
  EXPECT_EQ(c.state().node("n1")->features(), (Features{"gpu", "v100"}));
  EXPECT_FALSE(c.state().apply(NodeFeaturesSet{"nX", Features{"a"}}));
}

// Queue "batch": environment ce with n1 (gpu,v100) and n2 (cpu); queue "other": n3.
class SelectAtSubmit : public ::testing::Test {
 protected:
  void SetUp() override {
    c.node("n1", make_topology(8), 1, {"gpu", "v100"});
    c.node("n2", make_topology(4), 1, {"cpu"});
    c.node("n3", make_topology(4), 1, {"a100"});
    c.env("ce", {"n1", "n2"});
    c.env("ce3", {"n3"});
    c.queue("batch", {"ce"});
    c.queue("other", {"ce3"});
  }
  Result<NewJob> submit(JobRequest r) {
    r.command = {"true"};
    r.working_dir = "/tmp";
    if (r.queue.empty()) r.queue = "batch";
    return make_job(r, Submitter{1000, 1000, "alice"}, c.state(), "", 7, 1000);
  }
  void refused(JobRequest r, const std::string& says) {
    auto j = submit(std::move(r));
    ASSERT_FALSE(j);
    EXPECT_NE(j.message().find(says), std::string::npos) << j.message();
  }
  ClusterBuilder c;
};

TEST_F(SelectAtSubmit, AcceptsWhatSomeNodeSatisfiesAndKeepsIt) {
  JobRequest r;
  r.constraint = "gpu&v100";
  r.exclude = {"n2", "n2"};
  r.exclusive = true;
  auto j = submit(r);
  ASSERT_TRUE(j) << j.message();
  ASSERT_TRUE(j->job.selection);
  EXPECT_EQ(j->job.selection->constraint.text(), "gpu&v100");
  EXPECT_EQ(j->job.selection->exclude, (Features{"n2"}));
  EXPECT_TRUE(j->job.selection->exclusive);
  // Round trip through the codec (the store and the API).
  auto back = proto::job_from_json(proto::to_json(j->job));
  ASSERT_TRUE(back) << back.message();
  testing::expect_same_job(j->job, *back);
  // No selection: no box.
  auto plain = submit(JobRequest{});
  ASSERT_TRUE(plain) << plain.message();
  EXPECT_FALSE(plain->job.selection);
}

TEST_F(SelectAtSubmit, RefusesAFeatureNoNodeOfTheQueueHas) {
  JobRequest r;
  r.constraint = "a100";  // n3 has it, but n3 is not in queue batch
  refused(r, "--constraint=a100: no node of queue 'batch' has feature a100 (features: cpu, gpu, v100)");
}

TEST_F(SelectAtSubmit, PicksTheFirstQueueOfAListThatCanRunIt) {
  JobRequest r;
  r.queue = "batch,other";
  r.constraint = "a100";
  auto j = submit(r);
  ASSERT_TRUE(j) << j.message();
  EXPECT_EQ(j->job.queue, "other");
}

TEST_F(SelectAtSubmit, RefusesBadConstraintSyntaxNamingTheOption) {
  JobRequest r;
  r.constraint = "gpu*2";
  refused(r, "--constraint: 'gpu*2': feature counts");
}

TEST_F(SelectAtSubmit, RefusesANamedNodeOutsideTheQueue) {
  JobRequest r;
  r.node_list = {"n3"};
  refused(r, "--nodelist=n3: node n3 is not in queue 'batch' (nodes: n1, n2)");
}

TEST_F(SelectAtSubmit, RefusesANamedNodeThatLacksTheConstraintOrTheRoom) {
  JobRequest r;
  r.node_list = {"n2"};
  r.constraint = "gpu";
  refused(r, "node n2 does not satisfy --constraint=gpu (its features: cpu)");
  JobRequest big;
  big.node_list = {"n2"};
  big.vcpus = 8;
  refused(big, "--nodelist=n2: node n2 has 4 vCPUs");
}

TEST_F(SelectAtSubmit, RefusesMoreNodesListedThanAskedAndTakesTheListAsTheCount) {
  JobRequest r;
  r.node_list = {"n1", "n2"};
  r.nodes = 1;
  refused(r, "2 nodes listed, but the job asks for 1 node (--nodes)");
  JobRequest all;
  all.node_list = {"n1", "n2"};
  auto j = submit(all);
  ASSERT_TRUE(j) << j.message();
  EXPECT_EQ(j->job.nodes, 2) << "as sbatch: a job listing nodes gets all of them";
}

TEST_F(SelectAtSubmit, RefusesExcludingEverythingOrAListedNode) {
  JobRequest r;
  r.exclude = {"n1", "n2"};
  refused(r, "--exclude=n1,n2: leaves no node of queue 'batch'");
  JobRequest both;
  both.node_list = {"n1"};
  both.exclude = {"n1"};
  refused(both, "--nodelist: node n1 is also in --exclude");
  JobRequest two;
  two.nodes = 2;
  two.exclude = {"n2"};
  refused(two, "2 nodes asked, but only 1 node of queue 'batch'");
}

TEST_F(SelectAtSubmit, CountsMatchingOrAlternativesSeparately) {
  JobRequest r;
  r.nodes = 2;
  r.constraint = "[gpu|cpu]";  // one node has each: no alternative gives two
  refused(r, "--constraint=[gpu|cpu]: 2 nodes asked, but only 1 node of queue 'batch'");
  JobRequest any;
  any.nodes = 2;
  any.constraint = "gpu|cpu";
  EXPECT_TRUE(submit(any));
}

}  // namespace
}  // namespace drover

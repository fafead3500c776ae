// Hostlist expressions: expansion (padding, groups, errors, limits), compression back to
// the canonical short form, and SLURM_TASKS_PER_NODE's run-length syntax.
#include "core/hostlist.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace drover {
namespace {

using Names = std::vector<std::string>;

Names expand(const std::string& e) {
  auto r = expand_hostlist(e);
  EXPECT_TRUE(r) << e << ": " << r.message();
  return r ? *r : Names{};
}

TEST(ExpandHostlist, PlainNamesCommasAndWhitespace) {
  EXPECT_EQ(expand("login1"), Names{"login1"});
  EXPECT_EQ(expand("a,b , c\td\n e"), (Names{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(expand(""), Names{});
  EXPECT_EQ(expand(" ,, "), Names{});
}

TEST(ExpandHostlist, RangesKeepZeroPadding) {
  EXPECT_EQ(expand("node[01-04,07]"), (Names{"node01", "node02", "node03", "node04", "node07"}));
  EXPECT_EQ(expand("n[8-10]"), (Names{"n8", "n9", "n10"}));
  EXPECT_EQ(expand("n[08-10]"), (Names{"n08", "n09", "n10"}));
  EXPECT_EQ(expand("n[098-101]"), (Names{"n098", "n099", "n100", "n101"}));
  EXPECT_EQ(expand("n[7]"), Names{"n7"});
  EXPECT_EQ(expand("n[3,1]"), (Names{"n3", "n1"}));  // order as written
  EXPECT_EQ(expand("[1-2]"), (Names{"1", "2"}));
}

TEST(ExpandHostlist, SuffixesAndSeveralItems) {
  EXPECT_EQ(expand("node[01-04,07],gpu[1-2]x,login1"),
            (Names{"node01", "node02", "node03", "node04", "node07", "gpu1x", "gpu2x", "login1"}));
  EXPECT_EQ(expand("c[1-2]-ib"), (Names{"c1-ib", "c2-ib"}));
}

TEST(ExpandHostlist, SeveralGroupsMultiplyFirstSlowest) {
  EXPECT_EQ(expand("r[1-2]n[01-02]"), (Names{"r1n01", "r1n02", "r2n01", "r2n02"}));
  EXPECT_EQ(expand("r[1-2]n[1-2]s[5]"), (Names{"r1n1s5", "r1n2s5", "r2n1s5", "r2n2s5"}));
}

TEST(ExpandHostlist, RepeatsAreKept) { EXPECT_EQ(expand("a,a,n[1,1]"), (Names{"a", "a", "n1", "n1"})); }

class ExpandHostlistBad : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ExpandHostlistBad, SaysWhy) {
  const auto& [expr, why] = GetParam();
  auto r = expand_hostlist(expr);
  ASSERT_FALSE(r) << expr;
  EXPECT_EQ(r.message().rfind("hostlist '", 0), 0u) << r.message();
  EXPECT_NE(r.message().find(why), std::string::npos) << r.message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ExpandHostlistBad,
    ::testing::Values(std::pair{"node[1-4", "no ']'"}, std::pair{"node1-4]", "no '['"},
                      std::pair{"n[1-[2]]", "nested"}, std::pair{"n[]", "empty brackets"},
                      std::pair{"n[1,,2]", "empty entry"}, std::pair{"n[5-3]", "reversed range"},
                      std::pair{"n[a-c]", "expected a number"}, std::pair{"n[1-]", "expected a number"},
                      std::pair{"n[-1]", "expected a number"}, std::pair{"n[1 -2]", "whitespace"},
                      std::pair{"n[0-1000000]", "more than 1000000"},
                      std::pair{"n[0-999999999999999999]", "more than 1000000"},
                      std::pair{"n[1-1000]m[1-1001]", "more than 1000000"},
                      std::pair{"n[1234567890123456789]", "more than 18 digits"}));

TEST(ExpandHostlist, ExactlyTheLimitIsFine) {
  auto r = expand_hostlist("n[1-1000]m[1-1000]");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->size(), 1'000'000u);
  EXPECT_FALSE(expand_hostlist("n[1-1000]m[1-1000],x"));  // one more, across items
}

TEST(ExpandHostlist, LongExpressionsAreCutInMessages) {
  const std::string e = std::string(5000, 'x') + "[";
  auto r = expand_hostlist(e);
  ASSERT_FALSE(r);
  EXPECT_LT(r.message().size(), 200u);
}

TEST(CompressHostlist, CanonicalForm) {
  EXPECT_EQ(compress_hostlist({"node01", "node02", "node03", "node04", "node07"}), "node[01-04,07]");
  EXPECT_EQ(compress_hostlist({"node07", "node03", "node01", "node04", "node02", "node03"}), "node[01-04,07]");
  EXPECT_EQ(compress_hostlist({"n9", "n10", "n8"}), "n[8-10]");
  EXPECT_EQ(compress_hostlist({"n098", "n099", "n100"}), "n[098-100]");
  EXPECT_EQ(compress_hostlist({"n1", "n01"}), "n[1,01]");
  EXPECT_EQ(compress_hostlist({"login1"}), "login1");
  EXPECT_EQ(compress_hostlist({"gpu1x", "gpu2x"}), "gpu[1-2]x");
  EXPECT_EQ(compress_hostlist({"b", "a", "n2", "n1"}), "a,b,n[1-2]");
  EXPECT_EQ(compress_hostlist({}), "");
}

TEST(CompressHostlist, SeveralNumbersGetSeveralGroups) {
  EXPECT_EQ(compress_hostlist({"r1n01", "r1n02", "r2n01", "r2n02"}), "r[1-2]n[01-02]");
  EXPECT_EQ(compress_hostlist({"r1n01", "r1n02", "r2n01"}), "r1n[01-02],r2n01");
}

TEST(CompressHostlist, NamesThatCannotBeWrittenStayAsTheyAre) {
  EXPECT_EQ(compress_hostlist({"a[1", "b c"}), "a[1,b c");
}

TEST(CompressHostlistInOrder, KeepsOrderAndRepeats) {
  EXPECT_EQ(compress_hostlist_in_order({"n3", "n1", "n2", "n2"}), "n[3,1-2,2]");
  EXPECT_EQ(compress_hostlist_in_order({"n1", "m1", "n2"}), "n1,m1,n2");
  EXPECT_EQ(compress_hostlist_in_order({"r1n01", "r1n02", "r2n01", "r2n02"}), "r[1-2]n[01-02]");
}

// Property: expand(compress(x)) is x as a set; expand(compress_in_order(x)) is x exactly.
TEST(CompressHostlist, RoundTripsRandomLists) {
  std::mt19937 rng(42);
  const std::vector<std::string> prefixes{"n", "node", "gpu", "r1n", "a-b", ""};
  for (int round = 0; round < 500; ++round) {
    Names names;
    const int n = static_cast<int>(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const std::string& p = prefixes[rng() % prefixes.size()];
      const int width = static_cast<int>(rng() % 4);
      std::string num = std::to_string(rng() % 120);
      if (static_cast<int>(num.size()) < width) num.insert(0, width - num.size(), '0');
      names.push_back(p + num + (rng() % 5 == 0 ? "x" : ""));
      if (rng() % 7 == 0) names.push_back("login");
    }
    const std::string c = compress_hostlist(names);
    auto back = expand_hostlist(c);
    ASSERT_TRUE(back) << c << ": " << back.message();
    EXPECT_EQ(std::set<std::string>(back->begin(), back->end()), std::set<std::string>(names.begin(), names.end()))
        << c;
    EXPECT_EQ(back->size(), std::set<std::string>(names.begin(), names.end()).size()) << c;
    const std::string ordered = compress_hostlist_in_order(names);
    auto exact = expand_hostlist(ordered);
    ASSERT_TRUE(exact) << ordered;
    EXPECT_EQ(*exact, names) << ordered;
  }
}

TEST(CompressHostlist, IsShorterThanTheList) {
  Names names;
  for (int i = 1; i <= 512; ++i) names.push_back("cn" + std::string(i < 10 ? "00" : i < 100 ? "0" : "") + std::to_string(i));
  EXPECT_EQ(compress_hostlist(names), "cn[001-512]");
}

TEST(CompressHostlist, HundredThousandNodesQuickly) {
  auto names = expand_hostlist("rack[001-100]node[0001-1000]");
  ASSERT_TRUE(names);
  std::reverse(names->begin(), names->end());
  EXPECT_EQ(compress_hostlist(*names), "rack[001-100]node[0001-1000]");
}

TEST(TasksPerNode, Format) {
  EXPECT_EQ(format_tasks_per_node({2, 2, 2, 1}), "2(x3),1");
  EXPECT_EQ(format_tasks_per_node({4}), "4");
  EXPECT_EQ(format_tasks_per_node({1, 2, 1}), "1,2,1");
  EXPECT_EQ(format_tasks_per_node({}), "");
}

TEST(TasksPerNode, ParseRoundTrips) {
  for (const std::vector<int>& v : {std::vector<int>{2, 2, 2, 1}, {4}, {1, 2, 1}, {16, 16, 16, 16}}) {
    auto r = parse_tasks_per_node(format_tasks_per_node(v));
    ASSERT_TRUE(r) << r.message();
    EXPECT_EQ(*r, v);
  }
  for (const char* bad : {"", "2(x0)", "2(3)", "x", "2(x3", "-1", "2(x99999999)", ",", "1,,2"}) {
    EXPECT_FALSE(parse_tasks_per_node(bad)) << bad;
  }
}

}  // namespace
}  // namespace drover

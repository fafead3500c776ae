// parse_distribution(): Slurm's -m/--distribution spellings, what Drover keeps
// of them, and the clear refusals of what it does not do.
#include "core/task_distribution.hpp"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(TaskDistribution, ParsesSlurmSpellings) {
  struct Case {
    const char* text;
    const char* shown;
  } cases[] = {
      {"block", "block:block"},        {"cyclic", "cyclic:block"},      {"*", "block:block"},
      {"block:cyclic", "block:cyclic"}, {"cyclic:cyclic", "cyclic:cyclic"}, {"*:fcyclic", "block:fcyclic"},
      {"CYCLIC:Block", "cyclic:block"}, {"cyclic:block:block", "cyclic:block"}, {"block:*:*", "block:block"},
  };
  for (const auto& c : cases) {
    auto d = parse_distribution(c.text);
    ASSERT_TRUE(d) << c.text << ": " << d.message();
    EXPECT_EQ(to_string(*d), c.shown) << c.text;
    EXPECT_EQ(TaskDistribution::unpack(d->pack()), *d) << c.text;
  }
  EXPECT_TRUE(parse_distribution("block")->is_default());
  EXPECT_FALSE(parse_distribution("block:cyclic")->is_default());
}

TEST(TaskDistribution, RefusesWhatItDoesNotDo) {
  struct Case {
    const char* text;
    const char* says;
  } cases[] = {
      {"", "empty"},
      {"plane=4", "plane is not supported"},
      {"arbitrary", "arbitrary is not supported"},
      {"block,Pack", "',Pack' is not supported"},
      {"cyclic:cyclic:cyclic", "third level"},
      {"fcyclic", "'fcyclic' for nodes"},
      {"block:spread", "'spread' for cores"},
      {"block:block:block:block", "at most three levels"},
  };
  for (const auto& c : cases) {
    auto d = parse_distribution(c.text);
    ASSERT_FALSE(d) << c.text;
    EXPECT_NE(d.message().find(c.says), std::string::npos) << c.text << ": " << d.message();
  }
}

}  // namespace
}  // namespace drover

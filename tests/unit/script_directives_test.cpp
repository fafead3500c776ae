// parse_directives: which lines are read (as sbatch reads them), how a directive line is
// split, and what happens to hostile or odd input: binary, huge, CRLF, BOM, unbalanced
// quotes. Nothing may crash; every error says file:line and why.
#include "script/directives.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace drover::script {
namespace {

using Names = std::vector<std::string>;

ParsedScript parse_ok(const std::string& text) {
  auto r = parse_directives(text, "job.sh");
  EXPECT_TRUE(r) << r.message();
  return r ? *r : ParsedScript{};
}

std::string parse_error(const std::string& text) {
  auto r = parse_directives(text, "job.sh");
  return r ? std::string("(accepted)") : r.message();
}

SubmitOptions merged(const std::string& text) {
  auto r = parse_directives(text, "job.sh");
  EXPECT_TRUE(r) << r.message();
  if (!r) return {};
  auto o = merge_options(&*r, {}, CommandLine{}, Clock::fixed_offset(0));
  EXPECT_TRUE(o) << o.message();
  return o ? *o : SubmitOptions{};
}

Names names(const std::vector<OptionUse>& uses) {
  Names out;
  for (const auto& u : uses) out.push_back(u.name + (u.value ? "=" + *u.value : ""));
  return out;
}

TEST(ParseDirectives, SeveralOptionsALineAndTrailingComments) {
  const auto s = parse_ok(
      "#!/bin/bash\n"
      "#SBATCH -N 2 --ntasks-per-node=4  # two nodes\n"
      "#SBATCH --job-name=\"my job\" -o 'out %j.txt'\n"
      "#SBATCH --comment=a\\ b\\\"c   #trailing\n"
      "#SBATCH -t 1:00:00# no space before the comment\n"
      "#SBATCH\n"
      "#SBATCH    \t \n"
      "#SBATCH --mail-user=a#b\n"
      "#SBATCH --comment=\"x # not a comment\"\n"
      "#SBATCH --comment='' \n");
  EXPECT_EQ(names(s.sbatch_options),
            (Names{"nodes=2", "ntasks-per-node=4", "job-name=my job", "output=out %j.txt", "comment=a b\"c",
                   "time=1:00:00", "mail-user=a", "comment=x # not a comment", "comment="}));
  EXPECT_EQ(s.sbatch_options[0].origin, Origin::directive(Source::SbatchDirective, "job.sh", 2));
  EXPECT_EQ(s.sbatch_options.back().origin.line, 10);
  EXPECT_TRUE(s.warnings.empty()) << s.warnings[0];
}

// Found by the fuzzer: a backslash ending a line once read past the line's end, forever.
TEST(ParseDirectives, BackslashAtTheEndOfALine) {
  const auto s = parse_ok("#!/bin/sh\n#SBATCH -J x\\\n#SBATCH -n 2 \\\n#SBATCH \\");
  EXPECT_EQ(names(s.sbatch_options), (Names{"job-name=x", "ntasks=2"}));
}

TEST(ParseDirectives, ReadingStopsAtTheFirstCommand) {
  const auto s = parse_ok(
      "#!/bin/bash\n"
      "\n"
      "# a comment\n"
      "   # an indented comment does not stop reading\n"
      "#SBATCH -n 4\n"
      "\t\n"
      "module load gcc\n"
      "#SBATCH -n 8\n"
      "#DROVER --time=5\n"
      "srun ./a.out\n");
  EXPECT_EQ(names(s.sbatch_options), Names{"ntasks=4"});
  EXPECT_TRUE(s.drover_options.empty());
  EXPECT_EQ(s.first_command_line, 7);
  ASSERT_EQ(s.warnings.size(), 2u);
  EXPECT_EQ(s.warnings[0],
            "job.sh:8: #SBATCH after the first command (line 7) is ignored, as sbatch ignores it; move it above");
  EXPECT_EQ(s.warnings[1].rfind("job.sh:9: #DROVER after the first command", 0), 0u);
  EXPECT_EQ(merged("#!/bin/sh\n#SBATCH -n 4\necho\n#SBATCH -n 8\n").ntasks, 4);
}

TEST(ParseDirectives, ManyIgnoredDirectivesAreSummarised) {
  std::string text = "#!/bin/sh\ntrue\n";
  for (int i = 0; i < 50; ++i) text += "#SBATCH -n 1\n";
  const auto s = parse_ok(text);
  ASSERT_EQ(s.warnings.size(), 6u);
  EXPECT_EQ(s.warnings.back(), "job.sh: 45 more directives after the first command were ignored");
}

TEST(ParseDirectives, IndentedOrLowerCaseDirectivesAreIgnoredWithAWarning) {
  const auto s = parse_ok("#!/bin/sh\n  #SBATCH -n 4\n#sbatch -n 5\n# SBATCH -n 6\n##SBATCH -n 7\n#Drover -n 8\n");
  EXPECT_TRUE(s.sbatch_options.empty());
  ASSERT_EQ(s.warnings.size(), 3u);
  EXPECT_EQ(s.warnings[0], "job.sh:2: #SBATCH is ignored: a directive must start at the beginning of the line");
  EXPECT_EQ(s.warnings[1], "job.sh:3: '#sbatch' is ignored: directives are case-sensitive; write #SBATCH or #DROVER");
  EXPECT_EQ(s.warnings[2].rfind("job.sh:6: '#Drover' is ignored", 0), 0u);
}

TEST(ParseDirectives, DroverOverridesSbatchWhateverTheOrder) {
  const auto o = merged("#!/bin/sh\n#DROVER --time=5 --queue=fast\n#SBATCH --time=10 -p slow -n 3\n");
  EXPECT_EQ(o.time_limit_s, 300);
  EXPECT_EQ(o.partitions, Names{"fast"});
  EXPECT_EQ(o.ntasks, 3);
  EXPECT_EQ(o.set_by.at("time").describe(), "job.sh:2");
}

TEST(ParseDirectives, OldSlurmSpellingIsReadWithAWarning) {
  const auto s = parse_ok("#!/bin/sh\n#SLURM -n 2\n#SLURM -c 2\n");
  EXPECT_EQ(names(s.sbatch_options), (Names{"ntasks=2", "cpus-per-task=2"}));
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_EQ(s.warnings[0], "job.sh:2: #SLURM is the old spelling of #SBATCH; it is read, but write #SBATCH");
}

TEST(ParseDirectives, CrlfIsToleratedAndReported) {
  const auto s = parse_ok("#!/bin/bash\r\n#SBATCH -J crlf\r\n#SBATCH --time=5\r\n\r\necho hi\r\n");
  EXPECT_TRUE(s.has_crlf);
  EXPECT_EQ(names(s.sbatch_options), (Names{"job-name=crlf", "time=5"}));
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_EQ(s.warnings[0].rfind("job.sh:1: DOS line ends (CRLF)", 0), 0u) << s.warnings[0];
  EXPECT_NE(s.warnings[0].find("dos2unix"), std::string::npos);
}

TEST(ParseDirectives, ByteOrderMarkIsSkippedAndReported) {
  const auto s = parse_ok("\xEF\xBB\xBF#!/bin/bash\n#SBATCH -J bom\n");
  EXPECT_TRUE(s.has_bom);
  EXPECT_EQ(names(s.sbatch_options), Names{"job-name=bom"});
  ASSERT_EQ(s.warnings.size(), 1u);
  EXPECT_EQ(s.warnings[0].rfind("job.sh:1: a UTF-8 byte-order mark", 0), 0u);
}

TEST(ParseDirectives, BadInputIsAClearError) {
  struct Case {
    std::string text;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {std::string("#!/bin/sh\necho\n\0\x01\x02", 18),
            "job.sh:3: a NUL byte: this looks like a binary file, not a script; to run a program use: drover "
            "submit -- job.sh"},
           {std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10), "job.sh:1: a NUL byte"},
           {"", "job.sh: the script is empty"},
           {" \n\t\n", "job.sh: the script holds only whitespace"},
           {"echo hi\n", "job.sh:1: the first line must start with #! and an interpreter, e.g. #!/bin/bash"},
           {"#SBATCH -n 2\n", "job.sh:1: the first line must start with #!"},
           {"#!/bin/sh\n#SBATCH -J \"unclosed\n", "job.sh:2: unmatched \" in ' -J \"unclosed'; close the quote"},
           {"#!/bin/sh\n\n#SBATCH --comment='it''s\n", "job.sh:3: unmatched '"},
           {"#!/bin/sh\n#SBATCH -n 2\n#SBATCH --nodes-list=n1\n",
            "job.sh:3: --nodes-list: unknown option; did you mean --nodelist?"},
           {"#!/bin/sh\n#SBATCH --job-name=my job\n",
            "job.sh:2: 'job' is not an option; a value with spaces needs quotes: --job-name=\"my job\""},
           {"#!/bin/sh\n#SBATCH hostname\n", "job.sh:2: 'hostname' is not an option"},
           {"#!/bin/sh\n#SBATCHED -n 2\n", "job.sh:2: 'ED' is not an option"},
           {"#!/bin/sh\n#SBATCH -J\n#SBATCH name\n", "job.sh:2: -J (--job-name): needs a value"},
           {"#!/bin/sh\n#SBATCH -n 2\n#SBATCH hetjob\n#SBATCH -n 4\n",
            "job.sh:3: hetjob: heterogeneous jobs are not supported yet"},
           {"#!/bin/sh\n#SBATCH : -n 2\n", "job.sh:2: unexpected ':'"},
           {"#!/bin/sh\n#SBATCH -- -n 2\n", "job.sh:2: '--' is not an option"},
       }) {
    const std::string m = parse_error(c.text);
    EXPECT_EQ(m.rfind(c.message, 0), 0u) << "got:  " << m << "\nwant: " << c.message;
  }
}

TEST(ParseDirectives, SizeLimit) {
  std::string big = "#!/bin/sh\n#SBATCH -n 2\n";
  big += std::string(10 << 20, 'x');
  EXPECT_EQ(parse_error(big),
            "job.sh: the script is 10.0 MiB; scripts are limited to 4 MiB (keep data in files, not in the script)");
  std::string fits = "#!/bin/sh\n#SBATCH -n 2\necho\n";
  fits += std::string(kMaxScriptBytes - fits.size(), '#');
  EXPECT_EQ(parse_ok(fits).sbatch_options.size(), 1u);
  fits += "#";
  EXPECT_NE(parse_error(fits).find("limited to 4 MiB"), std::string::npos);
}

TEST(ParseDirectives, LongLinesAndManyDirectivesStayFast) {
  std::string text = "#!/bin/sh\n#SBATCH --comment=" + std::string(1 << 20, 'c') + "\n";
  for (int i = 0; i < 20000; ++i) text += "#SBATCH -n " + std::to_string(i + 1) + "\n";
  const auto o = merged(text);
  EXPECT_EQ(o.ntasks, 20000);
  EXPECT_EQ(o.comment->size(), 1u << 20);
  // The same option 20000 times: each replacement is reported, and each message is short.
  EXPECT_GE(o.warnings.size(), 19999u);
  for (const auto& w : o.warnings) ASSERT_LT(w.size(), 300u);
}

TEST(ParseDirectives, DirectiveErrorsFromValuesCarryTheLine) {
  auto r = parse_directives("#!/bin/sh\n#SBATCH -n 2\n\n#SBATCH -n 99999999999999999999999\n", "run.sh");
  ASSERT_TRUE(r);
  auto o = merge_options(&*r, {}, CommandLine{}, Clock::fixed_offset(0));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.message(), "run.sh:4: --ntasks=99999999999999999999999: too large; the most is 1000000");
}

}  // namespace
}  // namespace drover::script

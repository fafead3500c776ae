// The checkpoint options: --signal / --checkpoint-signal ([B:]SIG[@SECONDS]),
// --checkpoint (SIGUSR1 60 s before a stop unless a signal was given), --checkpoint-dir,
// --requeue / --no-requeue; from the command line, #SBATCH and #DROVER lines and
// SBATCH_SIGNAL / SBATCH_REQUEUE, all honoured: no "not acted on" warnings.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "script/command_line.hpp"
#include "script/directives.hpp"
#include "script/option_table.hpp"
#include "script/signal_spec.hpp"
#include "script/submit_options.hpp"

namespace drover::script {
namespace {

using Args = std::vector<std::string>;

// The options from a script (may be empty: none), an environment and a command line.
Result<SubmitOptions> merged(const std::string& script, const Args& args, const KeyValues& env = {}) {
  auto cl = parse_command_line(args);
  if (!cl) return cl.error();
  if (script.empty()) return merge_options(nullptr, env, *cl, Clock::fixed_offset(0));
  auto parsed = parse_directives(script, "job.sh");
  if (!parsed) return parsed.error();
  return merge_options(&*parsed, env, *cl, Clock::fixed_offset(0));
}

SubmitOptions ok(const std::string& script, const Args& args, const KeyValues& env = {}) {
  auto o = merged(script, args, env);
  EXPECT_TRUE(o) << o.message();
  return o ? *o : SubmitOptions{};
}

std::string warnings_of(const SubmitOptions& o) {
  std::string out;
  for (const auto& w : o.warnings) out += w + "\n";
  return out;
}

const SignalSpec kUsr1At60{10, 60, false, false};

TEST(CheckpointOptions, CheckpointMeansUsr1SixtySecondsBefore) {
  const SubmitOptions o = ok("", {"--checkpoint"});
  ASSERT_TRUE(o.signal);
  EXPECT_EQ(*o.signal, kUsr1At60);
  EXPECT_EQ(o.signal->to_string(), "USR1");  // @60 is the default
  EXPECT_FALSE(o.requeue);  // the job decides: checkpointing jobs are requeued by default
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);
  EXPECT_EQ(o.set_by.at("checkpoint").describe(), "command line");
}

TEST(CheckpointOptions, SignalWithBatchShellAndSeconds) {
  const SubmitOptions o = ok("", {"--signal=B:USR2@30"});
  ASSERT_TRUE(o.signal);
  EXPECT_EQ(*o.signal, (SignalSpec{12, 30, true, false}));
  EXPECT_EQ(o.signal->to_string(), "B:USR2@30");
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);

  // Without @SECONDS: sbatch's 60.
  EXPECT_EQ(*ok("", {"--signal", "TERM"}).signal, (SignalSpec{15, 60, false, false}));
  EXPECT_EQ(*ok("", {"--signal=SIGUSR1@5"}).signal, (SignalSpec{10, 5, false, false}));
  EXPECT_EQ(*ok("", {"--signal=10@5"}).signal, (SignalSpec{10, 5, false, false}));
}

TEST(CheckpointOptions, CheckpointSignalIsTheSameAsSignal) {
  EXPECT_EQ(*ok("", {"--checkpoint-signal=USR1@120"}).signal, (SignalSpec{10, 120, false, false}));
  EXPECT_EQ(*ok("", {"--checkpoint-signal", "B:USR2@30"}).signal, (SignalSpec{12, 30, true, false}));
  EXPECT_EQ(ok("", {"--checkpoint-signal=USR1@120"}).set_by.at("signal").describe(), "command line");
}

TEST(CheckpointOptions, CheckpointKeepsASignalGivenBefore) {
  EXPECT_EQ(*ok("", {"--signal=USR2@30", "--checkpoint"}).signal, (SignalSpec{12, 30, false, false}));
  EXPECT_EQ(*ok("", {"--checkpoint-signal=B:USR2@30", "--checkpoint"}).signal, (SignalSpec{12, 30, true, false}));
  // A signal given after --checkpoint replaces its default.
  EXPECT_EQ(*ok("", {"--checkpoint", "--signal=USR2"}).signal, (SignalSpec{12, 60, false, false}));
}

TEST(CheckpointOptions, CheckpointOnTheCommandLineKeepsTheScriptsSignal) {
  const SubmitOptions o = ok("#!/bin/sh\n#SBATCH --signal=USR2@30\n./sim\n", {"--checkpoint"});
  ASSERT_TRUE(o.signal);
  EXPECT_EQ(*o.signal, (SignalSpec{12, 30, false, false}));
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);
  EXPECT_EQ(o.set_by.at("signal").describe(), "job.sh:2");  // where the signal came from
}

TEST(CheckpointOptions, ASignalOnTheCommandLineWinsOverTheScriptsCheckpoint) {
  const SubmitOptions o = ok("#!/bin/sh\n#DROVER --checkpoint\n./sim\n", {"--signal=USR2@30"});
  EXPECT_EQ(*o.signal, (SignalSpec{12, 30, false, false}));
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);
}

TEST(CheckpointOptions, ScriptDirectivesAreHonouredWithoutWarnings) {
  const SubmitOptions o = ok(
      "#!/bin/bash\n"
      "#SBATCH --signal=B:USR1@300\n"
      "#SBATCH --requeue\n"
      "#DROVER --checkpoint-dir=/scratch/%u/%j\n"
      "./sim\n",
      {});
  ASSERT_TRUE(o.signal);
  EXPECT_EQ(*o.signal, (SignalSpec{10, 300, true, false}));
  EXPECT_EQ(o.requeue, true);
  EXPECT_EQ(o.checkpoint_dir, "/scratch/%u/%j");
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);
  EXPECT_EQ(o.set_by.at("signal").describe(), "job.sh:2");
  EXPECT_EQ(o.set_by.at("requeue").describe(), "job.sh:3");
  EXPECT_EQ(o.set_by.at("checkpoint-dir").describe(), "job.sh:4");

  const SubmitOptions no = ok("#!/bin/bash\n#SBATCH --no-requeue\n#SBATCH --signal=USR1@600\n./sim\n", {});
  EXPECT_EQ(no.requeue, false);
  EXPECT_EQ(*no.signal, (SignalSpec{10, 600, false, false}));
  EXPECT_TRUE(no.warnings.empty()) << warnings_of(no);
}

TEST(CheckpointOptions, CheckpointAfterASignalInTheSameScriptReplacesNothing) {
  // --checkpoint keeps the signal given before it, so it must not say it replaced it.
  const SubmitOptions o = ok("#!/bin/sh\n#DROVER --signal=USR2@30\n#DROVER --checkpoint\n./sim\n", {});
  EXPECT_EQ(*o.signal, (SignalSpec{12, 30, false, false}));
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);
  EXPECT_EQ(o.set_by.at("signal").describe(), "job.sh:2");
}

TEST(CheckpointOptions, CheckpointDirectory) {
  EXPECT_EQ(ok("", {"--checkpoint-dir=ckpt/%j"}).checkpoint_dir, "ckpt/%j");
  EXPECT_EQ(ok("", {"--checkpoint-dir", "/scratch/alice/run 1"}).checkpoint_dir, "/scratch/alice/run 1");
  const SubmitOptions o = ok("", {"--checkpoint-dir=ck"});
  EXPECT_FALSE(o.signal);  // a directory alone does not make the job checkpoint
  EXPECT_TRUE(o.warnings.empty()) << warnings_of(o);
}

TEST(CheckpointOptions, RequeueFromTheEnvironment) {
  EXPECT_EQ(ok("", {}, {{"SBATCH_REQUEUE", "1"}}).requeue, true);
  EXPECT_EQ(ok("", {}, {{"SBATCH_SIGNAL", "B:USR2@45"}}).signal, (SignalSpec{12, 45, true, false}));
  // The command line wins over the environment.
  EXPECT_EQ(ok("", {"--no-requeue"}, {{"SBATCH_REQUEUE", "1"}}).requeue, false);
  EXPECT_EQ(ok("", {"--signal=USR1@5"}, {{"SBATCH_SIGNAL", "B:USR2@45"}}).signal, (SignalSpec{10, 5, false, false}));
}

TEST(CheckpointOptions, ErrorsSayWhereWhatAndWhy) {
  struct Case {
    Args args;
    std::string message;  // the start of it
  };
  for (const Case& c : std::vector<Case>{
           {{"--checkpoint=yes"}, "command line: --checkpoint=yes: takes no value"},
           {{"--checkpoint-dir"}, "command line: --checkpoint-dir: needs a value"},
           {{"--checkpoint-signal"}, "command line: --checkpoint-signal: needs a value"},
           {{"--checkpoint-signal=USR9"}, "command line: --checkpoint-signal=USR9: 'USR9' is not a signal"},
           {{"--signal=USR1@x"}, "command line: --signal=USR1@x: "},
           {{"--no-requeue=1"}, "command line: --no-requeue=1: takes no value"},
       }) {
    auto o = merged("", c.args);
    ASSERT_FALSE(o) << c.args[0] << " was accepted";
    EXPECT_EQ(o.message().rfind(c.message, 0), 0u) << "got:  " << o.message() << "\nwant: " << c.message;
  }
  auto o = merged("#!/bin/sh\n#SBATCH --signal=NOPE@10\ntrue\n", {});
  ASSERT_FALSE(o);
  EXPECT_EQ(o.message().rfind("job.sh:2: --signal=NOPE@10: ", 0), 0u) << o.message();
}

TEST(CheckpointOptions, TheTableSaysTheyAreHonoured) {
  for (const char* name : {"signal", "checkpoint", "checkpoint-signal", "checkpoint-dir", "requeue", "no-requeue"}) {
    auto spec = lookup_option(std::string("--") + name);
    ASSERT_TRUE(spec) << name << ": " << spec.message();
    EXPECT_EQ((*spec)->name, name);
    EXPECT_EQ((*spec)->support, Support::Honoured) << name;
  }
  // Listed with the options Drover acts on, before the "not acted on yet" section.
  const std::string help = options_help();
  const auto recorded = help.find("Recorded with the job, not acted on yet:");
  ASSERT_NE(recorded, std::string::npos);
  for (const char* line : {"\n      --signal=VALUE ", "\n      --requeue[=VALUE] ", "\n      --no-requeue ",
                           "\n      --checkpoint ", "\n      --checkpoint-dir=VALUE ",
                           "\n      --checkpoint-signal=VALUE "}) {
    const auto at = help.find(line);
    ASSERT_NE(at, std::string::npos) << line << " not in\n" << help;
    EXPECT_LT(at, recorded) << line << " listed as not acted on";
  }
}

}  // namespace
}  // namespace drover::script

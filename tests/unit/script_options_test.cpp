// The option table and apply_option: every spelling sbatch accepts, values, errors with
// where and why, warnings for what Drover does not act on, "did you mean"; the command
// line the sbatch way; the input environment variables.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "script/command_line.hpp"
#include "script/directives.hpp"
#include "script/option_table.hpp"
#include "script/submit_options.hpp"

namespace drover::script {
namespace {

using Args = std::vector<std::string>;
const Origin kCli = Origin::command_line();
const Origin kLine3 = Origin::directive(Source::SbatchDirective, "job.sh", 3);

SubmitOptions from_args(const Args& args) {
  auto cl = parse_command_line(args);
  EXPECT_TRUE(cl) << cl.message();
  if (!cl) return {};
  auto o = merge_options(nullptr, {}, *cl, Clock::fixed_offset(0));
  EXPECT_TRUE(o) << o.message();
  return o ? *o : SubmitOptions{};
}

std::string error_of(const Args& args) {
  auto cl = parse_command_line(args);
  if (!cl) return cl.message();
  auto o = merge_options(nullptr, {}, *cl, Clock::fixed_offset(0));
  return o ? std::string("(accepted)") : o.message();
}

TEST(OptionTable, NamesAndLettersAreUnique) {
  std::set<std::string_view> names;
  std::set<char> letters;
  for (const auto& o : option_table()) {
    EXPECT_TRUE(names.insert(o.name).second) << o.name;
    if (o.short_name) {
      EXPECT_TRUE(letters.insert(o.short_name).second) << o.short_name;
    }
    EXPECT_FALSE(o.field.empty()) << o.name;
    EXPECT_EQ(o.apply == nullptr, o.support == Support::NotSupportedYet) << o.name;
    if (o.support != Support::Honoured) {
      EXPECT_FALSE(o.note.empty()) << o.name;
    }
  }
  // sbatch's short options (its getopt string), all known.
  for (char c : std::string("aAbBcCdDeFGhHiJkLmMnNoOpqQsStuvVwWx")) EXPECT_NE(find_short_option(c), nullptr) << c;
}

TEST(OptionTable, HelpListsEveryOption) {
  const std::string help = options_help();
  for (const auto& o : option_table())
    EXPECT_NE(help.find("--" + std::string(o.name)), std::string::npos) << o.name;
  EXPECT_NE(help.find("  -t, --time=VALUE"), std::string::npos) << help;
  EXPECT_NE(help.find("Recorded with the job, not acted on yet:"), std::string::npos);
}

TEST(OptionTable, EveryEnvironmentVariableNamesAnOption) {
  std::set<std::string_view> seen;
  for (const auto& e : environment_options()) {
    EXPECT_TRUE(seen.insert(e.variable).second) << e.variable;
    EXPECT_TRUE(lookup_option("--" + std::string(e.option))) << e.variable;
  }
  for (const char* v : {"SBATCH_JOB_NAME", "SBATCH_PARTITION", "SBATCH_TIMELIMIT", "SBATCH_ACCOUNT",
                        "SBATCH_MEM_PER_NODE", "SBATCH_GPUS", "SBATCH_EXPORT", "SBATCH_ARRAY_INX", "SBATCH_QOS",
                        "SBATCH_OUTPUT", "SBATCH_ERROR", "SBATCH_SIGNAL", "SBATCH_REQUEUE", "SBATCH_WAIT",
                        "DROVER_SUBMIT_JOB_NAME", "DROVER_SUBMIT_TIMELIMIT", "DROVER_SUBMIT_QUEUE",
                        "DROVER_SUBMIT_DEFINITION", "DROVER_SUBMIT_RETRY"})
    EXPECT_TRUE(seen.count(v)) << v;
  // What every job's environment holds must never be read back as a request (a job that
  // submits another would pass on its own name, queue, GPUs...).
  for (const char* out : {"DROVER_JOB_NAME", "DROVER_QUEUE", "DROVER_GPUS", "DROVER_NTASKS", "DROVER_CPUS_PER_TASK",
                          "DROVER_SUBMIT_DIR", "DROVER_JOB_ID", "DROVER_NODELIST", "SLURM_JOB_NAME",
                          "SLURM_NTASKS", "SLURM_CPUS_PER_TASK", "SLURM_JOB_PARTITION"})
    EXPECT_FALSE(seen.count(out)) << out;
}

TEST(ApplyOption, EverySpellingOfAValue) {
  // -J name, -Jname, --job-name=name, --job-name name, a prefix, Drover's --name.
  for (const Args& args : {Args{"-J", "fit"}, Args{"-Jfit"}, Args{"--job-name=fit"}, Args{"--job-name", "fit"},
                           Args{"--job=fit"}, Args{"--job", "fit"}, Args{"--name", "fit"}, Args{"--name=fit"}}) {
    const auto o = from_args(args);
    ASSERT_TRUE(o.job_name.has_value()) << args[0];
    EXPECT_EQ(*o.job_name, "fit") << args[0];
    EXPECT_EQ(o.set_by.at("job-name").source, Source::CommandLine);
  }
  EXPECT_EQ(from_args({"-c4"}).cpus_per_task, 4);
  EXPECT_EQ(from_args({"-c", "4"}).cpus_per_task, 4);
  EXPECT_EQ(from_args({"--cpus-per-task=4"}).cpus_per_task, 4);
  EXPECT_EQ(from_args({"-n", "4"}).ntasks, 4);
  EXPECT_EQ(from_args({"-n4"}).ntasks, 4);
  EXPECT_EQ(from_args({"--ntasks", "+4"}).ntasks, 4);  // strtol's sign, as sbatch reads it
  EXPECT_EQ(from_args({"--tasks-per-node=2"}).ntasks_per_node, 2);
  EXPECT_EQ(from_args({"--ntasks-per-n=2"}).ntasks_per_node, 2);
  EXPECT_EQ(from_args({"-J", "-x"}).job_name, "-x");  // getopt takes the next word, dash or not
  EXPECT_EQ(from_args({"-J="}).job_name, "=");
}

TEST(ApplyOption, ClusteredFlagsAndOptionalValues) {
  auto o = from_args({"-HWQ"});
  EXPECT_TRUE(o.hold);
  EXPECT_TRUE(o.wait);
  EXPECT_TRUE(o.quiet);
  o = from_args({"-Hc8"});
  EXPECT_TRUE(o.hold);
  EXPECT_EQ(o.cpus_per_task, 8);
  o = from_args({"-vvv"});
  EXPECT_EQ(o.verbose, 3);

  EXPECT_EQ(from_args({"--exclusive"}).exclusive, "");
  EXPECT_EQ(from_args({"--exclusive=user"}).exclusive, "user");
  // An optional value is only ever attached: "--exclusive user" leaves "user" as the script.
  auto cl = parse_command_line({"--exclusive", "user"});
  ASSERT_TRUE(cl);
  EXPECT_FALSE(cl->options[0].value);
  EXPECT_EQ(cl->operands, Args{"user"});
  EXPECT_EQ(from_args({"--nice"}).nice, 100);
  EXPECT_EQ(from_args({"--nice=-5"}).nice, -5);
  EXPECT_EQ(from_args({"--requeue"}).requeue, true);
  EXPECT_EQ(from_args({"--no-requeue"}).requeue, false);
  EXPECT_EQ(from_args({"--requeue", "--no-requeue"}).requeue, false);  // the last wins
}

TEST(ApplyOption, ResourcesAndLists) {
  auto o = from_args({"-N", "2-4", "--gpus=a100:2,1", "--gpus-per-task", "1", "--gres=gpu:v100:4,nvme:1",
                      "-p", "gpu,batch", "-w", "node[01-03],gpu1", "-x", "node02", "--mem-per-cpu=2G"});
  EXPECT_EQ(o.nodes, (NodeCount{2, 4}));
  EXPECT_EQ(o.gpus, (std::vector<GpuCount>{{"a100", 2}, {"", 1}}));
  EXPECT_EQ(o.gpus_per_task, (std::vector<GpuCount>{{"", 1}}));
  EXPECT_EQ(o.gres, (std::vector<Gres>{{"gpu", "v100", 4}, {"nvme", "", 1}}));
  EXPECT_EQ(o.partitions, (Args{"gpu", "batch"}));
  EXPECT_EQ(o.nodelist, (Args{"node01", "node02", "node03", "gpu1"}));
  EXPECT_EQ(o.exclude, Args{"node02"});
  EXPECT_EQ(o.mem_per_cpu_mib, 2048);
  EXPECT_EQ(from_args({"--gres=gpu"}).gres, (std::vector<Gres>{{"gpu", "", 1}}));
  EXPECT_EQ(from_args({"--gres=gpu:2"}).gres, (std::vector<Gres>{{"gpu", "", 2}}));
  EXPECT_EQ(from_args({"--gres=gpu:tesla"}).gres, (std::vector<Gres>{{"gpu", "tesla", 1}}));
  EXPECT_EQ(from_args({"-N3"}).nodes, (NodeCount{3, 3}));
  EXPECT_EQ(from_args({"--queue=short"}).partitions, Args{"short"});
}

TEST(ApplyOption, ExportMailSignalAndDroverOwn) {
  auto o = from_args({"--export=ALL,OMP_NUM_THREADS=4,HOME", "--mail-type=end,FAIL", "--mail-user=a@b.c",
                      "--signal=B:USR1@120", "--env", "A=1", "--env=B=x=y", "--env", "A=2", "--parameter",
                      "db=nr", "--tag", "project=x", "--retry", "3", "--definition", "blast:2", "--depends-on",
                      "7", "--depends-on=8,9", "--open-mode=a", "--priority=top"});
  ASSERT_TRUE(o.export_env);
  EXPECT_EQ(o.export_env->base, ExportSpec::Base::All);
  EXPECT_EQ(o.export_env->variables,
            (std::vector<ExportSpec::Variable>{{"OMP_NUM_THREADS", "4"}, {"HOME", std::nullopt}}));
  EXPECT_EQ(o.mail_types, (Args{"END", "FAIL"}));
  EXPECT_EQ(o.signal->to_string(), "B:USR1@120");
  EXPECT_EQ(o.env, (KeyValues{{"A", "2"}, {"B", "x=y"}}));
  EXPECT_EQ(o.parameters, (KeyValues{{"db", "nr"}}));
  EXPECT_EQ(o.tags, (KeyValues{{"project", "x"}}));
  EXPECT_EQ(o.retry_attempts, 3);
  EXPECT_EQ(o.definition, "blast:2");
  EXPECT_EQ(o.depends_on, (std::vector<std::int64_t>{7, 8, 9}));
  EXPECT_EQ(o.open_mode, "append");
  EXPECT_EQ(o.priority, "TOP");
  EXPECT_EQ(from_args({"--export=NONE"}).export_env->base, ExportSpec::Base::None);
  EXPECT_EQ(from_args({"--export=A,B=2"}).export_env->base, ExportSpec::Base::Listed);
}

TEST(ApplyOption, ErrorsSayWhereWhatAndWhy) {
  struct Case {
    Args args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"--time=abc"}, "command line: --time=abc: invalid time limit; use minutes"},
           {{"-n", "-4"}, "command line: --ntasks=-4: must not be negative; expected a whole number from 1 to 1000000"},
           {{"-n", "0"}, "command line: --ntasks=0: too small; the least is 1"},
           {{"-c", "99999999999999999999"}, "command line: --cpus-per-task=99999999999999999999: too large"},
           {{"-N", "4-2"}, "command line: --nodes=4-2: the maximum is below the minimum"},
           {{"--nodes-list=n1"}, "command line: --nodes-list: unknown option; did you mean --nodelist?"},
           {{"--partiton=x"}, "command line: --partiton: unknown option; did you mean --partition?"},
           {{"--mem-per=4G"}, "command line: --mem-per: ambiguous: --mem-per-cpu or --mem-per-gpu?"},
           {{"--frobnicate"}, "command line: --frobnicate: unknown option (see drover submit --help)"},
           {{"-Z"}, "command line: -Z: unknown option"},
           {{"-l", "walltime=1:00:00"}, "command line: -l: unknown option (PBS resource lists"},
           {{"--hold=yes"}, "command line: --hold=yes: takes no value"},
           {{"--time"}, "command line: --time: needs a value"},
           {{"-t"}, "command line: -t (--time): needs a value"},
           {{"--array=0-99999999"}, "command line: --array=0-99999999: 100000000 tasks; an array holds at most 1000000"},
           {{"--array=1-10%0"}, "command line: --array=1-10%0: the throttle %0 would never run a task"},
           {{"--mem=4G", "--mem-per-cpu=1G"}, "command line: --mem-per-cpu=1G: cannot be combined with --mem (command line)"},
           {{"--exclusive=all"}, "command line: --exclusive=all: expected user, mcs or topo"},
           {{"--export=ALL,NONE"}, "command line: --export=ALL,NONE: ALL and NONE contradict"},
           {{"--export=1X=2"}, "command line: --export=1X=2: '1X' is not a variable name"},
           {{"--mail-type=SOMETIMES"}, "command line: --mail-type=SOMETIMES: 'SOMETIMES' is not a mail type"},
           {{"--open-mode=x"}, "command line: --open-mode=x: expected append or truncate"},
           {{"--retry=11"}, "command line: --retry=11: total attempts too large; the most is 10"},
           {{"--env", "NOEQUALS"}, "command line: --env=NOEQUALS: expected KEY=VALUE"},
           {{"--gpus=a100:x"}, "command line: --gpus=a100:x: 'a100:x': GPU count expected"},
           {{"--gres=gpu:a:b:2"}, "command line: --gres=gpu:a:b:2: 'gpu:a:b:2': expected NAME[:TYPE][:COUNT]"},
           {{"-w", "n[1-"}, "command line: --nodelist=n[1-: unbalanced '['"},
           {{"-w", "./hosts"}, "command line: --nodelist=./hosts: reading node names from a file is not supported"},
           {{"--dependency=afterok:x"}, "command line: --dependency=afterok:x: 'x' is not a job id"},
           {{"--begin=someday"}, "command line: --begin=someday: unexpected 'someday'"},
           {{"--signal=USR9"}, "command line: --signal=USR9: 'USR9' is not a signal"},
           {{"-p", "a,,b"}, "command line: --partition=a,,b: expected queue names"},
           {{"--priority=-1"}, "command line: --priority=-1: expected a whole number from 0 to 9999 (higher runs first), or TOP"},
           {{"--priority=10000"}, "command line: --priority=10000: expected a whole number from 0 to 9999"},
           {{"--nice=20000"}, "command line: --nice=20000: expected a whole number from -10000 to 10000"},
       }) {
    const std::string m = error_of(c.args);
    EXPECT_EQ(m.rfind(c.message, 0), 0u) << "got:  " << m << "\nwant: " << c.message;
  }
}

TEST(ApplyOption, DirectiveErrorsNameFileAndLine) {
  SubmitOptions o;
  auto st = apply_option(o, "time", std::string_view("abc"), kLine3);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message().rfind("job.sh:3: --time=abc: invalid time limit; use minutes", 0), 0u) << st.message();
  st = apply_option(o, "--wrap", std::string_view("hostname"), kLine3);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message().rfind("job.sh:3: --wrap=hostname: only on the command line", 0), 0u) << st.message();
  st = apply_option(o, "--job-name", std::nullopt, Origin::environment("SBATCH_JOB_NAME"));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), "environment SBATCH_JOB_NAME: --job-name: needs a value");
}

TEST(ApplyOption, WarnsForWhatDroverDoesNotActOn) {
  SubmitOptions o;
  ASSERT_TRUE(apply_option(o, "--mail-type", std::string_view("END"), kLine3));
  ASSERT_TRUE(apply_option(o, "--reservation", std::string_view("maint"), kLine3));
  ASSERT_TRUE(apply_option(o, "-N", std::string_view("4-6"), kLine3));
  ASSERT_TRUE(apply_option(o, "--help", std::nullopt, kLine3));
  ASSERT_EQ(o.warnings.size(), 4u);
  EXPECT_EQ(o.warnings[0], "job.sh:3: --mail-type=END: recorded, not acted on yet: Drover sends no mail yet");
  EXPECT_EQ(o.warnings[1], "job.sh:3: --reservation=maint: not supported yet, ignored: no reservations yet");
  EXPECT_EQ(o.warnings[2], "job.sh:3: --nodes=4-6: the job runs on 4 nodes (Drover starts a node range with its minimum)");
  EXPECT_EQ(o.warnings[3], "job.sh:3: --help: only means something on the command line; ignored");
  ASSERT_EQ(o.unsupported.size(), 1u);
  EXPECT_EQ(o.unsupported[0], (UnsupportedOption{"reservation", "maint", kLine3}));
  EXPECT_EQ(o.mail_types, Args{"END"});
  EXPECT_FALSE(o.help);
  // Honoured options warn about nothing.
  SubmitOptions p;
  for (const char* opt : {"--time=1:00:00", "-n4", "--mem=4G", "--job-name=x", "-o", "out.txt"}) {
    std::string_view s(opt);
    if (s == "-o") {
      ASSERT_TRUE(apply_option(p, "-o", std::string_view("out.txt"), kLine3));
      break;
    }
    const auto eq = s.find('=');
    if (eq != std::string_view::npos)
      ASSERT_TRUE(apply_option(p, s.substr(0, eq), s.substr(eq + 1), kLine3));
    else
      ASSERT_TRUE(apply_option(p, s.substr(0, 2), s.substr(2), kLine3));
  }
  EXPECT_TRUE(p.warnings.empty()) << p.warnings[0];
}

TEST(ApplyOption, KillOnInvalidDep) {
  SubmitOptions o;
  ASSERT_TRUE(apply_option(o, "kill-on-invalid-dep", std::string_view("no"), kLine3));
  EXPECT_EQ(o.kill_on_invalid_dep, std::optional<bool>(false));
  ASSERT_TRUE(apply_option(o, "kill-on-invalid-dep", std::string_view("YES"), kCli));
  EXPECT_EQ(o.kill_on_invalid_dep, std::optional<bool>(true));
  auto bad = apply_option(o, "kill-on-invalid-dep", std::string_view("maybe"), kCli);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("give yes or no, e.g. --kill-on-invalid-dep=no"), std::string::npos) << bad.message();
  for (const auto& spec : option_table())
    if (spec.name == std::string_view("kill-on-invalid-dep")) EXPECT_EQ(spec.support, Support::Honoured);
}

TEST(ApplyOption, Distribution) {
  SubmitOptions o;
  ASSERT_TRUE(apply_option(o, "m", std::string_view("cyclic:fcyclic"), kLine3));
  EXPECT_EQ(o.distribution, std::optional<std::string>("cyclic:fcyclic"));
  EXPECT_TRUE(o.warnings.empty());
  EXPECT_EQ(o.set_by.at("distribution").describe(), "job.sh:3");
  // What Drover does not lay out is an error naming the line, the option and why.
  auto bad = apply_option(o, "distribution", std::string_view("plane=4"), kLine3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.message().rfind("job.sh:3: --distribution=plane=4: plane is not supported", 0), 0u) << bad.message();
  bad = apply_option(o, "m", std::string_view("block:block:cyclic"), kLine3);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("third level"), std::string::npos) << bad.message();
}

TEST(ApplyOption, EveryTableEntryCanBeApplied) {
  // A value every option's parser accepts, or none for flags; nothing may throw or crash.
  for (const auto& spec : option_table()) {
    SubmitOptions o;
    const Origin where = spec.command_line_only ? kCli : kLine3;
    std::optional<std::string_view> value;
    if (spec.value == OptionValue::Required) value = "1";
    auto st = apply_option(o, spec.name, value, where);
    if (!st) {
      // Values that are not "1" by nature: say so here, so a new option gets a look.
      static const std::set<std::string_view> kNotOne = {"begin", "export", "mail-type", "open-mode", "wrap",
                                                         "env", "parameter", "tag", "signal", "kill-on-invalid-dep",
                                                         "distribution"};
      EXPECT_TRUE(kNotOne.count(spec.name)) << spec.name << ": " << st.message();
    }
    EXPECT_TRUE(st || !st.message().empty());
  }
}

TEST(ApplyOption, MemoryRequestsReplaceAcrossSources) {
  SubmitOptions o;
  ASSERT_TRUE(apply_option(o, "--mem", std::string_view("8G"), kLine3));
  ASSERT_TRUE(apply_option(o, "--mem-per-cpu", std::string_view("2G"), kCli));
  EXPECT_FALSE(o.mem_per_node_mib);
  EXPECT_EQ(o.mem_per_cpu_mib, 2048);
  EXPECT_FALSE(o.set_by.count("mem"));
  auto st = apply_option(o, "--mem-per-gpu", std::string_view("2G"), kCli);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("exclude each other"), std::string::npos);
}

TEST(CommandLine, OptionsEndAtTheScriptOrDoubleDash) {
  auto cl = parse_command_line({"-N", "2", "--time=5", "job.sh", "-n", "8", "--", "x"});
  ASSERT_TRUE(cl) << cl.message();
  ASSERT_EQ(cl->options.size(), 2u);
  EXPECT_EQ(cl->options[0], (OptionUse{"nodes", "2", kCli}));
  EXPECT_EQ(cl->options[1], (OptionUse{"time", "5", kCli}));
  EXPECT_EQ(cl->operands, (Args{"job.sh", "-n", "8", "--", "x"}));
  EXPECT_FALSE(cl->double_dash);

  cl = parse_command_line({"-c", "2", "--", "./prog", "--flag"});
  ASSERT_TRUE(cl);
  EXPECT_TRUE(cl->double_dash);
  EXPECT_EQ(cl->operands, (Args{"./prog", "--flag"}));

  cl = parse_command_line({"-", "arg"});  // "-": the script on stdin, to sbatch
  ASSERT_TRUE(cl);
  EXPECT_EQ(cl->operands, (Args{"-", "arg"}));

  cl = parse_command_line({"--wrap", "hostname -f"});
  ASSERT_TRUE(cl);
  EXPECT_TRUE(cl->operands.empty());

  cl = parse_command_line({});
  ASSERT_TRUE(cl);
  EXPECT_TRUE(cl->options.empty());
}

TEST(MergeOptions, PrecedenceCommandLineEnvironmentDroverSbatch) {
  auto script = parse_directives(
      "#!/bin/bash\n"
      "#SBATCH --time=10 -J from-sbatch -p sbatchq --account=sb -n 2\n"
      "#DROVER --time=20 -J from-drover -p droverq\n"
      "#SBATCH --qos=low\n"
      "srun hostname\n",
      "job.sh");
  ASSERT_TRUE(script) << script.message();
  const KeyValues env{{"SBATCH_TIMELIMIT", "30"},       {"SBATCH_JOB_NAME", "from-sbatch-env"},
                      {"DROVER_SUBMIT_JOB_NAME", "from-drover-env"}, {"SBATCH_QOS", "high"},
                      {"UNRELATED", "x"},              {"SBATCH_ACCOUNT", ""}};
  auto cl = parse_command_line({"--time=40", "job.sh"});
  ASSERT_TRUE(cl);
  auto o = merge_options(&*script, env, *cl, Clock::fixed_offset(0));
  ASSERT_TRUE(o) << o.message();
  EXPECT_EQ(o->time_limit_s, 40 * 60);
  EXPECT_EQ(o->set_by.at("time").describe(), "command line");
  EXPECT_EQ(o->job_name, "from-drover-env");
  EXPECT_EQ(o->set_by.at("job-name").describe(), "environment DROVER_SUBMIT_JOB_NAME");
  EXPECT_EQ(o->partitions, Args{"droverq"});
  EXPECT_EQ(o->set_by.at("partition").describe(), "job.sh:3");
  EXPECT_EQ(o->qos, "high");
  EXPECT_EQ(o->account, "sb");  // an empty variable is no request
  EXPECT_EQ(o->ntasks, 2);
  EXPECT_EQ(o->set_by.at("ntasks").describe(), "job.sh:2");
}

TEST(MergeOptions, EnvironmentFlags) {
  auto o = merge_options(nullptr, {{"SBATCH_WAIT", "1"}, {"SBATCH_REQUEUE", "yes"}, {"SBATCH_EXCLUSIVE", "1"}},
                         CommandLine{}, Clock::fixed_offset(0));
  ASSERT_TRUE(o) << o.message();
  EXPECT_TRUE(o->wait);
  EXPECT_EQ(o->requeue, true);
  EXPECT_EQ(o->exclusive, "");
  o = merge_options(nullptr, {{"SBATCH_WAIT", "0"}, {"SBATCH_EXCLUSIVE", "no"}, {"SBATCH_HOLD", "1"}}, CommandLine{},
                    Clock::fixed_offset(0));
  ASSERT_TRUE(o);
  EXPECT_FALSE(o->wait);
  EXPECT_FALSE(o->exclusive);
  EXPECT_FALSE(o->hold);  // not an sbatch input variable
  o = merge_options(nullptr, {{"SBATCH_TIMELIMIT", "soon"}}, CommandLine{}, Clock::fixed_offset(0));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.message().rfind("environment SBATCH_TIMELIMIT: --time=soon: invalid time limit", 0), 0u) << o.message();
}

TEST(MergeOptions, BeginIsResolvedAgainstTheClock) {
  auto cl = parse_command_line({"--begin=now+1hour"});
  ASSERT_TRUE(cl);
  auto o = merge_options(nullptr, {}, *cl, Clock::fixed_offset(1'000'000'000));
  ASSERT_TRUE(o) << o.message();
  ASSERT_TRUE(o->begin);
  EXPECT_EQ(o->begin->text, "now+1hour");
  EXPECT_EQ(o->begin->epoch, 1'000'003'600);
}

TEST(MergeOptions, AllErrorsAtOnceOnePerLine) {
  auto script = parse_directives("#!/bin/sh\n#SBATCH --time=abc\n#SBATCH -n -1\n#SBATCH --mem=4X\ntrue\n", "j.sh");
  ASSERT_TRUE(script) << script.message();
  auto o = merge_options(&*script, {}, CommandLine{}, Clock::fixed_offset(0));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.message().rfind("j.sh:2: --time=abc: invalid time limit", 0), 0u) << o.message();
  EXPECT_NE(o.message().find("\nj.sh:3: --ntasks=-1: must not be negative"), std::string::npos) << o.message();
  EXPECT_NE(o.message().find("\nj.sh:4: --mem=4X: invalid memory size"), std::string::npos) << o.message();
}

TEST(MergeOptions, WrapAndAScriptExcludeEachOther) {
  auto script = parse_directives("#!/bin/sh\ntrue\n", "j.sh");
  ASSERT_TRUE(script);
  auto cl = parse_command_line({"--wrap=hostname"});
  ASSERT_TRUE(cl);
  auto o = merge_options(&*script, {}, *cl, Clock::fixed_offset(0));
  ASSERT_FALSE(o);
  EXPECT_EQ(o.message(), "command line: --wrap: give either --wrap or a script, not both");
  o = merge_options(nullptr, {}, *cl, Clock::fixed_offset(0));
  ASSERT_TRUE(o);
  EXPECT_EQ(o->wrap, "hostname");
}

}  // namespace
}  // namespace drover::script

// make_job: validation (every error names its field), definition defaults merged
// with overrides, Ref:: parameter substitution; expand_output_pattern; the
// validate_* helpers for definitions, queues and environments.
#include "core/job_request.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "test_cluster.hpp"

namespace drover {
namespace {

using testing::ClusterBuilder;
using testing::make_test_job;
using testing::make_topology;

const Submitter kAlice{1000, 100, "alice"};

// n1: 8 PUs, 16 GiB, 2 GPUs.  n2: 32 PUs, 4 GiB, no GPU.  n3: never reported.
// Queues: q (ce: n1, n2), off (DISABLED), capped (maxvCpus 4 on n2), fresh (n3 only),
// mixed (capped env + uncapped env).
class MakeJob : public ::testing::Test {
 protected:
  void SetUp() override {
    c.node("n1", make_topology(8, 1, 16384, 2));
    c.node("n2", make_topology(32, 1, 4096));
    c.env("ce", {"n1", "n2"});
    c.env("small", {"n2"}, 4);
    c.env("nowhere", {"n3"});
    c.queue("q", {"ce"});
    c.queue("off", {"ce"}, 1, false);
    c.queue("capped", {"small"});
    c.queue("fresh", {"nowhere"});

    JobDefinition blast;
    blast.name = "blast";
    blast.revision = 1;
    blast.command = {"blastn", "-db", "Ref::db", "-evalue", "Ref::evalue"};
    blast.parameters = {{"db", "nt"}, {"evalue", "10"}};
    blast.environment = {{"BLASTDB", "/data/blast"}, {"OMP_NUM_THREADS", "4"}};
    blast.resources = {4, 2048, 0};
    blast.retry.attempts = 3;
    blast.retry.evaluate_on_exit = {{"1", "", "", "EXIT"}};
    blast.timeout_seconds = 600;
    blast.tags = {{"project", "genomics"}};
    c.ok(DefinitionRegistered{blast});
    JobDefinition blast2 = blast;
    blast2.revision = 2;
    blast2.resources.vcpus = 6;
    c.ok(DefinitionRegistered{blast2});

    JobDefinition old;
    old.name = "old";
    old.revision = 1;
    old.command = {"true"};
    c.ok(DefinitionRegistered{old});
    c.ok(DefinitionDeregistered{"old", 1});

    JobDefinition multi;
    multi.name = "multi";
    multi.revision = 1;
    multi.type = DefinitionType::Multinode;
    multi.command = {"true"};
    c.ok(DefinitionRegistered{multi});

    c.submit(make_test_job(5));
  }

  static JobRequest base() {
    JobRequest r;
    r.name = "hello";
    r.queue = "q";
    r.command = {"echo", "hi"};
    r.working_dir = "/home/alice";
    return r;
  }

  Result<NewJob> make(const JobRequest& r, const std::string& default_queue = "") {
    return make_job(r, kAlice, c.state(), default_queue, 42, 123456);
  }

  ClusterBuilder c;
};

TEST_F(MakeJob, MinimalRequest) {
  auto r = make(base());
  ASSERT_TRUE(r) << r.message();
  const Job& j = r->job;
  EXPECT_EQ(j.id, 42);
  EXPECT_EQ(j.name, "hello");
  EXPECT_EQ(j.uid, 1000u);
  EXPECT_EQ(j.gid, 100u);
  EXPECT_EQ(j.user, "alice");
  EXPECT_EQ(j.queue, "q");
  EXPECT_EQ(j.created_at, 123456);
  EXPECT_EQ(j.state, JobState::Submitted);
  EXPECT_EQ(j.request, (Resources{1, 0, 0}));
  EXPECT_EQ(j.retry.attempts, 1);
  EXPECT_EQ(j.timeout_seconds, 0);
  EXPECT_TRUE(j.definition.empty());
  EXPECT_EQ(j.working_dir, "/home/alice");
  EXPECT_EQ(j.stdout_path, kDefaultOutputPattern);
  EXPECT_TRUE(j.stderr_path.empty());
  EXPECT_EQ(r->payload.command, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_TRUE(r->payload.script.empty());
}

TEST_F(MakeJob, DefaultQueueAndDefaultName) {
  JobRequest req = base();
  req.queue.clear();
  req.name.clear();
  auto r = make(req, "q");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->job.queue, "q");
  EXPECT_EQ(r->job.name, "job");
  req.definition = "blast";
  r = make(req, "q");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->job.name, "blast");  // a definition's name when none is given
}

TEST_F(MakeJob, DefinitionDefaultsAndSubstitution) {
  JobRequest req = base();
  req.command.clear();
  req.definition = "blast:1";
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  const Job& j = r->job;
  EXPECT_EQ(j.definition, "blast");
  EXPECT_EQ(j.definition_revision, 1);
  EXPECT_EQ(j.request, (Resources{4, 2048, 0}));
  EXPECT_EQ(j.retry.attempts, 3);
  ASSERT_EQ(j.retry.evaluate_on_exit.size(), 1u);
  EXPECT_EQ(j.timeout_seconds, 600);
  EXPECT_EQ(j.tags, (KeyValues{{"project", "genomics"}}));
  EXPECT_EQ(r->payload.command,
            (std::vector<std::string>{"blastn", "-db", "nt", "-evalue", "10"}));
  EXPECT_EQ(r->payload.environment,
            (KeyValues{{"BLASTDB", "/data/blast"}, {"OMP_NUM_THREADS", "4"}}));
}

TEST_F(MakeJob, LatestActiveRevisionWithoutNumber) {
  JobRequest req = base();
  req.definition = "blast";
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->job.definition_revision, 2);
  EXPECT_EQ(r->job.request.vcpus, 6);
}

TEST_F(MakeJob, OverridesWinOverDefinition) {
  JobRequest req = base();
  req.command.clear();
  req.definition = "blast:1";
  req.parameters = {{"db", "refseq"}, {"extra", "x"}};
  req.environment = {{"OMP_NUM_THREADS", "8"}, {"MY", "1"}};
  req.vcpus = 2;
  req.memory_mib = 512;
  req.gpus = 1;
  req.timeout_seconds = 60;
  RetryStrategy rs;
  rs.attempts = 5;
  req.retry = rs;
  req.tags = {{"project", "other"}, {"owner", "me"}};
  req.stdout_path = "out-%j.txt";
  req.stderr_path = "err-%j.txt";
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  const Job& j = r->job;
  EXPECT_EQ(j.request, (Resources{2, 512, 1}));
  EXPECT_EQ(j.timeout_seconds, 60);
  EXPECT_EQ(j.retry.attempts, 5);
  EXPECT_TRUE(j.retry.evaluate_on_exit.empty());
  EXPECT_EQ(j.parameters, (KeyValues{{"db", "refseq"}, {"evalue", "10"}, {"extra", "x"}}));
  EXPECT_EQ(j.tags, (KeyValues{{"project", "other"}, {"owner", "me"}}));
  EXPECT_EQ(r->payload.command,
            (std::vector<std::string>{"blastn", "-db", "refseq", "-evalue", "10"}));
  EXPECT_EQ(r->payload.environment,
            (KeyValues{{"BLASTDB", "/data/blast"}, {"OMP_NUM_THREADS", "8"}, {"MY", "1"}}));
  EXPECT_EQ(j.stdout_path, "out-%j.txt");
  EXPECT_EQ(j.stderr_path, "err-%j.txt");
}

TEST_F(MakeJob, RequestCommandReplacesDefinitionsAndIsSubstituted) {
  JobRequest req = base();
  req.definition = "blast:1";
  req.command = {"echo", "Ref::db"};
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->payload.command, (std::vector<std::string>{"echo", "nt"}));
}

TEST_F(MakeJob, ScriptKeepsItsArgumentsUnsubstituted) {
  JobRequest req = base();
  req.script = "#!/bin/bash\necho $1\n";
  req.command = {"Ref::db", "b"};
  req.definition = "blast:1";
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->payload.script, req.script);
  EXPECT_EQ(r->payload.command, (std::vector<std::string>{"Ref::db", "b"}));
}

TEST_F(MakeJob, TasksShareTheVcpus) {
  JobRequest req = base();
  req.vcpus = 8;
  req.ntasks = 8;
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->job.ntasks, 8);
  EXPECT_EQ(make(base())->job.ntasks, 1);
}

TEST_F(MakeJob, DependenciesAreKept) {
  JobRequest req = base();
  req.depends_on = {{5, DependencyType::AfterAny}};
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->job.depends_on, req.depends_on);
}

TEST_F(MakeJob, AcceptedWhenNoNodeOfTheQueueHasReported) {
  JobRequest req = base();
  req.queue = "fresh";
  req.vcpus = 4096;
  req.memory_mib = 1 << 30;
  req.gpus = 64;
  auto r = make(req);
  ASSERT_TRUE(r) << r.message();
}

TEST_F(MakeJob, FitsTheLargestNodeExactly) {
  JobRequest req = base();
  req.vcpus = 8;
  req.memory_mib = 16384;
  req.gpus = 2;
  EXPECT_TRUE(make(req));
  req = base();
  req.vcpus = 32;
  req.memory_mib = 4096;
  EXPECT_TRUE(make(req));
}

struct InvalidCase {
  const char* name;
  std::function<void(JobRequest&)> change;
  std::string field;                   // the message starts with "<field>: "
  std::vector<std::string> mentions;   // and contains each of these
};

class MakeJobInvalid : public MakeJob, public ::testing::WithParamInterface<InvalidCase> {};

TEST_P(MakeJobInvalid, NamesTheField) {
  const auto& p = GetParam();
  JobRequest req = base();
  p.change(req);
  auto r = make(req);
  ASSERT_FALSE(r) << "accepted";
  EXPECT_EQ(r.message().rfind(p.field + ": ", 0), 0u) << r.message();
  for (const auto& m : p.mentions)
    EXPECT_NE(r.message().find(m), std::string::npos) << "'" << m << "' not in: " << r.message();
}

RetryStrategy attempts(int n) {
  RetryStrategy r;
  r.attempts = n;
  return r;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, MakeJobInvalid,
    ::testing::Values(
        InvalidCase{"NameWithSpace", [](JobRequest& r) { r.name = "my job"; }, "jobName",
                    {"'my job'", "letters, digits"}},
        InvalidCase{"NameWithSlash", [](JobRequest& r) { r.name = "a/b"; }, "jobName", {}},
        InvalidCase{"NameTooLong", [](JobRequest& r) { r.name = std::string(129, 'a'); },
                    "jobName", {"128"}},
        InvalidCase{"ZeroVcpus", [](JobRequest& r) { r.vcpus = 0; }, "vcpus", {"0", "at least 1"}},
        InvalidCase{"NegativeVcpus", [](JobRequest& r) { r.vcpus = -3; }, "vcpus", {"-3"}},
        InvalidCase{"HugeVcpus", [](JobRequest& r) { r.vcpus = kMaxVcpus + 1; }, "vcpus",
                    {"too large"}},
        InvalidCase{"ZeroTasks", [](JobRequest& r) { r.ntasks = 0; }, "ntasks", {"0"}},
        InvalidCase{"MoreTasksThanVcpus",
                    [](JobRequest& r) {
                      r.vcpus = 2;
                      r.ntasks = 3;
                    },
                    "ntasks", {"3", "2"}},
        InvalidCase{"NegativeMemory", [](JobRequest& r) { r.memory_mib = -1; }, "memory",
                    {"-1", "negative"}},
        InvalidCase{"NegativeGpus", [](JobRequest& r) { r.gpus = -1; }, "gpus", {"negative"}},
        InvalidCase{"ZeroAttempts", [](JobRequest& r) { r.retry = attempts(0); },
                    "retryStrategy.attempts", {"0", "1..10"}},
        InvalidCase{"ElevenAttempts", [](JobRequest& r) { r.retry = attempts(11); },
                    "retryStrategy.attempts", {"11", "1..10"}},
        InvalidCase{"BadRuleAction",
                    [](JobRequest& r) {
                      RetryStrategy s = attempts(2);
                      s.evaluate_on_exit = {{"1", "", "", "RETRY"}, {"2", "", "", "MAYBE"}};
                      r.retry = s;
                    },
                    "retryStrategy.evaluateOnExit[1].action", {"MAYBE"}},
        InvalidCase{"EmptyRule",
                    [](JobRequest& r) {
                      RetryStrategy s = attempts(2);
                      s.evaluate_on_exit = {{"", "", "", "EXIT"}};
                      r.retry = s;
                    },
                    "retryStrategy.evaluateOnExit[0]", {"onExitCode"}},
        InvalidCase{"NegativeTimeout", [](JobRequest& r) { r.timeout_seconds = -1; },
                    "timeout.attemptDurationSeconds", {"negative"}},
        InvalidCase{"TimeoutOverAYear",
                    [](JobRequest& r) { r.timeout_seconds = kMaxTimeoutSeconds + 1; },
                    "timeout.attemptDurationSeconds", {"one year"}},
        InvalidCase{"UnknownQueue", [](JobRequest& r) { r.queue = "gpu"; }, "jobQueue",
                    {"'gpu'", "capped, fresh, off, q"}},
        InvalidCase{"NoQueueNoDefault", [](JobRequest& r) { r.queue.clear(); }, "jobQueue",
                    {"default"}},
        InvalidCase{"DisabledQueue", [](JobRequest& r) { r.queue = "off"; }, "jobQueue",
                    {"'off'", "DISABLED"}},
        InvalidCase{"UnknownDefinition", [](JobRequest& r) { r.definition = "nope"; },
                    "jobDefinition", {"'nope'"}},
        InvalidCase{"UnknownRevision", [](JobRequest& r) { r.definition = "blast:9"; },
                    "jobDefinition", {"'blast:9'"}},
        InvalidCase{"DeregisteredRevision", [](JobRequest& r) { r.definition = "old:1"; },
                    "jobDefinition", {"'old:1'", "deregistered"}},
        InvalidCase{"DeregisteredName", [](JobRequest& r) { r.definition = "old"; },
                    "jobDefinition", {"'old'", "deregistered"}},
        InvalidCase{"RevisionNotANumber", [](JobRequest& r) { r.definition = "x:abc"; },
                    "jobDefinition", {"'x:abc'", "revision"}},
        InvalidCase{"RevisionEmpty", [](JobRequest& r) { r.definition = "blast:"; },
                    "jobDefinition", {"revision"}},
        InvalidCase{"RevisionZero", [](JobRequest& r) { r.definition = "blast:0"; },
                    "jobDefinition", {"revision"}},
        InvalidCase{"RevisionNegative", [](JobRequest& r) { r.definition = "blast:-1"; },
                    "jobDefinition", {"revision"}},
        InvalidCase{"RevisionTooLong",
                    [](JobRequest& r) { r.definition = "blast:99999999999999999999"; },
                    "jobDefinition", {"revision"}},
        InvalidCase{"MultinodeDefinition", [](JobRequest& r) { r.definition = "multi"; },
                    "jobDefinition", {"multinode"}},
        InvalidCase{"ScriptWithoutShebang",
                    [](JobRequest& r) { r.script = "echo hi\n"; }, "script", {"#!"}},
        InvalidCase{"NothingToRun", [](JobRequest& r) { r.command.clear(); }, "command",
                    {"nothing to run"}},
        InvalidCase{"BadEnvironmentName",
                    [](JobRequest& r) { r.environment = {{"A=B", "1"}}; }, "environment",
                    {"'A=B'"}},
        InvalidCase{"EmptyEnvironmentName",
                    [](JobRequest& r) { r.environment = {{"", "1"}}; }, "environment", {}},
        InvalidCase{"RelativeWorkingDir", [](JobRequest& r) { r.working_dir = "data/run1"; },
                    "workingDirectory", {"'data/run1'", "absolute"}},
        InvalidCase{"EmptyWorkingDir", [](JobRequest& r) { r.working_dir.clear(); },
                    "workingDirectory", {"absolute"}},
        InvalidCase{"SelfDependency",
                    [](JobRequest& r) { r.depends_on = {{42, DependencyType::AfterOk}}; },
                    "dependsOn", {"itself"}},
        InvalidCase{"UnknownDependency",
                    [](JobRequest& r) {
                      r.depends_on = {{5, DependencyType::AfterOk}, {77, DependencyType::After}};
                    },
                    "dependsOn", {"77"}},
        InvalidCase{"MoreVcpusThanAnyNode", [](JobRequest& r) { r.vcpus = 33; }, "vcpus",
                    {"33", "largest node", "'q'", "32"}},
        InvalidCase{"MoreMemoryThanAnyNode", [](JobRequest& r) { r.memory_mib = 16385; },
                    "memory", {"16385 MiB", "16384 MiB", "'q'"}},
        InvalidCase{"MoreGpusThanAnyNode", [](JobRequest& r) { r.gpus = 3; }, "gpus",
                    {"3", "most GPUs", "2"}},
        InvalidCase{"NoSingleNodeHasItAll",
                    [](JobRequest& r) {  // n2's vCPUs with n1's memory
                      r.vcpus = 16;
                      r.memory_mib = 8192;
                    },
                    "resources", {"no single node"}},
        InvalidCase{"AboveEnvironmentCap",
                    [](JobRequest& r) {
                      r.queue = "capped";
                      r.vcpus = 5;
                    },
                    "vcpus", {"5", "at most 4"}}),
    [](const auto& info) { return info.param.name; });

// ---- substitute_parameters -------------------------------------------------------------

struct SubstCase {
  const char* name;
  std::vector<std::string> command;
  std::vector<std::string> want;
};

class SubstituteParameters : public ::testing::TestWithParam<SubstCase> {};

TEST_P(SubstituteParameters, Replaces) {
  const KeyValues params = {{"in", "a.fa"}, {"out", "b.txt"}, {"n", "4"}, {"my_key-2", "v"},
                            {"empty", ""}};
  EXPECT_EQ(substitute_parameters(GetParam().command, params), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SubstituteParameters,
    ::testing::Values(
        SubstCase{"None", {"echo", "hi"}, {"echo", "hi"}},
        SubstCase{"Whole", {"Ref::in"}, {"a.fa"}},
        SubstCase{"AtStart", {"Ref::in.gz"}, {"a.fa.gz"}},
        SubstCase{"AtEnd", {"--input=Ref::in"}, {"--input=a.fa"}},
        SubstCase{"Two", {"Ref::in,Ref::out"}, {"a.fa,b.txt"}},
        SubstCase{"ThreeAdjacentSeparators", {"Ref::in/Ref::out/Ref::n"}, {"a.fa/b.txt/4"}},
        SubstCase{"UnknownLeft", {"Ref::nope"}, {"Ref::nope"}},
        SubstCase{"UnknownThenKnown", {"Ref::nope:Ref::n"}, {"Ref::nope:4"}},
        SubstCase{"NamesWithUnderscoreAndDash", {"Ref::my_key-2"}, {"v"}},
        SubstCase{"EmptyValue", {"x=Ref::empty."}, {"x=."}},
        SubstCase{"BareRef", {"Ref::"}, {"Ref::"}},
        SubstCase{"CaseSensitive", {"ref::in", "Ref::IN"}, {"ref::in", "Ref::IN"}},
        SubstCase{"EmptyArgument", {""}, {""}},
        SubstCase{"Empty", {}, {}}),
    [](const auto& info) { return info.param.name; });

// ---- expand_output_pattern --------------------------------------------------------------

struct PatternCase {
  const char* name;
  std::string pattern;
  std::string want;
};

class ExpandOutputPattern : public ::testing::TestWithParam<PatternCase> {};

TEST_P(ExpandOutputPattern, Expands) {
  Job j = make_test_job(1234);
  j.name = "align";
  j.user = "alice";
  EXPECT_EQ(expand_output_pattern(GetParam().pattern, j, "node07"), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ExpandOutputPattern,
    ::testing::Values(PatternCase{"Default", kDefaultOutputPattern, "drover-1234.out"},
                      PatternCase{"All", "%x-%j-%u-%N.log", "align-1234-alice-node07.log"},
                      PatternCase{"Percent", "100%%-%j", "100%-1234"},
                      PatternCase{"DoublePercentThenLetter", "%%j", "%j"},
                      PatternCase{"UnknownKept", "%q-%Z-%j", "%q-%Z-1234"},
                      // Outside arrays, as sbatch: %A is the job id, %a is NO_VAL.
                      PatternCase{"ArrayOutsideArray", "%A_%a", "1234_4294967294"},
                      PatternCase{"NodeAndTask", "%n-%t", "0-0"},
                      PatternCase{"TrailingPercent", "out%", "out%"},
                      PatternCase{"OnlyPercent", "%", "%"},
                      PatternCase{"Repeated", "%j%j", "12341234"},
                      PatternCase{"Empty", "", ""},
                      PatternCase{"NoEscapes", "/abs/path.out", "/abs/path.out"}),
    [](const auto& info) { return info.param.name; });

// ---- validate_* ---------------------------------------------------------------------------

TEST(ValidateName, Bounds) {
  EXPECT_TRUE(validate_name("jobName", "a"));
  EXPECT_TRUE(validate_name("jobName", std::string(128, 'x')));
  EXPECT_TRUE(validate_name("jobName", "A-z_0.9"));
  auto s = validate_name("jobQueueName", "");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.message(), "jobQueueName: must not be empty");
  EXPECT_FALSE(validate_name("jobName", std::string(129, 'x')));
  EXPECT_FALSE(validate_name("jobName", "tab\there"));
  EXPECT_FALSE(validate_name("jobName", "\xc3\xa9t\xc3\xa9"));  // UTF-8 letters
}

TEST(ValidateDefinition, Fields) {
  JobDefinition d;
  d.name = "ok";
  EXPECT_TRUE(validate_definition(d));
  struct Case {
    std::function<void(JobDefinition&)> change;
    std::string prefix;
  };
  const std::vector<Case> cases = {
      {[](JobDefinition& x) { x.name = "bad name"; }, "jobDefinitionName: "},
      {[](JobDefinition& x) { x.resources.vcpus = 0; }, "vcpus: "},
      {[](JobDefinition& x) { x.resources.memory_mib = -5; }, "memory: "},
      {[](JobDefinition& x) { x.retry.attempts = 11; }, "retryStrategy.attempts: "},
      {[](JobDefinition& x) { x.timeout_seconds = -1; }, "timeout.attemptDurationSeconds: "},
      {[](JobDefinition& x) { x.environment = {{"X=Y", "1"}}; }, "environment: "},
  };
  for (const auto& c : cases) {
    JobDefinition x = d;
    c.change(x);
    auto s = validate_definition(x);
    ASSERT_FALSE(s) << c.prefix;
    EXPECT_EQ(s.message().rfind(c.prefix, 0), 0u) << s.message();
  }
}

TEST(ValidateEnvironment, Fields) {
  ComputeEnvironment e;
  e.name = "ce";
  e.nodes = {"n1", "n2"};
  EXPECT_TRUE(validate_environment(e));
  ComputeEnvironment x = e;
  x.type = "MANAGED";
  EXPECT_EQ(validate_environment(x).message().rfind("type: ", 0), 0u);
  x = e;
  x.max_vcpus = -1;
  EXPECT_EQ(validate_environment(x).message().rfind("maxvCpus: ", 0), 0u);
  x = e;
  x.nodes = {"bad node"};
  EXPECT_EQ(validate_environment(x).message().rfind("nodes: ", 0), 0u);
  x = e;
  x.name = "";
  EXPECT_EQ(validate_environment(x).message().rfind("computeEnvironmentName: ", 0), 0u);
}

TEST(ValidateQueue, Fields) {
  ClusterBuilder c;
  c.env("a", {});
  c.env("b", {});
  c.env("c", {});
  c.env("d", {});
  JobQueue q;
  q.name = "q";
  q.compute_environments = {"a", "b", "c"};
  EXPECT_TRUE(validate_queue(q, c.state()));
  q.priority = 1000;
  EXPECT_TRUE(validate_queue(q, c.state()));
  JobQueue x = q;
  x.priority = 1001;
  EXPECT_EQ(validate_queue(x, c.state()).message().rfind("priority: ", 0), 0u);
  x = q;
  x.priority = -1;
  EXPECT_EQ(validate_queue(x, c.state()).message().rfind("priority: ", 0), 0u);
  x = q;
  x.compute_environments = {};
  EXPECT_EQ(validate_queue(x, c.state()).message().rfind("computeEnvironmentOrder: ", 0), 0u);
  x = q;
  x.compute_environments = {"a", "b", "c", "d"};
  EXPECT_EQ(validate_queue(x, c.state()).message().rfind("computeEnvironmentOrder: ", 0), 0u);
  x = q;
  x.compute_environments = {"a", "zz"};
  auto s = validate_queue(x, c.state());
  EXPECT_NE(s.message().find("'zz'"), std::string::npos) << s.message();
  x = q;
  x.name = "bad/name";
  EXPECT_EQ(validate_queue(x, c.state()).message().rfind("jobQueueName: ", 0), 0u);
}

TEST(PreemptMode, NamesAndParsing) {
  EXPECT_EQ(JobQueue{}.preempt_mode, PreemptMode::Off) << "a queue is never preempted unless asked";
  struct Case {
    const char* text;
    std::optional<PreemptMode> mode;
  };
  for (const Case& k : {Case{"OFF", PreemptMode::Off}, Case{"off", PreemptMode::Off},
                        Case{"REQUEUE", PreemptMode::Requeue}, Case{"Requeue", PreemptMode::Requeue},
                        Case{"cancel", PreemptMode::Cancel}, Case{"CANCEL", PreemptMode::Cancel}, Case{"", {}},
                        Case{"suspend", {}}, Case{"requeue ", {}}, Case{"on", {}}}) {
    SCOPED_TRACE(k.text);
    EXPECT_EQ(parse_preempt_mode(k.text), k.mode);
  }
  for (PreemptMode m : {PreemptMode::Off, PreemptMode::Requeue, PreemptMode::Cancel})
    EXPECT_EQ(parse_preempt_mode(to_string(m)), m);
  EXPECT_STREQ(to_string(PreemptMode::Requeue), "REQUEUE");
}

}  // namespace
}  // namespace drover

// The checkpoint contract between Drover and a job (docs/CHECKPOINT.md), with the
// real daemons: DROVER_CHECKPOINT_DIR kept across attempts, the checkpoint signal
// before the time limit, on `drover checkpoint`, on a preemption and on a node set
// DOWN; exit 75 ("checkpointed, requeue me"); the next attempt resuming.
//
// The jobs are bash scripts that trap the signal, as a real application would
// install a handler (libdrover-checkpoint does): a "checkpoint" is a directory
// ckpt-NNNNNNNNNNNN with a manifest.json, the layout the library writes.
#include "cluster.hpp"

namespace drover::it {
namespace {

using CheckpointTest = ClusterTest;

// A job that, on its checkpoint signal, writes a checkpoint and (when `exit_75`)
// exits 75; started again, it finds the checkpoint and succeeds. Every attempt
// appends a line to log.txt in the working directory. A background `sleep`,
// which has no handler, must survive the signal: the script reports it.
std::string resumable_script(bool exit_75) {
  return std::string(R"(#!/bin/bash
echo "attempt=$DROVER_ATTEMPT restart=$DROVER_RESTART count=$SLURM_RESTART_COUNT dir=$DROVER_CHECKPOINT_DIR" >> log.txt
ck="$DROVER_CHECKPOINT_DIR/ckpt-000000000007"
if [ -e "$ck/manifest.json" ]; then echo "resumed" >> log.txt; exit 0; fi
signals=0
trap 'signals=$((signals+1))' USR1
sleep 300 & bg=$!
while :; do
  wait $bg
  if [ $signals -gt 0 ]; then
    kill -0 $bg 2>/dev/null && echo "sleep survived" >> log.txt
    mkdir -p "$ck.tmp" && echo '{"format":"drover-checkpoint","version":1,"step":7,"time":0.5,"createdAt":1700000000000,"ranks":1,"bytes":1234,"files":[],"datasets":[]}' > "$ck.tmp/manifest.json" && mv "$ck.tmp" "$ck"
    echo "checkpointed" >> log.txt
)") + (exit_75 ? "    exit 75\n" : "    signals=0\n") + R"(  fi
done
)";
}

TEST_F(CheckpointTest, SignalBeforeTheTimeLimitThenExit75RequeuesAndTheNextAttemptResumes) {
  write_file(cluster().work_dir() + "/job.sh", resumable_script(true), 0755);
  const std::string id = cluster().submit({"--checkpoint-signal", "USR1@2", "-t", "0:04", "job.sh"});
  ASSERT_FALSE(id.empty());
  const Json j = finished(id, 20000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued");
  EXPECT_EQ(j["attempts"][0]["container"].value("exitCode", -1), 75);
  const std::string dir = cluster().work_dir() + "/drover-checkpoints/" + id;
  EXPECT_EQ(read_file(cluster().work_dir() + "/log.txt"),
            "attempt=1 restart=0 count=0 dir=" + dir + "\nsleep survived\ncheckpointed\n"
            "attempt=2 restart=1 count=1 dir=" + dir + "\nresumed\n");
  EXPECT_EQ(j.value("checkpointDirectory", ""), dir);
  EXPECT_EQ(j["checkpoint"].value("signal", 0), SIGUSR1);
  EXPECT_EQ(j["checkpoint"].value("secondsBefore", 0), 2);

  // drover show lists the checkpoint from its manifest.
  const CliResult show = cluster().cli("show", id);
  ASSERT_EQ(show.code, 0) << show.describe();
  EXPECT_TRUE(contains(show.out, "checkpoint signal USR1, 2 s before a stop")) << show.out;
  EXPECT_TRUE(contains(show.out, "checkpoints:      1 in " + dir)) << show.out;
  EXPECT_TRUE(contains(show.out, "ckpt-000000000007")) << show.out;
  EXPECT_TRUE(contains(show.out, "1.2 KiB")) << show.out;
}

TEST_F(CheckpointTest, ATimeLimitAfterACheckpointRequeuesOneWithoutFails) {
  // Keeps running after checkpointing: the time limit stops it, and as it wrote
  // a checkpoint during the attempt it is requeued and resumes.
  write_file(cluster().work_dir() + "/job.sh", resumable_script(false), 0755);
  const std::string id = cluster().submit({"--signal", "USR1@2", "-t", "0:03", "job.sh"});
  const Json j = finished(id, 20000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued");
  EXPECT_TRUE(contains(j["attempts"][0]["container"].value("reason", ""), "timeout")) << j.dump(2);

  // No handler, no checkpoint: the time limit fails it, once.
  const std::string plain = cluster().submit({"--signal", "USR1@1", "-t", "0:02", "--wrap", "sleep 30"});
  const Json p = finished(plain, 20000);
  ASSERT_TRUE(p.is_object());
  EXPECT_EQ(p.value("status", ""), "FAILED") << p.dump(2);
  EXPECT_EQ(p["attempts"].size(), 1u) << p.dump(2);
  EXPECT_TRUE(contains(p.value("statusReason", ""), "timeout")) << p.dump(2);
  EXPECT_TRUE(contains(cluster().agent_log(), "no process here handles signal 10")) << cluster().logs();
}

TEST_F(CheckpointTest, Exit75IsAPlainFailureForAJobThatDoesNotCheckpoint) {
  const std::string id = cluster().submit({"--wrap", "exit 75"});
  const Json j = finished(id);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "FAILED") << j.dump(2);
  EXPECT_EQ(j["attempts"].size(), 1u);
  // Every job still learns where its checkpoints would go; only jobs that
  // checkpoint get the directory made.
  const std::string env = cluster().submit({"--wrap", "echo $DROVER_CHECKPOINT_DIR $DROVER_ATTEMPT $DROVER_RESTART"});
  ASSERT_TRUE(cluster().wait_for_state(env, "SUCCEEDED"));
  const std::string dir = cluster().work_dir() + "/drover-checkpoints/" + env;
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + env + ".out"), dir + " 1 0\n");
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(CheckpointTest, CheckpointOnDemandThenRequeue) {
  write_file(cluster().work_dir() + "/job.sh", resumable_script(false), 0755);
  const std::string id = cluster().submit({"--checkpoint-signal", "USR1@2", "--checkpoint-dir", "ck/%x-%j", "job.sh"});
  ASSERT_TRUE(cluster().wait_for_state(id, "RUNNING"));
  const std::string dir = cluster().work_dir() + "/ck/job.sh-" + id;
  // The directory exists before the job's first line runs.
  ASSERT_TRUE(wait_until([&] { return contains(read_file(cluster().work_dir() + "/log.txt"), "attempt=1"); }, 5000));
  EXPECT_TRUE(fs::is_directory(dir));

  const CliResult ck = cluster().cli("checkpoint", id);
  ASSERT_EQ(ck.code, 0) << ck.describe();
  EXPECT_TRUE(contains(ck.out, "sent SIGUSR1")) << ck.out;
  ASSERT_TRUE(wait_until([&] { return contains(read_file(cluster().work_dir() + "/log.txt"), "checkpointed"); }, 5000))
      << read_file(cluster().work_dir() + "/log.txt") << cluster().logs();
  EXPECT_EQ(cluster().state(id), "RUNNING");

  const CliResult rq = cluster().cli("checkpoint", id, "--requeue");
  ASSERT_EQ(rq.code, 0) << rq.describe();
  EXPECT_TRUE(contains(rq.out, "requeued in 2 s")) << rq.out;
  const Json j = finished(id, 20000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued");
  EXPECT_TRUE(contains(read_file(cluster().work_dir() + "/log.txt"), "attempt=2 restart=1 count=1 dir=" + dir + "\nresumed\n"))
      << read_file(cluster().work_dir() + "/log.txt");

  // Bad requests say what is wrong.
  const CliResult done = cluster().cli("checkpoint", id);
  EXPECT_NE(done.code, 0);
  EXPECT_TRUE(contains(done.err, "only running jobs can be")) << done.describe();
  const CliResult both = cluster().cli("checkpoint", id, "--requeue", "--cancel");
  EXPECT_NE(both.code, 0);
  EXPECT_TRUE(contains(both.err, "not both")) << both.describe();
}

TEST_F(CheckpointTest, APreemptedJobCheckpointsIsRequeuedAndResumesAfterTheOther) {
  const CliResult made = cluster().run_cli({"queues", "create", "scavenge", "--envs", "local", "--priority", "0",
                                            "--preempt-mode", "requeue"});
  ASSERT_EQ(made.code, 0) << made.describe();
  const Json node = cluster().node_info();
  ASSERT_TRUE(node.is_object());
  const std::string all = std::to_string(node.value("vcpus", 0));
  write_file(cluster().work_dir() + "/job.sh", resumable_script(true), 0755);
  const std::string low = cluster().submit({"-p", "scavenge", "-c", all, "--checkpoint-signal", "USR1@10", "job.sh"});
  ASSERT_TRUE(cluster().wait_for_state(low, "RUNNING"));
  const std::string high = cluster().submit({"-c", all, "--wrap", "echo high >> log.txt"});
  ASSERT_TRUE(cluster().wait_for_state(high, "SUCCEEDED", 20000));
  const Json j = finished(low, 20000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  ASSERT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_EQ(j["attempts"][0].value("statusReason", ""), "requeued");
  const std::string log = read_file(cluster().work_dir() + "/log.txt");
  // The high-priority job ran between the checkpoint and the resumed attempt.
  const auto ck = log.find("checkpointed"), hi = log.find("high"), resumed = log.find("resumed");
  ASSERT_NE(ck, std::string::npos) << log;
  ASSERT_NE(hi, std::string::npos) << log;
  ASSERT_NE(resumed, std::string::npos) << log;
  EXPECT_LT(ck, hi) << log;
  EXPECT_LT(hi, resumed) << log;
  EXPECT_TRUE(contains(cluster().head_log(), "job " + low + ": Preempted by job " + high)) << cluster().logs();
}

TEST_F(CheckpointTest, ANodeSetDownLetsItsJobsCheckpointAndRequeuesThem) {
  write_file(cluster().work_dir() + "/job.sh", resumable_script(true), 0755);
  const std::string ck = cluster().submit({"--checkpoint-signal", "USR1@10", "job.sh"});
  const std::string plain = cluster().submit({"--wrap", "sleep 300"});
  ASSERT_TRUE(cluster().wait_for_state(ck, "RUNNING"));
  ASSERT_TRUE(cluster().wait_for_state(plain, "RUNNING"));
  const CliResult down = cluster().cli("nodes", "down", cluster().node(), "--reason", "fan failure");
  ASSERT_EQ(down.code, 0) << down.describe();
  ASSERT_TRUE(cluster().wait_for_state(ck, "RUNNABLE"));
  const Json waiting = cluster().describe(ck);
  EXPECT_TRUE(contains(waiting.value("statusReason", ""), "Requeued: Node " + cluster().node() + " set DOWN"))
      << waiting.dump(2);
  // A job that does not checkpoint ends at once and follows its retry strategy.
  const Json p = finished(plain);
  ASSERT_TRUE(p.is_object());
  EXPECT_EQ(p.value("status", ""), "FAILED") << p.dump(2);

  const CliResult up = cluster().cli("nodes", "resume", cluster().node());
  ASSERT_EQ(up.code, 0) << up.describe();
  const Json j = finished(ck, 20000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2) << cluster().logs();
  EXPECT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  EXPECT_TRUE(contains(read_file(cluster().work_dir() + "/log.txt"), "checkpointed\nattempt=2 restart=1"))
      << read_file(cluster().work_dir() + "/log.txt");
}

TEST_F(CheckpointTest, DrainWithCheckpointRequeuesJobsThatCheckpointAndLetsOthersRun) {
  write_file(cluster().work_dir() + "/job.sh", resumable_script(true), 0755);
  const std::string ck = cluster().submit({"--checkpoint-signal", "USR1@10", "job.sh"});
  const std::string gate = cluster().work_dir() + "/gate";
  const std::string plain = cluster().submit({"--wrap", "while [ ! -e " + gate + " ]; do sleep 0.05; done"});
  ASSERT_TRUE(cluster().wait_for_state(ck, "RUNNING"));
  ASSERT_TRUE(cluster().wait_for_state(plain, "RUNNING"));
  const CliResult bad = cluster().cli("nodes", "down", cluster().node(), "--reason", "x", "--checkpoint");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(contains(bad.err, "--checkpoint goes with drain")) << bad.describe();
  const CliResult drain = cluster().cli("nodes", "drain", cluster().node(), "--reason", "kernel update", "--checkpoint");
  ASSERT_EQ(drain.code, 0) << drain.describe();
  ASSERT_TRUE(cluster().wait_for_state(ck, "RUNNABLE"));
  EXPECT_TRUE(contains(cluster().describe(ck).value("statusReason", ""), "Requeued: Node " + cluster().node() + " drained"))
      << cluster().describe(ck).dump(2);
  // The job that does not checkpoint goes on, as drain promises.
  EXPECT_EQ(cluster().state(plain), "RUNNING");
  write_file(gate, "");
  ASSERT_TRUE(cluster().wait_for_state(plain, "SUCCEEDED"));
  ASSERT_EQ(cluster().cli("nodes", "resume", cluster().node()).code, 0);
  const Json j = finished(ck, 20000);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
  EXPECT_EQ(j["attempts"].size(), 2u) << j.dump(2);
}

TEST_F(CheckpointTest, OpenModeAppendKeepsTheOutputOfEarlierAttempts) {
  const std::string script = "echo attempt=$DROVER_ATTEMPT; [ \"$DROVER_ATTEMPT\" = 1 ] && exit 75; exit 0";
  const std::string kept = cluster().submit({"--checkpoint", "--open-mode=append", "--wrap", script});
  const std::string fresh = cluster().submit({"--checkpoint", "--wrap", script});
  for (const auto& id : {kept, fresh}) {
    const Json j = finished(id);
    ASSERT_TRUE(j.is_object());
    EXPECT_EQ(j.value("status", ""), "SUCCEEDED") << j.dump(2);
    EXPECT_EQ(j["attempts"].size(), 2u) << j.dump(2);
  }
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + kept + ".out"), "attempt=1\nattempt=2\n");
  EXPECT_EQ(read_file(cluster().work_dir() + "/drover-" + fresh + ".out"), "attempt=2\n");
}

TEST_F(CheckpointTest, BadCheckpointOptionsAreClearErrors) {
  const CliResult sig = cluster().cli("submit", "--signal", "NOPE@3", "--wrap", "true");
  EXPECT_NE(sig.code, 0);
  EXPECT_TRUE(contains(sig.err, "NOPE")) << sig.describe();
  const CliResult secs = cluster().cli("submit", "--checkpoint-signal", "USR1@99999", "--wrap", "true");
  EXPECT_NE(secs.code, 0);
  EXPECT_TRUE(contains(secs.err, "0 to 65535")) << secs.describe();
  // A checkpoint directory the job's user cannot make: the job does not start,
  // and says why.
  write_file(cluster().work_dir() + "/afile", "x");
  const std::string id = cluster().submit({"--checkpoint", "--checkpoint-dir", "afile/ck", "--wrap", "true"});
  const Json j = finished(id);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.value("status", ""), "FAILED");
  EXPECT_TRUE(contains(j.value("statusReason", ""), "cannot create directory " + cluster().work_dir() + "/afile/ck"))
      << j.dump(2);
}

}  // namespace
}  // namespace drover::it

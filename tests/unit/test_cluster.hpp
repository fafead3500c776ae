// Small hand-made clusters for the core, store and sched unit tests: topologies
// built in code (no hwloc), and a builder that changes a ClusterState only
// through events, as the server does.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "core/cluster_state.hpp"

namespace drover {
// Readable gtest messages: "RUNNABLE" instead of "4-byte object <03-00 00-00>".
inline void PrintTo(JobState s, std::ostream* os) { *os << to_string(s); }
inline void PrintTo(NodeState s, std::ostream* os) { *os << to_string(s); }
inline void PrintTo(DependencyType t, std::ostream* os) { *os << to_string(t); }
}  // namespace drover

namespace drover::testing {

// One package; `cores` cores of `smt` hardware threads each, PU OS indexes
// 0..cores*smt-1 in core order, split evenly over `numa` domains; `gpus` GPUs
// in domain 0.
inline NodeTopology make_topology(int cores, int smt = 1, std::int64_t memory_mib = 16384,
                                  int gpus = 0, int numa = 1) {
  NodeTopology t;
  t.packages = 1;
  t.memory_mib = memory_mib;
  for (int d = 0; d < numa; ++d) t.numa.push_back({d, memory_mib / numa, {}});
  int pu = 0;
  for (int c = 0; c < cores; ++c) {
    Core core;
    core.package = 0;
    core.numa = numa > 0 ? c * numa / cores : 0;
    for (int s = 0; s < smt; ++s) {
      core.pus.push_back(pu);
      if (numa > 0) t.numa[core.numa].pus.push_back(pu);
      ++pu;
    }
    t.cores.push_back(std::move(core));
  }
  for (int g = 0; g < gpus; ++g) {
    Gpu gpu;
    gpu.index = g;
    gpu.pci_bus_id = "0000:" + std::to_string(0x41 + g) + ":00.0";
    gpu.vendor = "nvidia";
    gpu.name = "Test GPU";
    gpu.numa = 0;
    t.gpus.push_back(std::move(gpu));
  }
  return t;
}

inline Job make_test_job(std::int64_t id, const std::string& queue = "q", int vcpus = 1,
                         std::int64_t memory_mib = 0, int gpus = 0) {
  Job j;
  j.id = id;
  j.name = "job" + std::to_string(id);
  j.uid = 1000;
  j.gid = 1000;
  j.user = "alice";
  j.queue = queue;
  j.created_at = 1000 + id;
  j.request.vcpus = vcpus;
  j.request.memory_mib = memory_mib;
  j.request.gpus = gpus;
  j.working_dir = "/home/alice";
  j.stdout_path = kDefaultOutputPattern;
  return j;
}

// Job has no operator== (pending_reason is deliberately not part of its
// stored identity); compares every field the codec and the store carry.
inline void expect_same_job(const Job& a, const Job& b) {
  SCOPED_TRACE("job " + std::to_string(a.id));
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.gid, b.gid);
  EXPECT_EQ(a.user, b.user);
  EXPECT_EQ(a.queue, b.queue);
  EXPECT_EQ(a.definition, b.definition);
  EXPECT_EQ(a.definition_revision, b.definition_revision);
  EXPECT_EQ(a.state, b.state);
  EXPECT_EQ(a.status_reason, b.status_reason);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.stopped_at, b.stopped_at);
  EXPECT_EQ(a.request, b.request);
  EXPECT_EQ(a.ntasks, b.ntasks);
  EXPECT_EQ(a.nodes, b.nodes);
  EXPECT_EQ(a.timeout_seconds, b.timeout_seconds);
  EXPECT_EQ(a.retry, b.retry);
  EXPECT_EQ(a.depends_on, b.depends_on);
  EXPECT_EQ(a.depends_any, b.depends_any);
  EXPECT_EQ(a.dependency_ready_s, b.dependency_ready_s);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.working_dir, b.working_dir);
  EXPECT_EQ(a.stdout_path, b.stdout_path);
  EXPECT_EQ(a.stderr_path, b.stderr_path);
  EXPECT_EQ(a.parameters, b.parameters);
  EXPECT_EQ(a.tags, b.tags);
  EXPECT_EQ(a.terminate_requested, b.terminate_requested);
  EXPECT_EQ(a.terminate_reason, b.terminate_reason);
  EXPECT_EQ(a.array_parent, b.array_parent);
  EXPECT_EQ(a.array_index, b.array_index);
  EXPECT_TRUE(a.array == b.array) << "array parts differ";
  EXPECT_TRUE(a.selection == b.selection) << "node selections differ";
  EXPECT_TRUE(a.node_requests == b.node_requests) << "per-node requests differ";
}

// A job that is an array of `ranges`, at most `max_running` tasks at once.
inline Job make_test_array(std::int64_t id, std::vector<IndexRange> ranges, std::int64_t max_running = 0,
                           const std::string& queue = "q", int vcpus = 1) {
  Job j = make_test_job(id, queue, vcpus);
  auto indexes = ArrayIndexes::make(std::move(ranges));
  EXPECT_TRUE(indexes) << indexes.message();
  ArrayInfo info;
  info.indexes = std::move(*indexes);
  info.pending.insert(0, info.indexes.size());
  info.max_running = max_running;
  j.array = Boxed<ArrayInfo>(std::move(info));
  j.stdout_path = kDefaultArrayOutputPattern;
  return j;
}

// Applies events and fails the test when one is refused.
class ClusterBuilder {
 public:
  ClusterState& state() { return state_; }

  void ok(const Event& e) {
    auto s = state_.apply(e);
    ASSERT_TRUE(s) << s.message();
  }
  void node(const std::string& name, NodeTopology t, std::int64_t at = 1, std::vector<std::string> features = {}) {
    ok(NodeConnected{name, std::move(t), at, std::move(features)});
  }
  void env(const std::string& name, std::vector<std::string> nodes, int max_vcpus = 0,
           bool enabled = true) {
    ComputeEnvironment e;
    e.name = name;
    e.nodes = std::move(nodes);
    e.max_vcpus = max_vcpus;
    e.enabled = enabled;
    ok(EnvironmentSaved{e});
  }
  void queue(const std::string& name, std::vector<std::string> envs, int priority = 1,
             bool enabled = true) {
    JobQueue q;
    q.name = name;
    q.compute_environments = std::move(envs);
    q.priority = priority;
    q.enabled = enabled;
    ok(QueueSaved{q});
  }
  // One node "n1" with `cores` single-thread cores, environment "ce", queue "q".
  void simple(int cores = 4, std::int64_t memory_mib = 16384, int gpus = 0) {
    node("n1", make_topology(cores, 1, memory_mib, gpus));
    env("ce", {"n1"});
    queue("q", {"ce"});
  }
  void submit(Job j) { ok(JobSubmitted{std::move(j)}); }
  void submit(std::int64_t id, const std::string& queue = "q", int vcpus = 1,
              std::int64_t memory_mib = 0, int gpus = 0) {
    submit(make_test_job(id, queue, vcpus, memory_mib, gpus));
  }
  void dispatch(std::int64_t id, const std::string& node, std::vector<int> cpus,
                std::vector<int> gpus = {}, std::int64_t at = 0) {
    ok(JobDispatched{id, node, std::move(cpus), std::move(gpus), at, -1, 0, {}});
  }
  // Starts task `index` of array `parent` under the id `task`.
  void dispatch_task(std::int64_t parent, std::int64_t index, std::int64_t task, const std::string& node,
                     std::vector<int> cpus, std::int64_t at = 0) {
    ok(JobDispatched{parent, node, std::move(cpus), {}, at, index, task, {}});
  }
  void start(std::int64_t id, std::int64_t at = 2000) { ok(JobStarted{id, at}); }
  void exit(std::int64_t id, int code, std::int64_t at = 3000, std::string reason = {},
            int signal = 0) {
    ok(JobExited{id, at, code, signal, std::move(reason)});
  }
  // dispatch + start + exit in one go.
  void run(std::int64_t id, int code, const std::string& node = "n1", std::vector<int> cpus = {0}) {
    dispatch(id, node, std::move(cpus));
    start(id);
    exit(id, code);
  }

 private:
  ClusterState state_;
};

}  // namespace drover::testing

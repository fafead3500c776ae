// What a scheduling pass decided, in the shapes the sched unit tests compare.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "sched/scheduler.hpp"

namespace drover::sched::test_support {

using Ids = std::vector<std::int64_t>;

// The jobs started, in the pass's order (an array's task: its array's id).
inline Ids started(const PassResult& r) {
  Ids ids;
  for (const auto& d : r.starts) ids.push_back(d.job_id);
  return ids;
}
// The same, but an array's task as its index.
inline Ids started_tasks(const PassResult& r) {
  Ids ids;
  for (const auto& d : r.starts) ids.push_back(d.array_index >= 0 ? d.array_index : d.job_id);
  return ids;
}
// The wait reasons the pass changed, by job id.
inline std::map<std::int64_t, WaitReason> reasons(const PassResult& r) {
  std::map<std::int64_t, WaitReason> out;
  for (const auto& w : r.reasons) out[w.job_id] = w;
  return out;
}

}  // namespace drover::sched::test_support

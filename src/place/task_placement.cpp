// Per-task placement within a node's plan. Runs once per node when a job is
// launched (not per scheduling pass), so clarity wins over speed here; still a
// few linear passes over the node's cores per task.
#include "place/task_placement.hpp"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <tuple>

namespace drover::place {
namespace {

// The plan's PUs, core by core in the topology's (hwloc logical) order.
struct PlanCore {
  int package = 0;
  int numa = 0;
  int first_pu = -1;          // the core's first PU: locality tests use it
  std::vector<int> free;      // the plan's PUs of this core no task has yet
  bool pristine = true;       // no task has taken any of them
};

class Splitter {
 public:
  Splitter(const NodeTopology& topo, const std::vector<int>& node_cpus) {
    int max_pu = -1;
    for (int pu : node_cpus) max_pu = std::max(max_pu, pu);
    std::vector<bool> in_plan(static_cast<std::size_t>(max_pu + 1), false);
    for (int pu : node_cpus)
      if (pu >= 0) in_plan[static_cast<std::size_t>(pu)] = true;
    for (const auto& c : topo.cores) {
      PlanCore pc;
      pc.package = c.package;
      pc.numa = c.numa;
      pc.first_pu = c.pus.empty() ? -1 : c.pus.front();
      for (int pu : c.pus)
        if (pu >= 0 && pu <= max_pu && in_plan[static_cast<std::size_t>(pu)]) pc.free.push_back(pu);
      if (pc.free.empty()) continue;
      total_ += static_cast<int>(pc.free.size());
      cores_.push_back(std::move(pc));
    }
  }

  int total() const { return total_; }
  const std::vector<PlanCore>& cores() const { return cores_; }

  int free_in(const std::function<bool(const PlanCore&)>& in) const {
    int n = 0;
    for (const auto& c : cores_)
      if (in(c)) n += static_cast<int>(c.free.size());
    return n;
  }

  // Takes up to `need` PUs from the cores `in` selects into `out`; returns how
  // many are still needed. Whole untouched cores that fit first, then the rest
  // of cores other tasks (or this one) already split, then splits a new core:
  // so tasks share a core only when the counts leave no other way.
  // one_core: from a single core only (fcyclic's step).
  int take(const std::function<bool(const PlanCore&)>& in, int need, std::vector<int>& out,
           bool one_core = false) {
    for (int pass = 0; pass < 3; ++pass) {
      for (auto& c : cores_) {
        if (need == 0) return 0;
        if (c.free.empty() || !in(c)) continue;
        const bool fits = c.pristine && static_cast<int>(c.free.size()) <= need;
        if ((pass == 0 && !fits) || (pass == 1 && c.pristine)) continue;
        need -= grab(c, need, out);
        if (one_core) return need;
      }
    }
    return need;
  }

 private:
  static int grab(PlanCore& c, int need, std::vector<int>& out) {
    const int n = std::min(need, static_cast<int>(c.free.size()));
    out.insert(out.end(), c.free.begin(), c.free.begin() + n);
    c.free.erase(c.free.begin(), c.free.begin() + n);
    c.pristine = false;
    return n;
  }

  std::vector<PlanCore> cores_;
  int total_ = 0;
};

// The packages that hold PUs of the plan, ascending.
std::vector<int> plan_packages(const Splitter& s) {
  std::vector<int> out;
  for (const auto& c : s.cores())
    if (std::find(out.begin(), out.end(), c.package) == out.end()) out.push_back(c.package);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::optional<std::vector<TaskPlacement>> place_tasks(const NodeTopology& topo, const std::vector<int>& node_cpus,
                                                      const std::vector<int>& node_gpus,
                                                      const TaskRequest& request) {
  const int tasks = request.tasks;
  const int cpt = request.cpus_per_task;
  const int gpt = request.gpus_per_task;
  if (tasks < 1 || cpt < 1 || gpt < 0) return std::nullopt;
  if (static_cast<std::int64_t>(tasks) * gpt > static_cast<std::int64_t>(node_gpus.size())) return std::nullopt;
  Splitter split(topo, node_cpus);
  if (static_cast<std::int64_t>(tasks) * cpt > split.total()) return std::nullopt;

  std::vector<TaskPlacement> out(static_cast<std::size_t>(tasks));
  auto any = [](const PlanCore&) { return true; };

  if (gpt > 0) {
    // The plan's GPUs grouped by NUMA domain (then index), gpt per task in turn,
    // so a task's GPUs sit together as far as the plan allows.
    std::vector<const Gpu*> gpus;
    for (int idx : node_gpus) {
      auto it = std::find_if(topo.gpus.begin(), topo.gpus.end(), [idx](const Gpu& g) { return g.index == idx; });
      if (it == topo.gpus.end()) return std::nullopt;  // a plan from another topology
      gpus.push_back(&*it);
    }
    std::sort(gpus.begin(), gpus.end(), [](const Gpu* a, const Gpu* b) {
      return std::tuple(a->numa < 0, a->numa, a->index) < std::tuple(b->numa < 0, b->numa, b->index);
    });
    for (int t = 0; t < tasks; ++t) {
      TaskPlacement& task = out[static_cast<std::size_t>(t)];
      std::vector<int> local;     // PUs near the task's GPUs
      std::vector<int> domains;   // their NUMA domains when hwloc gave no PUs
      for (int k = 0; k < gpt; ++k) {
        const Gpu* g = gpus[static_cast<std::size_t>(t * gpt + k)];
        task.gpus.push_back(g->index);
        local.insert(local.end(), g->local_pus.begin(), g->local_pus.end());
        if (g->local_pus.empty() && g->numa >= 0) domains.push_back(g->numa);
      }
      auto near_gpu = [&](int first_pu, int numa) {
        return std::find(local.begin(), local.end(), first_pu) != local.end() ||
               std::find(domains.begin(), domains.end(), numa) != domains.end();
      };
      auto is_local = [&](const PlanCore& c) { return near_gpu(c.first_pu, c.numa); };
      // The GPUs' packages, from the whole node: the plan may hold none of their PUs.
      std::vector<int> packages;
      for (const auto& c : topo.cores)
        if (!c.pus.empty() && near_gpu(c.pus.front(), c.numa) &&
            std::find(packages.begin(), packages.end(), c.package) == packages.end())
          packages.push_back(c.package);
      auto near = [&](const PlanCore& c) {
        return std::find(packages.begin(), packages.end(), c.package) != packages.end();
      };
      int need = split.take(is_local, cpt, task.cpus);
      need = split.take(near, need, task.cpus);
      split.take(any, need, task.cpus);
    }
  } else if (request.distribution == CoreDistribution::Block) {
    for (auto& task : out) split.take(any, cpt, task.cpus);
  } else {
    const std::vector<int> packages = plan_packages(split);
    const auto np = packages.size();
    std::size_t next = 0;  // the socket whose turn it is
    auto in_package = [](int p) { return [p](const PlanCore& c) { return c.package == p; }; };
    for (auto& task : out) {
      if (request.distribution == CoreDistribution::Cyclic) {
        // The next socket in turn that can hold the whole task, else the next
        // with any PU left; the task's PUs stay together.
        std::size_t pick = np;
        for (int pass = 0; pass < 2 && pick == np; ++pass)
          for (std::size_t k = 0; k < np && pick == np; ++k) {
            const std::size_t i = (next + k) % np;
            const int free = split.free_in(in_package(packages[i]));
            if (pass == 0 ? free >= cpt : free > 0) pick = i;
          }
        next = (pick + 1) % np;
        const int need = split.take(in_package(packages[pick]), cpt, task.cpus);
        split.take(any, need, task.cpus);
      } else {
        // FCyclic: a core at a time (whole cores first, as everywhere), each
        // from the next socket in turn that has any PU left.
        int need = cpt;
        while (need > 0) {
          std::size_t j = 0;
          for (; j < np; ++j) {
            const std::size_t i = (next + j) % np;
            if (split.free_in(in_package(packages[i])) == 0) continue;
            need = split.take(in_package(packages[i]), need, task.cpus, true);
            next = (i + 1) % np;
            break;
          }
          if (j == np) break;  // cannot happen: totals checked
        }
      }
    }
  }
  for (auto& task : out) {
    if (static_cast<int>(task.cpus.size()) != cpt) return std::nullopt;  // cannot happen: totals checked
    std::sort(task.cpus.begin(), task.cpus.end());
    std::sort(task.gpus.begin(), task.gpus.end());
  }
  return out;
}

}  // namespace drover::place

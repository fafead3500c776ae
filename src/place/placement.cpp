// Placement on one node. Runs for every job the scheduler considers, so it
// works in a few linear passes over the node's cores and GPUs with a handful of
// small vectors; no search over combinations. Deterministic: ties always go to
// the lowest index, so the same node and request give the same plan.
#include "place/placement.hpp"

#include <algorithm>
#include <span>
#include <cstddef>
#include <tuple>
#include <utility>

namespace drover::place {
namespace {

// Counts per core, NUMA domain or package: on the stack for nodes of usual
// size (placement runs for every job a scheduling pass looks at, and three
// heap allocations per call were a large part of a pass), on the heap beyond.
class Counts {
 public:
  Counts() = default;
  Counts(const Counts&) = delete;
  Counts& operator=(const Counts&) = delete;
  void assign(std::size_t n) {
    if (n > kInline) {
      heap_.assign(n, 0);
      data_ = heap_.data();
    } else {
      std::fill(inline_, inline_ + n, 0);
    }
    size_ = n;
  }
  int& operator[](std::size_t i) { return data_[i]; }
  int operator[](std::size_t i) const { return data_[i]; }
  std::size_t size() const { return size_; }
  std::span<const int> view() const { return {data_, size_}; }

 private:
  static constexpr std::size_t kInline = 256;
  int inline_[kInline];
  std::vector<int> heap_;
  int* data_ = inline_;
  std::size_t size_ = 0;
};

// What is free on the node now, precomputed once per call.
class FreeView {
 public:
  FreeView(const NodeTopology& topo, const NodeUse& use) : use_(use), topo_(topo) {
    core_free_.assign(topo_.cores.size());
    int domains = static_cast<int>(topo_.numa.size());
    int packages = topo_.packages;
    for (const auto& c : topo_.cores) {
      domains = std::max(domains, c.numa + 1);
      packages = std::max(packages, c.package + 1);
    }
    domain_free_.assign(static_cast<std::size_t>(std::max(domains, 0)));
    package_free_.assign(static_cast<std::size_t>(std::max(packages, 0)));
    for (std::size_t i = 0; i < topo_.cores.size(); ++i) {
      const Core& c = topo_.cores[i];
      int f = 0;
      for (int pu : c.pus) f += pu_free(pu) ? 1 : 0;
      core_free_[i] = f;
      total_free_ += f;
      if (c.numa >= 0) domain_free_[c.numa] += f;
      if (c.package >= 0) package_free_[c.package] += f;
    }
  }

  // pu_used may be shorter than the highest PU index: missing entries are free.
  bool pu_free(int pu) const {
    if (pu < 0) return false;
    auto i = static_cast<std::size_t>(pu);
    return i >= use_.pu_used.size() || !use_.pu_used[i];
  }
  bool gpu_free(const Gpu& g) const {
    if (g.index < 0) return false;
    auto i = static_cast<std::size_t>(g.index);
    return i >= use_.gpu_used.size() || !use_.gpu_used[i];
  }

  const NodeTopology& topology() const { return topo_; }
  // Memory NUMA domain i has left (its recorded size less what jobs hold there); 0 when not recorded.
  std::int64_t domain_memory_left(std::size_t i) const {
    if (i >= topo_.numa.size()) return 0;
    const auto* used = use_.numa_memory_used_mib;
    const std::int64_t u = used && i < used->size() ? (*used)[i] : 0;
    return std::max<std::int64_t>(0, topo_.numa[i].memory_mib - u);
  }
  int core_free(std::size_t core) const { return core_free_[core]; }
  int total_free() const { return total_free_; }
  std::span<const int> domain_free() const { return domain_free_.view(); }
  std::span<const int> package_free() const { return package_free_.view(); }

 private:
  const NodeUse& use_;
  const NodeTopology& topo_;
  Counts core_free_;
  Counts domain_free_;
  Counts package_free_;
  int total_free_ = 0;
};

// Takes up to `need` free PUs from the cores `in(core)` selects and returns how
// many are still needed. Fully free cores go first, all their threads at once,
// so a job shares a core (and its caches and pipelines) with another job only
// when no whole core is left; spare threads of partly used cores come second.
// Callers pass disjoint core sets, so no PU is taken twice.
template <class Pred>
int take_pus(const FreeView& view, Pred in, int need, std::vector<int>& out) {
  const auto& cores = view.topology().cores;
  for (int pass = 0; pass < 2 && need > 0; ++pass) {
    for (std::size_t i = 0; i < cores.size() && need > 0; ++i) {
      const Core& c = cores[i];
      int f = view.core_free(i);
      bool whole = f > 0 && f == static_cast<int>(c.pus.size());
      if (f == 0 || (pass == 0) != whole || !in(c)) continue;
      for (int pu : c.pus) {
        if (need == 0) break;
        if (!view.pu_free(pu)) continue;
        out.push_back(pu);
        --need;
      }
    }
  }
  return need;
}

// Index of the smallest count that is still >= need (best fit), -1 if none.
int best_fit(std::span<const int> free, int need) {
  int best = -1;
  for (std::size_t i = 0; i < free.size(); ++i) {
    if (free[i] < need) continue;
    if (best < 0 || free[i] < free[best]) best = static_cast<int>(i);
  }
  return best;
}

// Spreads `need` PUs over the NUMA domains of one package (package >= 0) or of
// the whole node (package < 0), emptying the domain with the most free PUs
// first so the job touches as few domains as possible.
void spill(const FreeView& view, int package, int need, std::vector<int>& out) {
  const auto& cores = view.topology().cores;
  std::vector<int> free(view.domain_free().size(), 0);
  for (std::size_t i = 0; i < cores.size(); ++i) {
    const Core& c = cores[i];
    if (c.numa < 0 || (package >= 0 && c.package != package)) continue;
    free[c.numa] += view.core_free(i);
  }
  while (need > 0) {
    int d = -1;
    for (std::size_t i = 0; i < free.size(); ++i) {
      if (free[i] > 0 && (d < 0 || free[i] > free[d])) d = static_cast<int>(i);
    }
    if (d < 0) break;  // callers checked the totals; defensive only
    need = take_pus(
        view, [&](const Core& c) { return c.numa == d && (package < 0 || c.package == package); },
        need, out);
    free[d] = 0;
  }
  // Cores without a NUMA domain (malformed topology) as a last resort.
  if (need > 0) {
    take_pus(view, [&](const Core& c) { return c.numa < 0 && (package < 0 || c.package == package); },
             need, out);
  }
}

void place_cpus(const FreeView& view, int need, std::int64_t memory_mib, std::vector<int>& out) {
  int d = best_fit(view.domain_free(), need);
  // Memory per NUMA domain: where the topology records it, prefer a domain whose
  // memory left (other jobs' counted) holds the job's, so that its memory can be
  // local too (the agent binds it to its PUs' domains, place/memory_nodes).
  // Otherwise the best fit by PUs.
  const auto& numa = view.topology().numa;
  auto small = [&](int i) {
    return memory_mib > 0 && static_cast<std::size_t>(i) < numa.size() && numa[i].memory_mib > 0 &&
           view.domain_memory_left(static_cast<std::size_t>(i)) < memory_mib;
  };
  if (d >= 0 && small(d)) {
    Counts roomy;
    roomy.assign(view.domain_free().size());
    for (std::size_t i = 0; i < roomy.size(); ++i) roomy[i] = small(static_cast<int>(i)) ? 0 : view.domain_free()[i];
    if (const int r = best_fit(roomy.view(), need); r >= 0) d = r;
  }
  if (d >= 0) {
    take_pus(view, [d](const Core& c) { return c.numa == d; }, need, out);
    return;
  }
  // No single domain fits: stay within one package if one can hold the job.
  spill(view, best_fit(view.package_free(), need), need, out);
}

// Package a GPU sits in: the one package all its local PUs (or its domain's
// PUs) belong to, -1 when they span several (a device at the machine root).
int gpu_package(const NodeTopology& topo, const std::vector<int>& package_of_pu, const Gpu& g) {
  const std::vector<int>* pus = &g.local_pus;
  if (pus->empty() && g.numa >= 0 && static_cast<std::size_t>(g.numa) < topo.numa.size()) {
    pus = &topo.numa[g.numa].pus;
  }
  int package = -1;
  for (int pu : *pus) {
    if (pu < 0 || static_cast<std::size_t>(pu) >= package_of_pu.size()) continue;
    int p = package_of_pu[static_cast<std::size_t>(pu)];
    if (p < 0) continue;
    if (package >= 0 && p != package) return -1;
    package = p;
  }
  return package;
}

struct GpuSlot {
  const Gpu* gpu;
  int package;
};

// Picks `count` free GPUs: all in the NUMA domain that fits best (fewest free
// GPUs, then fewest free PUs, that still hold the job), else all in the
// package that fits best, else grouped by package and domain as far as they go.
std::vector<const Gpu*> choose_gpus(const FreeView& view, const std::vector<GpuSlot>& free_gpus,
                                    int count, int vcpus) {
  std::vector<const Gpu*> chosen;
  chosen.reserve(static_cast<std::size_t>(count));

  auto pick_group = [&](std::span<const int> pus_free, auto key_of) -> bool {
    std::vector<int> gpus_free(pus_free.size(), 0);
    for (const auto& s : free_gpus) {
      int k = key_of(s);
      if (k >= 0 && static_cast<std::size_t>(k) < gpus_free.size()) ++gpus_free[k];
    }
    int best = -1;
    for (std::size_t i = 0; i < gpus_free.size(); ++i) {
      if (gpus_free[i] < count || pus_free[i] < vcpus) continue;
      if (best < 0 || gpus_free[i] < gpus_free[best] ||
          (gpus_free[i] == gpus_free[best] && pus_free[i] < pus_free[best])) {
        best = static_cast<int>(i);
      }
    }
    if (best < 0) return false;
    for (const auto& s : free_gpus) {
      if (static_cast<int>(chosen.size()) == count) break;
      if (key_of(s) == best) chosen.push_back(s.gpu);
    }
    return true;
  };

  if (pick_group(view.domain_free(), [](const GpuSlot& s) { return s.gpu->numa; })) return chosen;
  if (pick_group(view.package_free(), [](const GpuSlot& s) { return s.package; })) return chosen;

  // Split across packages: keep GPUs together by preferring the packages and
  // domains with the most free GPUs; unknown locality (-1) goes last.
  auto count_where = [&](auto same) {
    int n = 0;
    for (const auto& s : free_gpus) n += same(s) ? 1 : 0;
    return n;
  };
  using Rank = std::tuple<int, bool, int, int, bool, int, int>;
  std::vector<std::pair<Rank, const Gpu*>> order;
  order.reserve(free_gpus.size());
  for (const auto& s : free_gpus) {
    int in_package =
        s.package < 0 ? 0 : count_where([&](const GpuSlot& o) { return o.package == s.package; });
    int in_domain = s.gpu->numa < 0
                        ? 0
                        : count_where([&](const GpuSlot& o) { return o.gpu->numa == s.gpu->numa; });
    order.push_back({Rank{-in_package, s.package < 0, s.package, -in_domain, s.gpu->numa < 0,
                          s.gpu->numa, s.gpu->index},
                     s.gpu});
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (int i = 0; i < count; ++i) chosen.push_back(order[static_cast<std::size_t>(i)].second);
  return chosen;
}

// PUs for a GPU job: the chosen GPUs' local PUs, then the rest of their
// packages, then anything, so that host-device copies stay off the
// inter-socket link as far as the free PUs allow.
void place_cpus_near(const FreeView& view, const std::vector<const Gpu*>& gpus,
                     const std::vector<int>& gpu_packages, int need,
                     std::vector<int>& out) {
  // A mask by PU index rather than searching each GPU's list per core: the
  // lists come from hwloc sorted, but a Node decoded elsewhere need not be.
  int max_pu = -1;
  for (const auto& c : view.topology().cores) {
    for (int pu : c.pus) max_pu = std::max(max_pu, pu);
  }
  std::vector<bool> local_mask(static_cast<std::size_t>(max_pu + 1), false);
  for (const Gpu* g : gpus) {
    for (int pu : g->local_pus) {
      if (pu >= 0 && pu <= max_pu) local_mask[static_cast<std::size_t>(pu)] = true;
    }
  }
  auto local = [&](const Core& c) {
    return !c.pus.empty() && c.pus.front() >= 0 &&
           local_mask[static_cast<std::size_t>(c.pus.front())];
  };
  auto near = [&](const Core& c) {
    return std::find(gpu_packages.begin(), gpu_packages.end(), c.package) != gpu_packages.end();
  };
  need = take_pus(view, local, need, out);
  need = take_pus(view, [&](const Core& c) { return !local(c) && near(c); }, need, out);
  take_pus(view, [&](const Core& c) { return !local(c) && !near(c); }, need, out);
}

}  // namespace

std::optional<PlacementPlan> place_on_node(const Node& node, const Resources& request) {
  return place_on_node(node.topology, {node.pu_used, node.gpu_used, node.memory_used_mib, &node.numa_memory_used_mib},
                       request);
}

std::optional<PlacementPlan> place_on_node(const Node& node, const Resources& request, const TaskRequest& tasks) {
  auto plan = place_on_node(node, request);
  if (!plan) return std::nullopt;
  auto split = place_tasks(node.topology, plan->cpus, plan->gpus, tasks);
  if (!split) return std::nullopt;
  plan->tasks = std::move(*split);
  return plan;
}

std::optional<PlacementPlan> place_on_node(const NodeTopology& topo, const NodeUse& use, const Resources& request) {
  if (request.vcpus < 1 || request.gpus < 0 || request.memory_mib < 0) return std::nullopt;
  if (request.memory_mib > topo.memory_mib - use.memory_used_mib) return std::nullopt;
  if (request.vcpus > topo.pu_count()) return std::nullopt;
  if (request.gpus > static_cast<int>(topo.gpus.size())) return std::nullopt;

  FreeView view(topo, use);
  if (view.total_free() < request.vcpus) return std::nullopt;

  PlacementPlan plan;
  plan.cpus.reserve(static_cast<std::size_t>(request.vcpus));

  if (request.gpus == 0) {
    place_cpus(view, request.vcpus, request.memory_mib, plan.cpus);
  } else {
    std::vector<int> package_of_pu;
    for (const auto& c : topo.cores) {
      for (int pu : c.pus) {
        if (pu < 0) continue;
        auto i = static_cast<std::size_t>(pu);
        if (i >= package_of_pu.size()) package_of_pu.resize(i + 1, -1);
        package_of_pu[i] = c.package;
      }
    }
    std::vector<GpuSlot> free_gpus;
    free_gpus.reserve(topo.gpus.size());
    for (const auto& g : topo.gpus) {
      if (view.gpu_free(g)) free_gpus.push_back({&g, gpu_package(topo, package_of_pu, g)});
    }
    if (static_cast<int>(free_gpus.size()) < request.gpus) return std::nullopt;
    // Lowest index first within every group the choice below forms.
    std::sort(free_gpus.begin(), free_gpus.end(),
              [](const GpuSlot& a, const GpuSlot& b) { return a.gpu->index < b.gpu->index; });

    auto gpus = choose_gpus(view, free_gpus, request.gpus, request.vcpus);
    std::vector<int> packages;
    for (const Gpu* g : gpus) {
      plan.gpus.push_back(g->index);
      int p = -1;
      for (const auto& s : free_gpus) {
        if (s.gpu == g) p = s.package;
      }
      if (p >= 0 && std::find(packages.begin(), packages.end(), p) == packages.end()) {
        packages.push_back(p);
      }
    }
    place_cpus_near(view, gpus, packages, request.vcpus, plan.cpus);
  }

  // Cannot happen with a topology from discovery (the totals were checked);
  // guards hand-made ones, which must not turn into an under-sized binding.
  if (static_cast<int>(plan.cpus.size()) != request.vcpus) return std::nullopt;
  std::sort(plan.cpus.begin(), plan.cpus.end());
  std::sort(plan.gpus.begin(), plan.gpus.end());
  return plan;
}

bool could_ever_fit(const NodeTopology& topology, const Resources& request) {
  if (request.vcpus < 1 || request.gpus < 0 || request.memory_mib < 0) return false;
  return request.vcpus <= topology.pu_count() &&
         request.gpus <= static_cast<int>(topology.gpus.size()) &&
         request.memory_mib <= topology.memory_mib;
}

}  // namespace drover::place

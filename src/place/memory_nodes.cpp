#include "place/memory_nodes.hpp"

#include <algorithm>

namespace drover::place {

namespace {

bool holds_any(const NumaDomain& d, const std::vector<int>& cpus) {
  return std::any_of(d.pus.begin(), d.pus.end(),
                     [&](int pu) { return std::find(cpus.begin(), cpus.end(), pu) != cpus.end(); });
}

// What domain i has left once the other jobs' memory is counted.
std::int64_t left_in(const NodeTopology& topology, const std::vector<std::int64_t>& used, std::size_t i) {
  const std::int64_t u = i < used.size() ? used[i] : 0;
  return std::max<std::int64_t>(0, topology.numa[i].memory_mib - u);
}

bool sizes_known(const NodeTopology& topology) {
  return !topology.numa.empty() && std::all_of(topology.numa.begin(), topology.numa.end(),
                                               [](const NumaDomain& d) { return d.memory_mib > 0; });
}

}  // namespace

std::vector<int> memory_nodes(const NodeTopology& topology, const std::vector<int>& cpus,
                              std::int64_t memory_mib, const std::vector<std::int64_t>& used_by_domain) {
  const auto& numa = topology.numa;
  auto holds = [&](const NumaDomain& d) { return holds_any(d, cpus); };
  std::vector<bool> chosen(numa.size(), false);
  std::int64_t memory = 0;
  bool any = false;
  for (std::size_t i = 0; i < numa.size(); ++i) {
    if (!holds(numa[i])) continue;
    chosen[i] = any = true;
    memory += left_in(topology, used_by_domain, i);
  }
  if (!any) return {};

  if (sizes_known(topology) && memory < memory_mib) {
    // Packages of the chosen domains, through their PUs' cores.
    std::vector<int> packages;
    auto package_of = [&](const NumaDomain& d) {
      std::vector<int> out;
      for (const Core& c : topology.cores)
        for (int pu : c.pus)
          if (std::find(d.pus.begin(), d.pus.end(), pu) != d.pus.end()) out.push_back(c.package);
      return out;
    };
    for (std::size_t i = 0; i < numa.size(); ++i)
      if (chosen[i])
        for (int p : package_of(numa[i])) packages.push_back(p);
    auto near = [&](const NumaDomain& d) {
      for (int p : package_of(d))
        if (std::find(packages.begin(), packages.end(), p) != packages.end()) return true;
      return false;
    };
    for (int pass = 0; pass < 2 && memory < memory_mib; ++pass) {
      for (std::size_t i = 0; i < numa.size() && memory < memory_mib; ++i) {
        if (chosen[i] || (pass == 0 && !near(numa[i]))) continue;
        if (left_in(topology, used_by_domain, i) == 0) continue;  // full: no help
        chosen[i] = true;
        memory += left_in(topology, used_by_domain, i);
      }
    }
  }
  std::vector<int> out;
  for (std::size_t i = 0; i < numa.size(); ++i)
    if (chosen[i]) out.push_back(numa[i].os_index);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::int64_t> memory_share(const NodeTopology& topology, const std::vector<int>& cpus,
                                       const std::vector<int>& mems, std::int64_t memory_mib,
                                       const std::vector<std::int64_t>& used_by_domain) {
  const auto& numa = topology.numa;
  if (mems.empty() || !sizes_known(topology)) return {};
  std::vector<std::int64_t> share(numa.size(), 0);
  std::vector<std::size_t> own, others;
  for (std::size_t i = 0; i < numa.size(); ++i) {
    if (std::find(mems.begin(), mems.end(), numa[i].os_index) == mems.end()) continue;
    (holds_any(numa[i], cpus) ? own : others).push_back(i);
  }
  if (own.empty() && others.empty()) return {};
  std::int64_t rest = std::max<std::int64_t>(0, memory_mib);
  // Evenly over its own domains, each up to what it has left: a domain with less
  // than its part gives the difference to the others.
  std::vector<std::size_t> open = own;
  while (rest > 0 && !open.empty()) {
    const auto n = static_cast<std::int64_t>(open.size());
    std::vector<std::size_t> still;
    std::int64_t placed = 0;
    for (std::size_t k = 0; k < open.size(); ++k) {
      const std::size_t i = open[k];
      const std::int64_t part = rest / n + (static_cast<std::int64_t>(k) < rest % n ? 1 : 0);
      const std::int64_t room = left_in(topology, used_by_domain, i) - share[i];
      const std::int64_t take = std::min(part, room);
      share[i] += take;
      placed += take;
      if (take == part && room > take) still.push_back(i);
    }
    rest -= placed;
    if (placed == 0) break;
    open = std::move(still);
  }
  for (std::size_t i : others) {
    const std::int64_t take = std::min(rest, left_in(topology, used_by_domain, i));
    share[i] += take;
    rest -= take;
  }
  if (rest > 0) share[own.empty() ? others.front() : own.front()] += rest;
  return share;
}

}  // namespace drover::place

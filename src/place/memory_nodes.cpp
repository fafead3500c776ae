#include "place/memory_nodes.hpp"

#include <algorithm>

namespace drover::place {

std::vector<int> memory_nodes(const NodeTopology& topology, const std::vector<int>& cpus,
                              std::int64_t memory_mib) {
  const auto& numa = topology.numa;
  auto holds_any = [&](const NumaDomain& d) {
    return std::any_of(d.pus.begin(), d.pus.end(), [&](int pu) {
      return std::find(cpus.begin(), cpus.end(), pu) != cpus.end();
    });
  };
  std::vector<bool> chosen(numa.size(), false);
  std::int64_t memory = 0;
  bool any = false;
  for (std::size_t i = 0; i < numa.size(); ++i) {
    if (!holds_any(numa[i])) continue;
    chosen[i] = any = true;
    memory += numa[i].memory_mib;
  }
  if (!any) return {};

  const bool sizes_known = std::all_of(numa.begin(), numa.end(), [](const NumaDomain& d) { return d.memory_mib > 0; });
  if (sizes_known && memory < memory_mib) {
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
        chosen[i] = true;
        memory += numa[i].memory_mib;
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

}  // namespace drover::place

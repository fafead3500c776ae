#include "core/task_distribution.hpp"

#include <cctype>

namespace drover {

const char* to_string(NodeDistribution d) { return d == NodeDistribution::Cyclic ? "cyclic" : "block"; }

const char* to_string(CoreDistribution d) {
  switch (d) {
    case CoreDistribution::Block: return "block";
    case CoreDistribution::Cyclic: return "cyclic";
    case CoreDistribution::FCyclic: return "fcyclic";
  }
  return "block";
}

std::string to_string(TaskDistribution d) {
  return std::string(to_string(d.nodes)) + ":" + to_string(d.cores);
}

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr const char* kExample = "give NODES[:CORES] with block, cyclic or * (cores also fcyclic), e.g. cyclic or block:cyclic";

}  // namespace

Result<TaskDistribution> parse_distribution(std::string_view text) {
  const std::string t = lower(text);
  if (t.empty()) return Error{"empty; " + std::string(kExample)};
  if (const auto comma = t.find(','); comma != std::string::npos) {
    const std::string opt = t.substr(comma + 1);
    if (opt == "pack" || opt == "nopack")
      return Error{"'," + std::string(text.substr(comma + 1)) +
                   "' is not supported: every node of a Drover job runs the same number of tasks; drop it"};
    return Error{"'" + std::string(text) + "': " + kExample};
  }
  if (t.rfind("plane", 0) == 0)
    return Error{"plane is not supported; use block or cyclic, e.g. --ntasks-per-node with -m block"};
  if (t.rfind("arbitrary", 0) == 0)
    return Error{"arbitrary is not supported (it needs SLURM_HOSTFILE); use block or cyclic"};
  TaskDistribution d;
  std::size_t start = 0;
  for (int level = 0; level < 3; ++level) {
    const auto colon = t.find(':', start);
    const std::string part = t.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (level == 0) {
      if (part == "cyclic") d.nodes = NodeDistribution::Cyclic;
      else if (part != "block" && part != "*") return Error{"'" + part + "' for nodes: " + kExample};
    } else if (level == 1) {
      if (part == "cyclic") d.cores = CoreDistribution::Cyclic;
      else if (part == "fcyclic") d.cores = CoreDistribution::FCyclic;
      else if (part != "block" && part != "*") return Error{"'" + part + "' for cores: " + kExample};
    } else if (part != "*" && part != "block") {
      return Error{"a third level ('" + part +
                   "', threads within cores) is not supported: tasks take whole cores first; drop it"};
    }
    if (colon == std::string::npos) return d;
    start = colon + 1;
  }
  return Error{"'" + std::string(text) + "': at most three levels; " + kExample};
}

}  // namespace drover

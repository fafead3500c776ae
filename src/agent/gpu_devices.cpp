#include "agent/gpu_devices.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/syscall.hpp"

namespace drover::agent {
namespace {

constexpr unsigned kNvidiaMajor = 195;

std::string read_small(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "Device Minor: 3" in the NVIDIA driver's per-GPU information file; -1 without one.
int nvidia_minor(const std::string& information) {
  const std::string key = "Device Minor:";
  const std::size_t at = information.find(key);
  if (at == std::string::npos) return -1;
  char* end = nullptr;
  const long minor = std::strtol(information.c_str() + at + key.size(), &end, 10);
  if (end == information.c_str() + at + key.size() || minor < 0 || minor > 254) return -1;
  return static_cast<int>(minor);
}

// "226:128\n" -> rule for c 226:128.
bool parse_dev_numbers(const std::string& text, DeviceRule& rule) {
  unsigned major = 0, minor = 0;
  char colon = 0;
  std::istringstream in(text);
  if (!(in >> major >> colon >> minor) || colon != ':') return false;
  rule.major = major;
  rule.minor = minor;
  return true;
}

}  // namespace

std::vector<GpuDeviceFiles> find_gpu_device_files(const NodeTopology& topology,
                                                  const DeviceRoots& roots,
                                                  std::vector<std::string>* missing) {
  namespace fs = std::filesystem;
  std::vector<GpuDeviceFiles> result;
  for (const Gpu& gpu : topology.gpus) {
    GpuDeviceFiles entry;
    entry.gpu = gpu.index;
    if (gpu.vendor == "nvidia") {
      const int minor =
          nvidia_minor(read_small(roots.proc + "/driver/nvidia/gpus/" + gpu.pci_bus_id + "/information"));
      if (minor >= 0)
        entry.files.push_back({'c', kNvidiaMajor, static_cast<unsigned>(minor),
                               roots.dev + "/nvidia" + std::to_string(minor)});
    }
    // DRM nodes (AMD and Intel always; NVIDIA with nvidia-drm loaded).
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(roots.sys + "/bus/pci/devices/" + gpu.pci_bus_id + "/drm", ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("card", 0) == 0 || name.rfind("renderD", 0) == 0) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
      DeviceRule rule{'c', 0, 0, roots.dev + "/dri/" + name};
      const std::string dev_file = roots.sys + "/bus/pci/devices/" + gpu.pci_bus_id + "/drm/" + name + "/dev";
      if (parse_dev_numbers(read_small(dev_file), rule)) entry.files.push_back(std::move(rule));
    }
    if (entry.files.empty() && missing)
      missing->push_back("GPU " + std::to_string(gpu.index) + " (" + gpu.pci_bus_id + ")");
    result.push_back(std::move(entry));
  }
  return result;
}

Result<std::vector<GpuDeviceFiles>> parse_gpu_devices_option(const std::string& text, int gpu_count) {
  std::vector<GpuDeviceFiles> result;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t end = text.find(',', pos);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) {
      if (end == text.size()) break;
      continue;
    }
    const std::string what = "gpu-devices entry \"" + item + "\"";
    const std::size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
      return make_error(what, "expected GPU=FILE[+FILE...], e.g. 0=/dev/nvidia0");
    char* num_end = nullptr;
    const long gpu = std::strtol(item.c_str(), &num_end, 10);
    if (num_end != item.c_str() + eq || gpu < 0)
      return make_error(what, "\"" + item.substr(0, eq) + "\" is not a GPU index");
    if (gpu >= gpu_count)
      return make_error(what, "this node has " + std::to_string(gpu_count) + " GPUs (0.." +
                                  std::to_string(gpu_count - 1) + ")");
    GpuDeviceFiles entry;
    entry.gpu = static_cast<int>(gpu);
    std::size_t fpos = eq + 1;
    while (fpos <= item.size()) {
      std::size_t fend = item.find('+', fpos);
      if (fend == std::string::npos) fend = item.size();
      const std::string path = item.substr(fpos, fend - fpos);
      fpos = fend + 1;
      if (path.empty()) continue;
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) return make_error(what, path + ": " + errno_text(errno));
      if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return make_error(what, path + " is not a device file");
      entry.files.push_back({S_ISCHR(st.st_mode) ? 'c' : 'b', ::major(st.st_rdev), ::minor(st.st_rdev), path});
    }
    auto same = std::find_if(result.begin(), result.end(), [&](const auto& g) { return g.gpu == entry.gpu; });
    if (same != result.end())
      return make_error(what, "GPU " + std::to_string(gpu) + " is named twice");
    result.push_back(std::move(entry));
  }
  return result;
}

std::vector<DeviceRule> denied_device_files(const std::vector<GpuDeviceFiles>& gpus,
                                            const std::vector<int>& job_gpus) {
  auto own = [&](int gpu) { return std::find(job_gpus.begin(), job_gpus.end(), gpu) != job_gpus.end(); };
  auto same_numbers = [](const DeviceRule& a, const DeviceRule& b) {
    return a.type == b.type && a.major == b.major && a.minor == b.minor;
  };
  std::vector<DeviceRule> allowed;
  for (const auto& g : gpus)
    if (own(g.gpu)) allowed.insert(allowed.end(), g.files.begin(), g.files.end());
  std::vector<DeviceRule> denied;
  for (const auto& g : gpus) {
    if (own(g.gpu)) continue;
    for (const auto& f : g.files) {
      auto match = [&](const DeviceRule& x) { return same_numbers(x, f); };
      if (std::any_of(allowed.begin(), allowed.end(), match)) continue;
      if (std::any_of(denied.begin(), denied.end(), match)) continue;
      denied.push_back(f);
    }
  }
  return denied;
}

}  // namespace drover::agent

// Which device files belong to which GPU of this node, and which of them a job
// may not open. A job given GPUs 1,2 is denied the device files of every other
// GPU of the node; a job without GPUs is denied all of them. Files that every
// GPU job shares and that give no GPU by themselves (/dev/nvidiactl,
// /dev/nvidia-uvm, /dev/kfd) are never denied.
#pragma once

#include <string>
#include <vector>

#include "agent/cgroup.hpp"
#include "core/result.hpp"
#include "core/topology.hpp"

namespace drover::agent {

// The device files of one GPU (Gpu::index).
struct GpuDeviceFiles {
  int gpu = 0;
  std::vector<DeviceRule> files;
  bool operator==(const GpuDeviceFiles&) const = default;
};

// Where the kernel's files are; tests point these at a fake tree.
struct DeviceRoots {
  std::string sys = "/sys";
  std::string proc = "/proc";
  std::string dev = "/dev";
};

// Finds each GPU's device files from its PCI bus id:
//  - NVIDIA: /proc/driver/nvidia/gpus/<bus id>/information "Device Minor: N"
//    -> /dev/nvidiaN, c 195:N (the minor need not equal the CUDA index);
//  - every vendor: the DRM nodes in /sys/bus/pci/devices/<bus id>/drm/
//    (card*, renderD*) -> /dev/dri/<name>, major:minor from their "dev" file.
// A GPU whose files cannot be found (driver not loaded, or a topology read from
// an XML file) gets none; `missing` then names it, for the agent's log.
std::vector<GpuDeviceFiles> find_gpu_device_files(const NodeTopology& topology,
                                                  const DeviceRoots& roots,
                                                  std::vector<std::string>* missing = nullptr);

// Parses the agent's `gpu-devices` option, "0=/dev/nvidia0,1=/dev/nvidia1+/dev/dri/renderD129"
// (GPU index = device files joined by '+'), stat-ing each file for its type and
// numbers. For sites whose files the lookup above does not find, and for tests.
// Errors name the entry, e.g. "gpu-devices entry \"0=/dev/nope\": /dev/nope: No such
// file or directory".
Result<std::vector<GpuDeviceFiles>> parse_gpu_devices_option(const std::string& text,
                                                             int gpu_count);

// The device files a job given `job_gpus` (Gpu::index values) may not open: those
// of every other GPU, except files one of its own GPUs also has. Pure.
std::vector<DeviceRule> denied_device_files(const std::vector<GpuDeviceFiles>& gpus,
                                            const std::vector<int>& job_gpus);

}  // namespace drover::agent

// hwloc -> NodeTopology. The only file in Drover that includes hwloc.h, so the
// rest of the code (and the head node) never depends on hwloc's object model.
#include "place/discovery.hpp"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <tuple>
#include <utility>

namespace drover::place {
namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

// Owns an hwloc topology so that every return path destroys it.
class TopologyHandle {
 public:
  TopologyHandle() = default;
  TopologyHandle(const TopologyHandle&) = delete;
  TopologyHandle& operator=(const TopologyHandle&) = delete;
  ~TopologyHandle() {
    if (initialized_) hwloc_topology_destroy(topo_);
  }
  int init() {
    int rc = hwloc_topology_init(&topo_);
    initialized_ = rc == 0;
    return rc;
  }
  hwloc_topology_t get() const { return topo_; }

 private:
  hwloc_topology_t topo_ = nullptr;
  bool initialized_ = false;
};

std::string errno_text(int err) {
  return err != 0 ? std::strerror(err) : "unknown error";
}

template <class F>
void for_each_index(hwloc_const_bitmap_t set, F&& f) {
  if (set == nullptr) return;
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) f(i);
}

std::vector<int> pu_os_indexes(hwloc_topology_t topo, hwloc_const_cpuset_t cpuset) {
  // Only PUs that exist in the loaded topology: a cpuset may carry bits of
  // disallowed or offline processors.
  std::vector<int> pus;
  if (cpuset == nullptr) return pus;
  hwloc_obj_t pu = nullptr;
  while ((pu = hwloc_get_next_obj_inside_cpuset_by_type(topo, cpuset, HWLOC_OBJ_PU, pu)) !=
         nullptr) {
    pus.push_back(static_cast<int>(pu->os_index));
  }
  std::sort(pus.begin(), pus.end());
  return pus;
}

// Vendors whose display controllers are emulated or management adapters (QEMU
// stdvga, Cirrus, virtio-gpu, VMware SVGA, Matrox and ASPEED BMC VGA): never a
// GPU a job could ask for.
bool is_virtual_display_vendor(unsigned vendor) {
  switch (vendor) {
    case 0x1234: case 0x1013: case 0x1af4: case 0x15ad: case 0x102b: case 0x1a03:
      return true;
    default:
      return false;
  }
}

constexpr unsigned kVendorNvidia = 0x10de;
constexpr unsigned kVendorAmd = 0x1002;
constexpr unsigned kVendorIntel = 0x8086;

// OS devices made by hwloc's GPU compute plugins. Linux DRM devices ("card0",
// "renderD128") are left out on purpose: every display adapter, virtual ones
// included, has them.
bool is_compute_osdev(hwloc_obj_t osdev) {
  if (osdev->type != HWLOC_OBJ_OS_DEVICE) return false;
  if (osdev->attr->osdev.type != HWLOC_OBJ_OSDEV_GPU &&
      osdev->attr->osdev.type != HWLOC_OBJ_OSDEV_COPROC) {
    return false;
  }
  static constexpr std::string_view kBackends[] = {"CUDA", "NVML", "RSMI", "OpenCL",
                                                   "LevelZero"};
  static constexpr std::string_view kNamePrefixes[] = {"cuda", "nvml", "rsmi", "opencl", "ze"};
  if (osdev->subtype != nullptr) {
    std::string_view subtype = osdev->subtype;
    for (auto b : kBackends) {
      if (subtype == b) return true;
    }
  }
  if (osdev->name != nullptr) {
    std::string_view name = osdev->name;
    for (auto p : kNamePrefixes) {
      if (name.starts_with(p)) return true;
    }
  }
  return false;
}

// Whether a PCI device is a GPU Drover schedules. Compute OS devices are
// conclusive where hwloc has the plugins; otherwise (Debian's hwloc) the PCI
// class and vendor decide. Intel VGA-class devices are skipped either way:
// they are the integrated desktop GPU, and counting one would shift the
// indexes CUDA_VISIBLE_DEVICES relies on.
bool is_gpu(hwloc_obj_t pcidev, bool has_compute_osdev) {
  const auto& a = pcidev->attr->pcidev;
  unsigned vendor = a.vendor_id;
  unsigned cls = a.class_id;
  if (is_virtual_display_vendor(vendor)) return false;
  if (vendor == kVendorIntel && cls == 0x0300) return false;
  if (has_compute_osdev) return true;
  bool display = cls == 0x0300 || cls == 0x0302 || cls == 0x0380;
  if (!display) return false;
  return vendor == kVendorNvidia || vendor == kVendorAmd || vendor == kVendorIntel;
}

std::string vendor_name(unsigned vendor) {
  switch (vendor) {
    case kVendorNvidia: return "nvidia";
    case kVendorAmd: return "amd";
    case kVendorIntel: return "intel";
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%04x", vendor & 0xffffu);
      return buf;
    }
  }
}

std::string pci_bus_id(hwloc_obj_t pcidev) {
  const auto& a = pcidev->attr->pcidev;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04x:%02x:%02x.%01x", static_cast<unsigned>(a.domain),
                static_cast<unsigned>(a.bus), static_cast<unsigned>(a.dev),
                static_cast<unsigned>(a.func));
  return buf;
}

struct GpuCandidate {
  hwloc_obj_t pcidev;
  std::string model;  // from an OS device, if any
};

std::vector<GpuCandidate> find_gpus(hwloc_topology_t topo) {
  std::vector<GpuCandidate> found;
  for (hwloc_obj_t pci = hwloc_get_next_pcidev(topo, nullptr); pci != nullptr;
       pci = hwloc_get_next_pcidev(topo, pci)) {
    // A GPU with several OS devices (cuda0 and nvml0) is still one GPU: the
    // PCI device is the unit counted.
    bool compute = false;
    std::string model;
    for (hwloc_obj_t child = pci->io_first_child; child != nullptr;
         child = child->next_sibling) {
      if (!is_compute_osdev(child)) continue;
      compute = true;
      if (model.empty()) {
        if (const char* m = hwloc_obj_get_info_by_name(child, "GPUModel")) model = m;
      }
    }
    if (is_gpu(pci, compute)) found.push_back({pci, std::move(model)});
  }
  // Index order is PCI bus order, the order nvidia-smi and CUDA (with
  // CUDA_DEVICE_ORDER=PCI_BUS_ID) use, independent of how hwloc walked the tree.
  std::sort(found.begin(), found.end(), [](const GpuCandidate& x, const GpuCandidate& y) {
    const auto& a = x.pcidev->attr->pcidev;
    const auto& b = y.pcidev->attr->pcidev;
    return std::tie(a.domain, a.bus, a.dev, a.func) < std::tie(b.domain, b.bus, b.dev, b.func);
  });
  return found;
}

// The NUMA domain a device is attached to: the single domain within its
// non-I/O ancestor's nodeset, -1 when that spans several (e.g. a device
// hanging off the machine root of a multi-socket node) or none.
int nearest_numa(hwloc_obj_t ancestor, const std::vector<NumaDomain>& numa) {
  if (ancestor == nullptr || ancestor->nodeset == nullptr) return -1;
  int found = -1;
  for (std::size_t i = 0; i < numa.size(); ++i) {
    if (!hwloc_bitmap_isset(ancestor->nodeset, static_cast<unsigned>(numa[i].os_index))) continue;
    if (found >= 0) return -1;
    found = static_cast<int>(i);
  }
  return found;
}

Result<NodeTopology> build(hwloc_topology_t topo) {
  NodeTopology out;

  out.packages = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE));

  // NUMA domains in logical order.
  int numa_count = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
  std::int64_t numa_memory = 0;
  for (int i = 0; i < numa_count; ++i) {
    hwloc_obj_t n = hwloc_get_obj_by_type(topo, HWLOC_OBJ_NUMANODE, static_cast<unsigned>(i));
    NumaDomain d;
    d.os_index = static_cast<int>(n->os_index);
    d.memory_mib = static_cast<std::int64_t>(n->attr->numanode.local_memory / kMiB);
    d.pus = pu_os_indexes(topo, n->cpuset);
    numa_memory += d.memory_mib;
    out.numa.push_back(std::move(d));
  }
  hwloc_obj_t root = hwloc_get_root_obj(topo);
  out.memory_mib =
      numa_memory > 0 ? numa_memory : static_cast<std::int64_t>(root->total_memory / kMiB);

  // PU OS index -> NUMA domain index; the first domain wins where several
  // share PUs (e.g. DDR and HBM nodes of one socket).
  int max_pu = hwloc_bitmap_last(hwloc_topology_get_topology_cpuset(topo));
  std::vector<int> numa_of_pu(max_pu >= 0 ? static_cast<std::size_t>(max_pu) + 1 : 0, 0);
  std::vector<bool> numa_seen(numa_of_pu.size(), false);
  for (std::size_t i = 0; i < out.numa.size(); ++i) {
    for (int pu : out.numa[i].pus) {
      if (pu < 0 || static_cast<std::size_t>(pu) >= numa_of_pu.size() || numa_seen[pu]) continue;
      numa_of_pu[pu] = static_cast<int>(i);
      numa_seen[pu] = true;
    }
  }

  // Cores, walked through PUs in logical order (a core's PUs are contiguous in
  // it), so that a PU without a Core ancestor (some VMs and non-x86 hosts
  // export none) becomes a core of its own.
  int pu_total = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  hwloc_obj_t last_core = nullptr;
  for (int i = 0; i < pu_total; ++i) {
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, static_cast<unsigned>(i));
    hwloc_obj_t core = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_CORE, pu);
    int os = static_cast<int>(pu->os_index);
    if (core != nullptr && core == last_core) {
      out.cores.back().pus.push_back(os);
      continue;
    }
    last_core = core;
    Core c;
    hwloc_obj_t pkg = hwloc_get_ancestor_obj_by_type(topo, HWLOC_OBJ_PACKAGE, pu);
    c.package = pkg != nullptr ? static_cast<int>(pkg->logical_index) : 0;
    c.numa = os >= 0 && static_cast<std::size_t>(os) < numa_of_pu.size() ? numa_of_pu[os] : 0;
    c.pus.push_back(os);
    out.cores.push_back(std::move(c));
  }
  for (auto& c : out.cores) std::sort(c.pus.begin(), c.pus.end());

  // GPUs.
  auto candidates = find_gpus(topo);
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    hwloc_obj_t pci = candidates[i].pcidev;
    Gpu g;
    g.index = static_cast<int>(i);
    g.pci_bus_id = pci_bus_id(pci);
    g.vendor = vendor_name(pci->attr->pcidev.vendor_id);
    if (!candidates[i].model.empty()) {
      g.name = candidates[i].model;
    } else if (const char* d = hwloc_obj_get_info_by_name(pci, "PCIDevice")) {
      g.name = d;
    }
    hwloc_obj_t ancestor = hwloc_get_non_io_ancestor_obj(topo, pci);
    g.numa = nearest_numa(ancestor, out.numa);
    if (ancestor != nullptr) g.local_pus = pu_os_indexes(topo, ancestor->cpuset);
    out.gpus.push_back(std::move(g));
  }

  if (out.cores.empty()) return Error{"hwloc found no PUs"};
  return out;
}

}  // namespace

Result<NodeTopology> discover_topology(const std::string& xml_path) {
  const std::string what =
      xml_path.empty() ? std::string("cannot discover node topology")
                       : "cannot load hwloc XML " + xml_path;
  TopologyHandle handle;
  errno = 0;
  if (handle.init() != 0) return make_error(what, "hwloc_topology_init: " + errno_text(errno));
  hwloc_topology_t topo = handle.get();

  if (!xml_path.empty()) {
    errno = 0;
    if (hwloc_topology_set_xml(topo, xml_path.c_str()) != 0) {
      // hwloc says EINVAL for a file it can read but not parse.
      return make_error(what, errno == EINVAL ? "not a valid hwloc XML topology"
                                              : errno_text(errno));
    }
  }
  // I/O objects are filtered out by default; GPUs hang off PCI devices.
  if (hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT) != 0) {
    return make_error(what, "cannot keep I/O objects: " + errno_text(errno));
  }
  errno = 0;
  if (hwloc_topology_load(topo) != 0) {
    // hwloc's XML parser reports details on stderr only; errno is all there is.
    return make_error(what, errno != 0 ? errno_text(errno) : "invalid topology");
  }
  auto result = build(topo);
  if (!result) return make_error(what, result.message());
  return result;
}

}  // namespace drover::place

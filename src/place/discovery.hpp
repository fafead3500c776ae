// Reads a node's hardware with hwloc and turns it into Drover's NodeTopology.
// hwloc stays private to this module (only discovery.cpp includes hwloc.h).
#pragma once

#include <string>

#include "core/result.hpp"
#include "core/topology.hpp"

namespace drover::place {

// xml_path empty: the running machine. Otherwise an hwloc XML export (tests use
// checked-in files under tests/data/hwloc; never the host's topology in tests).
// GPUs are found from CUDA/NVML/RSMI/OpenCL OS devices where hwloc has plugins,
// and otherwise from PCI display/3D controllers by vendor (Debian's hwloc has no
// CUDA/NVML plugins). Memory is the NUMA nodes' local memory.
Result<NodeTopology> discover_topology(const std::string& xml_path = {});

}  // namespace drover::place

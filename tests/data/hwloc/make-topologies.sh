#!/bin/sh
# Regenerates the derived hwloc XML topologies in this folder (see README.md).
# Needs the hwloc 2.9 command-line tools (Debian package `hwloc`) and python3.
# 2pkg-4gpu.xml is hand-made and not regenerated here.
set -eu
cd "$(dirname "$0")"

synthetic() {  # synthetic <description> <output> [lstopo options...]
  desc=$1; out=$2; shift 2
  lstopo-no-graphics --if synthetic --input "$desc" "$@" --of xml --force "$out"
}

# hwloc synthetic descriptions cannot carry PCI devices, so I/O trees are added
# to the XML afterwards, shaped like those in 2pkg-4gpu.xml: a host bridge under
# the object whose cpuset is the devices' locality, PCI devices under it, and
# (optionally) cuda/nvml OS devices under each PCI device.
add_io() {  # add_io <file>, python spec on stdin
  python3 -c "$ADD_IO_PY" "$1"
}
ADD_IO_PY=$(cat <<'EOF'
import sys, xml.etree.ElementTree as ET
path = sys.argv[1]
spec = sys.stdin.read()
tree = ET.parse(path)
root = tree.getroot()
machine = root.find("object")
gp = [10000]

def next_gp():
    gp[0] += 1
    return str(gp[0])

def find(type_, **attrs):
    for o in machine.iter("object"):
        if o.get("type") == type_ and all(o.get(k) == v for k, v in attrs.items()):
            return o
    raise SystemExit(f"no {type_} {attrs} in {path}")

def info(parent, name, value):
    ET.SubElement(parent, "info", name=name, value=value)

def bridge(parent, bus_range):
    return ET.SubElement(parent, "object", {"type": "Bridge", "gp_index": next_gp(),
        "bridge_type": "0-1", "depth": "0", "bridge_pci": bus_range})

def pci(parent, busid, cls, vendor, device, vendor_name=None, device_name=None):
    o = ET.SubElement(parent, "object", {"type": "PCIDev", "gp_index": next_gp(),
        "pci_busid": busid, "pci_type": f"{cls} [{vendor}:{device}] [{vendor}:0000] a1",
        "pci_link_speed": "31.507692"})
    if vendor_name: info(o, "PCIVendor", vendor_name)
    if device_name: info(o, "PCIDevice", device_name)
    return o

def nvidia_osdevs(parent, n, model):
    # osdev_type 5 = COPROC (CUDA), 1 = GPU (NVML), as hwloc's plugins export them.
    c = ET.SubElement(parent, "object", {"type": "OSDev", "gp_index": next_gp(),
        "name": f"cuda{n}", "subtype": "CUDA", "osdev_type": "5"})
    info(c, "Backend", "CUDA"); info(c, "GPUVendor", "NVIDIA Corporation")
    info(c, "GPUModel", model); info(c, "CUDAGlobalMemorySize", "83886080")
    m = ET.SubElement(parent, "object", {"type": "OSDev", "gp_index": next_gp(),
        "name": f"nvml{n}", "subtype": "NVML", "osdev_type": "1"})
    info(m, "Backend", "NVML"); info(m, "GPUVendor", "NVIDIA Corporation")
    info(m, "GPUModel", model)
    info(m, "NVIDIAUUID", f"GPU-00000000-0000-0000-0000-{n:012d}")

exec(spec)
ET.indent(tree, "  ")
with open(path, "w") as f:
    f.write('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<!DOCTYPE topology SYSTEM "hwloc2.dtd">\n')
    f.write(ET.tostring(root, encoding="unicode"))
    f.write("\n")
EOF
)

synthetic "pack:2 numa:1(memory=64GiB) core:8 pu:2" 2pkg-16core-smt.xml
synthetic "pack:2 numa:1(memory=64GiB) core:8 pu:1" 2pkg-16core-nosmt.xml

# Package 0 keeps 8 cores, package 1 only 4 (restricted to PUs 0-23); NUMA 1
# gets half the memory of NUMA 0 so both sizes differ.
synthetic "pack:2 numa:1(memory=64GiB) core:8 pu:2" asym-12core.xml --restrict 0x00ffffff
add_io asym-12core.xml <<'EOF'
n1 = find("NUMANode", os_index="1")
n1.set("local_memory", str(32 << 30))
n1.find("page_type").set("count", str((32 << 30) // 4096))
EOF

# A DGX-A100-like node: 2 packages x 2 NUMA x 8 cores, two GPUs per NUMA node.
# Within each bridge the higher bus comes first in the file, so a test can see
# that Gpu::index follows PCI order, not file order.
synthetic "pack:2 numa:2(memory=32GiB) core:8 pu:1" 4numa-8gpu.xml
add_io 4numa-8gpu.xml <<'EOF'
buses = [(0x07, 0x0f), (0x47, 0x4e), (0x87, 0x90), (0xb7, 0xbd)]
model = "NVIDIA A100-SXM4-80GB (fake)"
for numa, (a, b) in enumerate(buses):
    group = find("Group", cpuset=f"0x{0xff << (8 * numa):08x}")
    br = bridge(group, f"0000:[{a - 1:02x}-{b:02x}]")
    for bus in (b, a):
        n = buses[numa].index(bus) + 2 * numa
        dev = pci(br, f"0000:{bus:02x}:00.0", "0302", "10de", "20b2", "NVIDIA Corporation")
        nvidia_osdevs(dev, n, model)
EOF

# GPUs seen only as PCI devices (Debian's hwloc has no CUDA/NVML plugins), plus
# display adapters that are not GPUs to schedule, and one GPU attached to the
# machine root (no NUMA affinity).
synthetic "pack:2 numa:1(memory=128GiB) core:4 pu:2" 2pkg-pci-gpus.xml
add_io 2pkg-pci-gpus.xml <<'EOF'
p0 = find("Package", os_index="0")
p1 = find("Package", os_index="1")
br = bridge(p0, "0000:[00-04]")
pci(br, "0000:00:01.0", "0300", "1234", "1111")                        # QEMU stdvga
pci(br, "0000:00:02.0", "0300", "8086", "4680", "Intel Corporation",
    "AlderLake-S GT1")                                                 # integrated
pci(br, "0000:00:03.0", "0300", "1af4", "1050")                        # virtio-gpu
pci(br, "0000:00:04.0", "0300", "15ad", "0405")                        # VMware SVGA
pci(br, "0000:03:00.0", "0300", "1a03", "2000", "ASPEED Technology, Inc.",
    "ASPEED Graphics Family")                                          # BMC VGA
pci(br, "0000:04:00.0", "0300", "102b", "0536", "Matrox Electronics Systems Ltd.")
br = bridge(p0, "0000:[16-17]")
pci(br, "0000:17:00.0", "0302", "10de", "2330", "NVIDIA Corporation",
    "GH100 [H100 SXM5 80GB]")
pci(br, "0000:17:00.1", "0403", "10de", "22bb", "NVIDIA Corporation")  # audio function
br = bridge(p0, "0000:[30-31]")
pci(br, "0000:31:00.0", "0300", "10de", "2204", "NVIDIA Corporation",
    "GA102 [GeForce RTX 3090]")
br = bridge(p1, "0000:[4a-5d]")
amd = pci(br, "0000:4b:00.0", "0380", "1002", "740f", "Advanced Micro Devices, Inc. [AMD/ATI]",
          "Aldebaran/MI200 [Instinct MI210]")
o = ET.SubElement(amd, "object", {"type": "OSDev", "gp_index": next_gp(),
    "name": "rsmi0", "subtype": "RSMI", "osdev_type": "1"})
info(o, "Backend", "RSMI"); info(o, "GPUVendor", "AMD"); info(o, "GPUModel", "AMD Instinct MI210")
pci(br, "0000:5c:00.0", "0200", "15b3", "101b", "Mellanox Technologies")  # network
br = bridge(p1, "0000:[c9-ca]")
pci(br, "0000:ca:00.0", "0380", "8086", "0bd5", "Intel Corporation",
    "Ponte Vecchio XT [Data Center GPU Max 1550]")
br = bridge(machine, "0000:[e0-e3]")
pci(br, "0000:e3:00.0", "0302", "10de", "20b5", "NVIDIA Corporation")
EOF

# No Core objects: each PU must be treated as its own core.
synthetic "pack:1 numa:1(memory=8GiB) pu:4" 1pkg-4pu-nocore.xml

# Tiny nodes for tests/multinode (one namespace node each): every one uses PUs 0 and 1
# only, since jobs are really bound to these PU numbers on a 2-PU machine.
synthetic "pack:2 numa:1(memory=1GiB) core:1 pu:1" netns-2pkg-2core.xml
synthetic "pack:1 numa:1(memory=2GiB) core:1 pu:2" netns-1core-smt.xml
synthetic "pack:1 numa:1(memory=2GiB) core:2 pu:1" netns-2core.xml

# GPU nodes for tests/multinode: 2 packages with one NUMA node and one PU each (PUs 0
# and 1 only, as above) and one fake A100 near each NUMA node. In netns-gpu-2numa.xml
# GPU 0 (bus 41) is near NUMA 0 / PU 0 and GPU 1 (bus 81) near NUMA 1 / PU 1; in
# netns-gpu-2numa-crossed.xml the lower bus (21) hangs under package 1, so GPU 0 is
# near PU 1 and GPU 1 (bus a1) near PU 0: GPU index and PU number disagree, and a
# test sees that placement follows locality, not numbering.
synthetic "pack:2 numa:1(memory=1GiB) core:1 pu:1" netns-gpu-2numa.xml
add_io netns-gpu-2numa.xml <<'EOF2'
model = "NVIDIA A100-SXM4-80GB (fake)"
for n, (pkg, bus) in enumerate([("0", 0x41), ("1", 0x81)]):
    br = bridge(find("Package", os_index=pkg), f"0000:[{bus - 1:02x}-{bus:02x}]")
    dev = pci(br, f"0000:{bus:02x}:00.0", "0302", "10de", "20b2", "NVIDIA Corporation")
    nvidia_osdevs(dev, n, model)
EOF2
synthetic "pack:2 numa:1(memory=1GiB) core:1 pu:1" netns-gpu-2numa-crossed.xml
add_io netns-gpu-2numa-crossed.xml <<'EOF2'
model = "NVIDIA A100-SXM4-80GB (fake)"
for n, (pkg, bus) in enumerate([("1", 0x21), ("0", 0xa1)]):
    br = bridge(find("Package", os_index=pkg), f"0000:[{bus - 1:02x}-{bus:02x}]")
    dev = pci(br, f"0000:{bus:02x}:00.0", "0302", "10de", "20b2", "NVIDIA Corporation")
    nvidia_osdevs(dev, n, model)
EOF2

// Which device files belong to which GPU, and which a job may not open. The
// lookup runs against a fake /sys and /proc tree made here for topologies with
// fake GPUs (tests/data/hwloc); the rules are a pure function. The rules applied
// to real job processes are tested in agent_launcher_test (DeviceCgroup*).
#include "agent/gpu_devices.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "topology_test_support.hpp"

namespace drover::agent {
namespace {

namespace fs = std::filesystem;

const auto load = &drover::testing::hwloc_topology;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

class FakeTree : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drover-gpudev-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    roots_ = {std::string(tmpl) + "/sys", std::string(tmpl) + "/proc", std::string(tmpl) + "/dev"};
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void nvidia(const std::string& bus, int minor) {
    write(roots_.proc + "/driver/nvidia/gpus/" + bus + "/information",
          "Model: \t\t NVIDIA A100\nIRQ:   \t\t 42\nGPU UUID: \t GPU-x\nDevice Minor: \t " + std::to_string(minor) +
              "\nBus Location: \t " + bus + "\n");
  }
  void drm(const std::string& bus, const std::string& name, const std::string& numbers) {
    write(roots_.sys + "/bus/pci/devices/" + bus + "/drm/" + name + "/dev", numbers + "\n");
  }
  std::string dir_;
  DeviceRoots roots_;
};

TEST_F(FakeTree, NvidiaGpusGetTheirDriversMinorNotTheirIndex) {
  const NodeTopology t = load("4numa-8gpu.xml");
  ASSERT_EQ(t.gpus.size(), 8u);
  // The driver numbers GPUs in its own order; /dev/nvidiaN follows it.
  const int minors[] = {3, 2, 1, 0, 7, 6, 5, 4};
  for (std::size_t i = 0; i < t.gpus.size(); ++i) nvidia(t.gpus[i].pci_bus_id, minors[i]);
  std::vector<std::string> missing;
  const auto files = find_gpu_device_files(t, roots_, &missing);
  EXPECT_TRUE(missing.empty());
  ASSERT_EQ(files.size(), 8u);
  for (std::size_t i = 0; i < files.size(); ++i) {
    EXPECT_EQ(files[i].gpu, static_cast<int>(i));
    ASSERT_EQ(files[i].files.size(), 1u);
    EXPECT_EQ(files[i].files[0],
              (DeviceRule{'c', 195, static_cast<unsigned>(minors[i]), roots_.dev + "/nvidia" + std::to_string(minors[i])}));
  }
}

TEST_F(FakeTree, AmdAndIntelGpusGetTheirDrmNodesAndMissingOnesAreNamed) {
  const NodeTopology t = load("2pkg-pci-gpus.xml");
  ASSERT_EQ(t.gpus.size(), 5u);  // nvidia 17:00.0, nvidia 31:00.0, amd 4b:00.0, intel ca:00.0, nvidia e3:00.0
  nvidia("0000:17:00.0", 0);
  drm("0000:17:00.0", "card1", "226:1");  // nvidia-drm loaded for this one
  nvidia("0000:31:00.0", 1);
  drm("0000:4b:00.0", "renderD129", "226:129");
  drm("0000:4b:00.0", "card2", "226:2");
  drm("0000:ca:00.0", "renderD130", "226:130");
  drm("0000:ca:00.0", "controlD64", "226:64");  // not a node a job opens for compute
  // e3:00.0: no driver information -> missing.
  std::vector<std::string> missing;
  const auto files = find_gpu_device_files(t, roots_, &missing);
  ASSERT_EQ(files.size(), 5u);
  const std::string dri = roots_.dev + "/dri/";
  EXPECT_EQ(files[0].files, (std::vector<DeviceRule>{{'c', 195, 0, roots_.dev + "/nvidia0"},
                                                     {'c', 226, 1, dri + "card1"}}));
  EXPECT_EQ(files[1].files, (std::vector<DeviceRule>{{'c', 195, 1, roots_.dev + "/nvidia1"}}));
  EXPECT_EQ(files[2].files, (std::vector<DeviceRule>{{'c', 226, 2, dri + "card2"},
                                                     {'c', 226, 129, dri + "renderD129"}}));
  EXPECT_EQ(files[3].files, (std::vector<DeviceRule>{{'c', 226, 130, dri + "renderD130"}}));
  EXPECT_TRUE(files[4].files.empty());
  EXPECT_EQ(missing, (std::vector<std::string>{"GPU 4 (0000:e3:00.0)"}));
}

TEST_F(FakeTree, ATopologyFromXmlOnThisMachineFindsNoFiles) {
  const NodeTopology t = load("2pkg-4gpu.xml");
  std::vector<std::string> missing;
  const auto files = find_gpu_device_files(t, roots_, &missing);
  ASSERT_EQ(files.size(), 4u);
  for (const auto& f : files) EXPECT_TRUE(f.files.empty());
  EXPECT_EQ(missing.size(), 4u);
}

std::vector<GpuDeviceFiles> eight_nvidia() {
  std::vector<GpuDeviceFiles> gpus;
  for (int i = 0; i < 8; ++i)
    gpus.push_back({i, {{'c', 195, static_cast<unsigned>(i), "/dev/nvidia" + std::to_string(i)}}});
  return gpus;
}

std::vector<unsigned> minors(const std::vector<DeviceRule>& rules) {
  std::vector<unsigned> out;
  for (const auto& r : rules) out.push_back(r.minor);
  return out;
}

TEST(DeniedDeviceFiles, AJobIsDeniedEveryOtherGpu) {
  const auto gpus = eight_nvidia();
  EXPECT_EQ(minors(denied_device_files(gpus, {2, 3})), (std::vector<unsigned>{0, 1, 4, 5, 6, 7}));
  EXPECT_EQ(minors(denied_device_files(gpus, {7})), (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(DeniedDeviceFiles, AJobWithoutGpusIsDeniedAllAndOneWithAllNone) {
  const auto gpus = eight_nvidia();
  EXPECT_EQ(minors(denied_device_files(gpus, {})), (std::vector<unsigned>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(denied_device_files(gpus, {0, 1, 2, 3, 4, 5, 6, 7}).empty());
  EXPECT_TRUE(denied_device_files({}, {}).empty());
}

TEST(DeniedDeviceFiles, AFileItsOwnGpuAlsoHasIsNotDeniedAndNoneTwice) {
  // An admin's gpu-devices may give two GPUs a common file (a partitioned GPU).
  std::vector<GpuDeviceFiles> gpus = {{0, {{'c', 195, 0, "/dev/nvidia0"}, {'c', 240, 1, "/dev/shared"}}},
                                      {1, {{'c', 195, 1, "/dev/nvidia1"}, {'c', 240, 1, "/dev/shared"}}},
                                      {2, {{'c', 195, 2, "/dev/nvidia2"}, {'c', 240, 1, "/dev/shared"}}}};
  EXPECT_EQ(denied_device_files(gpus, {0}),
            (std::vector<DeviceRule>{{'c', 195, 1, "/dev/nvidia1"}, {'c', 195, 2, "/dev/nvidia2"}}));
  EXPECT_EQ(denied_device_files(gpus, {}),
            (std::vector<DeviceRule>{{'c', 195, 0, "/dev/nvidia0"}, {'c', 240, 1, "/dev/shared"},
                                     {'c', 195, 1, "/dev/nvidia1"}, {'c', 195, 2, "/dev/nvidia2"}}));
}

TEST(GpuDevicesOption, ParsesIndexesAndFilesFromTheirNumbers) {
  auto parsed = parse_gpu_devices_option("0=/dev/null,1=/dev/full+/dev/zero", 2);
  ASSERT_TRUE(parsed) << parsed.message();
  ASSERT_EQ(parsed->size(), 2u);
  EXPECT_EQ((*parsed)[0], (GpuDeviceFiles{0, {{'c', 1, 3, "/dev/null"}}}));
  EXPECT_EQ((*parsed)[1], (GpuDeviceFiles{1, {{'c', 1, 7, "/dev/full"}, {'c', 1, 5, "/dev/zero"}}}));
}

TEST(GpuDevicesOption, BadEntriesSayWhatIsWrong) {
  auto message = [](const std::string& text) {
    auto r = parse_gpu_devices_option(text, 2);
    return r ? std::string("(accepted)") : r.message();
  };
  EXPECT_EQ(message("0:/dev/null"),
            "gpu-devices entry \"0:/dev/null\": expected GPU=FILE[+FILE...], e.g. 0=/dev/nvidia0");
  EXPECT_EQ(message("x=/dev/null"), "gpu-devices entry \"x=/dev/null\": \"x\" is not a GPU index");
  EXPECT_EQ(message("2=/dev/null"), "gpu-devices entry \"2=/dev/null\": this node has 2 GPUs (0..1)");
  EXPECT_EQ(message("0=/dev/nope"),
            "gpu-devices entry \"0=/dev/nope\": /dev/nope: No such file or directory");
  EXPECT_EQ(message("0=/etc/passwd"),
            "gpu-devices entry \"0=/etc/passwd\": /etc/passwd is not a device file");
  EXPECT_EQ(message("0=/dev/null,0=/dev/full"),
            "gpu-devices entry \"0=/dev/full\": GPU 0 is named twice");
}

}  // namespace
}  // namespace drover::agent

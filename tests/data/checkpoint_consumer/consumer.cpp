// Writes a checkpoint and reads it back through an installed libdrover-checkpoint.
#include <drover/checkpoint.hpp>

#include <cstdio>
#include <vector>

namespace ckpt = drover::checkpoint;

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  ckpt::Options o;
  o.directory = argv[1];
  auto store = ckpt::Store::open(o);
  if (!store) return std::fprintf(stderr, "%s\n", store.message().c_str()), 1;
  auto w = store->begin(3, 0.75);
  std::vector<double> v{1.5, 2.5, 3.5};
  if (!w || !w->write_whole<double>("v", ckpt::Shape{3}, v) || !w->commit()) return std::fprintf(stderr, "write failed\n"), 1;
  auto r = store->restart();
  if (!r || !*r) return std::fprintf(stderr, "restart failed\n"), 1;
  std::vector<double> back(3);
  if (!(*r)->read_whole<double>("v", ckpt::Shape{3}, back) || back != v) return std::fprintf(stderr, "read failed\n"), 1;
  std::printf("c++ consumer: step %lld read back\n", static_cast<long long>((*r)->step()));
  return 0;
}

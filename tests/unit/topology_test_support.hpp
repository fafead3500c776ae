// The checked-in hwloc topologies (tests/data/hwloc) as the unit tests load them,
// and PU lists written as ranges.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "core/topology.hpp"
#include "place/discovery.hpp"

namespace drover::testing {

// tests/data/hwloc/<file>, discovered once per test program (a failure to load
// fails the test and gives an empty topology).
inline const NodeTopology& hwloc_topology(const std::string& file) {
  static std::map<std::string, NodeTopology> cache;
  auto it = cache.find(file);
  if (it == cache.end()) {
    auto t = place::discover_topology(std::string(DROVER_TEST_DATA) + "/hwloc/" + file);
    EXPECT_TRUE(t) << file << ": " << (t ? "" : t.message());
    it = cache.emplace(file, t ? std::move(t).value() : NodeTopology{}).first;
  }
  return it->second;
}

// first, first + 1, ..., last.
inline std::vector<int> range(int first, int last) {
  std::vector<int> v;
  for (int i = first; i <= last; ++i) v.push_back(i);
  return v;
}

// a then b.
inline std::vector<int> operator+(std::vector<int> a, const std::vector<int>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace drover::testing

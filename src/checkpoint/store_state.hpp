// What a Store, its Writer and its Readers share.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "comm.hpp"
#include "drover/checkpoint.hpp"
#include "h5.hpp"
#include "manifest.hpp"

namespace drover::checkpoint::detail {

struct StoreState {
  std::string directory;  // absolute
  int keep_last = 2;
  Comm comm;
  bool verify_checksums = true;
  int signal = 0;
  std::function<void(const std::string&)> on_warning;
  bool writing = false;  // a Writer is open
  // latest()'s answer, once known; a commit replaces it.
  bool latest_known = false;
  std::optional<CheckpointSummary> latest;

  // Rank 0 only; the other ranks say nothing (they would repeat it).
  void warn(const std::string& message) const;
  // More than one rank: parallel HDF5 (MPI-IO). One rank, MPI or not: the POSIX driver.
  bool parallel() const { return comm.is_mpi() && comm.size() > 1; }
  std::string path_of(const std::string& name) const { return directory + "/" + name; }
};

// A file-access property list for the store's communicator.
H5Id file_access(const StoreState& s);
// A transfer property list: collective MPI-IO when parallel; `all_contiguous` (every rank's
// slab is one run of bytes in the file, agreed by all ranks) lets each rank do its own I/O.
H5Id transfer(const StoreState& s, bool all_contiguous);
// Whether the slab `count` of an array of `shape` (C order) is one run of bytes in the file.
bool contiguous_in_file(std::span<const std::uint64_t> shape, std::span<const std::uint64_t> count);

CheckpointSummary summary_of(const Manifest& m, const std::string& path);

// Replaces a leading "checkpoint N: " of `message` with `context` + ": ".
std::string recontext(const std::string& context, const std::string& message, std::int64_t step);

}  // namespace drover::checkpoint::detail

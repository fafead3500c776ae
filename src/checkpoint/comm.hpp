// The store's communicator: a duplicate of the application's (so our messages never mix with
// its own), or a serial stand-in that makes no MPI calls at all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "drover/checkpoint.hpp"

namespace drover::checkpoint::detail {

class Comm {
 public:
  Comm() = default;  // serial
#if DROVER_CHECKPOINT_HAVE_MPI
  // Duplicates `comm` (collective over it).
  static Comm duplicate(MPI_Comm comm);
  MPI_Comm handle() const { return comm_; }
#endif
  Comm(Comm&& other) noexcept;
  Comm& operator=(Comm&& other) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();

  bool is_mpi() const { return mpi_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Elementwise maximum over all ranks, in place.
  void max(std::vector<std::int64_t>& values) const;
  std::int64_t max(std::int64_t value) const;
  void broadcast(std::string& text, int root) const;
  // Rank `root` gets every rank's value, in rank order; the others get an empty vector.
  std::vector<std::uint32_t> gather(std::uint32_t value, int root) const;
  void barrier() const;

 private:
  bool mpi_ = false;
  int rank_ = 0;
  int size_ = 1;
#if DROVER_CHECKPOINT_HAVE_MPI
  MPI_Comm comm_ = MPI_COMM_NULL;
#endif
};

// Every rank brings its own status; every rank gets the same answer: success if all
// succeeded, else the error of the lowest failing rank (its message, followed by
// " (on rank N)" when other ranks succeeded). Also fails if the ranks' `signature`s differ (they
// passed different names, shapes or steps to a collective call): "<what>: the ranks disagree".
Status agree(const Comm& comm, Status local, std::uint64_t signature = 0, const std::string& what = {});

// 64-bit FNV-1a, to compare what the ranks passed.
std::uint64_t fingerprint(const void* data, std::size_t size, std::uint64_t seed = 14695981039346656037ull);
inline std::uint64_t fingerprint(const std::string& s, std::uint64_t seed = 14695981039346656037ull) {
  return fingerprint(s.data(), s.size(), seed);
}

// MPI is initialized and not yet finalized (the only MPI calls made without a communicator).
bool mpi_active();

}  // namespace drover::checkpoint::detail

#include "comm.hpp"

#include <utility>

#include "errors.hpp"

namespace drover::checkpoint::detail {

#if DROVER_CHECKPOINT_HAVE_MPI
Comm Comm::duplicate(MPI_Comm comm) {
  Comm c;
  c.mpi_ = true;
  MPI_Comm_dup(comm, &c.comm_);
  MPI_Comm_rank(c.comm_, &c.rank_);
  MPI_Comm_size(c.comm_, &c.size_);
  return c;
}
#endif

Comm::Comm(Comm&& other) noexcept { *this = std::move(other); }

Comm& Comm::operator=(Comm&& other) noexcept {
  if (this != &other) {
    this->~Comm();
    mpi_ = std::exchange(other.mpi_, false);
    rank_ = std::exchange(other.rank_, 0);
    size_ = std::exchange(other.size_, 1);
#if DROVER_CHECKPOINT_HAVE_MPI
    comm_ = std::exchange(other.comm_, MPI_COMM_NULL);
#endif
  }
  return *this;
}

Comm::~Comm() {
#if DROVER_CHECKPOINT_HAVE_MPI
  // After MPI_Finalize the communicator is gone with everything else.
  if (mpi_ && comm_ != MPI_COMM_NULL && mpi_active()) MPI_Comm_free(&comm_);
  comm_ = MPI_COMM_NULL;
#endif
  mpi_ = false;
}

void Comm::max(std::vector<std::int64_t>& values) const {
#if DROVER_CHECKPOINT_HAVE_MPI
  if (mpi_ && size_ > 1)
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_INT64_T, MPI_MAX, comm_);
#else
  (void)values;
#endif
}

std::int64_t Comm::max(std::int64_t value) const {
  std::vector<std::int64_t> v{value};
  max(v);
  return v[0];
}

void Comm::broadcast(std::string& text, int root) const {
#if DROVER_CHECKPOINT_HAVE_MPI
  if (!mpi_ || size_ == 1) return;
  std::uint64_t n = text.size();
  MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_);
  text.resize(n);
  if (n > 0) MPI_Bcast(text.data(), static_cast<int>(n), MPI_CHAR, root, comm_);
#else
  (void)text;
  (void)root;
#endif
}

std::vector<std::uint32_t> Comm::gather(std::uint32_t value, int root) const {
#if DROVER_CHECKPOINT_HAVE_MPI
  if (mpi_ && size_ > 1) {
    std::vector<std::uint32_t> all(rank_ == root ? size_ : 0);
    MPI_Gather(&value, 1, MPI_UINT32_T, all.data(), 1, MPI_UINT32_T, root, comm_);
    return all;
  }
#else
  (void)root;
#endif
  return {value};
}

void Comm::barrier() const {
#if DROVER_CHECKPOINT_HAVE_MPI
  if (mpi_ && size_ > 1) MPI_Barrier(comm_);
#endif
}

Status agree(const Comm& comm, Status local, std::uint64_t signature, const std::string& what) {
  if (comm.size() == 1) return local;
  // [0]: size - rank of a failing rank (the maximum is the lowest failing rank), 0 if none;
  // [1], [2]: the maximum of the signature and of its complement (-> the minimum);
  // [3]: 1 if this rank succeeded (-> did any?).
  std::vector<std::int64_t> v{local ? 0 : static_cast<std::int64_t>(comm.size() - comm.rank()),
                              static_cast<std::int64_t>(signature), static_cast<std::int64_t>(~signature),
                              local ? 1 : 0};
  comm.max(v);
  if (v[0] != 0) {
    const int root = comm.size() - static_cast<int>(v[0]);
    std::string message = local ? std::string() : local.message();
    std::string code = local ? std::string() : std::to_string(static_cast<int>(local.error().code));
    comm.broadcast(message, root);
    comm.broadcast(code, root);
    // Name the rank when it matters: some failed, others did not.
    if (v[3] != 0) message += " (on rank " + std::to_string(root) + ")";
    return Error{static_cast<ErrorCode>(std::stoi(code)), message};
  }
  const auto hi = static_cast<std::uint64_t>(v[1]);
  const auto lo = ~static_cast<std::uint64_t>(v[2]);
  if (hi != lo)
    return make_error(ErrorCode::invalid_argument, what.empty() ? "collective call" : what,
                      "the ranks disagree (each rank must pass the same names, types, shapes and steps)");
  return {};
}

std::uint64_t fingerprint(const void* data, std::size_t size, std::uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint64_t h = seed;
  for (std::size_t i = 0; i < size; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

bool mpi_active() {
#if DROVER_CHECKPOINT_HAVE_MPI
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return false;
  MPI_Finalized(&finalized);
  return !finalized;
#else
  return false;
#endif
}

}  // namespace drover::checkpoint::detail

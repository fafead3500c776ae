// The store: opening a checkpoint directory, finding the newest valid checkpoint (with
// every rank checksumming a share of each file), and the job-contract helpers.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "crc32c.hpp"
#include "errors.hpp"
#include "fs.hpp"
#include "signals.hpp"
#include "store_state.hpp"

namespace drover::checkpoint {

using detail::H5Id;
using detail::make_error;

const char* to_string(DataType type) {
  switch (type) {
    case DataType::float64: return "float64";
    case DataType::float32: return "float32";
    case DataType::int32: return "int32";
    case DataType::int64: return "int64";
    case DataType::uint8: return "uint8";
  }
  return "unknown";
}

namespace detail {

void StoreState::warn(const std::string& message) const {
  if (comm.rank() != 0) return;
  if (on_warning)
    on_warning(message);
  else
    std::fprintf(stderr, "drover-checkpoint: warning: %s\n", message.c_str());
}

H5Id file_access(const StoreState& s) {
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS));
#if DROVER_CHECKPOINT_HAVE_MPI
  if (s.parallel()) {
    H5Pset_fapl_mpio(fapl.get(), s.comm.handle(), MPI_INFO_NULL);
    // Metadata read by one rank and broadcast, written collectively: no storm of small
    // I/O from every rank.
    H5Pset_all_coll_metadata_ops(fapl.get(), true);
    H5Pset_coll_metadata_write(fapl.get(), true);
  } else {
    H5Pset_fapl_sec2(fapl.get());
  }
#else
  H5Pset_fapl_sec2(fapl.get());
#endif
  // Large datasets start on 1 MiB boundaries: whole file-system blocks and stripes.
  H5Pset_alignment(fapl.get(), 1 << 20, 1 << 20);
#if H5_VERSION_GE(1, 12, 1) || (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7)
  // Lock where the file system can; where it cannot (some NFS and Lustre mounts), go on.
  H5Pset_file_locking(fapl.get(), true, true);
#endif
  return fapl;
}

H5Id transfer(const StoreState& s, bool all_contiguous) {
  H5Id dxpl(H5Pcreate(H5P_DATASET_XFER));
#if DROVER_CHECKPOINT_HAVE_MPI
  if (s.parallel()) {
    H5Pset_dxpl_mpio(dxpl.get(), H5FD_MPIO_COLLECTIVE);
    // When every rank's slab is one run of bytes in the file, two-phase collective
    // buffering can only add a copy and an exchange between ranks: each rank then writes
    // (reads) its run itself, still inside the collective call. Measured in
    // bench/README.md: the two are alike on an idle machine, and individual I/O stays
    // near raw speed when other processes compete for the CPUs, where the exchange does not.
    if (all_contiguous) H5Pset_dxpl_mpio_collective_opt(dxpl.get(), H5FD_MPIO_INDIVIDUAL_IO);
  }
#else
  (void)s;
  (void)all_contiguous;
#endif
  return dxpl;
}

bool contiguous_in_file(std::span<const std::uint64_t> shape, std::span<const std::uint64_t> count) {
  // C order: after the last dimension that is cut (count < shape), every dimension before
  // it must have a count of 1 (or nothing is selected at all).
  std::size_t d = shape.size();
  while (d > 0 && count[d - 1] == shape[d - 1]) --d;
  if (d == 0) return true;
  for (std::size_t k = 0; k + 1 < d; ++k)
    if (count[k] > 1) return false;
  return true;
}

CheckpointSummary summary_of(const Manifest& m, const std::string& path) {
  CheckpointSummary c;
  c.step = m.step;
  c.time = m.time;
  c.created_at_ms = m.created_at_ms;
  c.ranks = m.ranks;
  c.bytes = m.bytes;
  c.path = path;
  c.datasets = m.datasets;
  return c;
}

std::string recontext(const std::string& context, const std::string& message, std::int64_t step) {
  const std::string prefix = "checkpoint " + std::to_string(step) + ": ";
  if (message.rfind(prefix, 0) == 0) return context + ": " + message.substr(prefix.size());
  return context + ": " + message;
}

}  // namespace detail

namespace {

// Committed checkpoints' directory names, newest first.
Result<std::vector<std::string>> committed_newest_first(const detail::StoreState& s) {
  auto names = detail::list_directory(s.directory);
  if (!names) return names.error();
  std::vector<std::pair<std::int64_t, std::string>> found;
  for (auto& n : *names)
    if (const auto st = detail::step_of(n); st >= 0 && detail::is_directory(s.path_of(n))) found.emplace_back(st, n);
  std::sort(found.begin(), found.end(), std::greater<>());
  std::vector<std::string> out;
  for (auto& [st, n] : found) out.push_back(std::move(n));
  return out;
}

// Reads and checks a candidate's manifest (rank 0).
Result<detail::Manifest> read_manifest(const detail::StoreState& s, const std::string& name, std::string& text) {
  auto t = detail::read_small_file(s.path_of(name) + "/" + detail::kManifestFile, 64 << 20);
  if (!t) {
    if (t.error().code == ErrorCode::not_found) return make_error(ErrorCode::corrupt, "manifest.json is missing");
    return make_error(ErrorCode::corrupt, t.message());
  }
  auto m = detail::parse_manifest(*t);
  if (!m) return m.error();
  if (m->step != detail::step_of(name))
    return make_error(ErrorCode::corrupt, "manifest.json",
                      "says step " + std::to_string(m->step) + ", the directory's name another");
  text = std::move(*t);
  return m;
}

// Every rank checks the size of each file and checksums its share; all get the verdict.
Status verify_files(const detail::StoreState& s, const std::string& name, const detail::Manifest& m) {
  const auto& comm = s.comm;
  for (const auto& f : m.files) {
    const std::string path = s.path_of(name) + "/" + f.name;
    Status local;
    std::uint32_t crc = 0;
    auto size = detail::file_size(path);
    if (!size) {
      local = make_error(ErrorCode::corrupt, f.name,
                         size.error().code == ErrorCode::not_found ? "missing" : size.message());
    } else if (*size != f.bytes) {
      local = make_error(ErrorCode::corrupt, f.name,
                         "size mismatch: manifest says " + std::to_string(f.bytes) + " bytes, the file has " +
                             std::to_string(*size) + " (truncated or overwritten?)");
    } else if (s.verify_checksums) {
      const std::uint64_t lo = f.bytes * static_cast<std::uint64_t>(comm.rank()) / static_cast<std::uint64_t>(comm.size());
      const std::uint64_t hi =
          f.bytes * static_cast<std::uint64_t>(comm.rank() + 1) / static_cast<std::uint64_t>(comm.size());
      auto c = detail::checksum_range(path, lo, hi - lo);
      if (!c)
        local = make_error(ErrorCode::corrupt, f.name, c.message());
      else
        crc = *c;
    }
    if (auto r = detail::agree(comm, std::move(local)); !r) return r;
    if (!s.verify_checksums) continue;
    const std::vector<std::uint32_t> parts = comm.gather(crc, 0);
    std::string verdict;
    if (comm.rank() == 0) {
      std::uint32_t whole = 0;
      for (int r = 0; r < comm.size(); ++r) {
        const std::uint64_t a = f.bytes * static_cast<std::uint64_t>(r) / static_cast<std::uint64_t>(comm.size());
        const std::uint64_t b = f.bytes * static_cast<std::uint64_t>(r + 1) / static_cast<std::uint64_t>(comm.size());
        whole = r == 0 ? parts[0] : detail::crc32c_combine(whole, parts[static_cast<std::size_t>(r)], b - a);
      }
      if (whole != f.crc32c) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "checksum mismatch: manifest says crc32c %08x, the file has %08x", f.crc32c,
                      whole);
        verdict = f.name + ": " + buf;
      }
    }
    comm.broadcast(verdict, 0);
    if (!verdict.empty()) return make_error(ErrorCode::corrupt, verdict);
  }
  return {};
}

}  // namespace

// ---- Store ----

Store::Store(std::shared_ptr<detail::StoreState> state) : state_(std::move(state)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

const std::string& Store::directory() const { return state_->directory; }
int Store::rank() const { return state_->comm.rank(); }
int Store::size() const { return state_->comm.size(); }
int Store::signal_number() const { return state_->signal; }

Result<Store> Store::open(Options options) {
  detail::H5Quiet quiet;
  const std::string ctx = "open checkpoint store";
  auto s = std::make_shared<detail::StoreState>();
#if DROVER_CHECKPOINT_HAVE_MPI
  if (options.comm) {
    if (!detail::mpi_active())
      return make_error(ErrorCode::invalid_argument, ctx, "a communicator was given, but MPI is not initialized");
    s->comm = detail::Comm::duplicate(*options.comm);
  } else if (detail::mpi_active()) {
    s->comm = detail::Comm::duplicate(MPI_COMM_WORLD);
  }
#endif
  s->keep_last = options.keep_last;
  s->verify_checksums = options.verify_checksums;
  s->on_warning = std::move(options.on_warning);

  Status local;
  std::string dir = options.directory;
  if (dir.empty())
    if (const char* env = std::getenv("DROVER_CHECKPOINT_DIR")) dir = env;
  if (dir.empty()) {
    local = make_error(ErrorCode::invalid_argument, ctx,
                       "no directory: pass one, or set DROVER_CHECKPOINT_DIR (Drover sets it for jobs)");
  } else if (options.keep_last < 1) {
    local = make_error(ErrorCode::invalid_argument, ctx,
                       "keep_last is " + std::to_string(options.keep_last) + ", it must be at least 1");
  } else if (auto sig = detail::resolve_signal(options.signal); !sig) {
    local = detail::with_context(ctx, sig.error());
  } else {
    s->signal = *sig;
    std::error_code ec;
    auto abs = std::filesystem::absolute(dir, ec);
    if (ec) local = make_error(ErrorCode::invalid_argument, ctx + ": " + dir, ec.message());
    std::string text = abs.lexically_normal().string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    s->directory = text;
  }
  if (auto r = detail::agree(s->comm, std::move(local),
                             detail::fingerprint(&options.keep_last, sizeof options.keep_last), ctx);
      !r)
    return r.error();
  // Rank 0's spelling of the directory (ranks might start in different working directories).
  s->comm.broadcast(s->directory, 0);

  Status ready;
  if (options.install_signal_handler)
    if (auto r = detail::install_handler(s->signal); !r) ready = detail::with_context(ctx, r.error());
  if (ready && s->comm.rank() == 0) {
    if (auto r = detail::make_directories(s->directory); !r) ready = detail::with_context(ctx, r.error());
  }
  if (auto r = detail::agree(s->comm, std::move(ready)); !r) return r.error();

  if (options.remove_leftovers && s->comm.rank() == 0) {
    if (auto names = detail::list_directory(s->directory)) {
      for (const auto& n : *names) {
        if (n.rfind(detail::kTemporaryPrefix, 0) != 0) continue;
        if (auto r = detail::remove_tree(s->path_of(n)); r)
          s->warn("removed " + s->path_of(n) + ", left by an interrupted checkpoint");
        else
          s->warn(r.message());
      }
    }
  }
  s->comm.barrier();
  return Store(std::move(s));
}

Result<std::optional<CheckpointSummary>> Store::latest() {
  detail::H5Quiet quiet;
  auto& s = *state_;
  if (s.latest_known) return s.latest;
  const auto& comm = s.comm;

  std::vector<std::string> candidates;
  Status listed;
  if (comm.rank() == 0) {
    if (auto c = committed_newest_first(s))
      candidates = std::move(*c);
    else
      listed = detail::with_context("find the latest checkpoint", c.error());
  }
  if (auto r = detail::agree(comm, std::move(listed)); !r) return r.error();

  std::size_t next = 0;
  std::vector<std::string> skipped;
  for (;;) {
    // Rank 0 picks the next candidate whose manifest reads and parses, and sends it round.
    std::string payload;
    if (comm.rank() == 0) {
      while (next < candidates.size()) {
        const std::string& name = candidates[next++];
        std::string text;
        if (auto m = read_manifest(s, name, text)) {
          payload = name + "\n" + text;
          break;
        } else {
          s.warn("skipped checkpoint " + s.path_of(name) + ": " + m.message());
          skipped.push_back(name);
        }
      }
    }
    comm.broadcast(payload, 0);
    if (payload.empty()) break;
    const auto nl = payload.find('\n');
    const std::string name = payload.substr(0, nl);
    auto m = detail::parse_manifest(std::string_view(payload).substr(nl + 1));
    if (!m) return make_error(ErrorCode::corrupt, "find the latest checkpoint", m.message());  // cannot differ
    if (auto v = verify_files(s, name, *m); !v) {
      s.warn("skipped checkpoint " + s.path_of(name) + ": " + v.message());
      skipped.push_back(name);
      continue;
    }
    if (!skipped.empty())
      s.warn("restarting from " + s.path_of(name) + " (step " + std::to_string(m->step) + ") instead of the newer " +
             std::to_string(skipped.size()) + " damaged one(s)");
    s.latest_known = true;
    s.latest = detail::summary_of(*m, s.path_of(name));
    return s.latest;
  }
  if (!skipped.empty()) s.warn("no valid checkpoint in " + s.directory + ": starting from scratch");
  s.latest_known = true;
  s.latest.reset();
  return s.latest;
}

Result<std::vector<CheckpointSummary>> Store::list() const {
  const auto& s = *state_;
  auto names = committed_newest_first(s);
  if (!names) return detail::with_context("list checkpoints", names.error());
  std::vector<CheckpointSummary> out;
  for (auto it = names->rbegin(); it != names->rend(); ++it) {
    std::string text;
    if (auto m = read_manifest(s, *it, text)) out.push_back(detail::summary_of(*m, s.path_of(*it)));
  }
  return out;
}

Result<std::optional<Reader>> Store::restart() {
  auto l = latest();
  if (!l) return l.error();
  if (!*l) return std::optional<Reader>();
  auto r = open_checkpoint(**l);
  if (!r) return r.error();
  return std::optional<Reader>(std::move(*r));
}

Result<bool> Store::is_restart() {
  auto l = latest();
  if (!l) return l.error();
  const bool local = restart_requested_by_drover() || l->has_value();
  return state_->comm.max(local ? 1 : 0) != 0;
}

Result<bool> Store::stop_requested() { return state_->comm.max(stop_requested_locally() ? 1 : 0) != 0; }

}  // namespace drover::checkpoint

// Writing one checkpoint: begin (temporary directory, data.h5), datasets and attributes,
// then the commit protocol (docs/CHECKPOINT.md, "Commit"):
//   1. every rank's status so far is agreed (one failure anywhere fails the checkpoint);
//   2. data.h5 is closed;
//   3. every rank fsyncs it and, meanwhile, computes the CRC32C of its equal share of its
//      bytes; rank 0 combines the shares into the file's CRC32C;
//   4. rank 0 writes manifest.json (fsync), fsyncs the temporary directory, renames it to
//      ckpt-<step> and fsyncs the checkpoint directory;
//   5. only then are checkpoints beyond keep_last removed.
// A failure before 4's rename leaves nothing but the temporary directory, which is removed.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "crc32c.hpp"
#include "errors.hpp"
#include "fs.hpp"
#include "store_state.hpp"

namespace drover::checkpoint {

using detail::H5Id;
using detail::make_error;

struct detail::WriterState {
  std::shared_ptr<detail::StoreState> store;
  std::int64_t step = 0;
  double time = 0;
  std::string temporary;  // the directory being filled
  H5Id file, data_group, meta_group;
  std::vector<DatasetEntry> datasets;
  Status failed;          // the first agreed failure; the checkpoint cannot commit after one
  bool finished = false;  // committed or abandoned

  std::string context() const { return "checkpoint " + std::to_string(step); }
  const detail::Comm& comm() const { return store->comm; }

  // Closes everything and removes the temporary directory (collective).
  void abandon() {
    if (finished) return;
    data_group.reset();
    meta_group.reset();
    file.reset();
    comm().barrier();
    if (comm().rank() == 0 && !temporary.empty() && detail::is_directory(temporary))
      if (auto r = detail::remove_tree(temporary); !r) store->warn(context() + ": " + r.message());
    finished = true;
    store->writing = false;
  }

  // The checks every collective call on a writer starts with.
  Status usable() const {
    if (finished) return make_error(ErrorCode::invalid_argument, context(), "already committed or abandoned");
    return failed;
  }

  // Agrees on `local`; a failure fails the whole checkpoint.
  Status settle(Status local, std::uint64_t signature = 0, const std::string& what = {}) {
    Status agreed = detail::agree(comm(), std::move(local), signature, what);
    if (!agreed && failed) failed = agreed;
    return agreed;
  }
};

namespace {

// A scalar attribute, replacing one of the same name.
Status put_attribute(hid_t where, const std::string& key, hid_t file_type, hid_t memory_type, const void* value) {
  if (H5Aexists(where, key.c_str()) > 0 && H5Adelete(where, key.c_str()) < 0)
    return make_error(ErrorCode::io, "cannot replace attribute '" + key + "'", detail::h5_failure());
  H5Id space(H5Screate(H5S_SCALAR));
  H5Id attr(H5Acreate2(where, key.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT));
  if (!attr || H5Awrite(attr.get(), memory_type, value) < 0)
    return make_error(ErrorCode::io, "cannot write attribute '" + key + "'", detail::h5_failure());
  if (!attr.reset()) return make_error(ErrorCode::io, "cannot write attribute '" + key + "'", detail::h5_failure());
  return {};
}

H5Id utf8_string_type() {
  H5Id t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

Status check_name(const std::string& kind, std::string_view name) {
  if (name.empty()) return make_error(ErrorCode::invalid_argument, kind + " name is empty");
  if (name.size() > 255) return make_error(ErrorCode::invalid_argument, kind + " name is longer than 255 bytes");
  if (name.find('/') != std::string_view::npos || name == "." || name == "..")
    return make_error(ErrorCode::invalid_argument, kind + " '" + std::string(name) + "'", "a name may not contain '/'");
  for (unsigned char c : name)
    if (c < 0x20) return make_error(ErrorCode::invalid_argument, kind + " name has control characters");
  return {};
}

}  // namespace

// ---- Store::begin ----

Result<Writer> Store::begin(std::int64_t step, double time) {
  detail::H5Quiet quiet;
  auto& s = *state_;
  auto impl = std::make_unique<detail::WriterState>();
  impl->store = state_;
  impl->step = step;
  impl->time = time;
  const std::string ctx = impl->context();

  Status local;
  if (s.writing)
    local = make_error(ErrorCode::invalid_argument, ctx, "checkpoint already being written (commit or abort it first)");
  else if (step < 0 || step > detail::kMaxStep)
    local = make_error(ErrorCode::invalid_argument, ctx, "step must be 0 to 999999999999");
  else if (!std::isfinite(time))
    local = make_error(ErrorCode::invalid_argument, ctx, "time is not a finite number");
  std::uint64_t sig = detail::fingerprint(&step, sizeof step);
  sig = detail::fingerprint(&time, sizeof time, sig);
  if (auto r = detail::agree(s.comm, std::move(local), sig, ctx + ": begin"); !r) return r.error();

  // Rank 0 makes the temporary directory; everyone learns its name.
  std::string temporary;
  Status made;
  if (s.comm.rank() == 0) {
    temporary = s.path_of(std::string(detail::kTemporaryPrefix) + detail::committed_name(step).substr(5) + "-" +
                          detail::unique_suffix());
    if (auto r = detail::make_directory(temporary); !r) made = detail::with_context(ctx, r.error());
  }
  if (auto r = detail::agree(s.comm, std::move(made)); !r) return r.error();
  s.comm.broadcast(temporary, 0);
  impl->temporary = temporary;
  s.writing = true;  // from here on, abandon() cleans up

  const std::string path = temporary + "/" + detail::kDataFile;
  {
    H5Id fapl = detail::file_access(s);
    impl->file = H5Id(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()));
  }
  Status created;
  if (!impl->file) created = make_error(ErrorCode::io, ctx + ": cannot create " + path, detail::h5_failure());
  if (auto r = detail::agree(s.comm, std::move(created)); !r) {
    impl->abandon();
    return r.error();
  }

  // Root attributes and the two groups: metadata, written collectively.
  Status layout;
  const std::int64_t step64 = step;
  const std::int32_t ranks = s.comm.size();
  if (auto r = put_attribute(impl->file.get(), "drover_step", H5T_STD_I64LE, H5T_NATIVE_INT64, &step64); !r)
    layout = r;
  else if (r = put_attribute(impl->file.get(), "drover_time", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &time); !r)
    layout = r;
  else if (r = put_attribute(impl->file.get(), "drover_ranks", H5T_STD_I32LE, H5T_NATIVE_INT32, &ranks); !r)
    layout = r;
  if (layout) {
    impl->data_group = H5Id(H5Gcreate2(impl->file.get(), "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    impl->meta_group = H5Id(H5Gcreate2(impl->file.get(), "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (!impl->data_group || !impl->meta_group)
      layout = make_error(ErrorCode::io, "cannot create groups /data and /meta", detail::h5_failure());
  }
  if (!layout) layout = detail::with_context(ctx, layout.error());
  if (auto r = detail::agree(s.comm, std::move(layout)); !r) {
    impl->abandon();
    return r.error();
  }
  return Writer(std::move(impl));
}

// ---- Writer ----

Writer::Writer(std::unique_ptr<detail::WriterState> impl) : impl_(std::move(impl)) {}
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    if (impl_) abort();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
Writer::~Writer() {
  if (impl_) abort();
}

std::int64_t Writer::step() const { return impl_->step; }
double Writer::time() const { return impl_->time; }

Status Writer::count_mismatch(std::string_view name, std::size_t have, std::uint64_t need) const {
  // Agreed like any other failure, so that every rank leaves write() together.
  return impl_->settle(make_error(ErrorCode::invalid_argument,
                                  impl_->context() + ": write of dataset '" + std::string(name) + "' failed",
                                  "the buffer has " + std::to_string(have) + " elements, the slab " +
                                      std::to_string(need)));
}

Status Writer::write(std::string_view name_view, DataType type, std::span<const std::uint64_t> global_shape,
                     std::span<const std::uint64_t> offset, std::span<const std::uint64_t> count,
                     const void* data) {
  detail::H5Quiet quiet;
  auto& w = *impl_;
  const std::string name(name_view);
  const std::string what = w.context() + ": write of dataset '" + name + "' failed";
  if (auto r = w.usable(); !r) return r;

  // Local checks, then agreement: every rank must reach H5Dcreate, or none.
  Status local;
  std::uint64_t elements = 1;
  const std::size_t ndims = global_shape.size();
  if (auto r = check_name("dataset", name); !r) {
    local = detail::with_context(what, r.error());
  } else if (std::any_of(w.datasets.begin(), w.datasets.end(), [&](const auto& d) { return d.name == name; })) {
    local = make_error(ErrorCode::invalid_argument, what, "already written in this checkpoint");
  } else if (type < DataType::float64 || type > DataType::uint8) {
    local = make_error(ErrorCode::invalid_argument, what, "unknown element type");
  } else if (ndims < 1 || ndims > 32) {
    local = make_error(ErrorCode::invalid_argument, what, "an array has 1 to 32 dimensions");
  } else if (offset.size() != ndims || count.size() != ndims) {
    local = make_error(ErrorCode::invalid_argument, what,
                       "offset and count need " + std::to_string(ndims) + " values, like the global shape");
  } else {
    for (std::size_t d = 0; d < ndims && local; ++d) {
      if (global_shape[d] > (std::uint64_t{1} << 62))
        local = make_error(ErrorCode::invalid_argument, what,
                           "global shape " + detail::shape_text(global_shape) + " has a dimension out of range");
      else if (count[d] > global_shape[d] || offset[d] > global_shape[d] - count[d])
        local = make_error(ErrorCode::invalid_argument, what,
                           "slab offset " + detail::shape_text(offset) + " count " + detail::shape_text(count) +
                               " is outside the global shape " + detail::shape_text(global_shape));
      elements *= count[d];
    }
    if (local && elements > 0 && data == nullptr) local = make_error(ErrorCode::invalid_argument, what, "no data");
  }
  std::uint64_t sig = detail::fingerprint(name);
  sig = detail::fingerprint(&type, sizeof type, sig);
  sig = detail::fingerprint(global_shape.data(), global_shape.size_bytes(), sig);
  if (auto r = w.settle(std::move(local), sig, what); !r) return r;
  // How to move the data must be the same decision on every rank.
  const bool all_contiguous =
      w.comm().max(detail::contiguous_in_file(global_shape, count) || elements == 0 ? 0 : 1) == 0;

  const auto& s = *w.store;
  Status wrote;
  {
    std::vector<hsize_t> dims(global_shape.begin(), global_shape.end());
    H5Id space(H5Screate_simple(static_cast<int>(ndims), dims.data(), nullptr));
    H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
    // Contiguous, and never filled: every element is written, so fill values would only
    // double the I/O (parallel HDF5 allocates early and would write them).
    H5Pset_layout(dcpl.get(), H5D_CONTIGUOUS);
    H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER);
    if (s.parallel()) H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY);
    H5Id dset(H5Dcreate2(w.data_group.get(), name.c_str(), detail::file_type(type), space.get(), H5P_DEFAULT,
                         dcpl.get(), H5P_DEFAULT));
    if (!dset) {
      wrote = make_error(ErrorCode::io, what, detail::h5_failure());
    } else {
      H5Id file_space(H5Dget_space(dset.get()));
      std::vector<hsize_t> start(offset.begin(), offset.end()), block(count.begin(), count.end());
      H5Id memory_space(H5Screate_simple(static_cast<int>(ndims), block.data(), nullptr));
      if (elements > 0) {
        H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr);
      } else {
        H5Sselect_none(file_space.get());
        H5Sselect_none(memory_space.get());
      }
      H5Id xfer = detail::transfer(s, all_contiguous);
      static const char kNothing = 0;  // HDF5 wants a buffer even for an empty selection
      if (H5Dwrite(dset.get(), detail::memory_type(type), memory_space.get(), file_space.get(), xfer.get(),
                   data ? data : &kNothing) < 0)
        wrote = make_error(ErrorCode::io, what, detail::h5_failure());
      if (!dset.reset() && wrote) wrote = make_error(ErrorCode::io, what, detail::h5_failure());
    }
  }
  if (auto r = w.settle(std::move(wrote)); !r) return r;
  w.datasets.push_back(DatasetEntry{name, type, Shape(global_shape.begin(), global_shape.end())});
  return {};
}

Status Writer::write_whole(std::string_view name, DataType type, std::span<const std::uint64_t> shape,
                           const void* data) {
  const Shape zeros(shape.size(), 0);
  const bool mine = impl_->comm().rank() == 0;
  return write(name, type, shape, zeros, mine ? shape : std::span<const std::uint64_t>(zeros), data);
}

namespace {

template <class F>
Status set_meta(detail::WriterState& w, std::string_view key_view, std::uint64_t sig, F put) {
  detail::H5Quiet quiet;
  const std::string key(key_view);
  const std::string what = w.context() + ": attribute '" + key + "' failed";
  if (auto r = w.usable(); !r) return r;
  Status local;
  if (auto r = check_name("attribute", key); !r) local = detail::with_context(what, r.error());
  if (auto r = w.settle(std::move(local), detail::fingerprint(key, sig), what); !r) return r;
  Status wrote = put(key);
  if (!wrote) wrote = detail::with_context(w.context(), wrote.error());
  return w.settle(std::move(wrote));
}

}  // namespace

Status Writer::set_attribute(std::string_view key, std::string_view value) {
  const std::string text(value);
  return set_meta(*impl_, key, 1, [&](const std::string& k) {
    H5Id type = utf8_string_type();
    const char* p = text.c_str();
    return put_attribute(impl_->meta_group.get(), k, type.get(), type.get(), &p);
  });
}

Status Writer::set_attribute(std::string_view key, std::int64_t value) {
  return set_meta(*impl_, key, 2, [&](const std::string& k) {
    return put_attribute(impl_->meta_group.get(), k, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
  });
}

Status Writer::set_attribute(std::string_view key, double value) {
  return set_meta(*impl_, key, 3, [&](const std::string& k) {
    return put_attribute(impl_->meta_group.get(), k, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
  });
}

void Writer::abort() {
  if (!impl_) return;
  detail::H5Quiet quiet;
  impl_->abandon();
}

namespace {

// Removes committed checkpoints beyond keep_last after `step` is in place: the kept ones are
// `step` and the keep_last - 1 newest older ones. Newer ones than `step` are from a run
// the job has left (it restarted from an older checkpoint) and go too, so a later restart
// cannot jump back to them. Rank 0 only; failures are warnings.
void prune(const detail::StoreState& s, std::int64_t step) {
  auto names = detail::list_directory(s.directory);
  if (!names) {
    s.warn("cannot remove old checkpoints: " + names.message());
    return;
  }
  std::vector<std::int64_t> older;
  std::vector<std::int64_t> remove;
  for (const auto& n : *names) {
    const std::int64_t st = detail::step_of(n);
    if (st < 0 || st == step || !detail::is_directory(s.path_of(n))) continue;
    (st < step ? older : remove).push_back(st);
  }
  std::sort(older.begin(), older.end(), std::greater<>());
  for (std::size_t i = static_cast<std::size_t>(s.keep_last - 1); i < older.size(); ++i) remove.push_back(older[i]);
  for (std::int64_t st : remove) {
    // Renamed out of the committed names first, so that a crash halfway through a removal
    // leaves a leftover (removed at the next open) rather than a damaged checkpoint.
    const std::string from = s.path_of(detail::committed_name(st));
    const std::string aside =
        s.path_of(std::string(detail::kTemporaryPrefix) + detail::committed_name(st).substr(5) + "-removed-" +
                  detail::unique_suffix());
    if (::rename(from.c_str(), aside.c_str()) != 0) {
      s.warn("cannot remove old checkpoint " + from + ": " + detail::errno_text(errno));
      continue;
    }
    if (auto r = detail::remove_tree(aside); !r) s.warn("cannot remove old checkpoint: " + r.message());
  }
  if (!remove.empty())
    if (auto r = detail::sync_path(s.directory); !r) s.warn("after removing old checkpoints: " + r.message());
}

}  // namespace

Result<CheckpointSummary> Writer::commit() {
  detail::H5Quiet quiet;
  auto& w = *impl_;
  auto& s = *w.store;
  const detail::Comm& comm = s.comm;
  const std::string ctx = w.context();
  const std::string not_committed = ctx + ": not committed";
  if (w.finished) return make_error(ErrorCode::invalid_argument, ctx, "already committed or abandoned");
  if (!w.failed) {
    // Earlier failures were agreed when they happened: every rank is here with the same one.
    Error e = w.failed.error();
    w.abandon();
    e.message = detail::recontext(not_committed, e.message, w.step);
    return e;
  }

  // 2. Close. No MPI_File_sync: every rank fsyncs the file itself below, which is what
  // makes its writes durable on a parallel file system too, and overlaps with the checksum.
  Status closed;
  const bool groups_closed = w.data_group.reset() & w.meta_group.reset();
  if (!w.file.reset() || !groups_closed)
    closed = make_error(ErrorCode::io, not_committed, "close of data.h5 failed: " + detail::h5_failure());
  if (auto r = detail::agree(comm, std::move(closed)); !r) {
    w.abandon();
    return r.error();
  }

  // 3. fsync and checksum, each rank its share.
  const std::string data_path = w.temporary + "/" + detail::kDataFile;
  Status summed;
  std::uint64_t size = 0;
  std::uint32_t crc = 0;
  if (auto n = detail::file_size(data_path); !n) {
    summed = make_error(n.error().code, not_committed, n.message());
  } else {
    size = *n;
    const std::uint64_t lo = size * static_cast<std::uint64_t>(comm.rank()) / static_cast<std::uint64_t>(comm.size());
    const std::uint64_t hi =
        size * static_cast<std::uint64_t>(comm.rank() + 1) / static_cast<std::uint64_t>(comm.size());
    if (auto c = detail::sync_and_checksum(data_path, lo, hi - lo); !c)
      summed = make_error(c.error().code, not_committed, c.message());
    else
      crc = *c;
  }
  if (auto r = detail::agree(comm, std::move(summed), size, not_committed + ": size of data.h5"); !r) {
    w.abandon();
    return r.error();
  }
  const std::vector<std::uint32_t> parts = comm.gather(crc, 0);

  // 4. Manifest, rename, directory fsyncs: rank 0.
  detail::Manifest m;
  m.step = w.step;
  m.time = w.time;
  m.created_at_ms = detail::now_ms();
  m.ranks = comm.size();
  m.datasets = w.datasets;
  const std::string final_path = s.path_of(detail::committed_name(w.step));
  Status placed;
  bool renamed = false;
  if (comm.rank() == 0) {
    std::uint32_t whole = 0;
    for (int r = 0; r < comm.size(); ++r) {
      const std::uint64_t a = size * static_cast<std::uint64_t>(r) / static_cast<std::uint64_t>(comm.size());
      const std::uint64_t b = size * static_cast<std::uint64_t>(r + 1) / static_cast<std::uint64_t>(comm.size());
      whole = r == 0 ? parts[0] : detail::crc32c_combine(whole, parts[static_cast<std::size_t>(r)], b - a);
    }
    m.files.push_back(detail::ManifestFile{detail::kDataFile, size, whole});
    m.bytes = size;  // the sum of files[].bytes
    const std::string text = detail::to_json(m);
    const std::string aside = s.path_of(std::string(detail::kTemporaryPrefix) +
                                        detail::committed_name(w.step).substr(5) + "-replaced-" +
                                        detail::unique_suffix());
    if (auto r = detail::write_file_durably(w.temporary + "/" + detail::kManifestFile, text); !r)
      placed = make_error(r.error().code, not_committed, r.message());
    else if (r = detail::sync_path(w.temporary); !r)
      placed = make_error(ErrorCode::io, not_committed, r.message());
    else if (r = detail::rename_into_place(w.temporary, final_path, aside); !r)
      placed = make_error(ErrorCode::io, not_committed, r.message());
    else if (renamed = true, r = detail::sync_path(s.directory); !r)
      placed = make_error(ErrorCode::io, ctx + ": in place but maybe not durable", r.message());
  }
  std::string manifest_text = comm.rank() == 0 ? detail::to_json(m) : std::string();
  if (auto r = detail::agree(comm, std::move(placed)); !r) {
    if (renamed) w.temporary.clear();  // it is the checkpoint now; leave it
    w.abandon();
    return r.error();
  }
  // Every rank returns the same summary (rank 0's sizes and checksums).
  comm.broadcast(manifest_text, 0);
  auto parsed = detail::parse_manifest(manifest_text);
  CheckpointSummary summary = parsed ? detail::summary_of(*parsed, final_path) : CheckpointSummary{};

  // 5. Only now: remove what is beyond keep_last.
  if (comm.rank() == 0) prune(s, w.step);
  comm.barrier();

  w.temporary.clear();
  w.finished = true;
  s.writing = false;
  s.latest_known = true;
  s.latest = summary;
  return summary;
}

}  // namespace drover::checkpoint

// Reading a committed checkpoint back, whole or by slabs, with any number of ranks: the
// global shape is in the file, so the slabs need not be the ones that were written.
#include <vector>

#include "errors.hpp"
#include "store_state.hpp"

namespace drover::checkpoint {

using detail::H5Id;
using detail::make_error;

struct detail::ReaderState {
  std::shared_ptr<detail::StoreState> store;
  CheckpointSummary summary;
  H5Id file;
  std::string context() const { return "checkpoint " + std::to_string(summary.step); }
};

Result<Reader> Store::open_checkpoint(const CheckpointSummary& checkpoint) {
  detail::H5Quiet quiet;
  auto impl = std::make_unique<detail::ReaderState>();
  impl->store = state_;
  impl->summary = checkpoint;
  const std::string path = checkpoint.path + "/" + detail::kDataFile;
  {
    H5Id fapl = detail::file_access(*state_);
    impl->file = H5Id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()));
  }
  Status local;
  if (!impl->file) local = make_error(ErrorCode::io, impl->context() + ": cannot open " + path, detail::h5_failure());
  if (auto r = detail::agree(state_->comm, std::move(local), detail::fingerprint(path)); !r) return r.error();
  return Reader(std::move(impl));
}

Reader::Reader(std::unique_ptr<detail::ReaderState> impl) : impl_(std::move(impl)) {}
Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&& other) noexcept {
  if (this != &other) {
    close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
Reader::~Reader() { close(); }

void Reader::close() {
  if (!impl_) return;
  detail::H5Quiet quiet;
  impl_->file.reset();
  impl_.reset();
}

const CheckpointSummary& Reader::summary() const { return impl_->summary; }

Result<DatasetEntry> Reader::dataset(std::string_view name) const {
  for (const auto& d : impl_->summary.datasets)
    if (d.name == name) return d;
  std::string have;
  for (const auto& d : impl_->summary.datasets) have += (have.empty() ? "" : ", ") + d.name;
  return make_error(ErrorCode::not_found, impl_->context() + ": no dataset '" + std::string(name) + "'",
                    have.empty() ? "it has none" : "it has " + have);
}

Status Reader::count_mismatch(std::string_view name, std::size_t have, std::uint64_t need) const {
  return detail::agree(impl_->store->comm,
                       make_error(ErrorCode::invalid_argument,
                                  impl_->context() + ": read of dataset '" + std::string(name) + "' failed",
                                  "the buffer has " + std::to_string(have) + " elements, the slab " +
                                      std::to_string(need)));
}

namespace {

// What a read found in the file: the dataset, its type and shape.
struct Opened {
  H5Id dataset;
  DataType type = DataType::float64;
  Shape shape;
};

// Collective under MPI (metadata reads are): every rank calls it, whatever its arguments.
Result<Opened> open_dataset(hid_t file, const std::string& name, const std::string& what) {
  const std::string path = "/data/" + name;
  Opened o;
  if (name.empty() || name.find('/') != std::string::npos || H5Lexists(file, "/data", H5P_DEFAULT) <= 0 ||
      H5Lexists(file, path.c_str(), H5P_DEFAULT) <= 0) {
    detail::h5_failure();  // clears the stack
    return make_error(ErrorCode::not_found, what, "no such dataset");
  }
  o.dataset = H5Id(H5Dopen2(file, path.c_str(), H5P_DEFAULT));
  if (!o.dataset) return make_error(ErrorCode::io, what, detail::h5_failure());
  H5Id type(H5Dget_type(o.dataset.get()));
  if (!type || !detail::classify(type.get(), o.type))
    return make_error(ErrorCode::mismatch, what, "its element type is none of float64, float32, int32, int64, uint8");
  H5Id space(H5Dget_space(o.dataset.get()));
  const int ndims = space ? H5Sget_simple_extent_ndims(space.get()) : -1;
  if (ndims < 0) return make_error(ErrorCode::io, what, detail::h5_failure());
  std::vector<hsize_t> dims(static_cast<std::size_t>(ndims));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  o.shape.assign(dims.begin(), dims.end());
  return o;
}

}  // namespace

Status Reader::read(std::string_view name_view, DataType type, std::span<const std::uint64_t> expected_shape,
                    std::span<const std::uint64_t> offset, std::span<const std::uint64_t> count, void* out) {
  detail::H5Quiet quiet;
  auto& r = *impl_;
  const auto& s = *r.store;
  const std::string name(name_view);
  const std::string what = r.context() + ": read of dataset '" + name + "' failed";
  if (!r.file) return make_error(ErrorCode::invalid_argument, what, "the checkpoint is closed");

  auto opened = open_dataset(r.file.get(), name, what);
  Status local;
  std::uint64_t elements = 1;
  if (!opened) {
    local = opened.error();
  } else if (type < DataType::float64 || type > DataType::uint8) {
    local = make_error(ErrorCode::invalid_argument, what, "unknown element type");
  } else {
    const Shape& have = opened->shape;
    if (opened->type != type) {
      local = make_error(ErrorCode::mismatch, what,
                         std::string("type mismatch: the checkpoint has ") + to_string(opened->type) +
                             ", the caller reads " + to_string(type));
    } else if (!expected_shape.empty() && !std::equal(have.begin(), have.end(), expected_shape.begin(),
                                                      expected_shape.end())) {
      local = make_error(ErrorCode::mismatch, what,
                         "shape mismatch: the checkpoint has " + detail::shape_text(have) + ", the caller expects " +
                             detail::shape_text(expected_shape));
    } else if (offset.size() != have.size() || count.size() != have.size()) {
      local = make_error(ErrorCode::invalid_argument, what,
                         "offset and count need " + std::to_string(have.size()) + " values for shape " +
                             detail::shape_text(have));
    } else {
      for (std::size_t d = 0; d < have.size() && local; ++d) {
        if (count[d] > have[d] || offset[d] > have[d] - count[d])
          local = make_error(ErrorCode::invalid_argument, what,
                             "slab offset " + detail::shape_text(offset) + " count " + detail::shape_text(count) +
                                 " is outside the shape " + detail::shape_text(have));
        elements *= count[d];
      }
      if (local && elements > 0 && out == nullptr) local = make_error(ErrorCode::invalid_argument, what, "no buffer");
    }
  }
  if (auto a = detail::agree(s.comm, std::move(local), detail::fingerprint(name), what); !a) return a;
  const bool all_contiguous =
      s.comm.max(detail::contiguous_in_file(opened->shape, count) || elements == 0 ? 0 : 1) == 0;

  Status got;
  {
    const std::size_t ndims = opened->shape.size();
    H5Id file_space(H5Dget_space(opened->dataset.get()));
    std::vector<hsize_t> start(offset.begin(), offset.end()), block(count.begin(), count.end());
    H5Id memory_space(H5Screate_simple(static_cast<int>(ndims), block.data(), nullptr));
    if (elements > 0) {
      H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr, block.data(), nullptr);
    } else {
      H5Sselect_none(file_space.get());
      H5Sselect_none(memory_space.get());
    }
    H5Id xfer = detail::transfer(s, all_contiguous);
    char nothing = 0;
    if (H5Dread(opened->dataset.get(), detail::memory_type(type), memory_space.get(), file_space.get(), xfer.get(),
                out ? out : &nothing) < 0)
      got = make_error(ErrorCode::io, what, detail::h5_failure());
  }
  return detail::agree(s.comm, std::move(got));
}

Status Reader::read_whole(std::string_view name, DataType type, std::span<const std::uint64_t> expected_shape,
                          void* out, std::size_t out_elements) {
  // The shape comes from the manifest (verified with the file's checksum); read() checks it
  // against the file again and reports mismatches.
  Shape shape;
  if (auto d = dataset(name)) shape = d->shape;
  else if (!expected_shape.empty()) shape.assign(expected_shape.begin(), expected_shape.end());
  std::uint64_t n = 1;
  for (auto c : shape) n *= c;
  if (!shape.empty() && (expected_shape.empty() || std::equal(shape.begin(), shape.end(), expected_shape.begin(),
                                                              expected_shape.end())) &&
      n != out_elements)
    return count_mismatch(name, out_elements, n);
  const Shape offset(shape.size(), 0);
  return read(name, type, expected_shape, offset, shape, out);
}

namespace {

// Opens /meta/<key>; collective like the rest.
Result<H5Id> open_attribute(hid_t file, const std::string& key, const std::string& what) {
  if (H5Lexists(file, "/meta", H5P_DEFAULT) <= 0 || H5Aexists_by_name(file, "/meta", key.c_str(), H5P_DEFAULT) <= 0) {
    detail::h5_failure();
    return make_error(ErrorCode::not_found, what, "no such attribute");
  }
  H5Id a(H5Aopen_by_name(file, "/meta", key.c_str(), H5P_DEFAULT, H5P_DEFAULT));
  if (!a) return make_error(ErrorCode::io, what, detail::h5_failure());
  return a;
}

template <class T>
Result<T> read_number(detail::ReaderState& r, std::string_view key_view, hid_t memory, H5T_class_t wanted) {
  detail::H5Quiet quiet;
  const std::string key(key_view);
  const std::string what = r.context() + ": attribute '" + key + "'";
  T value{};
  Status local;
  if (!r.file) {
    local = make_error(ErrorCode::invalid_argument, what, "the checkpoint is closed");
  } else if (auto a = open_attribute(r.file.get(), key, what); !a) {
    local = a.error();
  } else {
    H5Id type(H5Aget_type(a->get()));
    if (H5Tget_class(type.get()) != wanted)
      local = make_error(ErrorCode::mismatch, what, wanted == H5T_FLOAT ? "not a number" : "not an integer");
    else if (H5Aread(a->get(), memory, &value) < 0)
      local = make_error(ErrorCode::io, what, detail::h5_failure());
  }
  if (auto ok = detail::agree(r.store->comm, std::move(local)); !ok) return ok.error();
  return value;
}

}  // namespace

Result<std::int64_t> Reader::int_attribute(std::string_view key) {
  return read_number<std::int64_t>(*impl_, key, H5T_NATIVE_INT64, H5T_INTEGER);
}

Result<double> Reader::double_attribute(std::string_view key) {
  return read_number<double>(*impl_, key, H5T_NATIVE_DOUBLE, H5T_FLOAT);
}

Result<std::string> Reader::string_attribute(std::string_view key_view) {
  detail::H5Quiet quiet;
  auto& r = *impl_;
  const std::string key(key_view);
  const std::string what = r.context() + ": attribute '" + key + "'";
  std::string value;
  Status local;
  if (!r.file) {
    local = make_error(ErrorCode::invalid_argument, what, "the checkpoint is closed");
  } else if (auto a = open_attribute(r.file.get(), key, what); !a) {
    local = a.error();
  } else {
    H5Id stored(H5Aget_type(a->get()));
    if (H5Tget_class(stored.get()) != H5T_STRING) {
      local = make_error(ErrorCode::mismatch, what, "not a string");
    } else if (H5Tis_variable_str(stored.get()) > 0) {
      H5Id type = H5Id(H5Tcopy(H5T_C_S1));
      H5Tset_size(type.get(), H5T_VARIABLE);
      H5Tset_cset(type.get(), H5Tget_cset(stored.get()));
      char* p = nullptr;
      if (H5Aread(a->get(), type.get(), &p) < 0) {
        local = make_error(ErrorCode::io, what, detail::h5_failure());
      } else if (p) {
        value = p;
        H5free_memory(p);
      }
    } else {
      // Fixed-length strings (written by other tools).
      std::string buf(H5Tget_size(stored.get()), '\0');
      if (H5Aread(a->get(), stored.get(), buf.data()) < 0) local = make_error(ErrorCode::io, what, detail::h5_failure());
      value = buf.substr(0, buf.find('\0'));
    }
  }
  if (auto ok = detail::agree(r.store->comm, std::move(local)); !ok) return ok.error();
  return value;
}

}  // namespace drover::checkpoint

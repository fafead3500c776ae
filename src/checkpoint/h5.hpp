// HDF5 helpers: owning ids, the reason of the last failure, element types.
#pragma once

#include <hdf5.h>

#include <string>
#include <utility>

#include "drover/checkpoint.hpp"

namespace drover::checkpoint::detail {

// Owns an HDF5 id and closes it with the right H5?close.
class H5Id {
 public:
  H5Id() = default;
  explicit H5Id(hid_t id) : id_(id) {}
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Closes now; false if HDF5 says the close failed (for files: a failed final flush).
  bool reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Turns HDF5's automatic error printing off for its lifetime (the library reports errors
// itself) and restores the application's setting afterwards.
class H5Quiet {
 public:
  H5Quiet();
  ~H5Quiet();
  H5Quiet(const H5Quiet&) = delete;
  H5Quiet& operator=(const H5Quiet&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

// Why the last HDF5 call failed, in a few words: the system's reason where HDF5 recorded one
// ("No space left on device"), an MPI error string, else HDF5's innermost message. Clears
// HDF5's error stack.
std::string h5_failure();

// The type to describe memory of `type` and the little-endian type stored in files.
hid_t memory_type(DataType type);
hid_t file_type(DataType type);
// The DataType of a stored dataset's type, if it is one of ours.
bool classify(hid_t stored_type, DataType& out);

}  // namespace drover::checkpoint::detail

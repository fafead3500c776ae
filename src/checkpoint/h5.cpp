#include "h5.hpp"

#include <vector>

namespace drover::checkpoint::detail {

bool H5Id::reset() {
  if (id_ < 0) return true;
  herr_t rc = 0;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: rc = H5Fclose(id_); break;
    case H5I_GROUP: rc = H5Gclose(id_); break;
    case H5I_DATASET: rc = H5Dclose(id_); break;
    case H5I_DATASPACE: rc = H5Sclose(id_); break;
    case H5I_DATATYPE: rc = H5Tclose(id_); break;
    case H5I_ATTR: rc = H5Aclose(id_); break;
    case H5I_GENPROP_LST: rc = H5Pclose(id_); break;
    default: rc = H5Idec_ref(id_); break;
  }
  id_ = H5I_INVALID_HID;
  return rc >= 0;
}

H5Quiet::H5Quiet() {
  H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

H5Quiet::~H5Quiet() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }

namespace {

struct Walk {
  std::vector<std::string> messages;  // innermost first
};

herr_t collect(unsigned, const H5E_error2_t* e, void* data) {
  auto* w = static_cast<Walk*>(data);
  w->messages.emplace_back(e->desc ? e->desc : "");
  return 0;
}

// The text between `key` and the next quote, e.g. error message = '...'.
bool quoted_after(const std::string& s, const std::string& key, std::string& out) {
  const auto at = s.find(key);
  if (at == std::string::npos) return false;
  const auto start = at + key.size();
  const auto end = s.find('\'', start);
  if (end == std::string::npos) return false;
  out = s.substr(start, end - start);
  return !out.empty();
}

}  // namespace

std::string h5_failure() {
  Walk w;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect, &w);
  H5Eclear2(H5E_DEFAULT);
  std::string reason;
  for (const auto& m : w.messages)
    if (quoted_after(m, "error message = '", reason)) return reason;  // sec2: strerror(errno)
  for (const auto& m : w.messages)
    if (quoted_after(m, "MPI error string is '", reason)) return reason;
  for (const auto& m : w.messages)
    if (!m.empty()) return m;
  return "HDF5 call failed";
}

hid_t memory_type(DataType type) {
  switch (type) {
    case DataType::float64: return H5T_NATIVE_DOUBLE;
    case DataType::float32: return H5T_NATIVE_FLOAT;
    case DataType::int32: return H5T_NATIVE_INT32;
    case DataType::int64: return H5T_NATIVE_INT64;
    case DataType::uint8: return H5T_NATIVE_UINT8;
  }
  return H5I_INVALID_HID;
}

hid_t file_type(DataType type) {
  switch (type) {
    case DataType::float64: return H5T_IEEE_F64LE;
    case DataType::float32: return H5T_IEEE_F32LE;
    case DataType::int32: return H5T_STD_I32LE;
    case DataType::int64: return H5T_STD_I64LE;
    case DataType::uint8: return H5T_STD_U8LE;
  }
  return H5I_INVALID_HID;
}

bool classify(hid_t t, DataType& out) {
  const H5T_class_t c = H5Tget_class(t);
  const std::size_t size = H5Tget_size(t);
  if (c == H5T_FLOAT) {
    if (size == 8) return out = DataType::float64, true;
    if (size == 4) return out = DataType::float32, true;
    return false;
  }
  if (c == H5T_INTEGER) {
    const bool is_signed = H5Tget_sign(t) == H5T_SGN_2;
    if (is_signed && size == 4) return out = DataType::int32, true;
    if (is_signed && size == 8) return out = DataType::int64, true;
    if (!is_signed && size == 1) return out = DataType::uint8, true;
  }
  return false;
}

}  // namespace drover::checkpoint::detail

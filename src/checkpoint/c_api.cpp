// The C API (include/drover/checkpoint.h): one handle holds the store, the checkpoint being
// written and the one being read, so that Fortran and C callers need a single opaque pointer.
#include <cstring>
#include <cstdio>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "drover/checkpoint.h"
#include "drover/checkpoint.hpp"

namespace ckpt = drover::checkpoint;

// Where a handle's warnings go; shared with the store's on_warning, which exists before the
// handle does (open may already warn).
struct WarningRoute {
  void (*handler)(const char*, void*) = nullptr;
  void* user = nullptr;
};

struct drover_ckpt {
  ckpt::Store store;
  std::shared_ptr<WarningRoute> route;
  std::optional<ckpt::Writer> writer;
  std::optional<ckpt::Reader> reader;
  std::string last_error;
};

namespace {

thread_local std::string g_open_error;

int code_of(const ckpt::Error& e) { return -static_cast<int>(e.code); }

int fail(drover_ckpt* h, const ckpt::Error& e) {
  h->last_error = e.message;
  return code_of(e);
}

int fail(drover_ckpt* h, int code, std::string message) {
  h->last_error = std::move(message);
  return code;
}

int check(drover_ckpt* h, const ckpt::Status& s) {
  if (!s) return fail(h, s.error());
  h->last_error.clear();
  return DROVER_CKPT_OK;
}

// int64_t dimensions (Fortran has no unsigned integers) -> Shape. A negative value becomes a
// huge one, which the library refuses like any other out-of-range dimension; a bad ndims or
// a NULL array gives an empty shape, refused too.
ckpt::Shape to_shape(const int64_t* v, int ndims) {
  ckpt::Shape out;
  if (!v || ndims < 1 || ndims > 32) return out;
  for (int i = 0; i < ndims; ++i) out.push_back(static_cast<std::uint64_t>(v[i]));
  return out;
}

int open_with(const char* dir, int keep_last, int flags, ckpt::Options o, drover_ckpt** out) {
  if (!out) {
    g_open_error = "open checkpoint store: out is NULL";
    return DROVER_CKPT_EINVAL;
  }
  *out = nullptr;
  try {
    if (dir) o.directory = dir;
    o.keep_last = keep_last == 0 ? 2 : keep_last;
    o.install_signal_handler = !(flags & DROVER_CKPT_NO_SIGNAL_HANDLER);
    o.verify_checksums = !(flags & DROVER_CKPT_SIZES_ONLY);
    o.remove_leftovers = !(flags & DROVER_CKPT_KEEP_LEFTOVERS);
    auto route = std::make_shared<WarningRoute>();
    o.on_warning = [route](const std::string& m) {
      if (route->handler)
        route->handler(m.c_str(), route->user);
      else
        std::fprintf(stderr, "drover-checkpoint: warning: %s\n", m.c_str());
    };
    auto store = ckpt::Store::open(std::move(o));
    if (!store) {
      g_open_error = store.message();
      return code_of(store.error());
    }
    *out = new drover_ckpt{std::move(*store), std::move(route), {}, {}, {}};
    g_open_error.clear();
    return DROVER_CKPT_OK;
  } catch (const std::bad_alloc&) {
    g_open_error = "open checkpoint store: out of memory";
    return DROVER_CKPT_ENOMEM;
  }
}

// Runs `body`, turning std::bad_alloc (the only exception the library lets out) into ENOMEM.
template <class F>
int guarded(drover_ckpt* h, const char* what, F body) {
  if (!h) return DROVER_CKPT_EINVAL;
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return fail(h, DROVER_CKPT_ENOMEM, std::string(what) + ": out of memory");
  }
}

}  // namespace

extern "C" {

int drover_ckpt_open(const char* dir, int keep_last, int flags, drover_ckpt** out) {
  return open_with(dir, keep_last, flags, ckpt::Options{}, out);
}

#if DROVER_CHECKPOINT_HAVE_MPI
int drover_ckpt_open_comm(const char* dir, int keep_last, int flags, MPI_Comm comm, drover_ckpt** out) {
  ckpt::Options o;
  o.comm = comm;
  return open_with(dir, keep_last, flags, std::move(o), out);
}
#endif

int drover_ckpt_open_f(const char* dir, int keep_last, int flags, int fortran_comm, drover_ckpt** out) {
  ckpt::Options o;
#if DROVER_CHECKPOINT_HAVE_MPI
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) o.comm = MPI_Comm_f2c(static_cast<MPI_Fint>(fortran_comm));
#else
  (void)fortran_comm;
#endif
  return open_with(dir, keep_last, flags, std::move(o), out);
}

void drover_ckpt_close(drover_ckpt* h) {
  if (!h) return;
  h->writer.reset();  // abandons an uncommitted checkpoint
  h->reader.reset();
  delete h;
}

const char* drover_ckpt_last_error(const drover_ckpt* h) {
  return h ? h->last_error.c_str() : g_open_error.c_str();
}

const char* drover_ckpt_directory(const drover_ckpt* h) { return h ? h->store.directory().c_str() : ""; }
int drover_ckpt_rank(const drover_ckpt* h) { return h ? h->store.rank() : 0; }
int drover_ckpt_size(const drover_ckpt* h) { return h ? h->store.size() : 1; }
int drover_ckpt_signal(const drover_ckpt* h) { return h ? h->store.signal_number() : 0; }

void drover_ckpt_set_warning_handler(drover_ckpt* h, void (*handler)(const char*, void*), void* user) {
  if (!h) return;
  h->route->handler = handler;
  h->route->user = user;
}

int drover_ckpt_begin(drover_ckpt* h, int64_t step, double time) {
  return guarded(h, "begin", [&] {
    if (h->writer)
      return fail(h, DROVER_CKPT_EINVAL,
                  "checkpoint " + std::to_string(step) + ": checkpoint " + std::to_string(h->writer->step()) +
                      " is being written (commit or abort it first)");
    auto w = h->store.begin(step, time);
    if (!w) return fail(h, w.error());
    h->writer.emplace(std::move(*w));
    h->last_error.clear();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_write(drover_ckpt* h, const char* name, int type, int ndims, const int64_t* global_shape,
                      const int64_t* offset, const int64_t* count, const void* data) {
  return guarded(h, "write", [&] {
    if (!h->writer) return fail(h, DROVER_CKPT_EINVAL, "write: no checkpoint begun (call drover_ckpt_begin)");
    // Bad arguments go through write() too, which reports them on every rank together.
    const ckpt::Shape g = to_shape(global_shape, ndims), o = to_shape(offset, ndims), c = to_shape(count, ndims);
    return check(h, h->writer->write(name ? name : "", static_cast<ckpt::DataType>(type), g, o, c, data));
  });
}

int drover_ckpt_set_attr_int64(drover_ckpt* h, const char* key, int64_t value) {
  return guarded(h, "attribute", [&] {
    if (!h->writer) return fail(h, DROVER_CKPT_EINVAL, "attribute: no checkpoint begun");
    return check(h, h->writer->set_attribute(key ? key : "", static_cast<std::int64_t>(value)));
  });
}

int drover_ckpt_set_attr_double(drover_ckpt* h, const char* key, double value) {
  return guarded(h, "attribute", [&] {
    if (!h->writer) return fail(h, DROVER_CKPT_EINVAL, "attribute: no checkpoint begun");
    return check(h, h->writer->set_attribute(key ? key : "", value));
  });
}

int drover_ckpt_set_attr_string(drover_ckpt* h, const char* key, const char* value) {
  return guarded(h, "attribute", [&] {
    if (!h->writer) return fail(h, DROVER_CKPT_EINVAL, "attribute: no checkpoint begun");
    return check(h, h->writer->set_attribute(key ? key : "", std::string_view(value ? value : "")));
  });
}

int drover_ckpt_commit(drover_ckpt* h) {
  return guarded(h, "commit", [&] {
    if (!h->writer) return fail(h, DROVER_CKPT_EINVAL, "commit: no checkpoint begun");
    auto r = h->writer->commit();
    h->writer.reset();
    if (!r) return fail(h, r.error());
    h->last_error.clear();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_abort(drover_ckpt* h) {
  return guarded(h, "abort", [&] {
    h->writer.reset();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_restart(drover_ckpt* h, int64_t* step, double* time) {
  return guarded(h, "restart", [&] {
    h->reader.reset();
    auto r = h->store.restart();
    if (!r) return fail(h, r.error());
    h->last_error.clear();
    if (!*r) return 0;
    h->reader.emplace(std::move(**r));
    if (step) *step = h->reader->step();
    if (time) *time = h->reader->time();
    return 1;
  });
}

int drover_ckpt_dataset_shape(drover_ckpt* h, const char* name, int* type, int* ndims, int64_t* dims,
                              int max_dims) {
  return guarded(h, "dataset shape", [&] {
    if (!h->reader) return fail(h, DROVER_CKPT_EINVAL, "dataset shape: no checkpoint open (call drover_ckpt_restart)");
    auto d = h->reader->dataset(name ? name : "");
    if (!d) return fail(h, d.error());
    if (type) *type = static_cast<int>(d->type);
    if (ndims) *ndims = static_cast<int>(d->shape.size());
    if (dims) {
      if (max_dims < static_cast<int>(d->shape.size()))
        return fail(h, DROVER_CKPT_EINVAL,
                    "dataset '" + d->name + "' has " + std::to_string(d->shape.size()) + " dimensions, dims has room for " +
                        std::to_string(max_dims));
      for (std::size_t i = 0; i < d->shape.size(); ++i) dims[i] = static_cast<int64_t>(d->shape[i]);
    }
    h->last_error.clear();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_read(drover_ckpt* h, const char* name, int type, int ndims, const int64_t* expected_shape,
                     const int64_t* offset, const int64_t* count, void* data) {
  return guarded(h, "read", [&] {
    if (!h->reader) return fail(h, DROVER_CKPT_EINVAL, "read: no checkpoint open (call drover_ckpt_restart)");
    const std::string n = name ? name : "";
    const ckpt::Shape expected = expected_shape ? to_shape(expected_shape, ndims) : ckpt::Shape{};
    ckpt::Shape o = to_shape(offset, ndims), c = to_shape(count, ndims);
    if (!offset && !count) {
      // The whole dataset; a missing one is reported by read() on every rank.
      if (auto d = h->reader->dataset(n)) {
        o.assign(d->shape.size(), 0);
        c = d->shape;
      }
    }
    return check(h, h->reader->read(n, static_cast<ckpt::DataType>(type), expected, o, c, data));
  });
}

int drover_ckpt_get_attr_int64(drover_ckpt* h, const char* key, int64_t* value) {
  return guarded(h, "attribute", [&] {
    if (!h->reader) return fail(h, DROVER_CKPT_EINVAL, "attribute: no checkpoint open");
    auto v = h->reader->int_attribute(key ? key : "");
    if (!v) return fail(h, v.error());
    if (value) *value = *v;
    h->last_error.clear();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_get_attr_double(drover_ckpt* h, const char* key, double* value) {
  return guarded(h, "attribute", [&] {
    if (!h->reader) return fail(h, DROVER_CKPT_EINVAL, "attribute: no checkpoint open");
    auto v = h->reader->double_attribute(key ? key : "");
    if (!v) return fail(h, v.error());
    if (value) *value = *v;
    h->last_error.clear();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_get_attr_string(drover_ckpt* h, const char* key, char* buffer, size_t size) {
  return guarded(h, "attribute", [&] {
    if (!h->reader) return fail(h, DROVER_CKPT_EINVAL, "attribute: no checkpoint open");
    auto v = h->reader->string_attribute(key ? key : "");
    if (!v) return fail(h, v.error());
    if (!buffer || v->size() + 1 > size)
      return fail(h, DROVER_CKPT_EINVAL,
                  std::string("attribute '") + (key ? key : "") + "': the buffer needs " + std::to_string(v->size() + 1) +
                      " bytes");
    std::memcpy(buffer, v->c_str(), v->size() + 1);
    h->last_error.clear();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_end_read(drover_ckpt* h) {
  return guarded(h, "end read", [&] {
    h->reader.reset();
    return DROVER_CKPT_OK;
  });
}

int drover_ckpt_stop_requested(drover_ckpt* h) {
  return guarded(h, "stop requested", [&] {
    auto r = h->store.stop_requested();
    if (!r) return fail(h, r.error());
    return *r ? 1 : 0;
  });
}

void drover_ckpt_request_stop(void) { ckpt::request_stop(); }
void drover_ckpt_clear_stop_request(void) { ckpt::clear_stop_request(); }

int drover_ckpt_is_restart(drover_ckpt* h) {
  return guarded(h, "is restart", [&] {
    auto r = h->store.is_restart();
    if (!r) return fail(h, r.error());
    return *r ? 1 : 0;
  });
}

int drover_ckpt_attempt(void) { return ckpt::attempt(); }

}  // extern "C"

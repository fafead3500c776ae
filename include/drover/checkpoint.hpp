// libdrover-checkpoint, C++ API (docs/CHECKPOINT.md).
//
//   namespace ckpt = drover::checkpoint;
//   auto store = ckpt::Store::open();                     // $DROVER_CHECKPOINT_DIR, keep 2
//   if (!store) { std::cerr << store.message() << "\n"; return 1; }
//   if (auto r = store->restart(); r && *r) {             // newest valid checkpoint, if any
//     ckpt::Reader& in = **r;
//     in.read<double>("T", global, offset, count, field);  // this rank's slab
//     step = in.step();
//   }
//   ...
//   auto w = store->begin(step, time);
//   w->write<double>("T", global, offset, count, field);
//   auto done = w->commit();                              // all ranks or none
//   if (*store->stop_requested()) return ckpt::kExitRequeue;   // 75: requeue me
//
// Every member function is collective over the store's communicator (all ranks call it, in
// the same order, with the same names and shapes) unless its comment says "local". Expected
// failures come back as values (Result<T>, shaped like std::expected), with messages
// "<what failed>: <why>"; nothing here throws except std::bad_alloc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <drover/checkpoint.h>

namespace drover::checkpoint {

// The exit status of a job that checkpointed and asks to be run again (DROVER_CHECKPOINT_EXIT_REQUEUE).
inline constexpr int kExitRequeue = DROVER_CHECKPOINT_EXIT_REQUEUE;

enum class ErrorCode {
  invalid_argument = -DROVER_CKPT_EINVAL,
  io = -DROVER_CKPT_EIO,
  not_found = -DROVER_CKPT_ENOTFOUND,
  corrupt = -DROVER_CKPT_ECORRUPT,
  mismatch = -DROVER_CKPT_EMISMATCH,
};

struct Error {
  ErrorCode code = ErrorCode::io;
  std::string message;  // "<what failed>: <why>"
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return error().message; }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

enum class DataType { float64 = DROVER_CKPT_FLOAT64, float32, int32, int64, uint8 };

// "float64", "float32", "int32", "int64", "uint8": the names in manifest.json.
DROVER_CKPT_API const char* to_string(DataType type);

template <class T>
inline constexpr bool kIsStorable =
    std::is_same_v<T, double> || std::is_same_v<T, float> || std::is_same_v<T, std::int32_t> ||
    std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::uint8_t>;

template <class T>
constexpr DataType data_type_of() {
  static_assert(kIsStorable<T>, "datasets hold double, float, int32_t, int64_t or uint8_t");
  if constexpr (std::is_same_v<T, double>) return DataType::float64;
  else if constexpr (std::is_same_v<T, float>) return DataType::float32;
  else if constexpr (std::is_same_v<T, std::int32_t>) return DataType::int32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return DataType::int64;
  else return DataType::uint8;
}

using Shape = std::vector<std::uint64_t>;

struct DatasetEntry {
  std::string name;  // stored as /data/<name>
  DataType type = DataType::float64;
  Shape shape;       // the global shape
};

// A committed checkpoint, as its manifest describes it.
struct CheckpointSummary {
  std::int64_t step = 0;
  double time = 0;
  std::int64_t created_at_ms = 0;  // epoch milliseconds
  int ranks = 1;                   // how many ranks wrote it
  std::uint64_t bytes = 0;         // all its files
  std::string path;                // <dir>/ckpt-<step, 12 digits>
  std::vector<DatasetEntry> datasets;
};

struct Options {
  // Where checkpoints live; empty: $DROVER_CHECKPOINT_DIR (an error if that is unset too).
  // Created if missing.
  std::string directory;
  // Committed checkpoints to keep (>= 1); older ones are removed after each commit.
  int keep_last = 2;
#if DROVER_CHECKPOINT_HAVE_MPI
  // Unset: MPI_COMM_WORLD when MPI is initialized, serial (no MPI calls) when it is not.
  std::optional<MPI_Comm> comm;
#endif
  // Install the checkpoint signal's handler (it only sets a flag). Off: the application
  // handles signals itself and may call request_stop().
  bool install_signal_handler = true;
  // The checkpoint signal; 0: $DROVER_CHECKPOINT_SIGNAL ("USR1", "SIGUSR1", "10"), else SIGUSR1.
  int signal = 0;
  // On restart, check the CRC32C of every file (a full read); off: sizes only.
  bool verify_checksums = true;
  // Remove interrupted checkpoints (.tmp-ckpt-*) at open.
  bool remove_leftovers = true;
  // Warnings (a checkpoint skipped and why, leftovers removed, a prune that failed), on
  // rank 0 only. Empty: "drover-checkpoint: warning: ..." on stderr.
  std::function<void(const std::string&)> on_warning;
};

class Store;
namespace detail {
struct StoreState;
struct WriterState;
struct ReaderState;
}  // namespace detail

// One checkpoint being written; from Store::begin(). Destroying it uncommitted abandons the
// checkpoint (collective, like everything else).
class DROVER_CKPT_API Writer {
 public:
  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  ~Writer();

  std::int64_t step() const;  // local
  double time() const;        // local

  // Writes this rank's slab (offset, count) of dataset `name`, of global shape
  // `global_shape`. Every rank passes the same name, type and global shape; a rank with
  // nothing to write passes zero counts.
  Status write(std::string_view name, DataType type, std::span<const std::uint64_t> global_shape,
               std::span<const std::uint64_t> offset, std::span<const std::uint64_t> count,
               const void* data);
  template <class T>
  Status write(std::string_view name, std::span<const std::uint64_t> global_shape,
               std::span<const std::uint64_t> offset, std::span<const std::uint64_t> count,
               std::span<const T> data) {
    std::uint64_t n = 1;
    for (auto c : count) n *= c;
    if (data.size() != n) return count_mismatch(name, data.size(), n);
    return write(name, data_type_of<T>(), global_shape, offset, count, data.data());
  }
  // A dataset every rank holds whole (rank 0 writes it).
  Status write_whole(std::string_view name, DataType type, std::span<const std::uint64_t> shape,
                     const void* data);
  template <class T>
  Status write_whole(std::string_view name, std::span<const std::uint64_t> shape, std::span<const T> data) {
    std::uint64_t n = 1;
    for (auto c : shape) n *= c;
    if (data.size() != n) return count_mismatch(name, data.size(), n);
    return write_whole(name, data_type_of<T>(), shape, data.data());
  }

  // Small metadata, attributes of /meta. Every rank passes the same (rank 0's is stored).
  Status set_attribute(std::string_view key, std::string_view value);
  Status set_attribute(std::string_view key, const char* value) { return set_attribute(key, std::string_view(value)); }
  Status set_attribute(std::string_view key, std::int64_t value);
  Status set_attribute(std::string_view key, double value);
  template <class I>
    requires(std::is_integral_v<I> && !std::is_same_v<I, std::int64_t>)
  Status set_attribute(std::string_view key, I value) {
    return set_attribute(key, static_cast<std::int64_t>(value));
  }

  // Every rank's writes succeeded -> the checkpoint is on disk, durably, and older ones
  // beyond keep_last are gone. Any failure on any rank -> an error on every rank, nothing
  // changed on disk. Either way the Writer is finished.
  Result<CheckpointSummary> commit();
  // Abandons the checkpoint; nothing changes on disk.
  void abort();

 private:
  friend class Store;
  explicit Writer(std::unique_ptr<detail::WriterState> impl);
  Status count_mismatch(std::string_view name, std::size_t have, std::uint64_t need) const;
  std::unique_ptr<detail::WriterState> impl_;
};

// A committed checkpoint opened for reading; from Store::restart() or Store::open_checkpoint().
class DROVER_CKPT_API Reader {
 public:
  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  ~Reader();

  const CheckpointSummary& summary() const;  // local
  std::int64_t step() const { return summary().step; }
  double time() const { return summary().time; }
  // Local. Type and global shape of a dataset (from the verified manifest).
  Result<DatasetEntry> dataset(std::string_view name) const;

  // Reads the slab (offset, count) of dataset `name` into `out`. expected_shape: the global
  // shape the caller expects (empty: any); a different one, or a different type, is a
  // `mismatch` error naming the dataset and both. The slab may differ from what any rank
  // wrote: a checkpoint written by 2 ranks reads back on 1 or 3.
  Status read(std::string_view name, DataType type, std::span<const std::uint64_t> expected_shape,
              std::span<const std::uint64_t> offset, std::span<const std::uint64_t> count, void* out);
  template <class T>
  Status read(std::string_view name, std::span<const std::uint64_t> expected_shape,
              std::span<const std::uint64_t> offset, std::span<const std::uint64_t> count, std::span<T> out) {
    std::uint64_t n = 1;
    for (auto c : count) n *= c;
    if (out.size() != n) return count_mismatch(name, out.size(), n);
    return read(name, data_type_of<T>(), expected_shape, offset, count, out.data());
  }
  // The whole dataset, on every rank; out_elements must be its number of elements.
  Status read_whole(std::string_view name, DataType type, std::span<const std::uint64_t> expected_shape,
                    void* out, std::size_t out_elements);
  template <class T>
  Status read_whole(std::string_view name, std::span<const std::uint64_t> expected_shape, std::span<T> out) {
    return read_whole(name, data_type_of<T>(), expected_shape, out.data(), out.size());
  }

  Result<std::string> string_attribute(std::string_view key);
  Result<std::int64_t> int_attribute(std::string_view key);
  Result<double> double_attribute(std::string_view key);

  void close();

 private:
  friend class Store;
  explicit Reader(std::unique_ptr<detail::ReaderState> impl);
  Status count_mismatch(std::string_view name, std::size_t have, std::uint64_t need) const;
  std::unique_ptr<detail::ReaderState> impl_;
};

class DROVER_CKPT_API Store {
 public:
  // Opens the store: resolves the directory and communicator, creates the directory,
  // removes leftovers of interrupted checkpoints, installs the signal handler.
  static Result<Store> open(Options options = {});
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::string& directory() const;  // local; absolute
  int rank() const;                      // local; 0 when serial
  int size() const;                      // local; 1 when serial
  int signal_number() const;             // local

  // Starts checkpoint `step` (0 <= step < 10^12) at simulated time `time`. One at a time.
  Result<Writer> begin(std::int64_t step, double time);

  // The newest committed checkpoint whose manifest parses and whose files have the sizes and
  // checksums it lists; damaged ones are skipped with a warning saying which and why.
  // nullopt: there is none.
  Result<std::optional<CheckpointSummary>> latest();
  // latest(), opened for reading.
  Result<std::optional<Reader>> restart();
  // Opens a checkpoint that latest() or list() returned.
  Result<Reader> open_checkpoint(const CheckpointSummary& checkpoint);
  // Local. Committed checkpoints whose manifest parses, oldest first; checksums not verified.
  Result<std::vector<CheckpointSummary>> list() const;

  // True when Drover says this attempt follows an earlier one ($DROVER_RESTART=1) or a valid
  // checkpoint exists.
  Result<bool> is_restart();
  // True on every rank if any rank received the checkpoint signal (or called request_stop()):
  // time to checkpoint and exit with kExitRequeue.
  Result<bool> stop_requested();

 private:
  explicit Store(std::shared_ptr<detail::StoreState> state);
  std::shared_ptr<detail::StoreState> state_;
};

// Local: this process received the checkpoint signal (or request_stop() was called).
DROVER_CKPT_API bool stop_requested_locally();
// Local, async-signal-safe: as if the checkpoint signal had arrived.
DROVER_CKPT_API void request_stop();
// Local: forgets a request (for a job that checkpoints on the signal and carries on).
DROVER_CKPT_API void clear_stop_request();
// Local: $DROVER_ATTEMPT, 1-based; 1 when unset or not a positive number.
DROVER_CKPT_API int attempt();
// Local: $DROVER_RESTART is "1" (Drover started this attempt after an earlier one).
DROVER_CKPT_API bool restart_requested_by_drover();
// "USR1", "SIGUSR1", "usr1", "10", "SIGRTMIN+2", "USR1@60" (sbatch --signal's form; the
// seconds are ignored) -> the signal's number.
DROVER_CKPT_API Result<int> parse_signal(std::string_view text);

}  // namespace drover::checkpoint

// Array jobs: one parent job stands for up to 1,000,000 tasks. Tasks that have
// not started are held as ranges of positions, never one record each; a task
// gets its own Job record (its own id) only when it is dispatched.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <map>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace drover {

inline constexpr std::int64_t kMaxArrayTasks = 1'000'000;
inline constexpr std::int64_t kMaxArrayIndex = 999'999'999;

// first, first+step, ..., last (inclusive; last is reached by the steps).
struct IndexRange {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t step = 1;
  std::int64_t count() const { return (last - first) / step + 1; }
  bool operator==(const IndexRange&) const = default;
};

// An array's indexes in increasing order, as disjoint ranges. A task's position
// (0 .. size-1) is its rank in that order.
class ArrayIndexes {
 public:
  ArrayIndexes() = default;
  // Validates and normalizes (sorted; overlaps counted once). Errors name the
  // limit: "index 1000000000 is over the largest, 999999999".
  static Result<ArrayIndexes> make(std::vector<IndexRange> ranges);
  const std::vector<IndexRange>& ranges() const { return ranges_; }
  std::int64_t size() const { return size_; }
  std::int64_t index_at(std::int64_t position) const;
  // -1 when the index is not in the array.
  std::int64_t position_of(std::int64_t index) const;
  std::int64_t min() const { return ranges_.empty() ? 0 : ranges_.front().first; }
  std::int64_t max() const { return ranges_.empty() ? 0 : ranges_.back().last; }
  // SLURM_ARRAY_TASK_STEP: the step when the indexes are one range, else 1.
  std::int64_t step() const { return ranges_.size() == 1 ? ranges_[0].step : 1; }
  // "0-15:5,20"
  std::string to_string() const;
  bool operator==(const ArrayIndexes&) const = default;
  // The indexes at these positions, as ranges in order.
  std::vector<IndexRange> indexes_at(const class PositionSet& positions) const;

 private:
  std::vector<IndexRange> ranges_;
  // Position of each range's first index; empty for one range (the usual case,
  // which then allocates nothing for it).
  std::vector<std::int64_t> starts_;
  std::size_t range_at(std::int64_t position) const;
  std::int64_t size_ = 0;
};

// Whether `index` is one of the ranges' indexes; an empty list holds every index.
bool in_ranges(const std::vector<IndexRange>& ranges, std::int64_t index);

// "0-15:5,20": ranges as sbatch --array writes them.
std::string to_text(const std::vector<IndexRange>& ranges);

// A set of positions as sorted, disjoint, non-adjacent [lo, hi) intervals.
class PositionSet {
 public:
  using Interval = std::pair<std::int64_t, std::int64_t>;
  void insert(std::int64_t lo, std::int64_t hi);
  // Removes [lo, hi); returns how many positions were in the set.
  std::int64_t erase(std::int64_t lo, std::int64_t hi);
  bool erase(std::int64_t p) { return erase(p, p + 1) == 1; }
  bool contains(std::int64_t p) const;
  // The smallest member >= p, or -1.
  std::int64_t next(std::int64_t p) const;
  // The end of the interval holding p (the first non-member after it), or p
  // when p is not a member.
  std::int64_t end_of(std::int64_t p) const;
  // Members in [lo, hi), as a set, and as intervals (a value: safe to loop
  // over while this set changes).
  PositionSet slice(std::int64_t lo, std::int64_t hi) const;
  std::vector<Interval> intervals_in(std::int64_t lo, std::int64_t hi) const { return slice(lo, hi).v_; }
  std::int64_t first() const { return v_.empty() ? -1 : v_.front().first; }
  std::int64_t count() const;
  bool empty() const { return v_.empty(); }
  void clear() { v_.clear(); }
  const std::vector<Interval>& intervals() const { return v_; }
  bool operator==(const PositionSet&) const = default;

 private:
  std::vector<Interval> v_;
};

// A unique_ptr that copies what it points to: Job stays copyable, and jobs that
// are not arrays pay one pointer.
template <class T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& o) {
    p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  explicit Boxed(T v) : p_(std::make_unique<T>(std::move(v))) {}
  T* get() const { return p_.get(); }
  T& operator*() const { return *p_; }
  T* operator->() const { return p_.get(); }
  explicit operator bool() const { return p_ != nullptr; }
  void reset() { p_.reset(); }
  bool operator==(const Boxed& o) const { return p_ ? (o.p_ && *p_ == *o.p_) : !o.p_; }

 private:
  std::unique_ptr<T> p_;
};

// What the parent of an array holds. Tasks that started have their own Job
// records (array_parent, array_index); `count` tallies them by state (indexed by
// JobState), and tasks cancelled before they started count as FAILED.
struct ArrayInfo {
  ArrayIndexes indexes;
  std::int64_t max_running = 0;  // %throttle; 0: no limit
  PositionSet pending;           // not started, not cancelled
  std::array<std::int64_t, 7> count{};
  std::int64_t cancelled = 0;    // of the FAILED count: never started
  // What only some arrays need, allocated when first needed so that a pending
  // array stays small (a pointer otherwise).
  struct Extra {
    // Tasks that ended FAILED, started or not (cancelled, or their dependency
    // failed): with `pending` and `live` it tells how any task ended after its
    // record has left memory (not pending, not live, not failed: SUCCEEDED).
    PositionSet failed;
    // Per-task dependencies (aftercorr / N_TO_N, SEQUENTIAL), one set per such
    // entry of the parent's depends_on, in order: the pending tasks whose
    // corresponding task has not succeeded yet. A task starts only when it is
    // in none of them.
    std::vector<PositionSet> waiting;
    PositionSet dependency_failed;  // of `failed`: never started, their dependency failed
  };
  Boxed<Extra> extra;
  // Not persisted: tasks with a record in memory, by index (rebuilt on restore).
  std::map<std::int64_t, std::int64_t> live;

  const PositionSet& failed() const { return extra ? extra->failed : empty_set(); }
  const std::vector<PositionSet>& waiting() const {
    static const std::vector<PositionSet> kNone;
    return extra ? extra->waiting : kNone;
  }
  const PositionSet& dependency_failed() const { return extra ? extra->dependency_failed : empty_set(); }
  Extra& more() {
    if (!extra) extra = Boxed<Extra>(Extra{});
    return *extra;
  }
  // The first pending task at or after position p that no dependency holds
  // back, or -1.
  std::int64_t next_ready(std::int64_t p) const;
  std::int64_t first_ready() const { return next_ready(0); }
  bool held_by_dependency(std::int64_t p) const {
    for (const auto& w : waiting())
      if (w.contains(p)) return true;
    return false;
  }
  bool operator==(const ArrayInfo& o) const {
    return indexes == o.indexes && max_running == o.max_running && pending == o.pending &&
           count == o.count && cancelled == o.cancelled && failed() == o.failed() && waiting() == o.waiting() &&
           dependency_failed() == o.dependency_failed();
  }

 private:
  static const PositionSet& empty_set() {
    static const PositionSet kEmpty;
    return kEmpty;
  }
};

}  // namespace drover

#include "core/array.hpp"

#include <algorithm>

namespace drover {

Result<ArrayIndexes> ArrayIndexes::make(std::vector<IndexRange> ranges) {
  if (ranges.empty()) return make_error("array", "no indexes; give a size or ranges such as 0-99");
  std::int64_t total = 0;
  for (auto& r : ranges) {
    const std::string what = "array range " + std::to_string(r.first) + "-" + std::to_string(r.last) +
                             (r.step != 1 ? ":" + std::to_string(r.step) : "");
    if (r.first < 0 || r.last < 0) return make_error(what, "indexes cannot be negative");
    if (r.last < r.first) return make_error(what, "reversed range: write it low-high");
    if (r.step < 1) return make_error(what, "the step must be at least 1");
    if (r.last > kMaxArrayIndex)
      return make_error(what, "index " + std::to_string(r.last) + " is over the largest, " +
                                  std::to_string(kMaxArrayIndex));
    r.last = r.first + (r.last - r.first) / r.step * r.step;
    total += r.count();
    if (total > kMaxArrayTasks)
      return make_error("array", "more than " + std::to_string(kMaxArrayTasks) +
                                     " tasks; an array holds at most " + std::to_string(kMaxArrayTasks));
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const IndexRange& a, const IndexRange& b) { return a.first < b.first; });
  bool disjoint = true;
  for (std::size_t i = 1; i < ranges.size(); ++i) disjoint = disjoint && ranges[i].first > ranges[i - 1].last;
  ArrayIndexes out;
  if (disjoint) {
    out.ranges_ = std::move(ranges);
  } else {
    // Overlapping ranges (rare): expand, count each index once, compress again.
    std::vector<std::int64_t> all;
    all.reserve(static_cast<std::size_t>(total));
    for (const auto& r : ranges)
      for (std::int64_t v = r.first; v <= r.last; v += r.step) all.push_back(v);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    for (std::size_t i = 0; i < all.size();) {
      IndexRange r{all[i], all[i], 1};
      std::size_t j = i + 1;
      if (j < all.size()) {
        r.step = all[j] - all[i];
        while (j < all.size() && all[j] - all[j - 1] == r.step) r.last = all[j++];
      }
      out.ranges_.push_back(r);
      i = j;
    }
  }
  for (const auto& r : out.ranges_) {
    if (out.ranges_.size() > 1) out.starts_.push_back(out.size_);
    out.size_ += r.count();
  }
  return out;
}

std::size_t ArrayIndexes::range_at(std::int64_t position) const {
  if (starts_.empty()) return 0;
  auto it = std::upper_bound(starts_.begin(), starts_.end(), position);
  return static_cast<std::size_t>(it - starts_.begin()) - 1;
}

std::int64_t ArrayIndexes::index_at(std::int64_t position) const {
  const std::size_t i = range_at(position);
  return ranges_[i].first + (position - (starts_.empty() ? 0 : starts_[i])) * ranges_[i].step;
}

std::int64_t ArrayIndexes::position_of(std::int64_t index) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), index,
                             [](std::int64_t v, const IndexRange& r) { return v < r.first; });
  if (it == ranges_.begin()) return -1;
  const auto i = static_cast<std::size_t>(it - ranges_.begin()) - 1;
  const IndexRange& r = ranges_[i];
  if (index > r.last || (index - r.first) % r.step != 0) return -1;
  return (starts_.empty() ? 0 : starts_[i]) + (index - r.first) / r.step;
}

std::string ArrayIndexes::to_string() const { return to_text(ranges_); }

std::vector<IndexRange> ArrayIndexes::indexes_at(const PositionSet& positions) const {
  std::vector<IndexRange> out;
  for (const auto& [lo, hi] : positions.intervals()) {
    for (auto i = range_at(lo); i < ranges_.size(); ++i) {
      const std::int64_t s = starts_.empty() ? 0 : starts_[i], e = s + ranges_[i].count();
      if (s >= hi) break;
      const std::int64_t a = std::max(lo, s), b = std::min(hi, e);
      if (a >= b) continue;
      out.push_back({index_at(a), index_at(b - 1), ranges_[i].step});
    }
  }
  return out;
}

bool in_ranges(const std::vector<IndexRange>& ranges, std::int64_t index) {
  if (ranges.empty()) return true;
  for (const auto& r : ranges)
    if (index >= r.first && index <= r.last && (index - r.first) % r.step == 0) return true;
  return false;
}

std::string to_text(const std::vector<IndexRange>& ranges) {
  std::string out;
  for (const auto& r : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(r.first);
    if (r.last != r.first) {
      out += '-' + std::to_string(r.last);
      if (r.step != 1) out += ':' + std::to_string(r.step);
    }
  }
  return out;
}

void PositionSet::insert(std::int64_t lo, std::int64_t hi) {
  if (lo >= hi) return;
  // The first interval that touches or follows [lo, hi).
  auto it = std::lower_bound(v_.begin(), v_.end(), lo,
                             [](const Interval& a, std::int64_t v) { return a.second < v; });
  auto end = it;
  while (end != v_.end() && end->first <= hi) {
    lo = std::min(lo, end->first);
    hi = std::max(hi, end->second);
    ++end;
  }
  it = v_.erase(it, end);
  v_.insert(it, {lo, hi});
}

std::int64_t PositionSet::erase(std::int64_t lo, std::int64_t hi) {
  if (lo >= hi) return 0;
  auto it = std::lower_bound(v_.begin(), v_.end(), lo,
                             [](const Interval& a, std::int64_t v) { return a.second <= v; });
  std::int64_t removed = 0;
  std::vector<Interval> keep;
  auto end = it;
  while (end != v_.end() && end->first < hi) {
    removed += std::min(hi, end->second) - std::max(lo, end->first);
    if (end->first < lo) keep.emplace_back(end->first, lo);
    if (end->second > hi) keep.emplace_back(hi, end->second);
    ++end;
  }
  if (removed == 0) return 0;
  it = v_.erase(it, end);
  v_.insert(it, keep.begin(), keep.end());
  return removed;
}

bool PositionSet::contains(std::int64_t p) const {
  auto it = std::upper_bound(v_.begin(), v_.end(), p,
                             [](std::int64_t v, const Interval& a) { return v < a.second; });
  return it != v_.end() && it->first <= p;
}

std::int64_t PositionSet::next(std::int64_t p) const {
  auto it = std::upper_bound(v_.begin(), v_.end(), p,
                             [](std::int64_t v, const Interval& a) { return v < a.second; });
  if (it == v_.end()) return -1;
  return std::max(p, it->first);
}

std::int64_t PositionSet::end_of(std::int64_t p) const {
  auto it = std::upper_bound(v_.begin(), v_.end(), p,
                             [](std::int64_t v, const Interval& a) { return v < a.second; });
  return it != v_.end() && it->first <= p ? it->second : p;
}

PositionSet PositionSet::slice(std::int64_t lo, std::int64_t hi) const {
  PositionSet out;
  auto it = std::upper_bound(v_.begin(), v_.end(), lo,
                             [](std::int64_t v, const Interval& a) { return v < a.second; });
  for (; it != v_.end() && it->first < hi; ++it)
    out.v_.emplace_back(std::max(lo, it->first), std::min(hi, it->second));
  return out;
}

std::int64_t ArrayInfo::next_ready(std::int64_t p) const {
  for (p = pending.next(p); p >= 0; p = pending.next(p)) {
    std::int64_t skip = p;
    for (const auto& w : waiting()) skip = std::max(skip, w.end_of(p));
    if (skip == p) return p;
    p = skip;  // past the run of tasks that set holds back
  }
  return -1;
}

std::int64_t PositionSet::count() const {
  std::int64_t n = 0;
  for (const auto& [lo, hi] : v_) n += hi - lo;
  return n;
}

}  // namespace drover

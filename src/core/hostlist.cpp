#include "core/hostlist.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <tuple>

#include "core/text.hpp"

namespace drover {

namespace {

// 18 digits always fit in int64 with room for the +1 of a range's end.
constexpr std::size_t kMaxDigits = 18;

struct Range {
  std::int64_t lo = 0;
  std::int64_t hi = 0;
  std::size_t width = 0;  // zero-padding, from how the first number was written
};

struct Segment {
  std::string literal;        // text between groups
  std::vector<Range> ranges;  // a bracket group when non-empty
};

std::string pad(std::int64_t v, std::size_t width) {
  std::string s = std::to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

Error bad(std::string_view expression, const std::string& why) {
  return make_error("hostlist " + quoted(expression), why);
}

// "01-04,07" -> ranges; `count` gets how many numbers the group names.
Result<std::vector<Range>> parse_group(std::string_view body, std::string_view expression,
                                       std::int64_t& count) {
  std::vector<Range> out;
  count = 0;
  if (body.empty()) return bad(expression, "empty brackets '[]'");
  for (std::string_view entry : split(body, ',')) {
    if (entry.empty()) return bad(expression, "an empty entry in '[" + std::string(body) + "]'");
    const auto dash = entry.find('-');
    const std::string_view lo_text = entry.substr(0, dash);
    const std::string_view hi_text = dash == std::string_view::npos ? lo_text : entry.substr(dash + 1);
    for (std::string_view n : {lo_text, hi_text}) {
      if (!is_digits(n))
        return bad(expression, "'" + std::string(entry) +
                                   "' in brackets: expected a number or a range like 01-04");
      if (n.size() > kMaxDigits)
        return bad(expression, "'" + std::string(n) + "' has more than 18 digits");
    }
    Range r;
    r.lo = *parse_uint(lo_text, INT64_MAX);
    r.hi = *parse_uint(hi_text, INT64_MAX);
    r.width = lo_text.size();
    if (r.hi < r.lo)
      return bad(expression, "reversed range '" + std::string(entry) + "': write it low-high");
    const std::int64_t n = r.hi - r.lo + 1;
    if (n > static_cast<std::int64_t>(kMaxHostlistNames) ||
        count + n > static_cast<std::int64_t>(kMaxHostlistNames))
      return bad(expression, "names more than " + std::to_string(kMaxHostlistNames) + " hosts");
    count += n;
    out.push_back(r);
  }
  return out;
}

// One name pattern ("r[1-2]n[01-02]x") -> segments, and how many names it makes.
Result<std::vector<Segment>> parse_pattern(std::string_view item, std::string_view expression,
                                           std::int64_t& names) {
  std::vector<Segment> segs(1);
  names = 1;
  std::size_t i = 0;
  while (i < item.size()) {
    const char c = item[i];
    if (c == ']') return bad(expression, "unbalanced ']': no '[' before it");
    if (c != '[') {
      segs.back().literal += c;
      ++i;
      continue;
    }
    const auto close = item.find_first_of("[]", i + 1);
    if (close == std::string_view::npos) return bad(expression, "unbalanced '[': no ']' after it");
    if (item[close] == '[') return bad(expression, "nested '[': brackets cannot contain brackets");
    std::int64_t count = 0;
    auto ranges = parse_group(item.substr(i + 1, close - i - 1), expression, count);
    if (!ranges) return ranges.error();
    if (names > static_cast<std::int64_t>(kMaxHostlistNames) / count)
      return bad(expression, "names more than " + std::to_string(kMaxHostlistNames) + " hosts");
    names *= count;
    Segment g;
    g.ranges = std::move(*ranges);
    segs.push_back(std::move(g));
    segs.emplace_back();
    i = close + 1;
  }
  return segs;
}

void expand_pattern(const std::vector<Segment>& segs, std::vector<std::string>& out) {
  std::vector<std::string> partial{""};
  for (const Segment& s : segs) {
    if (s.ranges.empty()) {
      for (auto& p : partial) p += s.literal;
      continue;
    }
    std::vector<std::string> next;
    for (const auto& p : partial)
      for (const Range& r : s.ranges)
        for (std::int64_t v = r.lo; v <= r.hi; ++v) next.push_back(p + pad(v, r.width));
    partial = std::move(next);
  }
  for (auto& p : partial) out.push_back(std::move(p));
}

// A name or merged item split around its last number before any bracket group:
// "r1n[01-02]" -> {"r", "1", "n[01-02]"}; "node07" -> {"node", "07", ""}.
struct Split {
  std::string prefix;
  std::string digits;
  std::string rest;
  std::int64_t value = 0;
};

bool representable(std::string_view name) {
  if (name.empty()) return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '[' || c == ']' || c == ',' || std::isspace(static_cast<unsigned char>(c));
  });
}

std::optional<Split> split_item(std::string_view item) {
  const std::size_t head_end = std::min(item.find('['), item.size());
  std::size_t end = head_end;
  while (end > 0 && !(item[end - 1] >= '0' && item[end - 1] <= '9')) --end;
  if (end == 0) return std::nullopt;
  std::size_t begin = end;
  while (begin > 0 && item[begin - 1] >= '0' && item[begin - 1] <= '9') --begin;
  if (end - begin > kMaxDigits) return std::nullopt;
  Split s;
  s.prefix = std::string(item.substr(0, begin));
  s.digits = std::string(item.substr(begin, end - begin));
  s.rest = std::string(item.substr(end));
  s.value = *parse_uint(s.digits, INT64_MAX);
  return s;
}

// "[01-04,07]"'s inside from numbers in order: a range grows while the next number is one
// more and is written with the range's width.
std::string ranges_text(const std::vector<std::pair<std::int64_t, std::string>>& nums) {
  std::string out;
  std::size_t i = 0;
  while (i < nums.size()) {
    const std::size_t width = nums[i].second.size();
    std::size_t j = i;
    while (j + 1 < nums.size() && nums[j + 1].first == nums[j].first + 1 &&
           pad(nums[j + 1].first, width) == nums[j + 1].second)
      ++j;
    if (!out.empty()) out += ',';
    out += nums[i].second;
    if (j > i) out += '-' + nums[j].second;
    i = j + 1;
  }
  return out;
}

// A name, or names merged so far; opaque items (names no expression can hold) never merge.
struct Item {
  std::string text;
  bool opaque = false;
};

std::vector<Item> items_of(std::vector<std::string> names) {
  std::vector<Item> items;
  items.reserve(names.size());
  for (auto& n : names) {
    const bool opaque = !representable(n);
    items.push_back({std::move(n), opaque});
  }
  return items;
}

// Merges neighbours that differ only in their last number before any bracket group.
std::vector<Item> merge_pass(const std::vector<Item>& items) {
  std::vector<Item> out;
  std::size_t i = 0;
  while (i < items.size()) {
    const auto s = items[i].opaque ? std::nullopt : split_item(items[i].text);
    if (!s) {
      out.push_back(items[i++]);
      continue;
    }
    std::vector<std::pair<std::int64_t, std::string>> nums{{s->value, s->digits}};
    std::size_t j = i + 1;
    for (; j < items.size(); ++j) {
      if (items[j].opaque) break;
      const auto t = split_item(items[j].text);
      if (!t || t->prefix != s->prefix || t->rest != s->rest) break;
      nums.emplace_back(t->value, t->digits);
    }
    if (j - i == 1)
      out.push_back(items[i]);
    else
      out.push_back({s->prefix + "[" + ranges_text(nums) + "]" + s->rest, false});
    i = j;
  }
  return out;
}

std::string join(const std::vector<Item>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ',';
    out += s.text;
  }
  return out;
}

// Sorts so that items which can merge are neighbours, numbers in numeric order. Keys are
// computed once: a 100,000-node list sorts in milliseconds.
void sort_for_merge(std::vector<Item>& items) {
  using Key = std::tuple<std::string, std::string, bool, std::int64_t, std::size_t>;
  std::vector<std::pair<Key, std::size_t>> keyed;
  keyed.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto s = items[i].opaque ? std::nullopt : split_item(items[i].text);
    if (s)
      keyed.emplace_back(Key{s->prefix, s->rest, true, s->value, s->digits.size()}, i);
    else
      keyed.emplace_back(Key{items[i].text, std::string(), false, 0, 0}, i);
  }
  std::sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : items[a.second].text < items[b.second].text;
  });
  std::vector<Item> sorted;
  sorted.reserve(items.size());
  for (const auto& k : keyed) sorted.push_back(std::move(items[k.second]));
  items = std::move(sorted);
}

}  // namespace

Result<std::vector<std::string>> expand_hostlist(std::string_view expression) {
  std::vector<std::string> out;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < expression.size()) {
    const char c = expression[i];
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    // An item runs to the next comma or whitespace outside brackets.
    std::size_t j = i;
    bool inside = false;
    for (; j < expression.size(); ++j) {
      const char d = expression[j];
      if (d == '[') {
        if (inside) return bad(expression, "nested '[': brackets cannot contain brackets");
        inside = true;
      } else if (d == ']') {
        if (!inside) return bad(expression, "unbalanced ']': no '[' before it");
        inside = false;
      } else if (std::isspace(static_cast<unsigned char>(d))) {
        if (inside) return bad(expression, "whitespace inside brackets");
        break;
      } else if (d == ',' && !inside) {
        break;
      }
    }
    if (inside) return bad(expression, "unbalanced '[': no ']' after it");
    std::int64_t names = 0;
    auto segs = parse_pattern(expression.substr(i, j - i), expression, names);
    if (!segs) return segs.error();
    total += names;
    if (total > static_cast<std::int64_t>(kMaxHostlistNames))
      return bad(expression, "names more than " + std::to_string(kMaxHostlistNames) + " hosts");
    expand_pattern(*segs, out);
    i = j;
  }
  return out;
}

std::string compress_hostlist(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<Item> items = items_of(std::move(names));
  for (;;) {
    sort_for_merge(items);
    auto merged = merge_pass(items);
    const bool shrank = merged.size() < items.size();
    items = std::move(merged);
    if (!shrank) break;
  }
  return join(items);
}

std::string compress_hostlist_in_order(const std::vector<std::string>& names) {
  std::vector<Item> items = items_of(names);
  for (;;) {
    auto merged = merge_pass(items);
    const bool shrank = merged.size() < items.size();
    items = std::move(merged);
    if (!shrank) break;
  }
  return join(items);
}

std::string format_tasks_per_node(const std::vector<int>& counts) {
  std::string out;
  std::size_t i = 0;
  while (i < counts.size()) {
    std::size_t j = i;
    while (j < counts.size() && counts[j] == counts[i]) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(counts[i]);
    if (j - i > 1) out += "(x" + std::to_string(j - i) + ")";
    i = j;
  }
  return out;
}

Result<std::vector<int>> parse_tasks_per_node(std::string_view text) {
  auto bad_tpn = [&](const std::string& why) {
    return make_error("tasks per node " + quoted(text), why);
  };
  std::vector<int> out;
  if (text.empty()) return bad_tpn("empty; expected e.g. 2(x3),1");
  for (std::string_view part : split(text, ',')) {
    std::string_view count = part;
    std::int64_t repeat = 1;
    if (const auto open = part.find('('); open != std::string_view::npos) {
      count = part.substr(0, open);
      const std::string_view rep = part.substr(open);
      if (rep.size() < 4 || rep.substr(0, 2) != "(x" || rep.back() != ')')
        return bad_tpn("'" + std::string(part) + "': expected N or N(xM), e.g. 2(x3)");
      const auto r = parse_uint(rep.substr(2, rep.size() - 3), static_cast<std::int64_t>(kMaxHostlistNames));
      if (!r || *r < 1) return bad_tpn("'" + std::string(part) + "': the repeat must be 1 to 1000000");
      repeat = *r;
    }
    const auto n = parse_uint(count, 1'000'000'000);
    if (!n) return bad_tpn("'" + std::string(part) + "': expected a task count");
    if (out.size() + static_cast<std::size_t>(repeat) > kMaxHostlistNames)
      return bad_tpn("more than " + std::to_string(kMaxHostlistNames) + " nodes");
    out.insert(out.end(), static_cast<std::size_t>(repeat), static_cast<int>(*n));
  }
  return out;
}

}  // namespace drover

#include "core/node_selection.hpp"

#include <algorithm>
#include <cctype>

namespace drover {

namespace {

bool feature_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == ':';
}

constexpr std::size_t kMaxFeature = 64;
constexpr std::size_t kMaxConstraint = 1024;
constexpr int kMaxDepth = 32;

}  // namespace

// Recursive descent over:
//   or      := and ('|' and)*
//   and     := primary ('&' primary)*
//   primary := NAME | '(' or ')' | '[' alt ('|' alt)* ']'      (one '[...]' at most)
//   alt     := NAME | '(' or ')'
class ConstraintParser {
 public:
  explicit ConstraintParser(std::string_view s) : s_(s) {}
  Result<Constraint> run() {
    if (s_.size() > kMaxConstraint) return fail("longer than 1024 characters");
    if (s_.empty()) return fail("empty; give a feature, e.g. --constraint=gpu");
    const int root = parse_or(0, false);
    if (!error_.empty()) return Error{error_};
    if (pos_ < s_.size()) {
      if (s_[pos_] == ')') return fail("unbalanced ')' at position " + std::to_string(pos_ + 1));
      if (s_[pos_] == ']') return fail("unbalanced ']' at position " + std::to_string(pos_ + 1));
      return fail(unexpected());
    }
    c_.root_ = root;
    c_.text_ = std::string(s_);
    return std::move(c_);
  }

 private:
  using Kind = Constraint::Kind;
  Error fail(const std::string& why) { return make_error("'" + std::string(s_) + "'", why); }
  void set_error(const std::string& why) {
    if (error_.empty()) error_ = fail(why).message;
  }
  std::string unexpected() const {
    const char c = s_[pos_];
    const std::string at = " at position " + std::to_string(pos_ + 1);
    if (c == '*')
      return "feature counts (*N) are not supported; ask for the nodes with --nodes and name the feature alone";
    if (c == ',') return "',' is not an operator here; join features with & (all) or | (any), e.g. gpu&a100";
    if (c == '!') return "negated features (!) are not supported";
    if (c == ' ') return "spaces are not allowed" + at;
    return "unexpected '" + std::string(1, c) + "'" + at + "; features are joined with & (all) or | (any)";
  }
  int add(Constraint::Term t) {
    c_.terms_.push_back(std::move(t));
    return static_cast<int>(c_.terms_.size()) - 1;
  }
  int parse_or(int depth, bool in_brackets) {
    int lhs = parse_and(depth, in_brackets);
    while (error_.empty() && pos_ < s_.size() && s_[pos_] == '|' && !in_brackets) {
      ++pos_;
      const int rhs = parse_and(depth, in_brackets);
      lhs = add({Kind::Or, {}, lhs, rhs});
    }
    return lhs;
  }
  int parse_and(int depth, bool in_brackets) {
    int lhs = parse_primary(depth, in_brackets);
    while (error_.empty() && pos_ < s_.size() && s_[pos_] == '&') {
      if (in_brackets) {
        set_error("'&' inside [...] asks for feature counts ([a*2&b*4]), which are not supported; "
                  "use [a|b] for a matching OR");
        return -1;
      }
      ++pos_;
      const int rhs = parse_primary(depth, in_brackets);
      lhs = add({Kind::And, {}, lhs, rhs});
    }
    return lhs;
  }
  int parse_primary(int depth, bool in_brackets) {
    if (!error_.empty()) return -1;
    if (depth > kMaxDepth) {
      set_error("nested too deeply");
      return -1;
    }
    if (pos_ >= s_.size()) {
      set_error("ends after an operator; give a feature after it");
      return -1;
    }
    const char c = s_[pos_];
    if (c == '(') {
      ++pos_;
      const int inner = parse_or(depth + 1, false);
      if (!error_.empty()) return -1;
      if (pos_ >= s_.size() || s_[pos_] != ')') {
        set_error("'(' without a matching ')'");
        return -1;
      }
      ++pos_;
      return inner;
    }
    if (c == '[') {
      if (in_brackets) {
        set_error("brackets inside brackets are not allowed");
        return -1;
      }
      if (!c_.match_.empty()) {
        set_error("only one matching OR [...] is allowed");
        return -1;
      }
      const std::size_t open = pos_++;
      std::vector<int> alts;
      for (;;) {
        alts.push_back(parse_and(depth + 1, true));
        if (!error_.empty()) return -1;
        if (pos_ < s_.size() && s_[pos_] == '|') {
          ++pos_;
          continue;
        }
        break;
      }
      if (pos_ >= s_.size() || s_[pos_] != ']') {
        set_error(pos_ < s_.size() ? unexpected()
                                   : "'[' at position " + std::to_string(open + 1) + " without a matching ']'");
        return -1;
      }
      ++pos_;
      if (pos_ < s_.size() && s_[pos_] == '*') {
        set_error("feature counts ([...]*N) are not supported");
        return -1;
      }
      c_.match_ = alts;
      return add({Kind::Match, {}, -1, -1});
    }
    const std::size_t start = pos_;
    while (pos_ < s_.size() && feature_char(s_[pos_])) ++pos_;
    if (pos_ == start) {
      if (c == '&' || c == '|' || c == ')' || c == ']')
        set_error("missing a feature before '" + std::string(1, c) + "' at position " + std::to_string(pos_ + 1));
      else
        set_error(unexpected());
      return -1;
    }
    if (pos_ - start > kMaxFeature) {
      set_error("a feature name is longer than 64 characters");
      return -1;
    }
    if (pos_ < s_.size() && s_[pos_] == '*') {
      set_error(unexpected());
      return -1;
    }
    return add({Kind::Feature, std::string(s_.substr(start, pos_ - start)), -1, -1});
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::string error_;
  Constraint c_;
};

Result<Constraint> parse_constraint(std::string_view text) { return ConstraintParser(text).run(); }

bool Constraint::eval(int t, const std::vector<std::string>& features, int choice) const {
  const Term& x = terms_[static_cast<std::size_t>(t)];
  switch (x.kind) {
    case Kind::Feature: return std::find(features.begin(), features.end(), x.feature) != features.end();
    case Kind::And: return eval(x.lhs, features, choice) && eval(x.rhs, features, choice);
    case Kind::Or: return eval(x.lhs, features, choice) || eval(x.rhs, features, choice);
    case Kind::Match:
      if (choice >= 0) return choice < choices() && eval(match_[static_cast<std::size_t>(choice)], features, -1);
      for (const int a : match_)
        if (eval(a, features, -1)) return true;
      return false;
  }
  return false;
}

bool Constraint::matches(const std::vector<std::string>& features, int choice) const {
  return empty() || eval(root_, features, choice);
}

std::vector<std::string> Constraint::features() const {
  std::vector<std::string> out;
  for (const auto& t : terms_)
    if (t.kind == Kind::Feature && std::find(out.begin(), out.end(), t.feature) == out.end())
      out.push_back(t.feature);
  return out;
}

bool NodeSelection::required(const std::string& node) const {
  return std::binary_search(node_list.begin(), node_list.end(), node);
}

bool NodeSelection::excluded(const std::string& node) const {
  return std::binary_search(exclude.begin(), exclude.end(), node);
}

bool NodeSelection::allows(const std::string& name, const std::vector<std::string>& features, int choice) const {
  return !excluded(name) && constraint.matches(features, choice);
}

Result<std::vector<std::string>> parse_features(std::string_view list) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= list.size()) {
    const std::size_t comma = std::min(list.find(',', from), list.size());
    std::string_view f = list.substr(from, comma - from);
    from = comma + 1;
    while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
    while (!f.empty() && f.back() == ' ') f.remove_suffix(1);
    if (f.empty()) continue;
    if (f.size() > kMaxFeature)
      return make_error("feature '" + std::string(f.substr(0, 16)) + "...'", "longer than 64 characters");
    for (char c : f)
      if (!feature_char(c))
        return make_error("feature '" + std::string(f) + "'",
                          "may contain only letters, digits, '_', '-', '.' and ':' (e.g. gpu,a100)");
    out.emplace_back(f);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > 64) return make_error("features", "at most 64 per node");
  return out;
}

std::string join_features(const std::vector<std::string>& features) {
  std::string s;
  for (const auto& f : features) s += (s.empty() ? "" : ",") + f;
  return s;
}

}  // namespace drover

// Which nodes a job may use: Slurm's --constraint (node features), --nodelist,
// --exclude and --exclusive. Pure: the scheduler asks `allows(node)`.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace drover {

class ConstraintParser;

// A parsed --constraint, in Slurm's syntax:
//   gpu             nodes with feature gpu
//   gpu&a100        both (AND)          gpu|cpu   either (OR)
//   (a|b)&c         parentheses group
//   [rack1|rack2]   matching OR: every node of the job has the same one of them
// Feature counts (a*2, [a*2&b*4]) and negation are refused as not supported.
class Constraint {
 public:
  Constraint() = default;
  bool empty() const { return root_ < 0; }
  const std::string& text() const { return text_; }
  // Alternatives of the matching OR ("[a|b]": 2), 0 when there is none.
  int choices() const { return static_cast<int>(match_.size()); }
  // Whether a node with these features satisfies it. choice >= 0 fixes the
  // matching OR's alternative (multi-node jobs try each); -1: any.
  bool matches(const std::vector<std::string>& features, int choice = -1) const;
  // The feature names it mentions, in order of first use.
  std::vector<std::string> features() const;
  bool operator==(const Constraint& o) const { return text_ == o.text_; }

 private:
  friend class ConstraintParser;
  enum class Kind : unsigned char { Feature, And, Or, Match };
  struct Term {
    Kind kind = Kind::Feature;
    std::string feature;    // Feature
    int lhs = -1, rhs = -1;  // And, Or
  };
  bool eval(int t, const std::vector<std::string>& features, int choice) const;
  std::string text_;
  std::vector<Term> terms_;
  std::vector<int> match_;  // the matching OR's alternatives (term indexes)
  int root_ = -1;
};

// "--constraint=a100&(ib|eth)" -> Constraint; errors name the position and say
// what would be valid, e.g. "'gpu*2': feature counts (*2) are not supported".
Result<Constraint> parse_constraint(std::string_view text);

// --exclusive: the job gets whole nodes (all their PUs and GPUs); no other job
// runs on them while it does.
struct NodeSelection {
  Constraint constraint;
  std::vector<std::string> node_list;  // --nodelist: the job gets all of these (sorted, unique)
  std::vector<std::string> exclude;    // --exclude: never these (sorted, unique)
  bool exclusive = false;
  bool operator==(const NodeSelection&) const = default;
  bool empty() const { return constraint.empty() && node_list.empty() && exclude.empty() && !exclusive; }
  bool required(const std::string& node) const;
  bool excluded(const std::string& node) const;
  // Whether the job may use a node named `name` with these features (not
  // excluded; the constraint holds for `choice`). Listed nodes must satisfy
  // the constraint, too, as in Slurm.
  bool allows(const std::string& name, const std::vector<std::string>& features, int choice = -1) const;
};

// Features as agents and admins give them: "gpu,a100" -> {"a100", "gpu"}
// (sorted, unique). Names: letters, digits, '_', '-', '.', ':' (at most 64).
Result<std::vector<std::string>> parse_features(std::string_view list);
std::string join_features(const std::vector<std::string>& features);  // "a100,gpu"

}  // namespace drover

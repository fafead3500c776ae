// Slurm hostlist expressions, in one place: "node[01-04,07],gpu[1-2]x,login1" <-> names,
// and SLURM_TASKS_PER_NODE's run-length form "2(x3),1". Pure.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace drover {

// An expression that names more hosts than this is refused: no cluster has that many, and
// "n[0-999999999]" must not make a submit allocate gigabytes.
inline constexpr std::size_t kMaxHostlistNames = 1'000'000;

// Expands names separated by commas and/or whitespace; each may hold bracket groups of
// numbers and ranges ("[01-04,07]"). A range is zero-padded to the width of its first
// number ("[08-10]" -> 08 09 10). Several groups multiply, the first varying slowest
// ("r[1-2]n[01-02]" -> r1n01 r1n02 r2n01 r2n02). Order and repeats are kept.
// Errors name the expression: unbalanced or nested brackets, an empty group, a reversed
// range ("[5-3]"), anything but digits, '-' and ',' inside brackets, too many names.
Result<std::vector<std::string>> expand_hostlist(std::string_view expression);

// The canonical short form of a set of names (sorted, repeats dropped), as scontrol would
// print it: {node01,node02,node03,node04,node07} -> "node[01-04,07]"; names that differ
// in several numbers get several groups ("r[1-2]n[01-02]"). expand_hostlist() of the
// result gives the same set of names back. Names that cannot appear in an expression
// (empty, or holding '[', ']', ',' or whitespace) are written as they are.
std::string compress_hostlist(std::vector<std::string> names);

// The same, keeping the order and repeats of `names` (only neighbours are merged), for
// lists where order matters (a rank's node). expand_hostlist() gives `names` back exactly.
std::string compress_hostlist_in_order(const std::vector<std::string>& names);

// SLURM_TASKS_PER_NODE: {2,2,2,1} -> "2(x3),1".
std::string format_tasks_per_node(const std::vector<int>& counts);
// And back; refuses what format_tasks_per_node could not have written.
Result<std::vector<int>> parse_tasks_per_node(std::string_view text);

}  // namespace drover

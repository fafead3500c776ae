// A job definition: a versioned template for jobs (AWS Batch RegisterJobDefinition).
// Registering a name again creates the next revision; revisions are never edited.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/resources.hpp"

namespace drover {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Looks up key in an ordered list of pairs; nullptr when absent.
inline const std::string* find_value(const KeyValues& kv, const std::string& key) {
  for (const auto& [k, v] : kv)
    if (k == key) return &v;
  return nullptr;
}
// Sets key to value, replacing an earlier entry.
// (A view, so that a literal name costs no string until it is stored.)
inline void set_value(KeyValues& kv, std::string_view key, std::string value) {
  for (auto& [k, v] : kv)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv.emplace_back(std::string(key), std::move(value));
}

enum class DefinitionType { Single, Multinode };

struct JobDefinition {
  std::string name;
  int revision = 0;
  bool active = true;  // INACTIVE once deregistered
  DefinitionType type = DefinitionType::Single;
  std::vector<std::string> command;  // argv; "Ref::name" is replaced by parameters
  KeyValues parameters;              // defaults for Ref:: placeholders
  KeyValues environment;
  Resources resources;
  RetryStrategy retry;
  std::int64_t timeout_seconds = 0;  // 0: none
  int scheduling_priority = 0;       // AWS schedulingPriority: 0..9999, higher first
  KeyValues tags;
  std::int64_t created_at = 0;       // epoch ms
  bool operator==(const JobDefinition&) const = default;
};

// Replaces every "Ref::<name>" in each argument whose name is in params.
// Unknown references are left as they are, as AWS Batch does.
std::vector<std::string> substitute_parameters(const std::vector<std::string>& command,
                                               const KeyValues& params);

}  // namespace drover

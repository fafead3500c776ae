// sbatch --signal=[{R|B}:]SIG[@SECONDS]: which signal to send how long before the time
// limit, and to whom (B: the batch shell only, R: also at a reservation's end).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace drover::script {

struct SignalSpec {
  int number = 0;              // Linux numbering
  int seconds_before = 60;     // sbatch's default
  bool batch_shell_only = false;  // "B:"
  bool reservation = false;       // "R:"
  std::string to_string() const;  // "B:USR1@90"
  bool operator==(const SignalSpec&) const = default;
};

// "USR1", "SIGUSR1", "usr1" or "10" -> 10; nullopt when not a signal (1-64).
std::optional<int> signal_number(std::string_view name);
// 10 -> "USR1"; numbers without a name stay numbers ("40").
std::string signal_name(int number);

Result<SignalSpec> parse_signal_spec(std::string_view text);

}  // namespace drover::script

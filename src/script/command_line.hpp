// sbatch-style argument words -> options, with getopt_long's rules as sbatch uses them:
// options first, then the script and its arguments. Used for the command line and for
// the words of each #SBATCH/#DROVER line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "script/submit_options.hpp"

namespace drover::script {

// One option as found, before it is applied.
struct OptionUse {
  std::string name;  // canonical long name
  std::optional<std::string> value;
  Origin origin;
  bool operator==(const OptionUse&) const = default;
};

struct CommandLine {
  std::vector<OptionUse> options;
  // The first word that is not an option and everything after it: the script and its
  // arguments. After "--", the words after it (double_dash is then true; Drover runs
  // them as a program: `drover submit -- ./prog args`).
  std::vector<std::string> operands;
  bool double_dash = false;
};

// `args` excludes the program and subcommand ("drover submit"). Forms: --name=value,
// --name value, --na=value (an unambiguous prefix), -J name, -Jname, -c4, clustered flags
// (-HW), and -J -x takes "-x" as the value, as getopt does. Options end at the first word
// that is not one ("-" included) or at "--". Errors name the word and say why.
Result<CommandLine> parse_command_line(const std::vector<std::string>& args);

// The words of one directive line: options only; a word that is not one is an error.
Result<std::vector<OptionUse>> parse_directive_words(const std::vector<std::string>& words,
                                                     const Origin& where);

}  // namespace drover::script

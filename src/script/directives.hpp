// Job scripts: #SBATCH and #DROVER directives read from the leading comment block the way
// sbatch reads them, and the merge of every source of options into one SubmitOptions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/job_definition.hpp"
#include "core/result.hpp"
#include "script/begin_time.hpp"
#include "script/command_line.hpp"
#include "script/submit_options.hpp"

namespace drover::script {

// Scripts travel to the head and are stored with the job; data belongs in files.
inline constexpr std::size_t kMaxScriptBytes = 4u << 20;

struct ParsedScript {
  std::string filename;
  std::vector<OptionUse> sbatch_options;  // #SBATCH (and the old #SLURM) lines, in order
  std::vector<OptionUse> drover_options;  // #DROVER lines, in order
  std::vector<std::string> warnings;      // "job.sh:12: ..." one each
  int first_command_line = 0;             // where reading stopped; 0: no command at all
  bool has_bom = false;                   // a UTF-8 byte-order mark was skipped
  bool has_crlf = false;                  // DOS line ends were read as Unix ones
};

// Reads directives as sbatch does: line 1 must be "#!interpreter"; a directive is a line
// that starts (column 0) with #SBATCH, #SLURM or #DROVER; reading stops at the first line
// whose first non-blank character is not '#'. A directive line holds options like a
// command line; quotes group words ("my job"), a backslash escapes one character, an
// unquoted '#' starts a comment; no other shell expansion.
// Errors say file:line and why: binary content (a NUL byte), over kMaxScriptBytes, no #!
// line, an unmatched quote, an unknown option ("did you mean"), a word that is not an
// option, hetjob separators. Warnings (tolerated, reported): a BOM, CRLF line ends,
// #SLURM, directives after the first command or indented or in lower case (ignored).
// Differences from sbatch, deliberate: a value must be on its directive's line (sbatch
// lets "-J" take the next line's first word); CRLF and a BOM are warnings, not errors.
Result<ParsedScript> parse_directives(std::string_view text, std::string_view filename);

// All sources into one, in precedence order, later winning: #SBATCH < #DROVER < input
// environment variables (SBATCH_* < DROVER_SUBMIT_*, see environment_options()) < the
// command line. `script` may be null (--wrap, or a program after --). `environment` is the
// submitter's; only the variables environment_options() names are read; an empty one is
// ignored, and a flag variable set to 0/no/false/off is off. --begin is resolved against
// `clock`. Errors: every bad option, one per line ("job.sh:7: --time=abc: ..."), at most
// 20; warnings are in the result's warnings, the script's first.
Result<SubmitOptions> merge_options(const ParsedScript* script, const KeyValues& environment,
                                    const CommandLine& command_line, const Clock& clock);

}  // namespace drover::script

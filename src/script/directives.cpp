#include "script/directives.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include "script/option_table.hpp"
#include "core/text.hpp"

namespace drover::script {

namespace {

constexpr std::size_t kMaxErrors = 20;
constexpr int kMaxIgnoredWarnings = 5;

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// The words of a directive, split as sbatch's get_argument() does.
Result<std::vector<std::string>> directive_words(std::string_view line, const std::string& at) {
  std::vector<std::string> words;
  std::size_t i = 0;
  const std::size_t n = line.size();
  for (;;) {
    while (i < n && space(line[i])) ++i;
    if (i >= n || line[i] == '#') break;  // end, or a comment
    if (line[i] == ':') return Error{at + "unexpected ':' (hetjob components are not supported)"};
    std::string word;
    bool quoted_word = false, comment = false;
    char quote = 0;
    while (i < n && (quote || !space(line[i]))) {
      const char c = line[i];
      if (c == '\\') {  // the next character as it is; a backslash at the end escapes nothing
        if (i + 1 < n) word += line[i + 1];
        i = std::min(i + 2, n);
        continue;
      }
      if (quote) {
        if (c == quote)
          quote = 0;
        else
          word += c;
        ++i;
        continue;
      }
      if (c == '"' || c == '\'') {
        quote = c;
        quoted_word = true;
        ++i;
        continue;
      }
      if (c == '#') {
        comment = true;
        break;
      }
      word += c;
      ++i;
    }
    if (quote)
      return Error{at + "unmatched " + std::string(1, quote) + " in " + quoted(line, 120) +
                   "; close the quote on the same line"};
    // An explicit "" is an (empty) word; sbatch would end the line there instead.
    if (!word.empty() || quoted_word) words.push_back(std::move(word));
    if (comment) break;
  }
  return words;
}

struct Magic {
  std::string_view word;
  Source source;
};
constexpr Magic kMagic[] = {
    {"#SBATCH", Source::SbatchDirective}, {"#DROVER", Source::DroverDirective}, {"#SLURM", Source::SbatchDirective}};

const Magic* directive_magic(std::string_view line) {
  for (const auto& m : kMagic)
    if (starts_with(line, m.word)) return &m;
  return nullptr;
}

bool is_off(std::string_view v) {
  return v == "0" || iequals(v, "no") || iequals(v, "false") || iequals(v, "off");
}

bool is_on(std::string_view v) {
  return v == "1" || iequals(v, "yes") || iequals(v, "true") || iequals(v, "on");
}

}  // namespace

Result<ParsedScript> parse_directives(std::string_view text, std::string_view filename) {
  ParsedScript out;
  out.filename = std::string(filename);
  const std::string file(filename);

  if (text.size() > kMaxScriptBytes) {
    const double mib = static_cast<double>(text.size()) / (1 << 20);
    char size[32];
    std::snprintf(size, sizeof size, "%.1f", mib);
    return make_error(file, std::string("the script is ") + size +
                                " MiB; scripts are limited to 4 MiB (keep data in files, not in the script)");
  }
  if (starts_with(text, "\xEF\xBB\xBF")) {
    text.remove_prefix(3);
    out.has_bom = true;
    out.warnings.push_back(file + ":1: a UTF-8 byte-order mark before #! was skipped; remove it, or the "
                                  "kernel will not find the interpreter when the job runs");
  }
  if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
    return make_error(file + ":" + std::to_string(line),
                      "a NUL byte: this looks like a binary file, not a script; to run a program use: "
                      "drover submit -- " + file);
  }
  if (text.empty()) return make_error(file, "the script is empty");
  if (is_blank(text)) return make_error(file, "the script holds only whitespace");
  if (!starts_with(text, "#!"))
    return make_error(file + ":1", "the first line must start with #! and an interpreter, e.g. #!/bin/bash");
  if (const auto crlf = text.find("\r\n"); crlf != std::string_view::npos) {
    out.has_crlf = true;
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(crlf), '\n');
    out.warnings.push_back(file + ":" + std::to_string(line) +
                           ": DOS line ends (CRLF); directives were read without the CR, but the shell "
                           "will see it at the end of each command: convert the file with dos2unix");
  }

  bool warned_slurm = false;
  int lineno = 0;
  std::size_t pos = 0;
  int ignored = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string at = file + ":" + std::to_string(lineno) + ": ";

    if (out.first_command_line > 0) {
      // sbatch ignores these; say so, since the user evidently meant them.
      if (directive_magic(line)) {
        if (++ignored <= kMaxIgnoredWarnings)
          out.warnings.push_back(at + std::string(directive_magic(line)->word) + " after the first command (line " +
                                 std::to_string(out.first_command_line) +
                                 ") is ignored, as sbatch ignores it; move it above");
      }
      continue;
    }

    const Magic* magic = directive_magic(line);
    if (!magic) {
      const std::string_view body = trim(line);
      if (body.empty()) continue;
      if (body[0] != '#') {
        out.first_command_line = lineno;
        continue;
      }
      if (lineno > 1 && directive_magic(body))
        out.warnings.push_back(at + std::string(directive_magic(body)->word) +
                               " is ignored: a directive must start at the beginning of the line");
      else if (lineno > 1 && (iequals(body.substr(0, 7), "#SBATCH") || iequals(body.substr(0, 7), "#DROVER")))
        out.warnings.push_back(at + quoted(body.substr(0, 7)) +
                               " is ignored: directives are case-sensitive; write #SBATCH or #DROVER");
      continue;
    }
    if (magic->word == "#SLURM" && !warned_slurm) {
      out.warnings.push_back(at + "#SLURM is the old spelling of #SBATCH; it is read, but write #SBATCH");
      warned_slurm = true;
    }
    std::string_view rest = line.substr(magic->word.size());
    const std::string_view first = trim(rest).substr(0, 7);
    for (std::string_view het : {"hetjob", "packjob"}) {
      if (iequals(first.substr(0, het.size()), het) && (first.size() == het.size() || space(first[het.size()])))
        return Error{at + std::string(het) + ": heterogeneous jobs are not supported yet; submit the components "
                                             "as separate jobs"};
    }
    auto words = directive_words(rest, at);
    if (!words) return words.error();
    auto uses = parse_directive_words(*words, Origin::directive(magic->source, file, lineno));
    if (!uses) return uses.error();
    auto& list = magic->source == Source::DroverDirective ? out.drover_options : out.sbatch_options;
    list.insert(list.end(), uses->begin(), uses->end());
  }
  if (ignored > kMaxIgnoredWarnings)
    out.warnings.push_back(file + ": " + std::to_string(ignored - kMaxIgnoredWarnings) +
                           " more directives after the first command were ignored");
  return out;
}

Result<SubmitOptions> merge_options(const ParsedScript* script, const KeyValues& environment,
                                    const CommandLine& command_line, const Clock& clock) {
  SubmitOptions o;
  std::vector<std::string> errors;
  auto apply = [&](const OptionUse& u) {
    if (errors.size() >= kMaxErrors) return;
    std::optional<std::string_view> v;
    if (u.value) v = *u.value;
    if (auto st = apply_option(o, "--" + u.name, v, u.origin); !st) errors.push_back(st.message());
  };

  if (script) {
    o.warnings = script->warnings;
    for (const auto& u : script->sbatch_options) apply(u);
    for (const auto& u : script->drover_options) apply(u);
  }

  std::map<std::string, std::string, std::less<>> env;
  for (const auto& [k, v] : environment) env[k] = v;  // the last of a repeated name wins
  for (const auto& e : environment_options()) {
    const auto it = env.find(e.variable);
    if (it == env.end() || it->second.empty()) continue;
    auto spec = lookup_option("--" + std::string(e.option));
    if (!spec) continue;  // the table and the variable list disagree; tests catch it
    OptionUse u{std::string((*spec)->name), it->second, Origin::environment(std::string(e.variable))};
    if ((*spec)->value == OptionValue::None) {
      if (is_off(it->second)) continue;
      u.value.reset();  // a flag: set by being there
    } else if ((*spec)->value == OptionValue::Optional && (is_off(it->second) || is_on(it->second))) {
      if (is_off(it->second)) continue;
      u.value.reset();
    }
    apply(u);
  }

  for (const auto& u : command_line.options) apply(u);

  if (o.begin && errors.empty()) {
    auto t = parse_begin_time(o.begin->text, clock);
    if (!t)
      errors.push_back(o.set_by["begin"].describe() + ": --begin=" + o.begin->text + ": " + t.message());
    else
      o.begin->epoch = *t;
  }
  if (o.wrap && script)
    errors.push_back(o.set_by["wrap"].describe() + ": --wrap: give either --wrap or a script, not both");

  if (!errors.empty()) {
    std::string msg;
    for (const auto& e : errors) msg += (msg.empty() ? "" : "\n") + e;
    if (errors.size() >= kMaxErrors) msg += "\n(stopped after " + std::to_string(kMaxErrors) + " errors)";
    return Error{msg};
  }
  return o;
}

}  // namespace drover::script

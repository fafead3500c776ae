#include "script/command_line.hpp"

#include "script/option_table.hpp"
#include "core/text.hpp"

namespace drover::script {

namespace {

// Reads the options from words[i...]; stops at the first operand (left at `i`) or "--".
Status read_options(const std::vector<std::string>& words, std::size_t& i, const Origin& where,
                    std::vector<OptionUse>& out) {
  const std::string at = where.describe() + ": ";
  while (i < words.size()) {
    const std::string& w = words[i];
    if (w == "--" || w.size() < 2 || w[0] != '-') return {};
    ++i;
    if (w[1] == '-') {
      const auto eq = w.find('=');
      const std::string name = w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      auto spec = lookup_option("--" + name);
      if (!spec) return Error{at + spec.message()};
      OptionUse use{std::string((*spec)->name), std::nullopt, where};
      if (eq != std::string::npos) {
        use.value = w.substr(eq + 1);
        if ((*spec)->value == OptionValue::None)
          return Error{at + spell(**spec, *use.value) + ": takes no value"};
      } else if ((*spec)->value == OptionValue::Required) {
        if (i == words.size()) return Error{at + spell(**spec, std::nullopt) + ": needs a value"};
        use.value = words[i++];
      }
      out.push_back(std::move(use));
      continue;
    }
    // -HWc4: flags may share a word; the first letter that takes a value takes the rest.
    for (std::size_t k = 1; k < w.size(); ++k) {
      const OptionSpec* spec = find_short_option(w[k]);
      if (!spec) {
        auto why = lookup_option(std::string("-") + w[k]);  // its error says why, with hints
        return Error{at + (why ? std::string("-?: unknown option") : why.message())};
      }
      OptionUse use{std::string(spec->name), std::nullopt, where};
      const std::string rest = w.substr(k + 1);
      if (spec->value == OptionValue::Required) {
        if (!rest.empty()) {
          use.value = rest;
        } else {
          if (i == words.size())
            return Error{at + "-" + std::string(1, w[k]) + " (" + spell(*spec, std::nullopt) + "): needs a value"};
          use.value = words[i++];
        }
        out.push_back(std::move(use));
        break;
      }
      if (spec->value == OptionValue::Optional) {
        if (!rest.empty()) use.value = rest;
        out.push_back(std::move(use));
        break;
      }
      out.push_back(std::move(use));
    }
  }
  return {};
}

}  // namespace

Result<CommandLine> parse_command_line(const std::vector<std::string>& args) {
  CommandLine cl;
  std::size_t i = 0;
  if (auto st = read_options(args, i, Origin::command_line(), cl.options); !st) return st.error();
  if (i < args.size() && args[i] == "--") {
    cl.double_dash = true;
    ++i;
  }
  cl.operands.assign(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return cl;
}

Result<std::vector<OptionUse>> parse_directive_words(const std::vector<std::string>& words,
                                                     const Origin& where) {
  std::vector<OptionUse> out;
  std::size_t i = 0;
  if (auto st = read_options(words, i, where, out); !st) return st.error();
  if (i < words.size()) {
    std::string why = quoted(words[i]) + " is not an option";
    if (i > 0 && words[i] != "--") why += "; a value with spaces needs quotes: --job-name=\"my job\"";
    return Error{where.describe() + ": " + why};
  }
  return out;
}

}  // namespace drover::script

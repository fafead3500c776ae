#include "script/dependency.hpp"

#include "core/text.hpp"

namespace drover::script {

namespace {

constexpr std::string_view kForm =
    "use TYPE:JOBID[:JOBID...] with TYPE after, afterany, afterok, afternotok or aftercorr, "
    "or singleton; join with ',' (all of) or '?' (any of)";

Error bad(std::string_view text, const std::string& why) {
  return make_error("dependency " + quoted(text), why);
}

std::optional<DependencyKind> kind_of(std::string_view word) {
  const std::string w = to_lower(word);
  if (w == "after") return DependencyKind::After;
  if (w == "afterany") return DependencyKind::AfterAny;
  if (w == "afterok") return DependencyKind::AfterOk;
  if (w == "afternotok") return DependencyKind::AfterNotOk;
  if (w == "aftercorr") return DependencyKind::AfterCorr;
  if (w == "afterburstbuffer") return DependencyKind::AfterBurstBuffer;
  return std::nullopt;
}

// "12", "12_3", "12+5" (the last for `after` only).
Result<DependencyTarget> target(std::string_view text, std::string_view t, DependencyKind kind) {
  DependencyTarget out;
  if (const auto plus = t.find('+'); plus != std::string_view::npos) {
    if (kind != DependencyKind::After)
      return bad(text, "'+MINUTES' only goes with after, as in after:" + std::string(t));
    const auto m = parse_uint(t.substr(plus + 1), 525'600);  // a year of minutes
    if (!m) return bad(text, "'" + std::string(t.substr(plus)) + "': expected +MINUTES, 0 to 525600");
    out.delay_minutes = *m;
    t = t.substr(0, plus);
  }
  std::string_view id = t;
  if (const auto us = t.find('_'); us != std::string_view::npos) {
    id = t.substr(0, us);
    const auto task = parse_uint(t.substr(us + 1), 999'999'999);
    if (!task) return bad(text, "'" + std::string(t) + "': expected JOBID_TASK, e.g. 12_3");
    out.array_task = *task;
  }
  if (id.empty()) return bad(text, "a job id is missing; " + std::string(kForm));
  const auto v = parse_uint(id, kMaxJobId);
  if (!v) {
    if (is_digits(id)) return bad(text, "job id " + std::string(id) + " is too large");
    return bad(text, quoted(id) + " is not a job id; " + std::string(kForm));
  }
  if (*v == 0) return bad(text, "job id 0 does not exist; ids start at 1");
  out.job_id = *v;
  return out;
}

}  // namespace

const char* to_string(DependencyKind kind) {
  switch (kind) {
    case DependencyKind::After: return "after";
    case DependencyKind::AfterAny: return "afterany";
    case DependencyKind::AfterOk: return "afterok";
    case DependencyKind::AfterNotOk: return "afternotok";
    case DependencyKind::AfterCorr: return "aftercorr";
    case DependencyKind::AfterBurstBuffer: return "afterburstbuffer";
    case DependencyKind::Singleton: return "singleton";
  }
  return "?";
}

std::string DependencyExpr::to_string() const {
  std::string out;
  for (const auto& term : terms) {
    if (!out.empty()) out += any ? '?' : ',';
    out += script::to_string(term.kind);
    for (const auto& t : term.targets) {
      out += ':' + std::to_string(t.job_id);
      if (t.array_task) out += '_' + std::to_string(*t.array_task);
      if (t.delay_minutes) out += '+' + std::to_string(t.delay_minutes);
    }
  }
  return out;
}

Result<DependencyExpr> parse_dependency(std::string_view text) {
  DependencyExpr expr;
  if (text.empty() || text == "0") return expr;  // Slurm: no dependency
  const bool has_all = text.find(',') != std::string_view::npos;
  const bool has_any = text.find('?') != std::string_view::npos;
  if (has_all && has_any)
    return bad(text, "mixes ',' (all of) and '?' (any of); use one of them");
  expr.any = has_any;
  for (std::string_view part : split(text, has_any ? '?' : ',')) {
    if (part.empty()) return bad(text, "an empty entry; " + std::string(kForm));
    DependencyTerm term;
    if (iequals(part, "singleton")) {
      term.kind = DependencyKind::Singleton;
      expr.terms.push_back(term);
      continue;
    }
    const auto colon = part.find(':');
    if (colon == std::string_view::npos) {
      // Slurm's old format: a bare job id means after it ends, however it ends.
      auto t = target(text, part, DependencyKind::AfterAny);
      if (!t) {
        if (!part.empty() && !(part[0] >= '0' && part[0] <= '9'))
          return bad(text, quoted(part) + " is not a dependency; " + std::string(kForm));
        return t.error();
      }
      term.kind = DependencyKind::AfterAny;
      term.targets.push_back(*t);
      expr.terms.push_back(term);
      continue;
    }
    const auto kind = kind_of(part.substr(0, colon));
    if (!kind) {
      if (iequals(part.substr(0, colon), "expand"))
        return bad(text, "expand: (growing a running job) is not supported");
      return bad(text, quoted(part.substr(0, colon)) + " is not a dependency type; " + std::string(kForm));
    }
    term.kind = *kind;
    for (std::string_view id : split(part.substr(colon + 1), ':')) {
      auto t = target(text, id, *kind);
      if (!t) return t.error();
      term.targets.push_back(*t);
    }
    expr.terms.push_back(term);
  }
  return expr;
}

}  // namespace drover::script

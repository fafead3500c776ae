#include "core/job.hpp"

#include <mutex>
#include <unordered_set>

#include <algorithm>
#include <cctype>

namespace drover {

InternedText& InternedText::operator=(const std::string& s) {
  if (s.empty()) {
    p_ = nullptr;
    return *this;
  }
  // Nodes of an unordered_set do not move: their c_str() stays valid.
  static std::mutex mutex;
  static std::unordered_set<std::string> texts;
  std::lock_guard<std::mutex> lock(mutex);
  p_ = texts.insert(s).first->c_str();
  return *this;
}

const char* to_string(JobState s) {
  switch (s) {
    case JobState::Submitted: return "SUBMITTED";
    case JobState::Pending: return "PENDING";
    case JobState::Runnable: return "RUNNABLE";
    case JobState::Starting: return "STARTING";
    case JobState::Running: return "RUNNING";
    case JobState::Succeeded: return "SUCCEEDED";
    case JobState::Failed: return "FAILED";
  }
  return "UNKNOWN";
}

static std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

std::optional<JobState> parse_job_state(const std::string& s) {
  const std::string u = upper(s);
  for (auto st : {JobState::Submitted, JobState::Pending, JobState::Runnable, JobState::Starting,
                  JobState::Running, JobState::Succeeded, JobState::Failed})
    if (u == to_string(st)) return st;
  return std::nullopt;
}

const char* to_string(DependencyType t) {
  switch (t) {
    case DependencyType::AfterOk: return "afterok";
    case DependencyType::AfterAny: return "afterany";
    case DependencyType::AfterNotOk: return "afternotok";
    case DependencyType::After: return "after";
    case DependencyType::AfterCorr: return "aftercorr";
    case DependencyType::Sequential: return "SEQUENTIAL";
    case DependencyType::Singleton: return "singleton";
  }
  return "afterok";
}

std::optional<DependencyType> parse_dependency_type(const std::string& s) {
  std::string l = s;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char c) { return std::tolower(c); });
  if (l == "afterok" || l.empty()) return DependencyType::AfterOk;
  if (l == "afterany") return DependencyType::AfterAny;
  if (l == "afternotok") return DependencyType::AfterNotOk;
  if (l == "after") return DependencyType::After;
  if (l == "aftercorr" || l == "n_to_n") return DependencyType::AfterCorr;
  if (l == "sequential") return DependencyType::Sequential;
  if (l == "singleton") return DependencyType::Singleton;
  return std::nullopt;
}

std::string target_name(const Dependency& d) {
  std::string s = std::to_string(d.job_id);
  if (d.array_index >= 0) s += "_" + std::to_string(d.array_index);
  return s;
}

std::string to_string(const Dependency& d) {
  if (!names_job(d.type)) return to_string(d.type);
  std::string s = std::string(to_string(d.type)) + ":" + target_name(d);
  if (d.minutes) s += "+" + std::to_string(d.minutes);
  return s;
}

std::string expand_output_pattern(const std::string& pattern, const Job& job,
                                  const std::string& node) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c != '%' || i + 1 == pattern.size()) {
      out += c;
      continue;
    }
    const char k = pattern[++i];
    switch (k) {
      case 'j': out += std::to_string(job.id); break;
      // Array tasks: %A the array's id, %a the task's index. Outside arrays
      // Slurm writes the job id and 4294967294 (NO_VAL); so does Drover.
      case 'A': out += std::to_string(job.array_parent ? job.array_parent : job.id); break;
      case 'a': out += job.array_parent ? std::to_string(job.array_index) : "4294967294"; break;
      case 'n':  // node index within the job, and task id: one node, the batch step
      case 't': out += '0'; break;
      case 'x': out += job.name; break;
      case 'u': out += job.user; break;
      case 'N': out += node; break;
      case '%': out += '%'; break;
      default:  // unknown escapes are kept literally, so nothing is silently lost
        out += '%';
        out += k;
    }
  }
  return out;
}

std::vector<std::string> substitute_parameters(const std::vector<std::string>& command,
                                               const KeyValues& params) {
  std::vector<std::string> out;
  out.reserve(command.size());
  static const std::string kRef = "Ref::";
  for (const auto& arg : command) {
    std::string s;
    std::size_t pos = 0;
    while (true) {
      const auto at = arg.find(kRef, pos);
      if (at == std::string::npos) {
        s.append(arg, pos);
        break;
      }
      s.append(arg, pos, at - pos);
      auto end = at + kRef.size();
      while (end < arg.size() &&
             (std::isalnum(static_cast<unsigned char>(arg[end])) || arg[end] == '_' ||
              arg[end] == '-'))
        ++end;
      const std::string name = arg.substr(at + kRef.size(), end - at - kRef.size());
      if (const auto* v = find_value(params, name))
        s += *v;
      else
        s.append(arg, at, end - at);
      pos = end;
    }
    out.push_back(std::move(s));
  }
  return out;
}

int Job::counted_attempts() const {
  int n = 0;
  for (const auto& a : attempts) n += a.status_reason != kRequeuedAttempt;
  return n;
}

bool attempt_on(const Attempt& a, const std::string& node) {
  if (a.node == node) return true;
  for (const auto& s : a.more_nodes)
    if (s.node == node) return true;
  return false;
}

std::size_t attempt_pus(const Attempt& a) {
  std::size_t n = a.cpus.size();
  for (const auto& s : a.more_nodes) n += s.cpus.size();
  return n;
}

std::vector<std::string> attempt_nodes(const Attempt& a) {
  std::vector<std::string> v{a.node};
  for (const auto& s : a.more_nodes) v.push_back(s.node);
  return v;
}

}  // namespace drover

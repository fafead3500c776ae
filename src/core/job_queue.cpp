#include "core/job_queue.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace drover {

const char* to_string(PreemptMode m) {
  switch (m) {
    case PreemptMode::Off: return "OFF";
    case PreemptMode::Requeue: return "REQUEUE";
    case PreemptMode::Cancel: return "CANCEL";
  }
  return "?";
}

std::optional<PreemptMode> parse_preempt_mode(std::string_view s) {
  std::string up(s);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (PreemptMode m : {PreemptMode::Off, PreemptMode::Requeue, PreemptMode::Cancel})
    if (up == to_string(m)) return m;
  return std::nullopt;
}

const char* to_string(QueueBackfill b) {
  switch (b) {
    case QueueBackfill::Easy: return "EASY";
    case QueueBackfill::Conservative: return "CONSERVATIVE";
    case QueueBackfill::Fifo: return "FIFO";
  }
  return "?";
}

std::optional<QueueBackfill> parse_queue_backfill(std::string_view s) {
  std::string up(s);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (QueueBackfill b : {QueueBackfill::Easy, QueueBackfill::Conservative, QueueBackfill::Fifo})
    if (up == to_string(b)) return b;
  return std::nullopt;
}

double FairShare::weight_of(const std::string& share) const {
  // An exact entry wins over a prefix; the longest prefix wins among prefixes.
  double best = 1.0;
  std::size_t best_len = 0;
  for (const auto& w : weights) {
    if (w.identifier == share) return w.weight;
    if (!w.identifier.empty() && w.identifier.back() == '*') {
      const std::size_t n = w.identifier.size() - 1;
      if (share.compare(0, n, w.identifier, 0, n) == 0 && n + 1 > best_len) {
        best = w.weight;
        best_len = n + 1;
      }
    }
  }
  return best;
}

double ShareUsage::as_of(std::int64_t now, std::int64_t half_life_s) const {
  if (half_life_s <= 0 || vcpu_seconds <= 0) return 0;
  const double dt = static_cast<double>(std::max<std::int64_t>(0, now - at)) / 1000.0;
  return vcpu_seconds * std::exp2(-dt / static_cast<double>(half_life_s));
}

}  // namespace drover

#include "transport/log.hpp"

#include <cstdio>
#include <ctime>

#include "transport/event_loop.hpp"

namespace drover::log {

namespace {
std::string g_name = "drover";

void write(const char* level, const std::string& msg) {
  const auto ms = transport::epoch_ms();
  const std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::fprintf(stderr, "%s.%03dZ %s %s: %s\n", ts, static_cast<int>(ms % 1000), g_name.c_str(),
               level, msg.c_str());
  std::fflush(stderr);
}
}  // namespace

void info(const std::string& msg) { write("info", msg); }
void warn(const std::string& msg) { write("warning", msg); }
void error(const std::string& msg) { write("error", msg); }
void set_name(const std::string& name) { g_name = name; }

}  // namespace drover::log

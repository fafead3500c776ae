// Minimal logging for the daemons: one line per event on stderr, with time and
// level, which `drover up` redirects to a file in the state directory.
#pragma once

#include <string>

namespace drover::log {

void info(const std::string& msg);
void warn(const std::string& msg);
void error(const std::string& msg);
void set_name(const std::string& name);  // "droverd", "drover-noded[n1]"

}  // namespace drover::log

// Builds the library's errors: "<what failed>: <why>".
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "drover/checkpoint.hpp"

namespace drover::checkpoint::detail {

inline Error make_error(ErrorCode code, std::string what, const std::string& why = {}) {
  if (!why.empty()) what += ": " + why;
  return Error{code, std::move(what)};
}

// Prefixes an error's message with more context, keeping its code.
inline Error with_context(const std::string& context, Error e) {
  e.message = context + ": " + e.message;
  return e;
}

inline std::string errno_text(int err) { return std::strerror(err); }

}  // namespace drover::checkpoint::detail

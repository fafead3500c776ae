// The CLI's connection to droverd: one request, one reply, as JSON.
#pragma once

#include <string>

#include "core/result.hpp"
#include "proto/codec.hpp"
#include "transport/connection.hpp"

namespace drover::cli {

// Where to find droverd: --socket, then $DROVER_SOCKET, then the socket of a
// cluster started by `drover up` for this user, then /run/drover/droverd.sock.
std::string default_socket_path();
// The per-user directory `drover up` uses: $DROVER_STATE_DIR, else
// $XDG_STATE_HOME/drover, else ~/.local/state/drover.
std::string default_state_dir();

class ApiClient {
 public:
  static Result<ApiClient> connect(const std::string& socket_path);
  // Sends {"op": op, "args": args}; returns "result", or the daemon's error.
  Result<proto::Json> call(const std::string& op, const proto::Json& args = proto::Json::object(),
                           int timeout_ms = 60000);

 private:
  explicit ApiClient(transport::Client c) : client_(std::move(c)) {}
  transport::Client client_;
};

}  // namespace drover::cli

#include "cli/api_client.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

namespace drover::cli {

std::string default_state_dir() {
  if (const char* d = std::getenv("DROVER_STATE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/drover";
  const char* home = std::getenv("HOME");
  std::string h = home && *home ? home : "";
  if (h.empty()) {
    if (passwd* pw = getpwuid(getuid())) h = pw->pw_dir;
  }
  return h + "/.local/state/drover";
}

std::string default_socket_path() {
  if (const char* s = std::getenv("DROVER_SOCKET"); s && *s) return s;
  const std::string mine = default_state_dir() + "/droverd.sock";
  struct stat st{};
  if (::stat(mine.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return mine;
  return "/run/drover/droverd.sock";
}

Result<ApiClient> ApiClient::connect(const std::string& socket_path) {
  auto c = transport::Client::connect(socket_path);
  if (!c)
    return make_error("cannot reach droverd at " + socket_path,
                      c.message() + " (is the cluster up? try: drover up)");
  return ApiClient(std::move(*c));
}

Result<proto::Json> ApiClient::call(const std::string& op, const proto::Json& args, int timeout_ms) {
  auto raw = client_.call(proto::dump(proto::Json{{"op", op}, {"args", args}}), timeout_ms);
  if (!raw) return raw.error();
  auto j = proto::Json::parse(*raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("bad reply from droverd", "not JSON");
  if (!j.value("ok", false)) return Error{j.value("error", std::string("unknown error"))};
  return j.value("result", proto::Json::object());
}

}  // namespace drover::cli

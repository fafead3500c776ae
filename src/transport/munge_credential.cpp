#include "transport/munge_credential.hpp"

#include <munge.h>

#include <cstdlib>
#include <memory>

namespace drover::transport {

namespace {

struct ContextDeleter {
  void operator()(munge_ctx_t c) const { munge_ctx_destroy(c); }
};
using Context = std::unique_ptr<std::remove_pointer_t<munge_ctx_t>, ContextDeleter>;

Result<Context> context(const std::string& socket) {
  Context ctx(munge_ctx_create());
  if (!ctx) return make_error("MUNGE", "out of memory");
  if (!socket.empty() && munge_ctx_set(ctx.get(), MUNGE_OPT_SOCKET, socket.c_str()) != EMUNGE_SUCCESS)
    return make_error("MUNGE socket " + socket, munge_ctx_strerror(ctx.get()));
  return ctx;
}

std::string why(munge_err_t e, munge_ctx_t ctx) {
  const char* s = ctx ? munge_ctx_strerror(ctx) : nullptr;
  return s ? s : munge_strerror(e);
}

}  // namespace

Result<std::string> munge_encode(const std::string& payload, const std::string& socket) {
  auto ctx = context(socket);
  if (!ctx) return ctx.error();
  char* cred = nullptr;
  const munge_err_t e = munge_encode(&cred, ctx->get(), payload.data(), static_cast<int>(payload.size()));
  if (e != EMUNGE_SUCCESS) {
    std::free(cred);
    return make_error("cannot make a MUNGE credential (is munged running?)", why(e, ctx->get()));
  }
  std::string out(cred);
  std::free(cred);
  return out;
}

Result<MungeIdentity> munge_decode(const std::string& credential, const std::string& socket) {
  auto ctx = context(socket);
  if (!ctx) return ctx.error();
  void* buf = nullptr;
  int len = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  const munge_err_t e = munge_decode(credential.c_str(), ctx->get(), &buf, &len, &uid, &gid);
  MungeIdentity id;
  if (buf && len > 0) id.payload.assign(static_cast<const char*>(buf), static_cast<std::size_t>(len));
  std::free(buf);
  if (e != EMUNGE_SUCCESS) return make_error("MUNGE credential refused", why(e, ctx->get()));
  id.uid = uid;
  id.gid = gid;
  return id;
}

}  // namespace drover::transport

#include "transport/connection.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "transport/log.hpp"

namespace drover::transport {

namespace {
std::string errno_text() { return std::strerror(errno); }

void set_nonblocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}
}  // namespace

// ---- Address --------------------------------------------------------------------

Result<Address> Address::parse(const std::string& s) {
  Address a;
  if (s.rfind("tcp:", 0) == 0) {
    const std::string rest = s.substr(4);
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon + 1 == rest.size())
      return make_error("bad address '" + s + "'", "expected tcp:HOST:PORT, e.g. tcp:10.0.0.1:6818");
    a.tcp = true;
    a.host = rest.substr(0, colon);
    try {
      a.port = std::stoi(rest.substr(colon + 1));
    } catch (...) {
      return make_error("bad address '" + s + "'", "the port is not a number");
    }
    if (a.port < 0 || a.port > 65535) return make_error("bad address '" + s + "'", "port out of range");
    return a;
  }
  a.path = s.rfind("unix:", 0) == 0 ? s.substr(5) : s;
  if (a.path.empty()) return make_error("bad address '" + s + "'", "empty socket path");
  if (a.path.size() >= sizeof(sockaddr_un::sun_path))
    return make_error("bad address '" + s + "'", "socket path longer than 107 characters");
  return a;
}

std::string Address::to_string() const {
  return tcp ? "tcp:" + host + ":" + std::to_string(port) : "unix:" + path;
}

// ---- Connection -------------------------------------------------------------------

Connection::Connection(EventLoop& loop, int fd, std::size_t max_frame)
    : loop_(loop), fd_(fd), decoder_(max_frame) {
  set_nonblocking(fd_);
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid > 0) {
    peer_ = {cred.pid, cred.uid, cred.gid, true, "local"};
    return;
  }
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  char host[INET6_ADDRSTRLEN] = {};
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
    if (ss.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
      inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
      peer_.address = std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
      peer_.address = "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
    } else {
      peer_.address = "local";
    }
  }
}

std::string Connection::local_ip() const {
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  char host[INET6_ADDRSTRLEN] = {};
  if (fd_ < 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) return {};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, host, sizeof host);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, host, sizeof host);
  return host;
}

std::shared_ptr<Connection> Connection::adopt(EventLoop& loop, int fd, std::size_t max_frame) {
  return std::shared_ptr<Connection>(new Connection(loop, fd, max_frame));
}

Connection::~Connection() {
  if (fd_ >= 0) {
    loop_.remove(fd_);
    ::close(fd_);
  }
}

void Connection::start() {
  std::weak_ptr<Connection> weak = shared_from_this();
  loop_.add(fd_, EPOLLIN | EPOLLRDHUP, [weak](std::uint32_t ev) {
    if (auto self = weak.lock()) self->on_events(ev);
  });
}

void Connection::on_events(std::uint32_t events) {
  auto self = shared_from_this();  // handlers may drop the last other reference
  if (events & EPOLLOUT) flush();
  if (fd_ < 0) return;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n > 0) {
        decoder_.feed(buf, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buf) break;
        continue;
      }
      if (n == 0) {
        // Deliver what arrived before the peer closed, then close.
        while (fd_ >= 0) {
          auto f = decoder_.next();
          if (!f || !*f) break;
          if (on_message_) on_message_(self, std::move(**f));
        }
        if (decoder_.buffered() > 0)
          close("peer closed in the middle of a message (" + std::to_string(decoder_.buffered()) +
                " bytes of a truncated message dropped)");
        else
          close("peer closed the connection");
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      close("read failed: " + errno_text());
      return;
    }
    while (fd_ >= 0 && !closing_) {
      auto f = decoder_.next();
      if (!f) {
        const std::string why = f.message();
        send(R"({"ok":false,"error":")" + why + "\"}");
        close_after_flush();
        if (on_close_) {
          auto h = std::move(on_close_);
          h(self, why);
        }
        return;
      }
      if (!*f) break;
      if (on_message_) on_message_(self, std::move(**f));
    }
  }
}

void Connection::send(std::string_view payload) {
  if (fd_ < 0) return;
  out_ += proto::encode_frame(payload);
  flush();
}

void Connection::queue(std::string_view payload) {
  if (fd_ < 0) return;
  out_ += proto::encode_frame(payload);
}

void Connection::flush() {
  while (fd_ >= 0 && out_pos_ < out_.size()) {
    const ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_, MSG_NOSIGNAL);
    if (n > 0) {
      out_pos_ += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!want_write_) {
        want_write_ = true;
        loop_.modify(fd_, EPOLLIN | EPOLLRDHUP | EPOLLOUT);
      }
      return;
    }
    close("write failed: " + errno_text());
    return;
  }
  if (fd_ < 0) return;
  out_.clear();
  out_pos_ = 0;
  if (want_write_) {
    want_write_ = false;
    loop_.modify(fd_, EPOLLIN | EPOLLRDHUP);
  }
  if (closing_) close("closed after reply");
}

void Connection::close_after_flush() {
  closing_ = true;
  if (queued_bytes() == 0) close("closed");
}

void Connection::close(const std::string& why) {
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
  if (on_close_) {
    auto self = shared_from_this();
    auto h = std::move(on_close_);
    on_close_ = nullptr;
    h(self, why);
  }
  on_message_ = nullptr;
}

// ---- Listener -----------------------------------------------------------------------

Result<std::unique_ptr<Listener>> Listener::listen(EventLoop& loop, const Address& addr,
                                                   unsigned mode, AcceptHandler on_accept) {
  Address bound = addr;
  int fd = -1;
  if (addr.tcp) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    const int rc = getaddrinfo(addr.host.empty() ? nullptr : addr.host.c_str(),
                               std::to_string(addr.port).c_str(), &hints, &res);
    if (rc != 0) return make_error("cannot resolve " + addr.host, gai_strerror(rc));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
      const auto why = errno_text();
      freeaddrinfo(res);
      if (fd >= 0) ::close(fd);
      return make_error("cannot listen on " + addr.to_string(), why);
    }
    freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    bound.port = ntohs(ss.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&ss)->sin_port
                                               : reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  } else {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error("cannot create socket", errno_text());
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, addr.path.c_str(), sizeof(sa.sun_path) - 1);
    ::unlink(addr.path.c_str());
    if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
      const auto why = errno_text();
      ::close(fd);
      return make_error("cannot listen on " + addr.path, why);
    }
    ::chmod(addr.path.c_str(), mode);
  }
  if (::listen(fd, 1024) < 0) {
    const auto why = errno_text();
    ::close(fd);
    return make_error("cannot listen on " + addr.to_string(), why);
  }
  set_nonblocking(fd);
  std::unique_ptr<Listener> l(new Listener(loop, fd, bound));
  l->alive_ = std::make_shared<bool>(true);
  std::weak_ptr<bool> alive = l->alive_;
  loop.add(fd, EPOLLIN, [&loop, fd, alive, on_accept = std::move(on_accept)](std::uint32_t) {
    for (;;) {
      const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) {
        on_accept(c);
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The pending connection stays queued, so a level-triggered listener would
        // wake us again at once and spin: stop listening for a moment instead.
        log::warn("cannot accept connections: " + errno_text() + "; pausing 100 ms");
        loop.modify(fd, 0);
        loop.after(100, [&loop, fd, alive] {
          if (!alive.expired()) loop.modify(fd, EPOLLIN);
        });
      }
      return;  // EAGAIN: all accepted
    }
  });
  return l;
}

Listener::~Listener() {
  loop_.remove(fd_);
  ::close(fd_);
  if (!addr_.tcp) ::unlink(addr_.path.c_str());
}

// ---- connecting -------------------------------------------------------------------

Result<int> connect_to(const Address& addr) {
  if (addr.tcp) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    const int rc = getaddrinfo(addr.host.c_str(), std::to_string(addr.port).c_str(), &hints, &res);
    if (rc != 0) return make_error("cannot resolve " + addr.host, gai_strerror(rc));
    std::string why = "no address";
    for (auto* ai = res; ai; ai = ai->ai_next) {
      const int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      int r;
      do r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
      while (r < 0 && errno == EINTR);
      if (r == 0) {
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        freeaddrinfo(res);
        return fd;
      }
      why = errno_text();
      ::close(fd);
    }
    freeaddrinfo(res);
    return make_error("cannot connect to " + addr.to_string(), why);
  }
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error("cannot create socket", errno_text());
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, addr.path.c_str(), sizeof(sa.sun_path) - 1);
  int r;
  do r = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    const auto why = errno_text();
    ::close(fd);
    return make_error("cannot connect to " + addr.path, why);
  }
  return fd;
}

Result<Client> Client::connect(const std::string& address, std::size_t max_frame) {
  auto addr = Address::parse(address);
  if (!addr) return addr.error();
  auto fd = connect_to(*addr);
  if (!fd) return fd.error();
  return Client(*fd, max_frame);
}

Client::~Client() {
  if (fd_ >= 0) ::close(fd_);
}

Status Client::send(std::string_view payload) {
  const std::string frame = proto::encode_frame(payload);
  std::size_t off = 0;
  while (off < frame.size()) {
    const ssize_t n = ::send(fd_, frame.data() + off, frame.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot send request", errno_text());
    }
    off += static_cast<std::size_t>(n);
  }
  return {};
}

Result<std::string> Client::receive(int timeout_ms) {
  const auto deadline = EventLoop::now_ms() + timeout_ms;
  for (;;) {
    auto f = decoder_.next();
    if (!f) return f.error();
    if (*f) return std::move(**f);
    int wait = -1;
    if (timeout_ms >= 0) {
      wait = static_cast<int>(deadline - EventLoop::now_ms());
      if (wait <= 0) return make_error("no reply", "timed out");
    }
    pollfd p{fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, wait);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return make_error("no reply", "timed out");
    char buf[65536];
    const ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error("cannot read reply", errno_text());
    }
    if (n == 0) return make_error("connection closed", "the daemon went away");
    decoder_.feed(buf, static_cast<std::size_t>(n));
  }
}

Result<std::string> Client::call(std::string_view payload, int timeout_ms) {
  if (auto s = send(payload); !s) return s.error();
  return receive(timeout_ms);
}

}  // namespace drover::transport

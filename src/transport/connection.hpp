// A framed, non-blocking stream connection (Unix socket or TCP) on an EventLoop,
// and the listening side. Messages are whole frames (proto/frame.hpp).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "proto/frame.hpp"
#include "transport/event_loop.hpp"

namespace drover::transport {

struct PeerCredentials {
  pid_t pid = -1;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  bool known = false;  // false on TCP
  std::string address; // TCP: the peer's "IP:port"; Unix sockets: "local"
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using MessageHandler = std::function<void(const std::shared_ptr<Connection>&, std::string)>;
  using CloseHandler = std::function<void(const std::shared_ptr<Connection>&, const std::string& why)>;

  static std::shared_ptr<Connection> adopt(EventLoop& loop, int fd, std::size_t max_frame);
  ~Connection();

  void on_message(MessageHandler h) { on_message_ = std::move(h); }
  void on_close(CloseHandler h) { on_close_ = std::move(h); }
  void start();  // begins reading; call once handlers are set

  void send(std::string_view payload);
  // Adds a message to go out with the next send (in order), without writing
  // now: several messages then take one write, and wake the peer once.
  void queue(std::string_view payload);
  // Writes what queue() added.
  void send_queued() { flush(); }
  // Sends what is queued, then closes.
  void close_after_flush();
  void close(const std::string& why = "closed");
  bool open() const { return fd_ >= 0; }
  const PeerCredentials& peer() const { return peer_; }
  std::size_t queued_bytes() const { return out_.size() - out_pos_; }
  const std::string& peer_address() const { return peer_.address; }
  // TCP: the local IP this connection goes out from (how the peer reaches us).
  std::string local_ip() const;

 private:
  Connection(EventLoop& loop, int fd, std::size_t max_frame);
  void on_events(std::uint32_t events);
  void flush();

  EventLoop& loop_;
  int fd_;
  proto::FrameDecoder decoder_;
  std::string out_;
  std::size_t out_pos_ = 0;
  bool want_write_ = false;
  bool closing_ = false;
  PeerCredentials peer_;
  MessageHandler on_message_;
  CloseHandler on_close_;
};

// An address: "unix:/path", "/path" (a Unix socket), or "tcp:host:port".
struct Address {
  bool tcp = false;
  std::string path;
  std::string host;
  int port = 0;
  static Result<Address> parse(const std::string& s);
  std::string to_string() const;
};

class Listener {
 public:
  using AcceptHandler = std::function<void(int fd)>;
  // Unix sockets get mode `mode` (0666 for the user API: identity comes from
  // peer credentials; 0600 for agents). A stale socket file is replaced.
  static Result<std::unique_ptr<Listener>> listen(EventLoop& loop, const Address& addr,
                                                  unsigned mode, AcceptHandler on_accept);
  ~Listener();
  // The bound address (the port is filled in when 0 was asked).
  const Address& address() const { return addr_; }

 private:
  Listener(EventLoop& loop, int fd, Address addr) : loop_(loop), fd_(fd), addr_(std::move(addr)) {}
  EventLoop& loop_;
  int fd_;
  Address addr_;
  std::shared_ptr<bool> alive_;  // lets a paused accept's timer know the listener is gone
};

// Connects (blocking) and returns the fd, for clients and agents.
Result<int> connect_to(const Address& addr);

// A blocking request/response client for the CLI and tests.
class Client {
 public:
  static Result<Client> connect(const std::string& address, std::size_t max_frame = proto::kDefaultMaxFrame);
  Client(Client&& o) noexcept : fd_(o.fd_), decoder_(std::move(o.decoder_)) { o.fd_ = -1; }
  Client& operator=(Client&&) = delete;
  ~Client();
  Status send(std::string_view payload);
  // Waits up to timeout_ms (-1: forever) for one whole frame.
  Result<std::string> receive(int timeout_ms = -1);
  Result<std::string> call(std::string_view payload, int timeout_ms = -1);
  int fd() const { return fd_; }

 private:
  explicit Client(int fd, std::size_t max_frame) : fd_(fd), decoder_(max_frame) {}
  int fd_;
  proto::FrameDecoder decoder_;
};

}  // namespace drover::transport

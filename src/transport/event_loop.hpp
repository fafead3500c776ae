// A small single-threaded epoll event loop: file descriptors, timers, and
// deferred work. Daemons run everything on one thread, so the model needs no
// locks and each step of the scheduler sees a consistent state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

namespace drover::transport {

class EventLoop {
 public:
  using FdCallback = std::function<void(std::uint32_t events)>;
  using Callback = std::function<void()>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // events: EPOLLIN / EPOLLOUT ... The callback may remove its own fd.
  void add(int fd, std::uint32_t events, FdCallback cb);
  void modify(int fd, std::uint32_t events);
  void remove(int fd);

  // Runs cb once after delay_ms; returns an id for cancel().
  std::uint64_t after(std::int64_t delay_ms, Callback cb);
  void cancel(std::uint64_t timer_id);

  // Runs cb after the I/O callbacks of the current iteration, before waiting
  // again. Batching work there (group commit, one scheduling pass) is the point.
  void defer(Callback cb);

  void run();
  void stop() { running_ = false; }
  // Monotonic milliseconds, for timers.
  static std::int64_t now_ms();

 private:
  int epfd_;
  bool running_ = false;
  std::unordered_map<int, std::shared_ptr<FdCallback>> fds_;
  std::multimap<std::int64_t, std::pair<std::uint64_t, Callback>> timers_;
  std::unordered_map<std::uint64_t, std::int64_t> timer_due_;
  std::uint64_t next_timer_ = 1;
  std::vector<Callback> deferred_;
};

// Wall-clock epoch milliseconds (the model's timestamps).
std::int64_t epoch_ms();

}  // namespace drover::transport

#include "transport/event_loop.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace drover::transport {

EventLoop::EventLoop() : epfd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
}

EventLoop::~EventLoop() { ::close(epfd_); }

void EventLoop::add(int fd, std::uint32_t events, FdCallback cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  fds_[fd] = std::make_shared<FdCallback>(std::move(cb));
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0 && errno == EEXIST)
    epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::modify(int fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::remove(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
}

std::uint64_t EventLoop::after(std::int64_t delay_ms, Callback cb) {
  const auto id = next_timer_++;
  const auto due = now_ms() + std::max<std::int64_t>(0, delay_ms);
  timers_.emplace(due, std::make_pair(id, std::move(cb)));
  timer_due_[id] = due;
  return id;
}

void EventLoop::cancel(std::uint64_t timer_id) {
  auto it = timer_due_.find(timer_id);
  if (it == timer_due_.end()) return;
  auto range = timers_.equal_range(it->second);
  for (auto t = range.first; t != range.second; ++t)
    if (t->second.first == timer_id) {
      timers_.erase(t);
      break;
    }
  timer_due_.erase(it);
}

void EventLoop::defer(Callback cb) { deferred_.push_back(std::move(cb)); }

std::int64_t EventLoop::now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

std::int64_t epoch_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

void EventLoop::run() {
  running_ = true;
  epoll_event events[64];
  while (running_) {
    // Deferred work first: it may add timers or close fds.
    while (!deferred_.empty()) {
      auto batch = std::move(deferred_);
      deferred_.clear();
      for (auto& cb : batch) cb();
    }
    if (!running_) break;
    int timeout = -1;
    if (!timers_.empty()) {
      const auto wait = timers_.begin()->first - now_ms();
      timeout = static_cast<int>(std::clamp<std::int64_t>(wait, 0, 60'000));
    }
    const int n = epoll_wait(epfd_, events, 64, timeout);
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      auto it = fds_.find(events[i].data.fd);
      if (it == fds_.end()) continue;
      auto cb = it->second;  // keep alive even if the callback removes the fd
      (*cb)(events[i].events);
    }
    const auto now = now_ms();
    while (!timers_.empty() && timers_.begin()->first <= now) {
      auto node = timers_.extract(timers_.begin());
      timer_due_.erase(node.mapped().first);
      node.mapped().second();
    }
  }
}

}  // namespace drover::transport

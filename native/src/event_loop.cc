#include "preheat_native/event_loop.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

namespace preheat_native {

preheat::Instant SystemNow() {
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return preheat::Instant{
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count()};
}

EventLoop::EventLoop(ClockFn clock) : clock_(clock ? std::move(clock) : ClockFn(SystemNow)) {
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() { Stop(); }

bool EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(fn));
  }
  cv_.notify_one();
  return true;
}

PostFn EventLoop::Poster() {
  return [this](std::function<void()> fn) { Post(std::move(fn)); };
}

void EventLoop::SetDeadlineHooks(std::function<preheat::Instant()> next_deadline,
                                 std::function<void(preheat::Instant)> on_deadline) {
  next_deadline_ = std::move(next_deadline);
  on_deadline_ = std::move(on_deadline);
}

void EventLoop::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (InLoopThread()) return;
  if (thread_.joinable()) thread_.join();
}

bool EventLoop::InLoopThread() const { return std::this_thread::get_id() == thread_.get_id(); }

void EventLoop::Run() {
  // Wait at most this long between looks at the clock, so a clock that
  // moves other than with real time (tests) is noticed.
  constexpr int64_t kMaxWaitMs = 1000;
  std::unique_lock<std::mutex> lock(mu_);
  bool fired = false;
  preheat::Instant fired_at;
  std::deque<std::function<void()>> batch;
  while (true) {
    // One batch per turn: the tasks queued when it began. What they post
    // waits for the next turn, after the deadline check below, so a steady
    // stream of work (completions starting more work) cannot starve the
    // timers.
    if (!tasks_.empty()) {
      batch.swap(tasks_);
      lock.unlock();
      for (auto& fn : batch) fn();
      batch.clear();  // the tasks' captures go outside the lock
      lock.lock();
    }
    if (stopping_) {
      if (tasks_.empty()) return;  // every task posted before Stop has run
      continue;
    }
    int64_t wait_ms = kMaxWaitMs;
    if (next_deadline_) {
      lock.unlock();
      preheat::Instant now = clock_();
      preheat::Instant due = next_deadline_();
      // A hook that leaves its deadline in the past is called again only
      // once the clock has moved, so it cannot spin the loop.
      if (!due.IsNever() && due <= now && !(fired && fired_at == now)) {
        fired = true;
        fired_at = now;
        if (on_deadline_) on_deadline_(now);
        lock.lock();
        continue;  // the deadline hook may have posted work or moved the deadline
      }
      if (!due.IsNever()) wait_ms = std::min(wait_ms, preheat::ElapsedMs(now, due));
      lock.lock();
    }
    if (tasks_.empty() && !stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wait_ms, 1)));
    }
  }
}

}  // namespace preheat_native

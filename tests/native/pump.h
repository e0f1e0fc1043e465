// Pump and InProcessOrigin: drive an Engine over a real SqliteStore from the
// test's own thread, on a virtual clock, with an origin inside the process.
// For fault tests and the soak, where a real HTTP server would be the
// bottleneck and real time would make latency faults slow.
#ifndef PREHEAT_TESTS_NATIVE_PUMP_H_
#define PREHEAT_TESTS_NATIVE_PUMP_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <utility>

#include "preheat/fetcher.h"
#include "preheat/time.h"
#include "preheat_native/sqlite_store.h"

namespace preheat_test {

// Runs posted tasks (from any thread) and timers on the thread that calls
// Run*. Time is virtual: it moves only through Advance(), or, when a Run*
// finds nothing to do but timers, straight to the next timer (a discrete
// event step), so added latency costs no real time.
//
// REQUIRES: After, Advance and Run* on the driving thread; Poster's
// function and Clock's function may be called from any thread.
class Pump {
 public:
  explicit Pump(int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}

  preheat_native::PostFn Poster() {
    return [this](std::function<void()> fn) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        tasks_.push_back(std::move(fn));
      }
      cv_.notify_one();
    };
  }
  preheat_native::ClockFn Clock() {
    return [this] { return preheat::Instant{now_ms_.load()}; };
  }
  preheat::Instant Now() const { return preheat::Instant{now_ms_.load()}; }
  void Advance(int64_t ms) { now_ms_.fetch_add(ms); }

  // Runs fn once the virtual clock reaches now + delay_ms.
  void After(int64_t delay_ms, std::function<void()> fn) {
    timers_.emplace(std::make_pair(now_ms_.load() + std::max<int64_t>(delay_ms, 0), seq_++),
                    std::move(fn));
  }

  // The engine's timer: called after each round of tasks.
  void SetDeadlineHooks(std::function<preheat::Instant()> next_deadline,
                        std::function<void(preheat::Instant)> on_deadline) {
    next_deadline_ = std::move(next_deadline);
    on_deadline_ = std::move(on_deadline);
  }

  // Runs tasks and timers until pred() holds (true) or `real_timeout_ms` of
  // real time passes with pred() still false (false). With nothing ready it
  // jumps the clock to the next timer, or, with no timer either, sleeps on
  // the queue (at most idle_ms at a time) for another thread's post.
  bool RunUntil(const std::function<bool()>& pred, int64_t real_timeout_ms = 10'000,
                int64_t idle_ms = 2) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(real_timeout_ms);
    while (true) {
      if (pred()) return true;
      if (RunReady()) continue;
      if (std::chrono::steady_clock::now() >= deadline) return pred();
      // Nothing ready: jump virtual time to the next timer (other threads'
      // work is not in virtual time, so nothing is skipped), or sleep until
      // another thread posts.
      if (!timers_.empty()) {
        int64_t due = timers_.begin()->first.first;
        if (due > now_ms_.load()) now_ms_.store(due);
        continue;
      }
      WaitForTask(idle_ms);
    }
  }

  // Runs whatever is ready now (tasks, due timers, the engine's deadline)
  // without waiting. Returns whether anything ran.
  bool RunReady() {
    bool ran = false;
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(tasks_);
    }
    for (auto& fn : batch) {
      fn();
      ran = true;
    }
    while (!timers_.empty() && timers_.begin()->first.first <= now_ms_.load()) {
      auto fn = std::move(timers_.begin()->second);
      timers_.erase(timers_.begin());
      fn();
      ran = true;
    }
    if (next_deadline_ && on_deadline_) {
      preheat::Instant due = next_deadline_();
      preheat::Instant now = Now();
      if (!due.IsNever() && due <= now && now.unix_ms != last_deadline_ms_) {
        last_deadline_ms_ = now.unix_ms;
        on_deadline_(now);
        ran = true;
      }
    }
    return ran;
  }

  size_t timers() const { return timers_.size(); }

  // Forgets every timer, as when the process that set them dies: their
  // callbacks may point at objects about to be destroyed.
  void DropTimers() { timers_.clear(); }

 private:
  bool WaitForTask(int64_t ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return !tasks_.empty(); });
  }

  std::atomic<int64_t> now_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> timers_;
  uint64_t seq_ = 0;
  std::function<preheat::Instant()> next_deadline_;
  std::function<void(preheat::Instant)> on_deadline_;
  int64_t last_deadline_ms_ = -1;
};

// A Fetcher answering from a handler, completing through the pump after
// latency_ms of virtual time (0: on the next round). Cancel completes with
// kCancelled at once (posted).
class InProcessOrigin : public preheat::Fetcher {
 public:
  using Handler = std::function<preheat::Result<preheat::HttpResponse>(
      const preheat::HttpRequest& request, preheat::Instant now)>;

  InProcessOrigin(Pump* pump, Handler handler) : pump_(pump), handler_(std::move(handler)) {}

  int64_t latency_ms = 0;
  uint64_t requests = 0;

  void Start(preheat::OpId op, const preheat::HttpRequest& request, Done done) override {
    requests++;
    pending_[op] = std::move(done);
    auto result = std::make_shared<preheat::Result<preheat::HttpResponse>>(
        handler_(request, pump_->Now()));
    pump_->After(latency_ms, [this, op, result] {
      auto it = pending_.find(op);
      if (it == pending_.end()) return;  // cancelled
      Done d = std::move(it->second);
      pending_.erase(it);
      d(op, pump_->Now(), std::move(*result));
    });
  }

  void Cancel(preheat::OpId op) override {
    auto it = pending_.find(op);
    if (it == pending_.end()) return;
    Done d = std::move(it->second);
    pending_.erase(it);
    pump_->After(0, [this, op, d] { d(op, pump_->Now(), preheat::Status::Cancelled("cancelled")); });
  }

  size_t inflight() const { return pending_.size(); }

 private:
  Pump* pump_;
  Handler handler_;
  std::map<preheat::OpId, Done> pending_;
};

}  // namespace preheat_test

#endif  // PREHEAT_TESTS_NATIVE_PUMP_H_

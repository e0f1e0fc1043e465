// EventLoop: the one thread that runs a sans-IO core, its posted tasks and
// its timers.
#ifndef PREHEAT_NATIVE_EVENT_LOOP_H_
#define PREHEAT_NATIVE_EVENT_LOOP_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "preheat/time.h"
#include "preheat_native/sqlite_store.h"  // PostFn, ClockFn

namespace preheat_native {

// Real time: milliseconds since the Unix epoch from std::system_clock.
preheat::Instant SystemNow();

// Runs posted tasks in order on its own thread and drives an inverted timer:
// after each round of tasks (those queued when the round began; tasks they
// post run in the next round) it asks next_deadline() and calls
// on_deadline(now) once that time has come, so a due deadline fires even
// while tasks keep arriving. Both hooks run on the loop thread, so they may
// touch the core directly.
//
// Thread-safety: Post and Stop may be called from any thread. The hooks
// must be set (SetDeadlineHooks) from the loop thread or before any task
// runs.
class EventLoop {
 public:
  // `clock` is called on the loop thread; SystemNow when empty. A clock that
  // jumps (tests) takes effect at the next wake-up: post a no-op to wake.
  explicit EventLoop(ClockFn clock = {});
  // Stop() then join.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Queues `fn` to run on the loop thread, after every task posted before
  // it; never runs it inside the call. Returns false (and drops `fn`) once
  // the loop is stopping.
  bool Post(std::function<void()> fn);

  // A PostFn for SqliteStore / CurlFetcher options.
  PostFn Poster();

  void SetDeadlineHooks(std::function<preheat::Instant()> next_deadline,
                        std::function<void(preheat::Instant)> on_deadline);

  // Runs every task already posted, then ends the thread and joins it
  // (unless called on the loop thread, where it only asks the loop to end).
  // Tasks posted afterwards are dropped. Idempotent.
  void Stop();

  bool InLoopThread() const;
  preheat::Instant Now() const { return clock_(); }
  const ClockFn& clock() const { return clock_; }

 private:
  void Run();

  ClockFn clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::function<preheat::Instant()> next_deadline_;
  std::function<void(preheat::Instant)> on_deadline_;
  std::thread thread_;
};

}  // namespace preheat_native

#endif  // PREHEAT_NATIVE_EVENT_LOOP_H_

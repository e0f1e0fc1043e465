// EventLoop: posted tasks and the inverted timer (deadline hooks).
#include "preheat_native/event_loop.h"

#include <doctest/doctest.h>

#include <atomic>
#include <functional>
#include <future>

using preheat::Instant;
using preheat_native::EventLoop;

TEST_CASE("EventLoop: a due deadline fires between batches while tasks keep arriving") {
  // A steady stream of work, each task posting the next (completions that
  // start more work): the queue is never empty until the stream ends. The
  // deadline is due from the start, so it must fire after the batch that
  // set it, not once the stream has dried up.
  constexpr int kStream = 20000;
  EventLoop loop;
  std::atomic<int> ran{0};
  std::atomic<int> ran_when_fired{-1};
  std::promise<void> stream_done;
  std::function<void()> next = [&] {
    if (++ran < kStream) {
      loop.Post(next);
    } else {
      stream_done.set_value();
    }
  };
  loop.Post([&] {
    Instant due = loop.Now();
    loop.SetDeadlineHooks([due] { return due; },
                          [&](Instant) {
                            int unset = -1;
                            ran_when_fired.compare_exchange_strong(unset, ran.load());
                          });
    loop.Post(next);
  });
  stream_done.get_future().wait();
  loop.Stop();
  CHECK(ran.load() == kStream);
  CHECK(ran_when_fired.load() >= 0);
  CHECK(ran_when_fired.load() < kStream);  // fired while the stream was still flowing
}

// SimLoop: a discrete-event loop for tests and the simulator. Time only
// moves when the loop runs the next event, so every run is deterministic.
#ifndef PREHEAT_TESTS_TESTING_SIM_LOOP_H_
#define PREHEAT_TESTS_TESTING_SIM_LOOP_H_

#include <cstdint>
#include <functional>
#include <map>
#include <utility>

#include "preheat/time.h"

namespace preheat::testing {

class SimLoop {
 public:
  explicit SimLoop(Instant start = Instant{1'700'000'000'000}) : now_(start) {}

  Instant now() const { return now_; }

  // Runs fn at `at` (or now, if earlier), after events already due then.
  void At(Instant at, std::function<void()> fn) {
    if (at < now_) at = now_;
    events_.emplace(std::make_pair(at.unix_ms, seq_++), std::move(fn));
  }
  void After(int64_t delay_ms, std::function<void()> fn) { At(AddMs(now_, delay_ms), std::move(fn)); }

  // Runs the earliest event; false when there is none.
  bool RunOne() {
    if (events_.empty()) return false;
    auto node = events_.extract(events_.begin());
    now_ = Instant{node.key().first};
    node.mapped()();
    return true;
  }
  // Runs every event due at or before `until`, then sets the time to it.
  void RunUntil(Instant until) {
    while (!events_.empty() && events_.begin()->first.first <= until.unix_ms) RunOne();
    if (now_ < until) now_ = until;
  }
  // Runs until no event is left (bounded, so a livelock fails a test).
  bool RunAll(uint64_t max_events = 1'000'000) {
    for (uint64_t i = 0; i < max_events; ++i) {
      if (!RunOne()) return true;
    }
    return false;
  }
  // Drops every pending event (a crash).
  void DropAll() { events_.clear(); }
  size_t pending() const { return events_.size(); }
  // When the earliest event is due, or Instant::Never().
  Instant NextTime() const {
    return events_.empty() ? Instant::Never() : Instant{events_.begin()->first.first};
  }

 private:
  Instant now_;
  uint64_t seq_ = 0;
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> events_;
};

}  // namespace preheat::testing

#endif  // PREHEAT_TESTS_TESTING_SIM_LOOP_H_

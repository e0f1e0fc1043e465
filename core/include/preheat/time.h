// Instant: a point in time handed to the core by its driver.
//
// The core never reads a clock. Every entry point that depends on time takes
// an Instant; timers are inverted (Engine::NextDeadline / OnDeadline). Tests
// pass literal instants (Instant{1000}) and get the same result every run.
#ifndef PREHEAT_TIME_H_
#define PREHEAT_TIME_H_

#include <cstdint>
#include <limits>

namespace preheat {

struct Instant {
  int64_t unix_ms = 0;  // milliseconds since 1970-01-01T00:00:00Z

  static constexpr Instant Never() { return Instant{std::numeric_limits<int64_t>::max()}; }
  constexpr bool IsNever() const { return unix_ms == std::numeric_limits<int64_t>::max(); }
};

constexpr bool operator==(Instant a, Instant b) { return a.unix_ms == b.unix_ms; }
constexpr bool operator!=(Instant a, Instant b) { return a.unix_ms != b.unix_ms; }
constexpr bool operator<(Instant a, Instant b) { return a.unix_ms < b.unix_ms; }
constexpr bool operator<=(Instant a, Instant b) { return a.unix_ms <= b.unix_ms; }
constexpr bool operator>(Instant a, Instant b) { return a.unix_ms > b.unix_ms; }
constexpr bool operator>=(Instant a, Instant b) { return a.unix_ms >= b.unix_ms; }

// Saturating: adding to Never() stays Never(); past either end of int64
// it stops at that end (no overflow, which would be undefined).
constexpr Instant AddMs(Instant t, int64_t delta_ms) {
  if (t.IsNever()) return t;
  if (delta_ms > 0 && t.unix_ms > std::numeric_limits<int64_t>::max() - delta_ms) {
    return Instant::Never();
  }
  if (delta_ms < 0 && t.unix_ms < std::numeric_limits<int64_t>::min() - delta_ms) {
    return Instant{std::numeric_limits<int64_t>::min()};
  }
  return Instant{t.unix_ms + delta_ms};
}

// Milliseconds from `from` to `to` (negative when `to` is earlier).
constexpr int64_t ElapsedMs(Instant from, Instant to) { return to.unix_ms - from.unix_ms; }

}  // namespace preheat

#endif  // PREHEAT_TIME_H_

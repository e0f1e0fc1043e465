#include "preheat/circuit_breaker.h"

#include <doctest/doctest.h>

#include <limits>

#include "preheat/rate_limit.h"

namespace preheat {
namespace {

// A breaker that opens on its first failure, for `open_ms`.
BreakerOptions OpensOnFirstFailure(int64_t open_ms) {
  BreakerOptions o;
  o.min_requests = 1;
  o.failure_ratio_max = 0;
  o.open_ms = open_ms;
  return o;
}

TEST_CASE("breaker: opens on failure ratio, half-opens with one probe, closes on success") {
  BreakerOptions o;
  o.window = 10;
  o.min_requests = 4;
  o.failure_ratio_max = 0.5;
  o.open_ms = 1000;
  CircuitBreaker b(o);
  Instant t{0};
  for (int i = 0; i < 2; ++i) b.OnSuccess(t, b.Allow(t));
  b.OnFailure(t, b.Allow(t));
  b.OnFailure(t, b.Allow(t));
  CHECK(b.state(t) == BreakerState::kClosed);  // 2 of 4: not over half
  b.OnFailure(t, b.Allow(t));
  CHECK(b.state(t) == BreakerState::kOpen);
  CHECK_FALSE(b.Allow(Instant{999}));
  CHECK(b.state(Instant{1000}) == BreakerState::kHalfOpen);
  CircuitBreaker::Ticket probe = b.Allow(Instant{1000});
  CHECK(probe != 0);                    // the probe
  CHECK_FALSE(b.Allow(Instant{1001}));  // only one
  b.OnSuccess(Instant{1100}, probe);
  CHECK(b.state(Instant{1100}) == BreakerState::kClosed);
  CHECK(b.Allow(Instant{1100}));
  CHECK(b.times_opened() == 1);
}

TEST_CASE("breaker: a failed probe doubles the open period, capped") {
  BreakerOptions o;
  o.min_requests = 1;
  o.failure_ratio_max = 0;
  o.open_ms = 1000;
  o.open_max_ms = 3000;
  CircuitBreaker b(o);
  b.OnFailure(Instant{0}, b.Allow(Instant{0}));
  CHECK(b.reopen_at() == Instant{1000});
  b.OnFailure(Instant{1000}, b.Allow(Instant{1000}));
  CHECK(b.reopen_at() == Instant{3000});  // 2000 ms
  b.OnFailure(Instant{3000}, b.Allow(Instant{3000}));
  CHECK(b.reopen_at() == Instant{6000});  // capped at 3000 ms
}

TEST_CASE("breaker: an abandoned probe frees the slot for another") {
  CircuitBreaker b(OpensOnFirstFailure(10));
  b.OnFailure(Instant{0}, b.Allow(Instant{0}));
  CircuitBreaker::Ticket probe = b.Allow(Instant{10});
  CHECK(probe != 0);
  CHECK_FALSE(b.Allow(Instant{11}));
  b.OnAbandoned(probe);
  CHECK(b.Allow(Instant{12}));
}

// Half-open admits one probe, and only the probe's outcome counts: the
// outcome of a straggler (allowed before the breaker opened) neither frees
// the probe's slot nor closes the breaker.
TEST_CASE("breaker: a straggler's abandon does not admit a second probe") {
  CircuitBreaker b(OpensOnFirstFailure(1000));
  CircuitBreaker::Ticket straggler = b.Allow(Instant{0});
  CHECK(straggler != 0);
  b.OnFailure(Instant{10}, b.Allow(Instant{0}));  // opens
  CHECK(b.Allow(Instant{1010}) != 0);             // the probe
  CHECK_FALSE(b.Allow(Instant{1011}));
  b.OnAbandoned(straggler);  // cancelled
  CHECK_FALSE(b.Allow(Instant{1012}));
  CHECK(b.probe_inflight());
}

TEST_CASE("breaker: a straggler's outcome does not decide a half-open breaker") {
  CircuitBreaker b(OpensOnFirstFailure(1000));
  CircuitBreaker::Ticket straggler = b.Allow(Instant{0});
  CircuitBreaker::Ticket other = b.Allow(Instant{0});
  b.OnFailure(Instant{10}, b.Allow(Instant{0}));  // opens
  CircuitBreaker::Ticket probe = b.Allow(Instant{1010});
  REQUIRE(probe != 0);
  b.OnSuccess(Instant{1020}, straggler);  // says nothing about now
  CHECK(b.state(Instant{1020}) == BreakerState::kHalfOpen);
  b.OnFailure(Instant{1020}, other);      // nor does this
  CHECK(b.state(Instant{1020}) == BreakerState::kHalfOpen);
  CHECK(b.times_opened() == 1);
  b.OnSuccess(Instant{1030}, probe);      // the probe does
  CHECK(b.state(Instant{1030}) == BreakerState::kClosed);
}

TEST_CASE("breaker: Retry-After opens at once for at least that long") {
  CircuitBreaker b(BreakerOptions{});
  b.OnFailure(Instant{0}, b.Allow(Instant{0}), 120'000);
  CHECK(b.state(Instant{0}) == BreakerState::kOpen);
  CHECK(b.reopen_at() == Instant{120'000});
  CHECK_FALSE(b.Allow(Instant{119'999}));
}

TEST_CASE("token bucket: burst, refill, debt") {
  TokenBucket t(2, 4, Instant{0});  // 2 per second, burst 4
  for (int i = 0; i < 4; ++i) CHECK(t.TryTake(1, Instant{0}));
  CHECK_FALSE(t.TryTake(1, Instant{0}));
  CHECK(t.WhenAvailable(1, Instant{0}) == Instant{500});
  CHECK(t.TryTake(1, Instant{500}));
  t.TakeDebt(10, Instant{500});
  CHECK(t.Available(Instant{500}) == doctest::Approx(-10));
  CHECK(t.WhenAvailable(0, Instant{500}) == Instant{5500});
  CHECK(t.Available(Instant{100'000}) == doctest::Approx(4));  // capped at burst
  TokenBucket never(0, 1, Instant{0});
  never.TryTake(1, Instant{0});
  CHECK(never.WhenAvailable(1, Instant{0}).IsNever());
}

// A wait too long for an int64 was cast from double regardless (undefined;
// INT64_MIN on x86): a deadline in the past, and a driver that spins.
TEST_CASE("token bucket: a wait past what an Instant holds is never, not the past") {
  Instant t0{1'700'000'000'000};
  TokenBucket bytes(1e-9, 1e6, t0);  // Preheater::Create accepts any rate > 0
  bytes.TakeDebt(2e7, t0);           // a 20 MB response
  Instant when = bytes.WhenAvailable(0, t0);
  CHECK(when >= t0);
  CHECK(when.IsNever());
}

TEST_CASE("time: AddMs saturates at both ends") {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  CHECK(AddMs(Instant{kMax - 10}, 20).IsNever());
  CHECK(AddMs(Instant::Never(), -5).IsNever());
  CHECK(AddMs(Instant{kMin + 10}, -20) == Instant{kMin});
  CHECK(AddMs(Instant{-5}, kMin) == Instant{kMin});
  CHECK(AddMs(Instant{5}, kMin) == Instant{kMin + 5});
  CHECK(AddMs(Instant{1000}, -300) == Instant{700});
}


TEST_CASE("token bucket: what is given back never goes past the burst") {
  TokenBucket t(1, 2, Instant{0});
  CHECK(t.TryTake(1, Instant{0}));
  t.GiveBack(1, Instant{500});
  CHECK(t.Available(Instant{500}) == doctest::Approx(2));
  t.GiveBack(-3, Instant{500});  // a negative amount takes nothing
  CHECK(t.Available(Instant{500}) == doctest::Approx(2));
}


// The driver's clock went back (a wall clock corrected; the browser's
// Date.now()): the bucket does not refill until time passes the latest
// instant it saw, yet WhenAvailable counted the refill from the earlier
// `now`, answering a time at which the tokens were not there: a driver
// woke for nothing, again and again, until the clock caught up.
TEST_CASE("token bucket: after the clock went back, WhenAvailable is when the tokens are there") {
  TokenBucket t(1, 1, Instant{0});  // 1 per second
  CHECK(t.TryTake(1, Instant{10'000}));
  Instant when = t.WhenAvailable(1, Instant{4'000});
  CHECK_FALSE(t.TryTake(1, Instant{5'000}));
  CHECK(when == Instant{11'000});
  CHECK_FALSE(t.TryTake(1, AddMs(when, -1)));
  CHECK(t.TryTake(1, when));
  // In debt: the same for the time it is repaid.
  t.TakeDebt(2, Instant{11'000});
  CHECK(t.WhenAvailable(0, Instant{1'000}) == Instant{13'000});
}

}  // namespace
}  // namespace preheat

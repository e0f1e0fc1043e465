#include "preheat/circuit_breaker.h"

#include <doctest/doctest.h>

#include "preheat/rate_limit.h"

namespace preheat {
namespace {

TEST_CASE("breaker: opens on failure ratio, half-opens with one probe, closes on success") {
  BreakerOptions o;
  o.window = 10;
  o.min_requests = 4;
  o.failure_ratio_max = 0.5;
  o.open_ms = 1000;
  CircuitBreaker b(o);
  Instant t{0};
  for (int i = 0; i < 2; ++i) b.OnSuccess(t);
  b.OnFailure(t);
  b.OnFailure(t);
  CHECK(b.state(t) == BreakerState::kClosed);  // 2 of 4: not over half
  b.OnFailure(t);
  CHECK(b.state(t) == BreakerState::kOpen);
  CHECK_FALSE(b.Allow(Instant{999}));
  CHECK(b.state(Instant{1000}) == BreakerState::kHalfOpen);
  CHECK(b.Allow(Instant{1000}));        // the probe
  CHECK_FALSE(b.Allow(Instant{1001}));  // only one
  b.OnSuccess(Instant{1100});
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
  b.OnFailure(Instant{0});
  CHECK(b.reopen_at() == Instant{1000});
  CHECK(b.Allow(Instant{1000}));
  b.OnFailure(Instant{1000});
  CHECK(b.reopen_at() == Instant{3000});  // 2000 ms
  CHECK(b.Allow(Instant{3000}));
  b.OnFailure(Instant{3000});
  CHECK(b.reopen_at() == Instant{6000});  // capped at 3000 ms
}

TEST_CASE("breaker: an abandoned probe frees the slot for another") {
  BreakerOptions o;
  o.min_requests = 1;
  o.failure_ratio_max = 0;
  o.open_ms = 10;
  CircuitBreaker b(o);
  b.OnFailure(Instant{0});
  CHECK(b.Allow(Instant{10}));
  CHECK_FALSE(b.Allow(Instant{11}));
  b.OnAbandoned();
  CHECK(b.Allow(Instant{12}));
}

TEST_CASE("breaker: Retry-After opens at once for at least that long") {
  CircuitBreaker b(BreakerOptions{});
  b.OnFailure(Instant{0}, 120'000);
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

}  // namespace
}  // namespace preheat

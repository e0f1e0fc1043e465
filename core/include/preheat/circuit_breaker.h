// CircuitBreaker: stops preheating while the origin struggles.
#ifndef PREHEAT_CIRCUIT_BREAKER_H_
#define PREHEAT_CIRCUIT_BREAKER_H_

#include <cstdint>
#include <deque>

#include "preheat/time.h"

namespace preheat {

struct BreakerOptions {
  uint32_t window = 20;           // outcomes remembered
  uint32_t min_requests = 5;      // no verdict on fewer outcomes
  double failure_ratio_max = 0.5; // opens when the window's failures exceed this
  int64_t open_ms = 30'000;       // first open period
  int64_t open_max_ms = 600'000;  // doubling stops here
};

enum class BreakerState : uint8_t { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
const char* BreakerStateName(BreakerState state);

// Closed: requests flow, outcomes are counted. Open: nothing flows until
// the open period ends (at least as long as a Retry-After said). Half-open:
// a single probe flows; its success closes the breaker, its failure opens
// it again for twice as long (capped). Every allowed request gets a ticket
// to report its outcome with: in half-open only the probe's ticket counts,
// so a straggler allowed before the breaker opened can neither close it
// nor free the probe's slot.
class CircuitBreaker {
 public:
  // Names one allowed request; 0 is never a ticket.
  using Ticket = uint64_t;

  explicit CircuitBreaker(BreakerOptions options) : options_(options) {}

  // Whether a request may start now: its ticket, or 0 when refused. In
  // half-open, a ticket once (the probe) until its outcome is reported.
  Ticket Allow(Instant now);
  void OnSuccess(Instant now, Ticket ticket);
  // A request that ended without telling anything about the origin
  // (cancelled, refused by a local queue, answered from a local tier):
  // frees the half-open probe slot when it was the probe.
  void OnAbandoned(Ticket ticket);
  // A failure: network error, timeout, 5xx or 429. `retry_after_ms` (>= 0
  // when the response said Retry-After) opens at once for at least that
  // long: the server asked us to stop.
  void OnFailure(Instant now, Ticket ticket, int64_t retry_after_ms = -1);

  BreakerState state(Instant now) const;
  // When an open breaker half-opens; Never() unless open.
  Instant reopen_at() const { return state_ == BreakerState::kOpen ? open_until_ : Instant::Never(); }
  uint64_t times_opened() const { return times_opened_; }
  // True while a half-open probe is out: nothing else may start until its
  // outcome is reported, so there is no time to wait for.
  bool probe_inflight() const { return probe_ != 0; }

 private:
  void Open(Instant now, int64_t at_least_ms);
  BreakerOptions options_;
  BreakerState state_ = BreakerState::kClosed;
  std::deque<bool> outcomes_;  // true = failure
  uint32_t failures_ = 0;
  Instant open_until_;
  int64_t current_open_ms_ = 0;
  Ticket last_ticket_ = 0;
  Ticket probe_ = 0;  // the half-open probe's ticket; 0 when none is out
  uint64_t times_opened_ = 0;
};

}  // namespace preheat

#endif  // PREHEAT_CIRCUIT_BREAKER_H_

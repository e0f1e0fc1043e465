// TokenBucket: rate limits with bursts, on the driver's time.
#ifndef PREHEAT_RATE_LIMIT_H_
#define PREHEAT_RATE_LIMIT_H_

#include "preheat/time.h"

namespace preheat {

// Holds up to `burst` tokens, refilled at `rate_per_s`. Taking may run the
// bucket into debt (TakeDebt), for costs only known afterwards (bytes of a
// response); nothing more is allowed until the debt is repaid.
class TokenBucket {
 public:
  TokenBucket(double rate_per_s, double burst, Instant now);

  // Takes `amount` if that many tokens are there now; false otherwise.
  bool TryTake(double amount, Instant now);
  // Takes `amount` unconditionally (tokens may go negative).
  void TakeDebt(double amount, Instant now);
  // Gives back `amount` taken for something that then cost nothing (a
  // request that never went out); never past the burst.
  void GiveBack(double amount, Instant now);
  // Tokens available at `now` (negative while in debt).
  double Available(Instant now);
  // The earliest time `amount` tokens will be there; `now` if already.
  // Instant::Never() when they never will (rate 0, `amount` over the
  // burst) or not within what an Instant can hold. Time going back refills
  // nothing until it passes the latest instant the bucket saw again.
  Instant WhenAvailable(double amount, Instant now);

 private:
  void Refill(Instant now);
  double rate_per_ms_;
  double burst_;
  double tokens_;
  Instant updated_;
};

}  // namespace preheat

#endif  // PREHEAT_RATE_LIMIT_H_

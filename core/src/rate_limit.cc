#include "preheat/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace preheat {

TokenBucket::TokenBucket(double rate_per_s, double burst, Instant now)
    : rate_per_ms_(std::max(0.0, rate_per_s) / 1000.0),
      burst_(std::max(0.0, burst)),
      tokens_(burst_),
      updated_(now) {}

void TokenBucket::Refill(Instant now) {
  if (now > updated_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(ElapsedMs(updated_, now)) * rate_per_ms_);
    updated_ = now;
  }
}

bool TokenBucket::TryTake(double amount, Instant now) {
  Refill(now);
  if (tokens_ < amount) return false;
  tokens_ -= amount;
  return true;
}

void TokenBucket::TakeDebt(double amount, Instant now) {
  Refill(now);
  tokens_ -= amount;
}

void TokenBucket::GiveBack(double amount, Instant now) {
  Refill(now);
  tokens_ = std::min(burst_, tokens_ + std::max(0.0, amount));
}

double TokenBucket::Available(Instant now) {
  Refill(now);
  return tokens_;
}

Instant TokenBucket::WhenAvailable(double amount, Instant now) {
  Refill(now);
  if (tokens_ >= amount) return now;
  if (rate_per_ms_ <= 0 || amount > burst_) return Instant::Never();
  double wait_ms = std::ceil((amount - tokens_) / rate_per_ms_);
  // A wait no int64 holds (a tiny rate, a huge debt) is never: casting it
  // would be undefined, and on x86 gives a time in the past.
  if (!(wait_ms < 9.2e18)) return Instant::Never();
  // The refill counts from the latest time the bucket saw: after the clock
  // went back, from there, not from `now` (nothing refills before it).
  return AddMs(std::max(now, updated_), static_cast<int64_t>(wait_ms));
}

}  // namespace preheat

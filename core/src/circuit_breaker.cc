#include "preheat/circuit_breaker.h"

#include <algorithm>

namespace preheat {

const char* BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed: return "closed";
    case BreakerState::kOpen: return "open";
    case BreakerState::kHalfOpen: return "half-open";
  }
  return "unknown";
}

BreakerState CircuitBreaker::state(Instant now) const {
  if (state_ == BreakerState::kOpen && now >= open_until_) return BreakerState::kHalfOpen;
  return state_;
}

CircuitBreaker::Ticket CircuitBreaker::Allow(Instant now) {
  if (state_ == BreakerState::kOpen) {
    if (now < open_until_) return 0;
    state_ = BreakerState::kHalfOpen;
    probe_ = 0;
  }
  if (state_ == BreakerState::kHalfOpen) {
    if (probe_ != 0) return 0;
    probe_ = ++last_ticket_;
    return probe_;
  }
  return ++last_ticket_;
}

void CircuitBreaker::OnAbandoned(Ticket ticket) {
  if (ticket == probe_) probe_ = 0;
}

void CircuitBreaker::OnSuccess(Instant now, Ticket ticket) {
  if (state_ == BreakerState::kHalfOpen) {
    if (ticket != probe_) return;  // a straggler: says nothing about now
    state_ = BreakerState::kClosed;
    probe_ = 0;
    current_open_ms_ = 0;
    outcomes_.clear();
    failures_ = 0;
    return;
  }
  if (state_ != BreakerState::kClosed) return;  // a straggler from before opening
  outcomes_.push_back(false);
  if (outcomes_.size() > options_.window) {
    failures_ -= outcomes_.front() ? 1 : 0;
    outcomes_.pop_front();
  }
}

void CircuitBreaker::OnFailure(Instant now, Ticket ticket, int64_t retry_after_ms) {
  if (state_ == BreakerState::kHalfOpen) {
    if (ticket != probe_) return;  // a straggler: the probe decides
    probe_ = 0;
    current_open_ms_ = std::min(options_.open_max_ms, std::max(options_.open_ms, current_open_ms_ * 2));
    Open(now, retry_after_ms);
    return;
  }
  if (state_ == BreakerState::kOpen) {
    if (retry_after_ms > 0) open_until_ = std::max(open_until_, AddMs(now, retry_after_ms));
    return;
  }
  if (retry_after_ms >= 0) {  // the server asked us to back off
    current_open_ms_ = options_.open_ms;
    Open(now, retry_after_ms);
    return;
  }
  outcomes_.push_back(true);
  failures_++;
  if (outcomes_.size() > options_.window) {
    failures_ -= outcomes_.front() ? 1 : 0;
    outcomes_.pop_front();
  }
  if (outcomes_.size() >= options_.min_requests &&
      static_cast<double>(failures_) > options_.failure_ratio_max * static_cast<double>(outcomes_.size())) {
    current_open_ms_ = options_.open_ms;
    Open(now, -1);
  }
}

void CircuitBreaker::Open(Instant now, int64_t at_least_ms) {
  state_ = BreakerState::kOpen;
  open_until_ = AddMs(now, std::max(current_open_ms_, at_least_ms));
  outcomes_.clear();
  failures_ = 0;
  times_opened_++;
}

}  // namespace preheat

// Freshness and storability of responses in a private cache (RFC 9111 3, 4.2;
// RFC 5861).
#ifndef PREHEAT_FRESHNESS_H_
#define PREHEAT_FRESHNESS_H_

#include <cstdint>
#include <string_view>

#include "preheat/cache_control.h"
#include "preheat/headers.h"
#include "preheat/time.h"

namespace preheat {

struct FreshnessOptions {
  // Heuristic freshness (RFC 9111 4.2.2): this fraction of the time since
  // Last-Modified, for heuristically cacheable statuses without explicit
  // freshness, capped at heuristic_max_ms.
  double heuristic_fraction = 0.1;
  int64_t heuristic_max_ms = 24LL * 3600 * 1000;
};

// Everything the read path needs, derived once from a response (and again
// after a 304 refreshed its headers).
struct FreshnessInfo {
  // How long the response is fresh, from its generation. 0 means stale on
  // arrival (e.g. no-cache, an invalid max-age, Expires in the past, an
  // invalid Expires).
  int64_t lifetime_ms = 0;
  // corrected_initial_age (RFC 9111 4.2.3) when it was received.
  int64_t initial_age_ms = 0;
  bool heuristic = false;   // lifetime came from Last-Modified
  bool no_cache = false;    // must be validated before every use
  bool must_revalidate = false;  // once stale, never served without validation
  bool immutable = false;
  int64_t stale_while_revalidate_ms = 0;  // 0 when absent
  int64_t stale_if_error_ms = 0;          // 0 when absent
  int malformed_count = 0;  // malformed Cache-Control, Expires, Date, Age values
};

// Computes FreshnessInfo for `response` (status `status`) that was requested
// at `request_time` and received at `response_time`. Freshness lifetime is,
// in order: max-age; Expires - Date (Date defaults to response_time); the
// heuristic when the status is heuristically cacheable and Last-Modified
// parses; else 0. An invalid max-age or Expires gives 0 (stale), counted.
// `s-maxage` is ignored. Never fails.
FreshnessInfo ComputeFreshness(int status, const Headers& response, Instant request_time,
                               Instant response_time, const FreshnessOptions& options);

// current_age (RFC 9111 4.2.3) at `now`: initial age plus resident time.
// Never negative.
int64_t CurrentAgeMs(const FreshnessInfo& info, Instant response_time, Instant now);

// Whether a response to a request with `method` may be stored in a private
// cache (RFC 9111 3): method GET, a final status this cache understands
// (200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501, or another final
// status with explicit freshness: max-age or Expires), no `no-store`, and
// no `Vary: *`.
bool IsStorable(std::string_view method, int status, const Headers& response,
                const CacheControl& cache_control);

// RFC 9110 15.1: statuses whose responses may get heuristic freshness.
bool IsHeuristicallyCacheable(int status);

// Statuses that let stale-if-error serve a stored response (RFC 5861 4):
// 500, 502, 503, 504. (Network errors also count; the engine handles those.)
bool IsErrorForStaleIfError(int status);

}  // namespace preheat

#endif  // PREHEAT_FRESHNESS_H_

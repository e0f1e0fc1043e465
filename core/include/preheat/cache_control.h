// Cache-Control directives, parsed for a private cache (RFC 9111 5.2,
// RFC 5861): a response's, and a request's (5.2.1).
#ifndef PREHEAT_CACHE_CONTROL_H_
#define PREHEAT_CACHE_CONTROL_H_

#include <cstdint>
#include <optional>
#include <string_view>

namespace preheat {

// What a response's Cache-Control says. `s-maxage` and `proxy-revalidate` are
// read and ignored: this is a private cache. Unknown directives are ignored
// (RFC 9111 5.2.3).
struct CacheControl {
  // max-age in seconds. Absent when the directive is absent. When present but
  // invalid (not a non-negative integer, or duplicated with different values)
  // `max_age_invalid` is set and the response must be treated as stale
  // (RFC 9111 4.2.1, 5.2.2.1).
  std::optional<int64_t> max_age_s;
  bool max_age_invalid = false;
  bool no_store = false;
  // no-cache, with or without a field list (a field list is treated as the
  // unqualified form: stricter, and allowed by RFC 9111 5.2.2.4).
  bool no_cache = false;
  bool must_revalidate = false;
  bool is_private = false;
  bool is_public = false;
  bool immutable = false;
  std::optional<int64_t> stale_while_revalidate_s;  // RFC 5861 3
  std::optional<int64_t> stale_if_error_s;          // RFC 5861 4
  // Request directives (RFC 9111 5.2.1), read from a request's field and
  // ignored in a response's. max-stale without a value accepts any
  // staleness (kDeltaSecondsMax); an invalid max-stale or min-fresh is
  // dropped (nothing stale accepted, no extra freshness asked), counted.
  std::optional<int64_t> max_stale_s;
  std::optional<int64_t> min_fresh_s;
  bool only_if_cached = false;
  // Malformed pieces seen (bad numbers, bad quoting, duplicates with
  // conflicting values, overlong values). Counted by the engine.
  int malformed_count = 0;
};

// A request's cache directives: its Cache-Control fields joined, or, when it
// has none, `Pragma: no-cache` read as `Cache-Control: no-cache` (RFC 9111
// 5.4). For a response's use ParseCacheControl on its field.
class Headers;
CacheControl RequestCacheControl(const Headers& request);

// Parses one Cache-Control field value (several fields must be joined with
// ", " first, see Headers::GetCombined). Never fails: malformed input gives
// the safe reading and increments malformed_count. Numbers larger than
// 2^31 seconds are clamped to 2^31 (RFC 9111 1.2.2). Directive names are
// case-insensitive; values may be quoted ("max-age=\"60\"" is accepted and
// counted as malformed, as RFC 9111 5.2 says senders must not quote it).
CacheControl ParseCacheControl(std::string_view value);

// delta-seconds (RFC 9111 1.2.2): one or more ASCII digits, clamped to 2^31.
// nullopt for anything else (empty, signs, fractions, white space). Also the
// syntax of the Age field (RFC 9111 5.1).
std::optional<int64_t> ParseDeltaSeconds(std::string_view s);

}  // namespace preheat

#endif  // PREHEAT_CACHE_CONTROL_H_

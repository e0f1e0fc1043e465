#include "preheat/freshness.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>

#include "preheat/http_date.h"
#include "preheat/vary.h"

namespace preheat {

namespace {

constexpr int64_t kDeltaSecondsMax = int64_t{1} << 31;  // RFC 9111 1.2.2
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

int64_t SaturatingSub(int64_t a, int64_t b) {
  if (b < 0 && a > kInt64Max + b) return kInt64Max;
  if (b > 0 && a < kInt64Min + b) return kInt64Min;
  return a - b;
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  if (b > 0 && a > kInt64Max - b) return kInt64Max;
  if (b < 0 && a < kInt64Min - b) return kInt64Min;
  return a + b;
}

// Age is delta-seconds (RFC 9111 5.1); anything else is ignored.
std::optional<int64_t> ParseAgeSeconds(std::string_view text) {
  text = TrimOws(text);
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    if (value < kDeltaSecondsMax) value = value * 10 + (c - '0');
  }
  return value < kDeltaSecondsMax ? value : kDeltaSecondsMax;
}

// The single value of a field that must not repeat; repeats that disagree
// make it invalid (nullopt with *conflict set). A view into `headers`.
std::optional<std::string_view> SingleValue(const Headers& headers, std::string_view name,
                                            bool* conflict) {
  std::optional<std::string_view> first;
  *conflict = false;
  for (const auto& field : headers.fields()) {
    if (!EqualsIgnoreCase(field.first, name)) continue;
    if (!first) {
      first = field.second;
    } else if (TrimOws(*first) != TrimOws(field.second)) {
      *conflict = true;
      return std::nullopt;
    }
  }
  return first;
}

int64_t HeuristicLifetimeMs(int64_t since_modified_ms, const FreshnessOptions& options) {
  const int64_t max_ms = std::max<int64_t>(0, options.heuristic_max_ms);
  const double fraction = options.heuristic_fraction;
  if (!(fraction > 0)) return 0;  // also NaN
  const double lifetime = fraction * static_cast<double>(since_modified_ms);
  // Compared as doubles before converting: an out-of-range cast is UB.
  if (!(lifetime < static_cast<double>(max_ms))) return max_ms;
  return static_cast<int64_t>(lifetime);
}

// ParseCacheControl of the response's Cache-Control fields joined (see
// Headers::GetCombined), without copying the usual single field's value.
CacheControl ParseCacheControlOf(const Headers& response) {
  const Headers::Field* only = nullptr;
  for (const auto& field : response.fields()) {
    if (!EqualsIgnoreCase(field.first, "Cache-Control")) continue;
    if (only) return ParseCacheControl(*response.GetCombined("Cache-Control"));
    only = &field;
  }
  return ParseCacheControl(only ? std::string_view(only->second) : std::string_view());
}

}  // namespace

FreshnessInfo ComputeFreshness(int status, const Headers& response, Instant request_time,
                               Instant response_time, const FreshnessOptions& options) {
  FreshnessInfo info;
  const CacheControl cc = ParseCacheControlOf(response);
  info.malformed_count += cc.malformed_count;

  // Date: absent or invalid means "when it arrived" (RFC 9110 6.6.1).
  bool conflict = false;
  bool date_valid = true;
  int64_t date_ms = response_time.unix_ms;
  if (auto date_text = SingleValue(response, "Date", &conflict)) {
    if (auto date = ParseHttpDate(*date_text)) {
      date_ms = date->unix_ms;
    } else {
      date_valid = false;
    }
  } else if (conflict) {
    date_valid = false;
  }
  if (!date_valid) ++info.malformed_count;

  int64_t age_value_ms = 0;
  if (auto age_text = SingleValue(response, "Age", &conflict)) {
    if (auto age = ParseAgeSeconds(*age_text)) {
      age_value_ms = *age * 1000;
    } else {
      ++info.malformed_count;
    }
  } else if (conflict) {
    ++info.malformed_count;
  }

  // RFC 9111 4.2.1.
  if (cc.no_cache) {
    info.no_cache = true;
  } else if (cc.max_age_s) {
    info.lifetime_ms = cc.max_age_invalid ? 0 : *cc.max_age_s * 1000;
  } else if (auto expires_text = SingleValue(response, "Expires", &conflict);
             expires_text || conflict) {
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 5.3).
    std::optional<Instant> expires;
    if (expires_text) expires = ParseHttpDate(*expires_text);
    // Against an invalid Date (already counted) it is unusable too.
    if (!expires) {
      ++info.malformed_count;
    } else if (date_valid) {
      info.lifetime_ms = std::max<int64_t>(0, SaturatingSub(expires->unix_ms, date_ms));
    }
  } else if (IsHeuristicallyCacheable(status)) {
    if (auto lm_text = response.Get("Last-Modified")) {
      if (auto last_modified = ParseHttpDate(*lm_text)) {
        info.heuristic = true;
        const int64_t since_ms = SaturatingSub(date_ms, last_modified->unix_ms);
        if (since_ms > 0) info.lifetime_ms = HeuristicLifetimeMs(since_ms, options);
      }
    }
  }

  // RFC 9111 4.2.3. A response_time before request_time (a driver bug) is
  // read as no delay rather than a negative age.
  const int64_t apparent_age_ms =
      std::max<int64_t>(0, SaturatingSub(response_time.unix_ms, date_ms));
  const int64_t response_delay_ms =
      std::max<int64_t>(0, SaturatingSub(response_time.unix_ms, request_time.unix_ms));
  const int64_t corrected_age_value_ms = SaturatingAdd(age_value_ms, response_delay_ms);
  info.initial_age_ms = std::max(apparent_age_ms, corrected_age_value_ms);

  info.must_revalidate = cc.must_revalidate;
  info.immutable = cc.immutable;
  info.stale_while_revalidate_ms = cc.stale_while_revalidate_s.value_or(0) * 1000;
  info.stale_if_error_ms = cc.stale_if_error_s.value_or(0) * 1000;
  return info;
}

int64_t CurrentAgeMs(const FreshnessInfo& info, Instant response_time, Instant now) {
  const int64_t resident_ms =
      std::max<int64_t>(0, SaturatingSub(now.unix_ms, response_time.unix_ms));
  return std::max<int64_t>(0, SaturatingAdd(info.initial_age_ms, resident_ms));
}

bool IsStorable(std::string_view method, int status, const Headers& response,
                const CacheControl& cache_control) {
  if (method != "GET" || cache_control.no_store) return false;
  if (ParseVary(response).matches_nothing) return false;
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      break;
  }
  // Other final statuses only with explicit freshness. 206 and 304 are never
  // stored: this cache does not combine partial content, and a 304 only
  // refreshes a stored response.
  if (status < 200 || status > 599 || status == 206 || status == 304) return false;
  const bool max_age = cache_control.max_age_s.has_value() && !cache_control.max_age_invalid;
  return max_age || response.Has("Expires");
}

bool IsHeuristicallyCacheable(int status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

bool IsErrorForStaleIfError(int status) {
  return status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace preheat

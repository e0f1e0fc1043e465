#include "preheat/freshness.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "preheat/cache_control.h"
#include "preheat/http_date.h"
#include "preheat/vary.h"

namespace preheat {

namespace {

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
  return ParseDeltaSeconds(TrimOws(text));
}

// The single value of a field that must not repeat, fed its fields in
// order: the first value, unless a later one disagrees (OWS trimmed), which
// makes it invalid (no value, `conflict` set; later fields change nothing).
struct SingleValue {
  std::optional<std::string_view> value;  // a view into the headers
  bool conflict = false;

  void Add(std::string_view field_value) {
    if (conflict) return;
    if (!value) {
      value = field_value;
    } else if (TrimOws(*value) != TrimOws(field_value)) {
      conflict = true;
      value.reset();
    }
  }
};

// What ComputeFreshness reads of a response, collected in one pass over its
// fields (views into them, no copies) rather than a scan per name (five,
// each comparison against a C string with its strlen at -Oz, and a copy of
// Last-Modified): it runs on every stored entry decoded.
struct FreshnessFields {
  const std::string* cache_control = nullptr;  // the first Cache-Control field
  bool cache_control_repeated = false;
  SingleValue date, age, expires;
  const std::string* last_modified = nullptr;  // the first Last-Modified field

  explicit FreshnessFields(const Headers& response) {
    using namespace std::string_view_literals;  // lengths known at compile time
    for (const auto& [name, value] : response.fields()) {
      // The names' lengths differ but for the two of 13 letters, so most
      // fields are passed over on their length alone.
      switch (name.size()) {
        case 3:
          if (EqualsIgnoreCase(name, "age"sv)) age.Add(value);
          break;
        case 4:
          if (EqualsIgnoreCase(name, "date"sv)) date.Add(value);
          break;
        case 7:
          if (EqualsIgnoreCase(name, "expires"sv)) expires.Add(value);
          break;
        case 13:
          if (EqualsIgnoreCase(name, "cache-control"sv)) {
            if (cache_control) {
              cache_control_repeated = true;
            } else {
              cache_control = &value;
            }
          } else if (!last_modified && EqualsIgnoreCase(name, "last-modified"sv)) {
            last_modified = &value;
          }
          break;
        default:
          break;
      }
    }
  }
};

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
CacheControl ParseCacheControlOf(const Headers& response, const FreshnessFields& fields) {
  if (fields.cache_control_repeated) {
    return ParseCacheControl(*response.GetCombined("Cache-Control"));
  }
  return ParseCacheControl(fields.cache_control ? std::string_view(*fields.cache_control)
                                                : std::string_view());
}

}  // namespace

FreshnessInfo ComputeFreshness(int status, const Headers& response, Instant request_time,
                               Instant response_time, const FreshnessOptions& options) {
  FreshnessInfo info;
  const FreshnessFields fields(response);
  const CacheControl cc = ParseCacheControlOf(response, fields);
  info.malformed_count += cc.malformed_count;

  // Date: absent or invalid means "when it arrived" (RFC 9110 6.6.1).
  bool date_valid = true;
  int64_t date_ms = response_time.unix_ms;
  if (fields.date.value) {
    if (auto date = ParseHttpDate(*fields.date.value)) {
      date_ms = date->unix_ms;
    } else {
      date_valid = false;
    }
  } else if (fields.date.conflict) {
    date_valid = false;
  }
  if (!date_valid) ++info.malformed_count;

  int64_t age_value_ms = 0;
  if (fields.age.value) {
    if (auto age = ParseAgeSeconds(*fields.age.value)) {
      age_value_ms = *age * 1000;
    } else {
      ++info.malformed_count;
    }
  } else if (fields.age.conflict) {
    ++info.malformed_count;
  }

  // RFC 9111 4.2.1.
  if (cc.no_cache) {
    info.no_cache = true;
  } else if (cc.max_age_s) {
    info.lifetime_ms = cc.max_age_invalid ? 0 : *cc.max_age_s * 1000;
  } else if (fields.expires.value || fields.expires.conflict) {
    // An invalid Expires (e.g. "0") means already expired (RFC 9111 5.3).
    std::optional<Instant> expires;
    if (fields.expires.value) expires = ParseHttpDate(*fields.expires.value);
    // Against an invalid Date (already counted) it is unusable too.
    if (!expires) {
      ++info.malformed_count;
    } else if (date_valid) {
      info.lifetime_ms = std::max<int64_t>(0, SaturatingSub(expires->unix_ms, date_ms));
    }
  } else if (IsHeuristicallyCacheable(status)) {
    if (fields.last_modified) {
      if (auto last_modified = ParseHttpDate(*fields.last_modified)) {
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
  // 206 and 304 are never stored: this cache does not combine partial
  // content, and a 304 only refreshes a stored response.
  if (status == 206 || status == 304) return false;
  // The heuristically cacheable statuses are stored as they are; other final
  // statuses only with explicit freshness.
  if (IsHeuristicallyCacheable(status)) return true;
  if (status < 200 || status > 599) return false;
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

#include "preheat/cache_control.h"

#include <string>

#include "preheat/headers.h"

namespace preheat {

namespace {

// RFC 9111 1.2.2: delta-seconds above this are clamped to it.
constexpr int64_t kDeltaSecondsMax = int64_t{1} << 31;
// Quoted values longer than this are not kept (no directive needs one).
constexpr size_t kQuotedBytesMax = 1024;

// RFC 9110 5.6.2. A switch, not a search of the symbol list: this runs for
// every character of every stored entry's Cache-Control when it is read.
bool IsTchar(char c) {
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

struct Directive {
  std::string_view name;
  bool has_value = false;
  bool quoted = false;
  std::string_view value;
  bool malformed = false;  // bad syntax around this directive
};

// A numeric directive seen possibly several times: conflicting repeats
// poison it.
struct NumberState {
  std::optional<int64_t> value;
  bool invalid = false;
};

void RecordNumber(const Directive& d, NumberState* state, int* malformed) {
  std::optional<int64_t> n;
  if (d.has_value && !d.malformed) n = ParseDeltaSeconds(d.value);
  if (d.quoted) ++*malformed;  // senders must use the token form
  if (!n) {
    ++*malformed;
    state->invalid = true;
    return;
  }
  if (state->value && *state->value != *n) {
    ++*malformed;
    state->invalid = true;
    return;
  }
  state->value = n;
}

// Boolean directive that takes no argument: an argument is malformed.
void CountArgument(const Directive& d, int* malformed) {
  if (d.has_value || d.malformed) ++*malformed;
}

}  // namespace

CacheControl ParseCacheControl(std::string_view v) {
  CacheControl cc;
  NumberState max_age, swr, sie, min_fresh, max_stale;
  bool max_stale_any = false;
  std::string quoted;  // storage for the current unescaped quoted value
  size_t i = 0;
  const size_t n = v.size();
  while (i < n) {
    while (i < n && (IsOws(v[i]) || v[i] == ',')) ++i;
    if (i >= n) break;

    Directive d;
    size_t start = i;
    while (i < n && IsTchar(v[i])) ++i;
    d.name = v.substr(start, i - start);
    if (d.name.empty()) d.malformed = true;
    if (i < n && v[i] == '=') {
      ++i;
      d.has_value = true;
      if (i < n && v[i] == '"') {
        d.quoted = true;
        quoted.clear();
        bool closed = false;
        for (++i; i < n; ++i) {
          char c = v[i];
          if (c == '"') {
            ++i;
            closed = true;
            break;
          }
          if (c == '\\' && i + 1 < n) c = v[++i];
          if (quoted.size() < kQuotedBytesMax) {
            quoted.push_back(c);
          } else {
            d.malformed = true;
          }
        }
        if (!closed) d.malformed = true;
        d.value = quoted;
      } else {
        start = i;
        while (i < n && IsTchar(v[i])) ++i;
        d.value = v.substr(start, i - start);
      }
    }
    while (i < n && IsOws(v[i])) ++i;
    if (i < n && v[i] != ',') {
      // Junk before the next comma: skip it, honouring quoted strings so a
      // comma inside quotes does not start a new directive.
      d.malformed = true;
      bool in_quotes = false;
      for (; i < n; ++i) {
        if (in_quotes && v[i] == '\\') {
          ++i;
          continue;
        }
        if (v[i] == '"') in_quotes = !in_quotes;
        if (v[i] == ',' && !in_quotes) break;
      }
    }

    const std::string_view name = d.name;
    if (EqualsIgnoreCase(name, "max-age")) {
      RecordNumber(d, &max_age, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "stale-while-revalidate")) {
      RecordNumber(d, &swr, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "stale-if-error")) {
      RecordNumber(d, &sie, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "min-fresh")) {
      RecordNumber(d, &min_fresh, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "max-stale")) {
      if (d.has_value || d.malformed) {
        RecordNumber(d, &max_stale, &cc.malformed_count);
      } else {
        max_stale_any = true;
      }
    } else if (EqualsIgnoreCase(name, "only-if-cached")) {
      cc.only_if_cached = true;
      CountArgument(d, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "no-store")) {
      // Restrictive directives take effect even when malformed.
      cc.no_store = true;
      CountArgument(d, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "no-cache")) {
      cc.no_cache = true;
      if (d.malformed) ++cc.malformed_count;
    } else if (EqualsIgnoreCase(name, "private")) {
      cc.is_private = true;
      if (d.malformed) ++cc.malformed_count;
    } else if (EqualsIgnoreCase(name, "must-revalidate")) {
      cc.must_revalidate = true;
      CountArgument(d, &cc.malformed_count);
    } else if (EqualsIgnoreCase(name, "public")) {
      // Permissive directives are ignored when malformed.
      if (d.has_value || d.malformed) {
        ++cc.malformed_count;
      } else {
        cc.is_public = true;
      }
    } else if (EqualsIgnoreCase(name, "immutable")) {
      if (d.has_value || d.malformed) {
        ++cc.malformed_count;
      } else {
        cc.immutable = true;
      }
    } else if (d.malformed) {
      ++cc.malformed_count;  // s-maxage, proxy-revalidate, unknown: ignored
    }
  }

  // An invalid max-age makes the response stale (RFC 9111 4.2.1).
  if (max_age.invalid) {
    cc.max_age_invalid = true;
    cc.max_age_s = 0;
  } else {
    cc.max_age_s = max_age.value;
  }
  // Invalid stale-* extensions are dropped: never serve stale on a guess.
  if (!swr.invalid) cc.stale_while_revalidate_s = swr.value;
  if (!sie.invalid) cc.stale_if_error_s = sie.value;
  // The same for the request's: an invalid min-fresh asks nothing, an
  // invalid max-stale accepts nothing (a valueless one wins: any age).
  if (!min_fresh.invalid) cc.min_fresh_s = min_fresh.value;
  if (max_stale_any) {
    cc.max_stale_s = kDeltaSecondsMax;
  } else if (!max_stale.invalid) {
    cc.max_stale_s = max_stale.value;
  }
  return cc;
}

CacheControl RequestCacheControl(const Headers& request) {
  if (auto field = request.GetCombined("cache-control")) return ParseCacheControl(*field);
  CacheControl cc;
  if (auto pragma = request.GetCombined("pragma")) {
    // Pragma's only defined directive; other pragma-directives are ignored.
    size_t i = 0;
    const std::string_view v = *pragma;
    while (i < v.size()) {
      while (i < v.size() && (IsOws(v[i]) || v[i] == ',')) ++i;
      size_t start = i;
      while (i < v.size() && v[i] != ',') ++i;
      std::string_view item = v.substr(start, i - start);
      while (!item.empty() && IsOws(item.back())) item.remove_suffix(1);
      if (EqualsIgnoreCase(item, "no-cache")) cc.no_cache = true;
    }
  }
  return cc;
}

std::optional<int64_t> ParseDeltaSeconds(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (value < kDeltaSecondsMax) value = value * 10 + (c - '0');
  }
  return value < kDeltaSecondsMax ? value : kDeltaSecondsMax;
}

}  // namespace preheat

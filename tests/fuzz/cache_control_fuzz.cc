// libFuzzer target: Cache-Control parsing and the freshness computation that
// consumes it. Input: the first line is a Cache-Control value; the next
// lines, if any, are Date, Expires, Age and Last-Modified values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "preheat/cache_control.h"
#include "preheat/freshness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  const size_t eol = input.find('\n');
  const CacheControl cc = ParseCacheControl(input.substr(0, eol));
  constexpr int64_t kMax = int64_t{1} << 31;
  if (cc.max_age_invalid && cc.max_age_s != 0) std::abort();
  if (cc.max_age_s && (*cc.max_age_s < 0 || *cc.max_age_s > kMax)) std::abort();
  if (cc.stale_while_revalidate_s &&
      (*cc.stale_while_revalidate_s < 0 || *cc.stale_while_revalidate_s > kMax)) {
    std::abort();
  }
  if (cc.stale_if_error_s && (*cc.stale_if_error_s < 0 || *cc.stale_if_error_s > kMax)) {
    std::abort();
  }
  if (cc.malformed_count < 0) std::abort();

  Headers headers;
  headers.Add("Cache-Control", std::string(input.substr(0, eol)));
  static const char* const kNames[] = {"Date", "Expires", "Age", "Last-Modified"};
  std::string_view rest =
      eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
  for (const char* name : kNames) {
    if (rest.empty()) break;
    const size_t next = rest.find('\n');
    headers.Add(name, std::string(rest.substr(0, next)));
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 1);
  }
  const Instant request{784111777000};
  const Instant response{784111779000};
  const FreshnessInfo info = ComputeFreshness(200, headers, request, response, FreshnessOptions());
  if (info.lifetime_ms < 0 || info.initial_age_ms < 0) std::abort();
  if (info.no_cache && info.lifetime_ms != 0) std::abort();
  if (CurrentAgeMs(info, response, Instant{response.unix_ms + 1000}) < info.initial_age_ms) {
    std::abort();
  }
  (void)IsStorable("GET", 200, headers, cc);
  return 0;
}

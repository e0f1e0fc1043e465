// libFuzzer target: HTTP-date parsing and formatting.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "preheat/http_date.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // Whatever parses formats to a date that parses back to the same instant.
  if (std::optional<Instant> t = ParseHttpDate(input)) {
    if (t->unix_ms % 1000 != 0) std::abort();
    const std::string formatted = FormatHttpDate(*t);
    if (ParseHttpDate(formatted) != t) std::abort();
  }

  // Any instant formats; those within years 0000..9999 round-trip.
  if (size >= 8) {
    int64_t ms;
    std::memcpy(&ms, data, sizeof ms);
    const std::string formatted = FormatHttpDate(Instant{ms});
    constexpr int64_t kYear0Ms = -62167219200000;      // 0000-01-01
    constexpr int64_t kYear10000Ms = 253402300800000;  // 10000-01-01
    if (ms >= kYear0Ms && ms < kYear10000Ms) {
      std::optional<Instant> back = ParseHttpDate(formatted);
      const int64_t floor_ms = ms - (((ms % 1000) + 1000) % 1000);
      if (!back || back->unix_ms != floor_ms) std::abort();
    }
  }
  return 0;
}

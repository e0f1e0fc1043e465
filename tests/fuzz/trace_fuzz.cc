// libFuzzer target: the trace reader and the Wikispeedia converter. Any
// input parses to something (what cannot be read is skipped and counted);
// every kept visit is a normalised URL and times never decrease.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "preheat/replay.h"
#include "preheat/url.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  TraceLimits limits;
  limits.input_bytes_max = 1 << 20;
  Trace trace = ParseTrace(input, "https://replay.invalid", limits);
  for (const TraceSession& s : trace.sessions) {
    int64_t last = INT64_MIN;
    for (const TraceVisit& v : s.visits) {
      auto parsed = NormalizeUrl(v.url);
      if (!parsed.ok() || *parsed != v.url || v.t_ms < last) std::abort();
      last = v.t_ms;
    }
  }
  // The same bytes as the three Wikispeedia files.
  size_t third = size / 3;
  WikispeediaStats stats;
  std::string converted = WikispeediaToTrace(input.substr(0, third), input.substr(third, third),
                                             input.substr(2 * third), &stats);
  ParseTrace(converted);
  return 0;
}

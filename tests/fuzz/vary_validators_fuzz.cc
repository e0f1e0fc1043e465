// libFuzzer target: Vary and validator handling of arbitrary header text.
// Input: lines of "name:value".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "preheat/validators.h"
#include "preheat/vary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  Headers headers;
  while (!input.empty() && headers.size() < 64) {
    const size_t eol = input.find('\n');
    const std::string_view line = input.substr(0, eol);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      headers.Add(std::string(line), "");
    } else {
      headers.Add(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
    input = eol == std::string_view::npos ? std::string_view() : input.substr(eol + 1);
  }

  const VarySpec spec = ParseVary(headers);
  if (spec.names.size() > kVaryNamesMax) std::abort();
  if (spec.matches_nothing && !spec.names.empty()) std::abort();
  if (!std::is_sorted(spec.names.begin(), spec.names.end())) std::abort();
  if (std::adjacent_find(spec.names.begin(), spec.names.end()) != spec.names.end()) std::abort();
  for (const std::string& name : spec.names) {
    if (name.empty() || ToLowerAscii(name) != name) std::abort();
  }
  if (SelectVaryValues(spec, headers).size() != spec.names.size()) std::abort();

  for (const auto& [name, value] : headers.fields()) {
    if (std::optional<EntityTag> tag = ParseEntityTag(value)) {
      if (!WeakEquals(*tag, *tag)) std::abort();
      if (StrongEquals(*tag, *tag) == tag->weak) std::abort();
    }
  }

  Headers request{{"If-None-Match", "\"client\""}};
  if (!AddConditionalHeaders(headers, &request) && request.Has("If-None-Match")) std::abort();

  const Headers storable = StorableHeaders(headers);
  if (storable.Has("Set-Cookie") || storable.Has("Connection") ||
      storable.size() > headers.size()) {
    std::abort();
  }
  Headers stored{{"Content-Length", "10"}, {"ETag", "\"a\""}};
  UpdateStoredHeadersFrom304(headers, &stored);
  if (stored.GetCombined("Content-Length") != "10" || stored.Has("Set-Cookie")) std::abort();
  return 0;
}

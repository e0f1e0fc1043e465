// libFuzzer target: route patterns. Input: pattern, "\n", path.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "preheat/route.h"

namespace {

bool AllSegmentChars(std::string_view s) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("-._~!$&'()*+,;=:@%").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t eol = input.find('\n');
  const std::string_view pattern_text = input.substr(0, eol);
  const std::string_view path =
      eol == std::string_view::npos ? std::string_view("/") : input.substr(eol + 1);

  Result<RoutePattern> pattern = RoutePattern::Parse(pattern_text);
  if (!pattern.ok()) return 0;
  RoutePattern::Params params;
  const bool matched = pattern->Match(path, &params);
  Result<std::string> expanded = pattern->Expand(params);
  const bool has_star =
      pattern_text == "/*" ||
      (pattern_text.size() >= 2 && pattern_text.substr(pattern_text.size() - 2) == "/*");
  if (has_star && expanded.ok()) std::abort();
  if (!matched || has_star) return 0;

  // Expanding what Match captured rebuilds the path (when no value needed
  // escaping), and the expansion matches the pattern again.
  if (!expanded.ok()) std::abort();
  bool plain = true;
  for (const auto& [name, value] : params) plain = plain && AllSegmentChars(value);
  if (plain && *expanded != path.substr(0, path.find_first_of("?#"))) std::abort();
  if (!pattern->Match(*expanded)) std::abort();
  return 0;
}

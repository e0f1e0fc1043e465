// libFuzzer target: URL parsing, normalisation and resolution against a
// fixed base.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "preheat/url.h"

namespace {

// A normal form is a fixed point and stays an http(s) URL within bounds.
void CheckNormalForm(const preheat::Url& url) {
  const std::string text = url.ToString();
  if (url.scheme != "http" && url.scheme != "https") std::abort();
  if (url.host.empty() || url.path.empty() || url.path[0] != '/') std::abort();
  if (text.size() > preheat::kUrlBytesMax) std::abort();
  preheat::Result<preheat::Url> again = preheat::ParseUrl(text);
  if (!again.ok() || again->ToString() != text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  Result<Url> url = ParseUrl(input);
  if (url.ok()) CheckNormalForm(*url);

  static const Url base = *ParseUrl("https://example.com:8443/a/b/c;p?q=1");
  Result<Url> resolved = ResolveUrl(base, input);
  if (resolved.ok()) CheckNormalForm(*resolved);
  (void)NormalizeUrl(input);
  return 0;
}

// libFuzzer target: JSON reference extraction with a fixed set of rules
// (plain, wildcard and templated). The first input byte picks limits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "preheat/references.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view json(reinterpret_cast<const char*>(data) + 1, size - 1);

  static const Url page = *ParseUrl("https://app.example/issues/list?page=2");
  static const std::vector<JsonReferenceRule> rules = {
      {"/items/*/url", ""},
      {"/links/*", ""},
      {"/*", ""},
      {"/*/*/*", ""},
      {"/issue/references/*", "/api/issues/:id"},
      {"/ids/*", "/repos/:owner/issues/:owner"},
      {"/a~1b/~0/0", ""},
      {"", ""},
      {"/bad/*", "not-a-route"},
      {"/star/*", "/api/*"},
  };
  ExtractOptions options;
  options.references_max = (mode & 1) ? 3 : 256;
  options.json_depth_max = (mode & 2) ? 4 : 64;
  if (mode & 4) options.input_bytes_max = json.size() / 2;
  if (mode & 8) {
    options.routes.push_back(*RoutePattern::Parse("/api/issues/:id"));
    options.routes.push_back(*RoutePattern::Parse("/issues/*"));
  }

  ExtractReport report;
  const std::vector<Reference> refs = ExtractJsonReferences(json, page, rules, options, &report);
  if (refs.size() > options.references_max) std::abort();
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < refs.size(); ++i) {
    const Reference& ref = refs[i];
    if (ref.position != i || ref.hinted) std::abort();
    if (!seen.insert(ref.url).second) std::abort();
    Result<Url> url = ParseUrl(ref.url);
    if (!url.ok() || url->ToString() != ref.url || url->Origin() != page.Origin()) std::abort();
    if (options.routes.empty() != ref.route.empty()) std::abort();
  }
  if (json.size() > options.input_bytes_max && (!report.truncated || !refs.empty())) std::abort();
  if (report.truncated && refs.empty() && report.malformed != 1) std::abort();
  return 0;
}

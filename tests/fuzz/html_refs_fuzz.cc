// libFuzzer target: HTML reference extraction. The first input byte picks
// limits and routes; the rest is the page.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "preheat/references.h"

namespace {

// Every kept reference is a same-origin normal form, listed once, numbered
// in order, and within the limits asked for.
void Check(const std::vector<preheat::Reference>& refs, const preheat::Url& page,
           const preheat::ExtractOptions& options) {
  if (refs.size() > options.references_max) std::abort();
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < refs.size(); ++i) {
    const preheat::Reference& ref = refs[i];
    if (ref.position != i) std::abort();
    if (!seen.insert(ref.url).second) std::abort();
    preheat::Result<preheat::Url> url = preheat::ParseUrl(ref.url);
    if (!url.ok() || url->ToString() != ref.url) std::abort();
    if (url->Origin() != page.Origin()) std::abort();
    if (options.routes.empty() != ref.route.empty()) std::abort();
    if (!options.routes.empty()) {
      bool matched = false;
      for (const preheat::RoutePattern& route : options.routes) {
        if (route.text() == ref.route && route.Match(url->path)) matched = true;
      }
      if (!matched) std::abort();
    }
  }
}

// Truncation names a limit that was hit.
void CheckTruncation(size_t input_size, const std::vector<preheat::Reference>& refs,
                     const preheat::ExtractOptions& options, const preheat::ExtractReport& report) {
  const bool cut = input_size > options.input_bytes_max;
  if (cut && !report.truncated) std::abort();
  if (!cut && report.truncated && refs.size() != options.references_max) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace preheat;
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string_view html(reinterpret_cast<const char*>(data) + 1, size - 1);

  static const Url page = *ParseUrl("https://app.example/issues/list?page=2");
  ExtractOptions options;
  options.references_max = (mode & 1) ? 4 : 256;
  options.input_bytes_max = (mode & 2) ? html.size() / 2 : 4u << 20;
  if (mode & 4) {
    options.routes.push_back(*RoutePattern::Parse("/issues/:id"));
    options.routes.push_back(*RoutePattern::Parse("/static/*"));
  }
  ExtractReport report;
  const std::vector<Reference> refs = ExtractHtmlReferences(html, page, options, &report);
  Check(refs, page, options);
  CheckTruncation(html.size(), refs, options, report);

  // Same input, same answer.
  ExtractReport again_report;
  const std::vector<Reference> again = ExtractHtmlReferences(html, page, options, &again_report);
  if (again.size() != refs.size()) std::abort();
  for (size_t i = 0; i < refs.size(); ++i) {
    if (again[i].url != refs[i].url || again[i].hinted != refs[i].hinted) std::abort();
  }
  return 0;
}

// References: the links a page offers, found in its HTML or JSON, that the
// preheater may fetch before the user follows them.
#ifndef PREHEAT_REFERENCES_H_
#define PREHEAT_REFERENCES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "preheat/route.h"
#include "preheat/status.h"
#include "preheat/url.h"

namespace preheat {

struct Reference {
  std::string url;        // absolute, normalised, same origin as the page
  uint32_t position = 0;  // order of appearance on the page, from 0
  bool hinted = false;    // carried a data-preheat hint (HTML)
  std::string route;      // the matching route pattern's text ("" when none configured)
};

// What an extraction saw besides its references. Extraction never fails:
// bad input yields what could be found plus counted warnings.
struct ExtractReport {
  uint32_t skipped_cross_origin = 0;
  uint32_t skipped_bad_url = 0;      // javascript:, data:, malformed, overlong
  uint32_t skipped_no_route = 0;     // same origin but no configured route matched
  uint32_t duplicates = 0;
  bool truncated = false;            // a limit (bytes, references, depth) stopped it
  uint32_t malformed = 0;            // broken markup or JSON
};

struct ExtractOptions {
  // Only URLs whose path matches one of these are kept; empty keeps every
  // same-origin URL.
  std::vector<RoutePattern> routes;
  uint32_t references_max = 256;
  uint64_t input_bytes_max = 4u << 20;  // longer input is read up to here
  uint32_t json_depth_max = 64;
};

// Finds <a href> (and <area href>) elements and elements with a
// `data-preheat` attribute (its value, or the element's href, is the URL)
// with a small streaming tokenizer: tags, attributes (quoted, unquoted),
// comments, <script>/<style> raw text, and <base href> (the first one
// changes the base for later references). Relative URLs resolve against
// the page URL, a backslash before the query read as "/" as browsers read
// it; fragments are dropped; each URL is kept once, at its first
// position; links with rel="nofollow", a download attribute or
// data-preheat="false" (or "0") are skipped.
// HTML character references in attribute values (&amp; &#38; &#x26;) are
// decoded.
std::vector<Reference> ExtractHtmlReferences(std::string_view html, const Url& page,
                                             const ExtractOptions& options,
                                             ExtractReport* report);

// One JSON rule: where to look and, optionally, how to turn what is found
// into a URL.
struct JsonReferenceRule {
  // A JSON Pointer-like path where "*" matches every array element or
  // object member: "/items/*/url", "/issue/references/*".
  std::string path;
  // When empty, the value found (a string) is the URL, resolved against the
  // page. Otherwise a route template such as "/api/issues/:id": the value
  // found (a string or an integer) fills its single parameter.
  std::string url_template;
};

// Applies every rule to a JSON document (nlohmann_json, without
// exceptions). Values of the wrong type are skipped and counted as
// malformed; a document that fails to parse gives no references and
// malformed = 1.
std::vector<Reference> ExtractJsonReferences(std::string_view json, const Url& page,
                                             const std::vector<JsonReferenceRule>& rules,
                                             const ExtractOptions& options,
                                             ExtractReport* report);

}  // namespace preheat

#endif  // PREHEAT_REFERENCES_H_

// Vary: which request headers select a stored response (RFC 9111 4.1).
#ifndef PREHEAT_VARY_H_
#define PREHEAT_VARY_H_

#include <string>
#include <utility>
#include <vector>

#include "preheat/headers.h"

namespace preheat {

// At most this many distinct names are honoured; a response with more is
// treated like `Vary: *` (not storable) and counted as malformed, so a hostile
// origin cannot make every lookup compare hundreds of fields.
inline constexpr size_t kVaryNamesMax = 16;

struct VarySpec {
  bool matches_nothing = false;      // `Vary: *`, or too many names
  std::vector<std::string> names;    // lower-case, de-duplicated, sorted
  int malformed_count = 0;           // empty members, bad tokens, too many
};

// Parses every Vary field of a response.
VarySpec ParseVary(const Headers& response);

// The value SelectVaryValues gives a field that is present but empty. A
// single space: values are trimmed of OWS, so no field's value becomes it.
inline constexpr const char* kVaryValuePresentEmpty = " ";

// The request's values for the spec's names, in the spec's order, each the
// combined value with OWS trimmed and runs of spaces folded to one ("" when
// the request lacks the field, kVaryValuePresentEmpty when every field of
// that name is empty: absent and empty do not match, RFC 9111 4.1). Two
// requests select the same stored response when these lists are equal.
std::vector<std::pair<std::string, std::string>> SelectVaryValues(const VarySpec& spec,
                                                                  const Headers& request);

}  // namespace preheat

#endif  // PREHEAT_VARY_H_

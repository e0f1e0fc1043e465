// HTTP-date parsing and formatting (RFC 9110 5.6.7).
#ifndef PREHEAT_HTTP_DATE_H_
#define PREHEAT_HTTP_DATE_H_

#include <optional>
#include <string>
#include <string_view>

#include "preheat/time.h"

namespace preheat {

// Parses IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the obsolete
// RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
// ("Sun Nov  6 08:49:37 1994") forms. Returns nullopt for anything else,
// including out-of-range fields. Two-digit years follow RFC 9110 5.6.7
// (interpreted relative to 1970..2069). Does not consult a clock.
std::optional<Instant> ParseHttpDate(std::string_view text);

// Formats as IMF-fixdate. Sub-second precision is dropped.
std::string FormatHttpDate(Instant t);

}  // namespace preheat

#endif  // PREHEAT_HTTP_DATE_H_

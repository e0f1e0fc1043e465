// Strict parsing of numbers written as text (command lines, configuration):
// the whole text must be one number within the given range. The C library's
// atoi/strtoul family reads "10abc" as 10, "abc" as 0 and "-3" as a huge
// unsigned value without a word; these refuse all three.
#ifndef PREHEAT_NUMBER_TEXT_H_
#define PREHEAT_NUMBER_TEXT_H_

#include <cstdint>
#include <string_view>

namespace preheat {

// True, with *out set, when `text` is a base-10 integer (an optional sign,
// then digits only: no spaces, no other characters) within [min, max].
// False, *out untouched, otherwise (also on overflow).
bool ParseIntText(std::string_view text, int64_t min, int64_t max, int64_t* out);

// True, with *out set, when `text` is a finite decimal number ("0.25",
// "-1", "1e3"; no spaces, nothing after it) within [min, max]. False, *out
// untouched, otherwise.
bool ParseRealText(std::string_view text, double min, double max, double* out);

}  // namespace preheat

#endif  // PREHEAT_NUMBER_TEXT_H_

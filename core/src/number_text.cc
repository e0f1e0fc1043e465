#include "preheat/number_text.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

namespace preheat {
namespace {

// strtoll and strtod skip leading white space; the text may not start with it.
bool StartsLikeANumber(std::string_view text) {
  if (text.empty()) return false;
  char c = text[0];
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
}

}  // namespace

bool ParseIntText(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  if (!StartsLikeANumber(text) || text[0] == '.') return false;
  std::string s(text);  // strtoll needs a terminator
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size() || v < min || v > max) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

bool ParseRealText(std::string_view text, double min, double max, double* out) {
  if (!StartsLikeANumber(text)) return false;
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < min || v > max) return false;
  *out = v;
  return true;
}

}  // namespace preheat

#include "preheat/http_date.h"

#include <cstdint>

#include "preheat/headers.h"

namespace preheat {

namespace {

constexpr const char* kDayNames[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kLongDayNames[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                          "Thursday", "Friday", "Saturday"};
constexpr const char* kMonthNames[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// algorithm); exact for every int64 day count this file produces.
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int64_t DaysInMonth(int64_t y, int64_t m) {
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// A cursor over the text; every Read* consumes only on success.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  bool Literal(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }
  // Exactly `count` digits.
  bool Digits(int count, int64_t* out) {
    if (s_.size() - pos_ < static_cast<size_t>(count)) return false;
    int64_t v = 0;
    for (int k = 0; k < count; ++k) {
      char c = s_[pos_ + static_cast<size_t>(k)];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += static_cast<size_t>(count);
    *out = v;
    return true;
  }
  // One of `names` (case-sensitive, as RFC 9110 specifies); its index.
  template <size_t N>
  bool OneOf(const char* const (&names)[N], int64_t* index) {
    for (size_t k = 0; k < N; ++k) {
      if (Literal(names[k])) {
        *index = static_cast<int64_t>(k);
        return true;
      }
    }
    return false;
  }
  bool AtEnd() const { return pos_ == s_.size(); }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

struct Fields {
  int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
};

// time-of-day = hour ":" minute ":" second
bool ReadTime(Scanner* s, Fields* f) {
  return s->Digits(2, &f->hour) && s->Literal(":") && s->Digits(2, &f->minute) && s->Literal(":") &&
         s->Digits(2, &f->second);
}

// Sun, 06 Nov 1994 08:49:37 GMT
bool ParseImfFixdate(std::string_view text, Fields* f) {
  Scanner s(text);
  int64_t ignored;
  return s.OneOf(kDayNames, &ignored) && s.Literal(", ") && s.Digits(2, &f->day) &&
         s.Literal(" ") && s.OneOf(kMonthNames, &f->month) && s.Literal(" ") &&
         s.Digits(4, &f->year) && s.Literal(" ") && ReadTime(&s, f) && s.Literal(" GMT") &&
         s.AtEnd();
}

// Sunday, 06-Nov-94 08:49:37 GMT
bool ParseRfc850(std::string_view text, Fields* f) {
  Scanner s(text);
  int64_t ignored;
  if (!(s.OneOf(kLongDayNames, &ignored) && s.Literal(", ") && s.Digits(2, &f->day) &&
        s.Literal("-") && s.OneOf(kMonthNames, &f->month) && s.Literal("-") &&
        s.Digits(2, &f->year) && s.Literal(" ") && ReadTime(&s, f) && s.Literal(" GMT") &&
        s.AtEnd())) {
    return false;
  }
  f->year += f->year < 70 ? 2000 : 1900;
  return true;
}

// Sun Nov  6 08:49:37 1994
bool ParseAsctime(std::string_view text, Fields* f) {
  Scanner s(text);
  int64_t ignored;
  if (!(s.OneOf(kDayNames, &ignored) && s.Literal(" ") && s.OneOf(kMonthNames, &f->month) &&
        s.Literal(" "))) {
    return false;
  }
  if (!s.Digits(2, &f->day) && !(s.Literal(" ") && s.Digits(1, &f->day))) return false;
  return s.Literal(" ") && ReadTime(&s, f) && s.Literal(" ") && s.Digits(4, &f->year) && s.AtEnd();
}

void AppendDigits(int64_t v, int width, std::string* out) {
  char buf[24];
  int len = 0;
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    buf[len++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  while (len < width) buf[len++] = '0';
  if (v < 0) out->push_back('-');
  while (len > 0) out->push_back(buf[--len]);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace

std::optional<Instant> ParseHttpDate(std::string_view text) {
  text = TrimOws(text);
  Fields f;
  if (!ParseImfFixdate(text, &f) && !ParseRfc850(text, &f) && !ParseAsctime(text, &f)) {
    return std::nullopt;
  }
  ++f.month;  // OneOf gave a 0-based index
  // second 60 is a leap second (RFC 5322 3.3); it reads as the next second.
  if (f.day < 1 || f.day > DaysInMonth(f.year, f.month) || f.hour > 23 || f.minute > 59 ||
      f.second > 60) {
    return std::nullopt;
  }
  const int64_t days = DaysFromCivil(f.year, f.month, f.day);
  const int64_t seconds = days * 86400 + f.hour * 3600 + f.minute * 60 + f.second;
  return Instant{seconds * 1000};
}

std::string FormatHttpDate(Instant t) {
  const int64_t seconds = FloorDiv(t.unix_ms, 1000);
  const int64_t days = FloorDiv(seconds, 86400);
  const int64_t rem = seconds - days * 86400;
  int64_t y, m, d;
  CivilFromDays(days, &y, &m, &d);
  // 1970-01-01 was a Thursday.
  const int64_t weekday = ((days % 7) + 11) % 7;
  std::string out;
  out.reserve(29);
  out.append(kDayNames[weekday]).append(", ");
  AppendDigits(d, 2, &out);
  out.append(" ").append(kMonthNames[m - 1]).append(" ");
  AppendDigits(y, 4, &out);
  out.push_back(' ');
  AppendDigits(rem / 3600, 2, &out);
  out.push_back(':');
  AppendDigits(rem / 60 % 60, 2, &out);
  out.push_back(':');
  AppendDigits(rem % 60, 2, &out);
  out.append(" GMT");
  return out;
}

}  // namespace preheat

#include "preheat/number_text.h"

#include <cstdint>

#include <doctest/doctest.h>

using preheat::ParseIntText;
using preheat::ParseRealText;

TEST_CASE("ParseIntText: the whole text, one base-10 integer, within the range") {
  int64_t n = 7;
  CHECK(ParseIntText("42", 0, 100, &n));
  CHECK(n == 42);
  CHECK(ParseIntText("-3", -5, 5, &n));
  CHECK(n == -3);
  CHECK(ParseIntText("+3", 0, 5, &n));
  CHECK(ParseIntText("9223372036854775807", 0, INT64_MAX, &n));
  CHECK(n == INT64_MAX);
  n = 7;
  for (const char* bad : {"", "abc", "10abc", "1xyz", " 5", "5 ", "1e3", "1.5", ".5", "0x10",
                          "9223372036854775808", "--1", "-"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseIntText(bad, INT64_MIN, INT64_MAX, &n));
  }
  CHECK_FALSE(ParseIntText("-3", 0, 100, &n));   // below the range
  CHECK_FALSE(ParseIntText("101", 0, 100, &n));  // above it
  CHECK(n == 7);                                 // untouched on failure
}

TEST_CASE("ParseRealText: a finite decimal number, nothing after it, within the range") {
  double x = 7;
  CHECK(ParseRealText("0.25", 0, 1, &x));
  CHECK(x == 0.25);
  CHECK(ParseRealText("1e3", 0, 1e9, &x));
  CHECK(x == 1000);
  CHECK(ParseRealText(".5", 0, 1, &x));
  CHECK(x == 0.5);
  x = 7;
  for (const char* bad : {"", "abc", "0.5x", " 0.5", "0.5 ", "inf", "nan", "-inf", "1e999"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseRealText(bad, -1e300, 1e300, &x));
  }
  CHECK_FALSE(ParseRealText("1.5", 0, 1, &x));
  CHECK(x == 7);
}

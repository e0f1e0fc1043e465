#include "preheat/http_date.h"

#include <doctest/doctest.h>

namespace preheat {
namespace {

// Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 5.6.7).
constexpr int64_t kExampleMs = 784111777000;

TEST_SUITE("http_date") {
  TEST_CASE("the three RFC 9110 forms give the same instant") {
    CHECK(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT") == Instant{kExampleMs});
    CHECK(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT") == Instant{kExampleMs});
    CHECK(ParseHttpDate("Sun Nov  6 08:49:37 1994") == Instant{kExampleMs});
    CHECK(ParseHttpDate("Sun Nov 16 08:49:37 1994") == Instant{kExampleMs + 10 * 86400000LL});
  }

  TEST_CASE("epoch, leap days and far years") {
    CHECK(ParseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT") == Instant{0});
    CHECK(ParseHttpDate("Wed, 31 Dec 1969 23:59:59 GMT") == Instant{-1000});
    CHECK(ParseHttpDate("Tue, 29 Feb 2000 00:00:00 GMT") == Instant{951782400000});
    CHECK(ParseHttpDate("Fri, 31 Dec 9999 23:59:59 GMT") == Instant{253402300799000});
    CHECK(ParseHttpDate("Sat, 01 Jan 2039 00:00:00 GMT") == Instant{2177452800000});
  }

  TEST_CASE("two-digit years are read within 1970..2069") {
    CHECK(ParseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT") == Instant{0});
    CHECK(ParseHttpDate("Tuesday, 31-Dec-69 00:00:00 GMT") ==
          ParseHttpDate("Tue, 31 Dec 2069 00:00:00 GMT"));
    CHECK(ParseHttpDate("Friday, 31-Dec-99 23:59:59 GMT") ==
          ParseHttpDate("Fri, 31 Dec 1999 23:59:59 GMT"));
  }

  TEST_CASE("surrounding whitespace is tolerated") {
    CHECK(ParseHttpDate("  Sun, 06 Nov 1994 08:49:37 GMT\t") == Instant{kExampleMs});
  }

  TEST_CASE("malformed and out-of-range dates are rejected") {
    for (const char* text : {"",
                             "0",
                             "-1",
                             "now",
                             "Sun, 06 Nov 1994 08:49:37",
                             "Sun, 06 Nov 1994 08:49:37 UTC",
                             "Sun, 6 Nov 1994 08:49:37 GMT",
                             "sun, 06 Nov 1994 08:49:37 GMT",
                             "Sun, 06 nov 1994 08:49:37 GMT",
                             "Sun, 06 Nov 94 08:49:37 GMT",
                             "Sun, 06 Nov 1994 08:49:37 GMT x",
                             "Sun,  06 Nov 1994 08:49:37 GMT",
                             "Xyz, 06 Nov 1994 08:49:37 GMT",
                             "Sun, 30 Feb 2000 00:00:00 GMT",
                             "Sun, 29 Feb 1900 00:00:00 GMT",
                             "Sun, 00 Nov 1994 08:49:37 GMT",
                             "Sun, 32 Jan 1994 08:49:37 GMT",
                             "Sun, 06 Nov 1994 24:00:00 GMT",
                             "Sun, 06 Nov 1994 08:60:00 GMT",
                             "Sun, 06 Nov 1994 08:49:61 GMT",
                             "Sun, 06 Nov 1994 8:49:37 GMT",
                             "Sun, 31 Apr 1994 08:49:37 GMT",
                             "Sun Nov 6 08:49:37 1994",
                             "Sunday, 06-Nov-1994 08:49:37 GMT",
                             "Sun, 06-Nov-94 08:49:37 GMT",
                             "Sun, +6 Nov 1994 08:49:37 GMT"}) {
      CAPTURE(text);
      CHECK_FALSE(ParseHttpDate(text).has_value());
    }
  }

  TEST_CASE("a leap second reads as the next second") {
    CHECK(ParseHttpDate("Sat, 31 Dec 2016 23:59:60 GMT") ==
          ParseHttpDate("Sun, 01 Jan 2017 00:00:00 GMT"));
  }

  TEST_CASE("formatting") {
    CHECK(FormatHttpDate(Instant{kExampleMs}) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(FormatHttpDate(Instant{kExampleMs + 999}) == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(FormatHttpDate(Instant{0}) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(FormatHttpDate(Instant{-1}) == "Wed, 31 Dec 1969 23:59:59 GMT");
    CHECK(FormatHttpDate(Instant{951782400000}) == "Tue, 29 Feb 2000 00:00:00 GMT");
    // Extreme instants format without crashing.
    CHECK_FALSE(FormatHttpDate(Instant::Never()).empty());
    CHECK_FALSE(FormatHttpDate(Instant{INT64_MIN}).empty());
  }

  TEST_CASE("format and parse round-trip over many days") {
    for (int64_t s = -5000LL * 86400; s < 40000LL * 86400; s += 86400 * 37 + 3661) {
      Instant t{s * 1000};
      CAPTURE(s);
      REQUIRE(ParseHttpDate(FormatHttpDate(t)) == t);
    }
  }
}

}  // namespace
}  // namespace preheat

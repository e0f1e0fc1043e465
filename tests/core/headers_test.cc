#include "preheat/headers.h"

#include <doctest/doctest.h>

namespace preheat {
namespace {

TEST_SUITE("headers") {
  TEST_CASE("names compare case-insensitively, order and repeats kept") {
    Headers h;
    h.Add("Accept", "text/html");
    h.Add("accept", "application/json");
    h.Add("X-One", "1");
    CHECK(h.size() == 3);
    CHECK(h.Has("ACCEPT"));
    CHECK_FALSE(h.Has("Accept-Encoding"));
    CHECK(h.Get("aCCept") == "text/html");
    CHECK(h.GetCombined("Accept") == "text/html, application/json");
    CHECK(h.GetCombined("x-one") == "1");
    CHECK_FALSE(h.Get("missing").has_value());
    CHECK_FALSE(h.GetCombined("missing").has_value());
    CHECK(h.fields()[1].first == "accept");
  }

  TEST_CASE("Set replaces every field of the name, in place of the first") {
    Headers h{{"A", "1"}, {"B", "2"}, {"a", "3"}, {"C", "4"}};
    h.Set("a", "9");
    REQUIRE(h.size() == 3);
    CHECK(h.fields()[0] == Headers::Field{"a", "9"});
    CHECK(h.fields()[1].first == "B");
    CHECK(h.fields()[2].first == "C");
    h.Set("D", "new");
    CHECK(h.fields().back() == Headers::Field{"D", "new"});
  }

  TEST_CASE("Remove returns the count removed") {
    Headers h{{"A", "1"}, {"B", "2"}, {"a", "3"}};
    CHECK(h.Remove("A") == 2);
    CHECK(h.Remove("A") == 0);
    CHECK(h.size() == 1);
    CHECK_FALSE(h.empty());
    CHECK(h.Remove("b") == 1);
    CHECK(h.empty());
  }

  TEST_CASE("empty values are kept and combined") {
    Headers h{{"X", ""}, {"X", "b"}};
    CHECK(h.Get("X") == "");
    CHECK(h.GetCombined("X") == ", b");
  }

  TEST_CASE("Reserve keeps the fields, before and after adding") {
    Headers h{{"A", "1"}, {"B", "2"}};
    h.Reserve(0);
    h.Reserve(16);
    CHECK(h.fields() == std::vector<Headers::Field>{{"A", "1"}, {"B", "2"}});
    h.Add("C", "3");
    h.Reserve(1);  // less than held: nothing is dropped
    CHECK(h.fields() == std::vector<Headers::Field>{{"A", "1"}, {"B", "2"}, {"C", "3"}});
  }

  TEST_CASE("ByteSize sums names and values") {
    Headers h{{"Ab", "cde"}, {"F", ""}};
    CHECK(h.ByteSize() == 6);
    CHECK(Headers().ByteSize() == 0);
  }

  TEST_CASE("helpers") {
    CHECK(EqualsIgnoreCase("Content-Type", "content-TYPE"));
    CHECK_FALSE(EqualsIgnoreCase("abc", "abd"));
    CHECK_FALSE(EqualsIgnoreCase("abc", "ab"));
    CHECK(EqualsIgnoreCase("", ""));
    // Only ASCII letters fold: '@' and '`' sit next to 'A' and 'a'.
    CHECK_FALSE(EqualsIgnoreCase("@", "`"));
    CHECK(ToLowerAscii("MiXeD-123\xC3\x84") == "mixed-123\xC3\x84");
    CHECK(TrimOws(" \t a b \t") == "a b");
    CHECK(TrimOws("   ") == "");
    CHECK(TrimOws("") == "");
    CHECK(TrimOws("\r\nx") == "\r\nx");
  }
}

}  // namespace
}  // namespace preheat

#include "preheat/vary.h"

#include <doctest/doctest.h>

#include <string>

namespace preheat {
namespace {

using Values = std::vector<std::pair<std::string, std::string>>;

TEST_SUITE("vary") {
  TEST_CASE("no Vary selects on nothing") {
    VarySpec spec = ParseVary({{"Content-Type", "text/html"}});
    CHECK_FALSE(spec.matches_nothing);
    CHECK(spec.names.empty());
    CHECK(spec.malformed_count == 0);
    CHECK(SelectVaryValues(spec, {{"Accept", "x"}}).empty());
  }

  TEST_CASE("names are lower-cased, de-duplicated and sorted across fields") {
    VarySpec spec =
        ParseVary({{"Vary", "User-Agent, Accept-Encoding"}, {"vary", "accept-encoding,Accept"}});
    CHECK_FALSE(spec.matches_nothing);
    CHECK(spec.names == std::vector<std::string>{"accept", "accept-encoding", "user-agent"});
    CHECK(spec.malformed_count == 0);
  }

  TEST_CASE("* matches nothing, wherever it appears") {
    CHECK(ParseVary({{"Vary", "*"}}).matches_nothing);
    CHECK(ParseVary({{"Vary", "Accept, *"}}).matches_nothing);
    CHECK(ParseVary({{"Vary", "Accept"}, {"Vary", " * "}}).matches_nothing);
    CHECK(ParseVary({{"Vary", "*"}}).names.empty());
  }

  TEST_CASE("more than 16 names is treated like *") {
    std::string list;
    for (int i = 0; i < 16; ++i) list += "X-H" + std::to_string(i) + ", ";
    VarySpec sixteen = ParseVary({{"Vary", list + "x-h0"}});  // a repeat is not a new name
    CHECK_FALSE(sixteen.matches_nothing);
    CHECK(sixteen.names.size() == kVaryNamesMax);

    VarySpec seventeen = ParseVary({{"Vary", list + "X-H16"}});
    CHECK(seventeen.matches_nothing);
    CHECK(seventeen.names.empty());
    CHECK(seventeen.malformed_count == 1);
  }

  TEST_CASE("empty members are counted; bad tokens match nothing") {
    VarySpec empty = ParseVary({{"Vary", "Accept,, ,Accept-Language,"}});
    CHECK_FALSE(empty.matches_nothing);
    CHECK(empty.names == std::vector<std::string>{"accept", "accept-language"});
    CHECK(empty.malformed_count == 3);

    CHECK(ParseVary({{"Vary", ""}}).malformed_count == 0);

    VarySpec bad = ParseVary({{"Vary", "Accept, User Agent"}});
    CHECK(bad.matches_nothing);
    CHECK(bad.malformed_count == 1);
    CHECK(ParseVary({{"Vary", "Acc(ept"}}).matches_nothing);
  }

  TEST_CASE("SelectVaryValues: combined, trimmed, folded, '' when absent") {
    VarySpec spec = ParseVary({{"Vary", "Accept-Encoding, Accept-Language, Cookie"}});
    Headers request{
        {"accept-encoding", "  gzip,\t\t deflate  "}, {"Accept-Encoding", "br"}, {"Cookie", "a=1"}};
    Values values = SelectVaryValues(spec, request);
    CHECK(values == Values{{"accept-encoding", "gzip, deflate, br"},
                           {"accept-language", ""},
                           {"cookie", "a=1"}});
  }

  TEST_CASE("equivalent requests select alike, different ones do not") {
    VarySpec spec = ParseVary({{"Vary", "Accept-Language"}});
    CHECK(SelectVaryValues(spec, {{"Accept-Language", "en,  fr"}}) ==
          SelectVaryValues(spec, {{"accept-language", " en, fr "}}));
    CHECK(SelectVaryValues(spec, {{"Accept-Language", "en"}}) !=
          SelectVaryValues(spec, {{"Accept-Language", "fr"}}));
    CHECK(SelectVaryValues(spec, {}) == SelectVaryValues(spec, {{"X", "y"}}));
  }

  TEST_CASE("an empty field is present: it does not select what absence selects") {
    // RFC 9111 4.1: a field absent from a request matches only absence.
    // "Accept-Encoding:" (empty) asks for no content coding; a response
    // stored for a request without the field may be coded.
    VarySpec spec = ParseVary({{"Vary", "Accept-Encoding"}});
    const Values absent = SelectVaryValues(spec, {});
    CHECK(absent == Values{{"accept-encoding", ""}});  // as stored records have it
    CHECK(SelectVaryValues(spec, {{"Accept-Encoding", ""}}) != absent);
    CHECK(SelectVaryValues(spec, {{"Accept-Encoding", " \t "}}) != absent);
    // Empty spellings are alike, and unlike any value.
    CHECK(SelectVaryValues(spec, {{"Accept-Encoding", ""}}) ==
          SelectVaryValues(spec, {{"accept-encoding", "  "}, {"Accept-Encoding", ""}}));
    CHECK(SelectVaryValues(spec, {{"Accept-Encoding", ""}}) !=
          SelectVaryValues(spec, {{"Accept-Encoding", " "}, {"Accept-Encoding", "gzip"}}));
    // An empty field adds no member to the combined list.
    CHECK(SelectVaryValues(spec, {{"Accept-Encoding", "gzip"}, {"Accept-Encoding", ""}}) ==
          Values{{"accept-encoding", "gzip"}});
  }
}

}  // namespace
}  // namespace preheat

#include "preheat/validators.h"

#include <doctest/doctest.h>

namespace preheat {
namespace {

TEST_SUITE("validators") {
  TEST_CASE("ParseEntityTag") {
    auto strong = ParseEntityTag("\"xyzzy\"");
    REQUIRE(strong);
    CHECK_FALSE(strong->weak);
    CHECK(strong->opaque == "xyzzy");

    auto weak = ParseEntityTag(" W/\"xyzzy\" ");
    REQUIRE(weak);
    CHECK(weak->weak);
    CHECK(weak->opaque == "xyzzy");

    auto empty = ParseEntityTag("\"\"");
    REQUIRE(empty);
    CHECK(empty->opaque.empty());

    CHECK(ParseEntityTag("\"caf\xC3\xA9\""));  // obs-text is allowed

    for (const char* bad : {"", "xyzzy", "\"xyzzy", "xyzzy\"", "\"", "w/\"x\"", "W/x", "W/",
                            "\"a\"b\"", "\"a b\"", "\"a\"  , \"b\"", "\"a\x7F\"", "W /\"a\""}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseEntityTag(bad).has_value());
    }
  }

  TEST_CASE("weak and strong comparison (RFC 9110 8.8.3.2 table)") {
    const EntityTag w1{true, "1"}, w2{true, "2"}, s1{false, "1"};
    CHECK_FALSE(StrongEquals(w1, w1));
    CHECK(WeakEquals(w1, w1));
    CHECK_FALSE(StrongEquals(w1, w2));
    CHECK_FALSE(WeakEquals(w1, w2));
    CHECK_FALSE(StrongEquals(w1, s1));
    CHECK(WeakEquals(w1, s1));
    CHECK(StrongEquals(s1, s1));
    CHECK(WeakEquals(s1, s1));
  }

  TEST_CASE("AddConditionalHeaders with a strong ETag and Last-Modified") {
    Headers stored{{"ETag", "\"abc\""}, {"Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT"}};
    Headers request{{"Accept", "*/*"}};
    CHECK(AddConditionalHeaders(stored, &request));
    CHECK(request.Get("If-None-Match") == "\"abc\"");
    CHECK(request.Get("If-Modified-Since") == "Sun, 06 Nov 1994 08:49:37 GMT");
    CHECK(request.Get("Accept") == "*/*");
  }

  TEST_CASE("AddConditionalHeaders sends a weak ETag as weak") {
    Headers stored{{"etag", "W/\"v1\""}};
    Headers request;
    CHECK(AddConditionalHeaders(stored, &request));
    CHECK(request.Get("If-None-Match") == "W/\"v1\"");
    CHECK_FALSE(request.Has("If-Modified-Since"));
  }

  TEST_CASE("AddConditionalHeaders replaces the request's own conditionals") {
    Headers stored{{"ETag", "\"new\""}};
    Headers request{{"If-None-Match", "\"old\""},
                    {"if-none-match", "\"older\""},
                    {"If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"},
                    {"If-Match", "\"x\""}};
    CHECK(AddConditionalHeaders(stored, &request));
    CHECK(request.GetCombined("If-None-Match") == "\"new\"");
    CHECK_FALSE(request.Has("If-Modified-Since"));
    CHECK_FALSE(request.Has("If-Match"));
  }

  TEST_CASE("AddConditionalHeaders without usable validators") {
    Headers stored{{"ETag", "abc"}, {"Last-Modified", "yesterday"}};
    Headers request{{"If-None-Match", "\"client\""}};
    CHECK_FALSE(AddConditionalHeaders(stored, &request));
    CHECK_FALSE(request.Has("If-None-Match"));
    CHECK_FALSE(request.Has("If-Modified-Since"));

    Headers none;
    Headers request2;
    CHECK_FALSE(AddConditionalHeaders(none, &request2));
    CHECK(request2.empty());
  }

  TEST_CASE("304 merge replaces fields but keeps the body's") {
    Headers stored{{"Content-Type", "text/html"},
                   {"Content-Length", "1234"},
                   {"Content-Encoding", "gzip"},
                   {"Cache-Control", "max-age=10"},
                   {"ETag", "\"v1\""},
                   {"X-Multi", "a"},
                   {"X-Multi", "b"},
                   {"Date", "Sun, 06 Nov 1994 08:49:37 GMT"}};
    Headers not_modified{{"cache-control", "max-age=600"},
                         {"Content-Length", "0"},
                         {"Content-Encoding", "identity"},
                         {"Transfer-Encoding", "chunked"},
                         {"Content-Range", "bytes 0-0/1"},
                         {"Connection", "close, X-Hop"},
                         {"X-Hop", "1"},
                         {"Keep-Alive", "timeout=5"},
                         {"Set-Cookie", "a=b"},
                         {"Date", "Mon, 07 Nov 1994 08:49:37 GMT"},
                         {"X-Multi", "c"},
                         {"X-Multi", "d"},
                         {"X-New", "n"}};
    UpdateStoredHeadersFrom304(not_modified, &stored);
    CHECK(stored.GetCombined("Content-Length") == "1234");
    CHECK(stored.GetCombined("Content-Encoding") == "gzip");
    CHECK(stored.GetCombined("Content-Type") == "text/html");
    CHECK(stored.GetCombined("Cache-Control") == "max-age=600");
    CHECK(stored.GetCombined("Date") == "Mon, 07 Nov 1994 08:49:37 GMT");
    CHECK(stored.GetCombined("X-Multi") == "c, d");
    CHECK(stored.GetCombined("X-New") == "n");
    CHECK(stored.GetCombined("ETag") == "\"v1\"");
    for (const char* dropped : {"Transfer-Encoding", "Content-Range", "Connection", "X-Hop",
                                "Keep-Alive", "Set-Cookie"}) {
      CAPTURE(dropped);
      CHECK_FALSE(stored.Has(dropped));
    }
  }

  TEST_CASE("NotModifiedMatches: a 304 updates only the representation its validators name") {
    const char* lm = "Sun, 06 Nov 1994 08:49:37 GMT";
    Headers stored{{"ETag", "\"v1\""}, {"Last-Modified", lm}};
    // Strong against strong: equal tags only.
    CHECK(NotModifiedMatches(Headers{{"ETag", "\"v1\""}}, stored));
    CHECK_FALSE(NotModifiedMatches(Headers{{"ETag", "\"v2\""}}, stored));
    CHECK_FALSE(NotModifiedMatches(Headers{{"ETag", "\"v1\""}}, Headers{{"ETag", "W/\"v1\""}}));
    // A weak tag compares weakly.
    CHECK(NotModifiedMatches(Headers{{"ETag", "W/\"v1\""}}, stored));
    CHECK(NotModifiedMatches(Headers{{"ETag", "W/\"v1\""}}, Headers{{"ETag", "W/\"v1\""}}));
    CHECK_FALSE(NotModifiedMatches(Headers{{"ETag", "W/\"v2\""}}, stored));
    // An ETag where none is stored, or a malformed one: not ours.
    CHECK_FALSE(NotModifiedMatches(Headers{{"ETag", "\"v1\""}}, Headers{{"Last-Modified", lm}}));
    CHECK_FALSE(NotModifiedMatches(Headers{{"ETag", "v1"}}, stored));
    // Without an ETag, Last-Modified decides (as dates).
    CHECK(NotModifiedMatches(Headers{{"Last-Modified", "Sunday, 06-Nov-94 08:49:37 GMT"}}, stored));
    CHECK_FALSE(NotModifiedMatches(Headers{{"Last-Modified", "Mon, 07 Nov 1994 08:49:37 GMT"}}, stored));
    CHECK_FALSE(NotModifiedMatches(Headers{{"Last-Modified", "yesterday"}}, stored));
    // No validator at all: the request was conditional on ours alone.
    CHECK(NotModifiedMatches(Headers{{"Cache-Control", "max-age=60"}}, stored));
  }

  TEST_CASE("StorableHeaders drops cookies and hop-by-hop fields") {
    Headers response{{"Content-Type", "text/plain"},
                     {"Set-Cookie", "a=1"},
                     {"set-cookie", "b=2"},
                     {"Set-Cookie2", "c=3"},
                     {"Connection", "keep-alive, X-Private-Hop"},
                     {"connection", "Upgrade"},
                     {"X-Private-Hop", "secret"},
                     {"Keep-Alive", "timeout=5"},
                     {"Proxy-Connection", "keep-alive"},
                     {"TE", "trailers"},
                     {"Transfer-Encoding", "chunked"},
                     {"Upgrade", "h2c"},
                     {"Proxy-Authenticate", "Basic"},
                     {"Proxy-Authorization", "Basic x"},
                     {"Trailer", "Expires"},
                     {"ETag", "\"e\""},
                     {"Vary", "Accept"}};
    Headers out = StorableHeaders(response);
    REQUIRE(out.size() == 3);
    CHECK(out.fields()[0] == Headers::Field{"Content-Type", "text/plain"});
    CHECK(out.fields()[1] == Headers::Field{"ETag", "\"e\""});
    CHECK(out.fields()[2] == Headers::Field{"Vary", "Accept"});
  }
}

}  // namespace
}  // namespace preheat

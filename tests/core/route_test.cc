#include "preheat/route.h"

#include <doctest/doctest.h>

#include <string>

namespace preheat {
namespace {

using Params = RoutePattern::Params;

RoutePattern Must(std::string_view text) {
  Result<RoutePattern> r = RoutePattern::Parse(text);
  REQUIRE(r.ok());
  return *r;
}

TEST_SUITE("route") {
  TEST_CASE("Parse errors") {
    for (const char* bad : {"", "issues", "*", "/:", "/a/:/b", "/*/a", "/a/*/", "/*/*"}) {
      CAPTURE(bad);
      Result<RoutePattern> r = RoutePattern::Parse(bad);
      CHECK_FALSE(r.ok());
      CHECK(r.status().code() == Code::kInvalidArgument);
    }
    std::string sixty_four, sixty_five;
    for (int i = 0; i < 64; ++i) sixty_four += "/s";
    sixty_five = sixty_four + "/s";
    CHECK(RoutePattern::Parse(sixty_four).ok());
    CHECK_FALSE(RoutePattern::Parse(sixty_five).ok());
    CHECK(Must("/a/:id").text() == "/a/:id");
  }

  TEST_CASE("literal segments match exactly") {
    RoutePattern p = Must("/api/issues");
    CHECK(p.Match("/api/issues"));
    CHECK(p.Match("/api/issues?page=2"));
    CHECK(p.Match("/api/issues#top"));
    CHECK_FALSE(p.Match("/api/issues/"));
    CHECK_FALSE(p.Match("/API/issues"));
    CHECK_FALSE(p.Match("/api"));
    CHECK_FALSE(p.Match("/api/issues/1"));
    CHECK_FALSE(p.Match("api/issues"));
    CHECK_FALSE(p.Match(""));
    CHECK(Must("/").Match("/"));
    CHECK_FALSE(Must("/").Match("/a"));
    CHECK(Must("/a*b").Match("/a*b"));
    CHECK_FALSE(Must("/a*b").Match("/axxb"));
  }

  TEST_CASE(":params capture one non-empty segment") {
    RoutePattern p = Must("/repos/:owner/issues/:id");
    Params params;
    REQUIRE(p.Match("/repos/acme/issues/42?x=1", &params));
    CHECK(params == Params{{"owner", "acme"}, {"id", "42"}});
    CHECK_FALSE(p.Match("/repos//issues/42", &params));
    CHECK_FALSE(p.Match("/repos/acme/issues/", &params));
    CHECK_FALSE(p.Match("/repos/acme/issues/42/comments", &params));
    // A failed match leaves params as they were.
    CHECK(params == Params{{"owner", "acme"}, {"id", "42"}});
    CHECK(p.Match("/repos/a%2Fb/issues/%20"));
  }

  TEST_CASE("* matches the rest, possibly empty") {
    RoutePattern p = Must("/static/*");
    CHECK(p.Match("/static/"));
    CHECK(p.Match("/static"));
    CHECK(p.Match("/static/app.js"));
    CHECK(p.Match("/static/a/b/c.css?v=1"));
    CHECK_FALSE(p.Match("/staticx"));
    CHECK_FALSE(p.Match("/"));
    CHECK(Must("/*").Match("/"));
    CHECK(Must("/*").Match("/anything/at/all"));
    Params params;
    REQUIRE(Must("/u/:name/*").Match("/u/ann/x/y", &params));
    CHECK(params == Params{{"name", "ann"}});
  }

  TEST_CASE("Expand") {
    RoutePattern p = Must("/api/issues/:id");
    CHECK(p.Expand({{"id", "42"}}).value() == "/api/issues/42");
    CHECK(p.Expand({{"other", "1"}, {"id", "7"}}).value() == "/api/issues/7");
    CHECK_FALSE(p.Expand({}).ok());
    CHECK_FALSE(p.Expand({{"id", ""}}).ok());
    CHECK_FALSE(Must("/a/*").Expand({}).ok());
    CHECK(Must("/").Expand({}).value() == "/");
    CHECK(Must("/a/").Expand({}).value() == "/a/");
    // Values cannot change the path's structure.
    CHECK(p.Expand({{"id", "a/b?c#d e"}}).value() == "/api/issues/a%2Fb%3Fc%23d%20e");
  }

  // Found by route_fuzz: a name used twice expanded its first value twice.
  TEST_CASE("regression: repeated :name round-trips") {
    RoutePattern p = Must("/:ab/:ab");
    Params params;
    REQUIRE(p.Match("/x/~c:%ab", &params));
    CHECK(params == Params{{"ab", "x"}, {"ab", "~c:%ab"}});
    CHECK(p.Expand(params).value() == "/x/~c:%ab");
    CHECK(p.Expand({{"ab", "1"}}).value() == "/1/1");
  }

  TEST_CASE("Match then Expand round-trips") {
    RoutePattern p = Must("/r/:a/x/:b");
    for (const char* path : {"/r/1/x/2", "/r/a%2Fb/x/~c:d@e"}) {
      Params params;
      REQUIRE(p.Match(path, &params));
      CHECK(p.Expand(params).value() == path);
    }
  }
}

}  // namespace
}  // namespace preheat

#include "preheat/cache_control.h"

#include <doctest/doctest.h>

#include <string>

#include "preheat/headers.h"

namespace preheat {
namespace {

constexpr int64_t kClamp = int64_t{1} << 31;

TEST_SUITE("cache_control") {
  TEST_CASE("ParseDeltaSeconds: digits only, clamped to 2^31") {
    CHECK(ParseDeltaSeconds("0") == 0);
    CHECK(ParseDeltaSeconds("0060") == 60);
    CHECK(ParseDeltaSeconds("2147483647") == kClamp - 1);
    CHECK(ParseDeltaSeconds("2147483648") == kClamp);
    CHECK(ParseDeltaSeconds("99999999999999999999999999") == kClamp);
    for (const char* bad : {"", " 1", "1 ", "+1", "-1", "1.5", "1e3", "0x10", "\"1\""}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseDeltaSeconds(bad).has_value());
    }
  }

  TEST_CASE("empty value has no directives") {
    CacheControl cc = ParseCacheControl("");
    CHECK_FALSE(cc.max_age_s.has_value());
    CHECK_FALSE(cc.max_age_invalid);
    CHECK_FALSE(cc.no_store);
    CHECK_FALSE(cc.no_cache);
    CHECK(cc.malformed_count == 0);
  }

  TEST_CASE("typical directives, case-insensitive names") {
    CacheControl cc = ParseCacheControl(
        "Public, MAX-AGE=60, must-revalidate, immutable, stale-while-revalidate=30, "
        "stale-if-error=86400");
    CHECK(cc.is_public);
    CHECK(cc.max_age_s == 60);
    CHECK(cc.must_revalidate);
    CHECK(cc.immutable);
    CHECK(cc.stale_while_revalidate_s == 30);
    CHECK(cc.stale_if_error_s == 86400);
    CHECK(cc.malformed_count == 0);
  }

  TEST_CASE("no-store, no-cache, private") {
    CacheControl cc = ParseCacheControl("no-store,no-cache,private");
    CHECK(cc.no_store);
    CHECK(cc.no_cache);
    CHECK(cc.is_private);
    CHECK(cc.malformed_count == 0);
  }

  TEST_CASE("no-cache and private with a field list act unqualified") {
    CacheControl cc = ParseCacheControl("no-cache=\"Set-Cookie, X-Foo\", private=\"a\", max-age=5");
    CHECK(cc.no_cache);
    CHECK(cc.is_private);
    // The comma inside quotes did not start a directive.
    CHECK(cc.max_age_s == 5);
    CHECK(cc.malformed_count == 0);
  }

  TEST_CASE("quoted max-age is accepted but counted") {
    CacheControl cc = ParseCacheControl("max-age=\"60\"");
    CHECK(cc.max_age_s == 60);
    CHECK_FALSE(cc.max_age_invalid);
    CHECK(cc.malformed_count == 1);
  }

  TEST_CASE("invalid max-age means stale") {
    for (const char* text :
         {"max-age=abc", "max-age=-1", "max-age=1.5", "max-age=", "max-age", "max-age=+5",
          "max-age=60s", "max-age=6 0", "max-age =60", "max-age=\"6\"0", "max-age=\"60"}) {
      CAPTURE(text);
      CacheControl cc = ParseCacheControl(text);
      CHECK(cc.max_age_invalid);
      CHECK(cc.max_age_s == 0);
      CHECK(cc.malformed_count >= 1);
    }
  }

  TEST_CASE("duplicate max-age: equal is fine, conflicting is invalid") {
    CacheControl same = ParseCacheControl("max-age=60, max-age=60");
    CHECK(same.max_age_s == 60);
    CHECK_FALSE(same.max_age_invalid);
    CHECK(same.malformed_count == 0);

    CacheControl conflict = ParseCacheControl("max-age=60, max-age=3600");
    CHECK(conflict.max_age_invalid);
    CHECK(conflict.max_age_s == 0);
    CHECK(conflict.malformed_count == 1);

    // A later valid value does not rescue an earlier invalid one.
    CacheControl poisoned = ParseCacheControl("max-age=x, max-age=60");
    CHECK(poisoned.max_age_invalid);
  }

  TEST_CASE("huge numbers clamp to 2^31") {
    CHECK(ParseCacheControl("max-age=2147483647").max_age_s == kClamp - 1);
    CHECK(ParseCacheControl("max-age=2147483648").max_age_s == kClamp);
    CacheControl huge = ParseCacheControl("max-age=99999999999999999999999999999999");
    CHECK(huge.max_age_s == kClamp);
    CHECK_FALSE(huge.max_age_invalid);
    CHECK(huge.malformed_count == 0);
    CHECK(ParseCacheControl("stale-if-error=123456789012").stale_if_error_s == kClamp);
    CHECK(ParseCacheControl("max-age=0").max_age_s == 0);
    CHECK(ParseCacheControl("max-age=007").max_age_s == 7);
  }

  TEST_CASE("invalid or conflicting stale-* are dropped") {
    CacheControl cc = ParseCacheControl("stale-while-revalidate=-5, stale-if-error");
    CHECK_FALSE(cc.stale_while_revalidate_s.has_value());
    CHECK_FALSE(cc.stale_if_error_s.has_value());
    CHECK(cc.malformed_count == 2);
    CacheControl dup = ParseCacheControl("stale-while-revalidate=5, stale-while-revalidate=6");
    CHECK_FALSE(dup.stale_while_revalidate_s.has_value());
    CHECK(dup.malformed_count == 1);
  }

  TEST_CASE("s-maxage, proxy-revalidate and unknown directives are ignored") {
    CacheControl cc = ParseCacheControl("s-maxage=600, proxy-revalidate, x-ext=\"a,b\", foo");
    CHECK_FALSE(cc.max_age_s.has_value());
    CHECK_FALSE(cc.must_revalidate);
    CHECK(cc.malformed_count == 0);
  }

  TEST_CASE("restrictive directives survive malformation; permissive ones do not") {
    CacheControl cc =
        ParseCacheControl("no-store=1, must-revalidate=\"x\", public=1, immutable=yes");
    CHECK(cc.no_store);
    CHECK(cc.must_revalidate);
    CHECK_FALSE(cc.is_public);
    CHECK_FALSE(cc.immutable);
    CHECK(cc.malformed_count == 4);
  }

  TEST_CASE("list syntax: empty members, OWS, junk") {
    CacheControl cc = ParseCacheControl(" ,, max-age=10 ,\t, no-cache ,");
    CHECK(cc.max_age_s == 10);
    CHECK(cc.no_cache);
    CHECK(cc.malformed_count == 0);

    CacheControl junk = ParseCacheControl("@@@, max-age=10, \"quoted\"");
    CHECK(junk.max_age_s == 10);
    CHECK(junk.malformed_count == 2);
  }

  TEST_CASE("escapes in quoted strings, and overlong quoted values") {
    CacheControl cc = ParseCacheControl("x=\"a\\\"b, c\", max-age=1");
    CHECK(cc.max_age_s == 1);
    CHECK(cc.malformed_count == 0);
    std::string overlong = "no-cache=\"" + std::string(5000, 'a') + "\", max-age=2";
    CacheControl big = ParseCacheControl(overlong);
    CHECK(big.no_cache);
    CHECK(big.max_age_s == 2);
    CHECK(big.malformed_count == 1);
  }

  TEST_CASE("unterminated quote and lone backslash do not crash") {
    CHECK(ParseCacheControl("no-cache=\"abc").no_cache);
    CHECK(ParseCacheControl("x=\"\\").malformed_count == 1);
    CHECK(ParseCacheControl("=").malformed_count == 1);
    CHECK(ParseCacheControl(std::string("max-age=1\0", 10)).max_age_invalid);
  }

  TEST_CASE("request directives: max-stale with or without a value, min-fresh, only-if-cached") {
    CacheControl cc = ParseCacheControl("max-stale=30, min-fresh=5, only-if-cached");
    CHECK(cc.max_stale_s == 30);
    CHECK(cc.min_fresh_s == 5);
    CHECK(cc.only_if_cached);
    CHECK(cc.malformed_count == 0);
    CHECK(ParseCacheControl("MAX-STALE").max_stale_s == kClamp);
    CHECK(ParseCacheControl("max-stale=10, max-stale").max_stale_s == kClamp);
    CacheControl none = ParseCacheControl("max-age=60");
    CHECK_FALSE(none.max_stale_s.has_value());
    CHECK_FALSE(none.min_fresh_s.has_value());
    CHECK_FALSE(none.only_if_cached);
  }

  TEST_CASE("request directives: invalid max-stale accepts nothing, invalid min-fresh asks nothing") {
    CacheControl cc = ParseCacheControl("max-stale=soon, min-fresh=-1");
    CHECK_FALSE(cc.max_stale_s.has_value());
    CHECK_FALSE(cc.min_fresh_s.has_value());
    CHECK(cc.malformed_count == 2);
    CHECK_FALSE(ParseCacheControl("max-stale=5, max-stale=6").max_stale_s.has_value());
    CacheControl arg = ParseCacheControl("only-if-cached=1");
    CHECK(arg.only_if_cached);  // restrictive: kept, counted
    CHECK(arg.malformed_count == 1);
  }

  TEST_CASE("RequestCacheControl: Cache-Control fields joined; Pragma: no-cache only without them") {
    Headers two;
    two.Add("Cache-Control", "max-age=5");
    two.Add("cache-control", "no-store");
    CacheControl joined = RequestCacheControl(two);
    CHECK(joined.max_age_s == 5);
    CHECK(joined.no_store);
    Headers pragma;
    pragma.Add("Pragma", "foo=1, NO-CACHE ");
    CHECK(RequestCacheControl(pragma).no_cache);
    Headers other;
    other.Add("Pragma", "no-cache-please");
    CHECK_FALSE(RequestCacheControl(other).no_cache);
    Headers both;
    both.Add("Pragma", "no-cache");
    both.Add("Cache-Control", "max-stale");
    CHECK_FALSE(RequestCacheControl(both).no_cache);
    CHECK(RequestCacheControl(Headers{}).malformed_count == 0);
  }
}

TEST_CASE("cache-control: invalid UTF-8 and control bytes are malformed, not fatal") {
  CacheControl cc = ParseCacheControl("max-age=\xff\xfe, \xC3no-store, no-cache");
  CHECK(cc.max_age_invalid);
  CHECK(cc.no_cache);
  CHECK(cc.malformed_count >= 1);
  CacheControl good = ParseCacheControl("max-age=60, x-\xff=1");
  CHECK(good.max_age_s == 60);
}

}  // namespace
}  // namespace preheat

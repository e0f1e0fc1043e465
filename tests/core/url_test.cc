#include "preheat/url.h"

#include <doctest/doctest.h>

#include "preheat/prng.h"

#include <string>

namespace preheat {
namespace {

std::string Norm(std::string_view text) {
  Result<std::string> r = NormalizeUrl(text);
  return r.ok() ? *r : "error: " + r.status().ToString();
}

std::string Resolve(std::string_view reference) {
  Result<Url> base = ParseUrl("http://a/b/c/d;p?q");
  REQUIRE(base.ok());
  Result<Url> r = ResolveUrl(*base, reference);
  return r.ok() ? r->ToString() : "error";
}

TEST_SUITE("url") {
  TEST_CASE("components") {
    Result<Url> url = ParseUrl("HTTPS://Example.COM:8443/a/b?x=1&y#frag");
    REQUIRE(url.ok());
    CHECK(url->scheme == "https");
    CHECK(url->host == "example.com");
    CHECK(url->port == 8443);
    CHECK(url->path == "/a/b");
    CHECK(url->query == "x=1&y");
    CHECK(url->has_query);
    CHECK(url->Origin() == "https://example.com:8443");
    CHECK(url->PathAndQuery() == "/a/b?x=1&y");
    CHECK(url->ToString() == "https://example.com:8443/a/b?x=1&y");
  }

  TEST_CASE("normal form") {
    CHECK(Norm("http://example.com") == "http://example.com/");
    CHECK(Norm("http://example.com:80/") == "http://example.com/");
    CHECK(Norm("https://example.com:443/") == "https://example.com/");
    CHECK(Norm("http://example.com:443/") == "http://example.com:443/");
    CHECK(Norm("https://example.com:80/") == "https://example.com:80/");
    CHECK(Norm("http://example.com:/x") == "http://example.com/x");
    CHECK(Norm("http://example.com:0080/") == "http://example.com/");
    CHECK(Norm("http://example.com?") == "http://example.com/?");
    CHECK(Norm("http://example.com/#") == "http://example.com/");
    CHECK(Norm("http://example.com/p?q#f?g") == "http://example.com/p?q");
    CHECK(Norm("http://[::1]:8080/x") == "http://[::1]:8080/x");
    CHECK(Norm("http://[FE80::AbC]/") == "http://[fe80::abc]/");
    CHECK(Norm("http://127.0.0.1/") == "http://127.0.0.1/");
  }

  TEST_CASE("IPv6 literals are keyed in canonical form, as the WHATWG URL parser writes them") {
    // One address, one key: the spellings of ::1 must not be three cache
    // entries. Expected values are what new URL(...).href gives.
    CHECK(Norm("http://[0:0:0:0:0:0:0:1]/") == "http://[::1]/");
    CHECK(Norm("http://[0000:0000::0001]:8080/x") == "http://[::1]:8080/x");
    CHECK(Norm("http://[2001:db8:0:0:1:0:0:1]/") == "http://[2001:db8::1:0:0:1]/");  // first longest run
    CHECK(Norm("http://[2001:0db8:0:0:0:0:2:1]/") == "http://[2001:db8::2:1]/");
    CHECK(Norm("http://[2001:db8::0:1]/") == "http://[2001:db8::1]/");
    CHECK(Norm("http://[1:0:0:2:0:0:0:3]/") == "http://[1:0:0:2::3]/");  // the longer run
    CHECK(Norm("http://[1:0:1:0:1:0:1:0]/") == "http://[1:0:1:0:1:0:1:0]/");  // no "::" for one 0
    CHECK(Norm("http://[1:2:3:4:5:6:7::]/") == "http://[1:2:3:4:5:6:7:0]/");
    CHECK(Norm("http://[1::]/") == "http://[1::]/");
    CHECK(Norm("http://[::]/") == "http://[::]/");
    CHECK(Norm("http://[::ffff:192.168.0.1]/") == "http://[::ffff:c0a8:1]/");
    CHECK(Norm("http://[1:2:3:4:5:6:1.2.3.4]/") == "http://[1:2:3:4:5:6:102:304]/");
    CHECK(Norm("https://[::A]:443/..") == "https://[::a]/");
    for (const char* bad : {"http://[1:2]/", "http://[1:2:3:4:5:6:7:8:9]/", "http://[::1::]/",
                            "http://[:1]/", "http://[1:]/", "http://[::12345]/",
                            "http://[::01.2.3.4]/", "http://[::1.2.3]/", "http://[::1.2.3.4.5]/",
                            "http://[::256.0.0.1]/", "http://[1:2:3:4:5:6:7:1.2.3.4]/",
                            "http://[::1%25eth0]/", "http://[::1]]/"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseUrl(bad).ok());
    }
  }

  TEST_CASE("IPv4 hosts in any spelling are keyed dotted-decimal, as the WHATWG URL parser does") {
    // A host ending in a number is an IPv4 address (decimal, 0x hex or
    // 0-octal parts, the last one filling the rest), else invalid.
    // Expected values are what new URL(...).href gives.
    for (const char* spelling : {"http://127.1/", "http://0x7f.0.0.1/", "http://2130706433/",
                                 "http://0177.0.0.1/", "http://127.0.0.1./", "http://0X7F.1/"}) {
      CAPTURE(spelling);
      CHECK(Norm(spelling) == "http://127.0.0.1/");
    }
    CHECK(Norm("http://1.2.65535:8080/x") == "http://1.2.255.255:8080/x");
    CHECK(Norm("http://0x/") == "http://0.0.0.0/");
    CHECK(Norm("http://4294967295/") == "http://255.255.255.255/");
    CHECK(Norm("http://00000000000000000000000000000001/") == "http://0.0.0.1/");
    CHECK(Norm("http://a.b.c.d.e/") == "http://a.b.c.d.e/");      // not a number: a name
    CHECK(Norm("http://1.2.3.4../") == "http://1.2.3.4../");      // ends in "": a name
    CHECK(Norm("http://example.com./") == "http://example.com./");
    for (const char* bad : {"http://1.2.3.4.5/", "http://256.1.1.1/", "http://1.2.3.256/",
                            "http://1.2.65536/", "http://example.123/", "http://foo.0x/",
                            "http://1..2/", "http://09.1.1.1/", "http://08/", "http://4294967296/",
                            "http://0x100000000/", "http://99999999999999999999999/"}) {
      CAPTURE(bad);
      CHECK_FALSE(ParseUrl(bad).ok());
      CHECK_FALSE(NormalizeUrl(bad).ok());  // not taken as already normal either
    }
  }

  TEST_CASE("percent-encoding normalisation") {
    CHECK(Norm("http://a/%7Efoo/%41%2d%5f%2E") == "http://a/~foo/A-_.");
    CHECK(Norm("http://a/%2f%3a%c3%a9") == "http://a/%2F%3A%C3%A9");
    CHECK(Norm("http://a/?q=%7e%20") == "http://a/?q=~%20");
    CHECK(Norm("http://a/caf\xC3\xA9") == "http://a/caf%C3%A9");
    CHECK(Norm("http://a/<x>\"{|}^`\\") == "http://a/%3Cx%3E%22%7B%7C%7D%5E%60%5C");
    CHECK(Norm("http://a/p?x=/?:@!$&'()*+,;=") == "http://a/p?x=/?:@!$&'()*+,;=");
    CHECK(Norm("http://a/p?a?b") == "http://a/p?a?b");
    CHECK(Norm("http://a/%25") == "http://a/%25");
    // An encoded dot segment is a dot segment (RFC 3986 6.2.2.2 then 6.2.2.3).
    CHECK(Norm("http://a/b/%2E%2E/c") == "http://a/c");
  }

  TEST_CASE("dot segments") {
    CHECK(Norm("http://a/b/c/./../../g") == "http://a/g");
    CHECK(Norm("http://a/mid/content=5/../6") == "http://a/mid/6");
    CHECK(Norm("http://a/../../x") == "http://a/x");
    CHECK(Norm("http://a/b/..") == "http://a/");
    CHECK(Norm("http://a/b/.") == "http://a/b/");
    CHECK(Norm("http://a/b/...") == "http://a/b/...");
    CHECK(Norm("http://a//b//") == "http://a//b//");
    CHECK(Norm("http://a/b?x=/../y") == "http://a/b?x=/../y");
  }

  TEST_CASE("rejected URLs") {
    for (const char* bad : {"",
                            "example.com",
                            "/path",
                            "//example.com/",
                            "javascript:alert(1)",
                            "data:text/html,x",
                            "file:///etc/passwd",
                            "ftp://example.com/",
                            "http:example.com",
                            "http:/example.com",
                            "http://",
                            "http:///path",
                            "http://user@example.com/",
                            "http://u:p@example.com/",
                            "http://example.com:99999/",
                            "http://example.com:0/",
                            "http://example.com:8a/",
                            "http://example.com:-1/",
                            "http://exa mple.com/",
                            "http://example.com/a b",
                            " http://example.com/",
                            "http://example.com/\t",
                            "http://example.com/\x7F",
                            "http://example.com/%",
                            "http://example.com/%4",
                            "http://example.com/%zz",
                            "http://example.com/?%g0",
                            "http://[::1/",
                            "http://[]/",
                            "http://[1.2.3.4]/",
                            "http://[::1]x/",
                            "http://[::g]/",
                            "http://exam%70le.com/",
                            "http://ex\xC3\xA9.com/",
                            "http://a:b:c/",
                            "1http://a/",
                            "http://example.com\\evil.com/"}) {
      CAPTURE(bad);
      Result<Url> r = ParseUrl(bad);
      CHECK_FALSE(r.ok());
      CHECK(r.status().code() == Code::kInvalidArgument);
    }
  }

  TEST_CASE("length bound") {
    std::string at_limit = "http://a/" + std::string(kUrlBytesMax - 9, 'x');
    CHECK(ParseUrl(at_limit).ok());
    CHECK_FALSE(ParseUrl(at_limit + "x").ok());
    // Encoding must not push the normal form over the bound.
    std::string grows = "http://a/" + std::string(3000, '<');
    CHECK_FALSE(ParseUrl(grows).ok());
    // The bound is on the whole normal form, port and query included: here
    // "http://a:8080/?" (15) + 1000 x "%3C" + 5177 x "x" is exactly at it.
    std::string query_at_limit = "http://a:8080/?" + std::string(1000, '<') + std::string(5177, 'x');
    Result<std::string> normal = NormalizeUrl(query_at_limit);
    REQUIRE(normal.ok());
    CHECK(normal->size() == kUrlBytesMax);
    CHECK_FALSE(ParseUrl(query_at_limit + "x").ok());
  }

  TEST_CASE("normal form is a fixed point") {
    for (const char* text :
         {"HTTP://A:80/%7e/./x/../y?%3f#f", "https://b/%c3%a9/<>?a b=c", "http://[::A]:1/.."}) {
      Result<std::string> once = NormalizeUrl(text);
      if (!once.ok()) continue;
      CAPTURE(*once);
      CHECK(Norm(*once) == *once);
    }
  }

  TEST_CASE("the shortcut for URLs already in normal form agrees with the full parse") {
    // NormalizeUrl copies a URL it judges already normal without parsing
    // it; over random URLs near that boundary (case, ports, dot segments,
    // percent-encoding, odd characters) it must equal ParseUrl + ToString.
    const std::string alphabet = "aZ09-._~!$&'()*+,;=:@/?#%[] \x7f\xc3";
    const char* const prefixes[] = {"http://", "https://", "HTTP://", "ftp://", "http:/"};
    const char* const hosts[] = {"a.example", "A.example", "a_b", "", "[::1]", "x:80", "x:443",
                                 "x:8080", "x:0", "x:08", "x:65536", "u@x"};
    Prng rng(20261122);
    int parsed = 0;
    int already_normal = 0;
    for (int i = 0; i < 20000; ++i) {
      std::string text = prefixes[rng.Next() % 5];
      text += hosts[rng.Next() % 12];
      const size_t tail = rng.Next() % 12;
      for (size_t k = 0; k < tail; ++k) {
        const uint64_t pick = rng.Next() % 8;
        if (pick == 0) text += "/.";
        else if (pick == 1) text += "/..";
        else if (pick < 4) text += alphabet[rng.Next() % alphabet.size()];
        else text += "ab/9-_"[rng.Next() % 6];
      }
      Result<Url> url = ParseUrl(text);
      CAPTURE(text);
      if (url.ok()) {
        ++parsed;
        if (url->ToString() == text) ++already_normal;
        CHECK(Norm(text) == url->ToString());
      } else {
        CHECK(Norm(text) == "error: " + url.status().ToString());
      }
    }
    // The generator reaches both sides of the shortcut.
    CHECK(parsed > 2000);
    CHECK(already_normal > 300);
  }

  TEST_CASE("RFC 3986 5.4.1 normal examples") {
    CHECK(Resolve("g:h") == "error");  // not http(s)
    CHECK(Resolve("g") == "http://a/b/c/g");
    CHECK(Resolve("./g") == "http://a/b/c/g");
    CHECK(Resolve("g/") == "http://a/b/c/g/");
    CHECK(Resolve("/g") == "http://a/g");
    CHECK(Resolve("//g") == "http://g/");
    CHECK(Resolve("?y") == "http://a/b/c/d;p?y");
    CHECK(Resolve("g?y") == "http://a/b/c/g?y");
    CHECK(Resolve("#s") == "http://a/b/c/d;p?q");
    CHECK(Resolve("g#s") == "http://a/b/c/g");
    CHECK(Resolve("g?y#s") == "http://a/b/c/g?y");
    CHECK(Resolve(";x") == "http://a/b/c/;x");
    CHECK(Resolve("g;x") == "http://a/b/c/g;x");
    CHECK(Resolve("g;x?y#s") == "http://a/b/c/g;x?y");
    CHECK(Resolve("") == "http://a/b/c/d;p?q");
    CHECK(Resolve(".") == "http://a/b/c/");
    CHECK(Resolve("./") == "http://a/b/c/");
    CHECK(Resolve("..") == "http://a/b/");
    CHECK(Resolve("../") == "http://a/b/");
    CHECK(Resolve("../g") == "http://a/b/g");
    CHECK(Resolve("../..") == "http://a/");
    CHECK(Resolve("../../") == "http://a/");
    CHECK(Resolve("../../g") == "http://a/g");
  }

  TEST_CASE("RFC 3986 5.4.2 abnormal examples") {
    CHECK(Resolve("../../../g") == "http://a/g");
    CHECK(Resolve("../../../../g") == "http://a/g");
    CHECK(Resolve("/./g") == "http://a/g");
    CHECK(Resolve("/../g") == "http://a/g");
    CHECK(Resolve("g.") == "http://a/b/c/g.");
    CHECK(Resolve(".g") == "http://a/b/c/.g");
    CHECK(Resolve("g..") == "http://a/b/c/g..");
    CHECK(Resolve("..g") == "http://a/b/c/..g");
    CHECK(Resolve("./../g") == "http://a/b/g");
    CHECK(Resolve("./g/.") == "http://a/b/c/g/");
    CHECK(Resolve("g/./h") == "http://a/b/c/g/h");
    CHECK(Resolve("g/../h") == "http://a/b/c/h");
    CHECK(Resolve("g;x=1/./y") == "http://a/b/c/g;x=1/y");
    CHECK(Resolve("g;x=1/../y") == "http://a/b/c/y");
    CHECK(Resolve("g?y/./x") == "http://a/b/c/g?y/./x");
    CHECK(Resolve("g?y/../x") == "http://a/b/c/g?y/../x");
    CHECK(Resolve("g#s/./x") == "http://a/b/c/g");
    CHECK(Resolve("g#s/../x") == "http://a/b/c/g");
    // RFC 3986 5.4.2 allows "http:g" (strict) or http://a/b/c/g (backward
    // compatible); browsers resolve it, so links mean the latter.
    CHECK(Resolve("http:g") == "http://a/b/c/g");
  }

  TEST_CASE("resolution keeps the base's origin and checks the result") {
    Result<Url> base = ParseUrl("https://example.com:8443/dir/page?x");
    REQUIRE(base.ok());
    CHECK(ResolveUrl(*base, "other")->ToString() == "https://example.com:8443/dir/other");
    CHECK(ResolveUrl(*base, "//cdn.example.com/x")->ToString() == "https://cdn.example.com/x");
    CHECK(ResolveUrl(*base, "HTTP://Other/")->ToString() == "http://other/");
    CHECK_FALSE(ResolveUrl(*base, "javascript:alert(1)").ok());
    // The scheme without "//", as new URL(reference, base) reads it: the
    // base's own scheme makes a relative reference, another scheme's
    // slashes are optional.
    CHECK(ResolveUrl(*base, "https:other")->ToString() == "https://example.com:8443/dir/other");
    CHECK(ResolveUrl(*base, "HTTPS:/root?y")->ToString() == "https://example.com:8443/root?y");
    CHECK(ResolveUrl(*base, "https:")->ToString() == "https://example.com:8443/dir/page?x");
    CHECK(ResolveUrl(*base, "https:?y")->ToString() == "https://example.com:8443/dir/page?y");
    CHECK(ResolveUrl(*base, "http:cdn.example/x")->ToString() == "http://cdn.example/x");
    CHECK(ResolveUrl(*base, "http:///cdn.example/x")->ToString() == "http://cdn.example/x");
    CHECK(ResolveUrl(*base, "///cdn.example/x")->ToString() == "https://cdn.example/x");
    CHECK(ResolveUrl(*base, "https:////cdn.example")->ToString() == "https://cdn.example/");
    CHECK_FALSE(ResolveUrl(*base, "http:").ok());  // another scheme, no host
    CHECK_FALSE(ResolveUrl(*base, "//").ok());
    CHECK_FALSE(ResolveUrl(*base, "//user@evil/").ok());
    CHECK_FALSE(ResolveUrl(*base, "a b").ok());
    CHECK_FALSE(ResolveUrl(*base, "%zz").ok());
    CHECK_FALSE(ResolveUrl(*base, std::string(kUrlBytesMax + 1, 'a')).ok());
    // A reference whose dot segments climb past the root cannot leave the origin.
    CHECK(ResolveUrl(*base, "/..//evil.com/x")->ToString() ==
          "https://example.com:8443//evil.com/x");
  }
}

TEST_CASE("url: invalid UTF-8 is percent-encoded byte for byte, never decoded or dropped") {
  // Lone continuation bytes, a truncated sequence, an overlong '/', and a
  // surrogate: bytes, not characters, so the normal form is stable.
  CHECK(Norm("http://a/\x80\xff") == "http://a/%80%FF");
  CHECK(Norm("http://a/caf\xC3") == "http://a/caf%C3");
  CHECK(Norm("http://a/\xC0\xAF..") == "http://a/%C0%AF..");
  CHECK(Norm("http://a/?q=\xED\xA0\x80") == "http://a/?q=%ED%A0%80");
  // Normalising twice changes nothing.
  CHECK(Norm(Norm("http://a/\x80\xff?\xfe")) == Norm("http://a/\x80\xff?\xfe"));
  // In the host it is an error, not a guess.
  CHECK(Norm("http://ex\xff.com/").rfind("error: invalid_argument", 0) == 0);
}

}  // namespace
}  // namespace preheat

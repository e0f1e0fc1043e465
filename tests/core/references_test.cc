#include "preheat/references.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace preheat {
namespace {

constexpr const char* kPage = "https://app.example/issues/list?page=2";

Url Page(std::string_view text = kPage) {
  Result<Url> url = ParseUrl(text);
  REQUIRE(url.ok());
  return *url;
}

std::vector<std::string> Urls(const std::vector<Reference>& refs) {
  std::vector<std::string> out;
  for (const Reference& r : refs) out.push_back(r.url);
  return out;
}

std::vector<std::string> Html(std::string_view html, ExtractReport* report = nullptr,
                              const ExtractOptions& options = {}) {
  ExtractReport local;
  return Urls(ExtractHtmlReferences(html, Page(), options, report ? report : &local));
}

RoutePattern Route(std::string_view text) {
  Result<RoutePattern> r = RoutePattern::Parse(text);
  REQUIRE(r.ok());
  return *r;
}

using Strings = std::vector<std::string>;

TEST_CASE("refs: relative resolution against the page") {
  ExtractReport report;
  const Strings urls = Html(
      "<a href=\"/issues/1\">1</a>"
      "<a href='2'>2</a>"
      "<a href=../about>about</a>"
      "<a href=\"?q=open\">open</a>"
      "<a href=\"//app.example/x/./y/../z\">z</a>"
      "<a href=\"https://APP.example:443/Up\">up</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/issues/1", "https://app.example/issues/2",
                        "https://app.example/about", "https://app.example/issues/list?q=open",
                        "https://app.example/x/z", "https://app.example/Up"});
  CHECK(report.skipped_cross_origin == 0);
  CHECK(report.skipped_bad_url == 0);
  CHECK(report.malformed == 0);
  CHECK_FALSE(report.truncated);
}

TEST_CASE("refs: positions count kept references and hints are flagged") {
  ExtractReport report;
  const std::vector<Reference> refs = ExtractHtmlReferences(
      "<a href=https://other.example/>x</a><a href=/a>a</a>"
      "<div data-preheat=/b></div><a href=/c data-preheat>c</a>",
      Page(), {}, &report);
  REQUIRE(refs.size() == 3);
  CHECK(refs[0].url == "https://app.example/a");
  CHECK(refs[0].position == 0);
  CHECK_FALSE(refs[0].hinted);
  CHECK(refs[0].route == "");
  CHECK(refs[1].url == "https://app.example/b");
  CHECK(refs[1].position == 1);
  CHECK(refs[1].hinted);
  CHECK(refs[2].url == "https://app.example/c");
  CHECK(refs[2].position == 2);
  CHECK(refs[2].hinted);
  CHECK(report.skipped_cross_origin == 1);
}

TEST_CASE("refs: fragments are dropped and URLs kept once at first position") {
  ExtractReport report;
  const Strings urls = Html(
      "<a href=/a#top>1</a><a href=/b>2</a><a href=/a#bottom>3</a>"
      "<a href=/a>4</a><a href='https://app.example/b'>5</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/a", "https://app.example/b"});
  CHECK(report.duplicates == 3);
}

TEST_CASE("refs: cross-origin and non-http links are skipped and counted") {
  ExtractReport report;
  const Strings urls = Html(
      "<a href=\"http://app.example/insecure\">scheme differs</a>"
      "<a href=\"https://app.example:8443/port\">port differs</a>"
      "<a href=\"//evil.example/x\">host differs</a>"
      "<a href=\"javascript:alert(1)\">js</a>"
      "<a href=\"JavaScript:void(0)\">js</a>"
      "<a href=\"data:text/html,hi\">data</a>"
      "<a href=\"mailto:a@b.c\">mail</a>"
      "<a href=\"https://app.example:99999/\">bad port</a>"
      "<a href=\"/ok\">ok</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/ok"});
  CHECK(report.skipped_cross_origin == 3);
  CHECK(report.skipped_bad_url == 5);
}

TEST_CASE("refs: overlong URLs are bad") {
  ExtractReport report;
  const std::string html = "<a href=\"/" + std::string(kUrlBytesMax + 10, 'x') + "\">x</a>";
  CHECK(Html(html, &report).empty());
  CHECK(report.skipped_bad_url == 1);
}

TEST_CASE("refs: long padding is trimmed before the length bound applies") {
  // Regression: decoding stopped at the URL bound before trimming, so a
  // padded short href was cut to only spaces and resolved to the page.
  ExtractReport report;
  const std::string pad(kUrlBytesMax + 100, ' ');
  CHECK(Html("<a href=\"" + pad + "/a" + pad + "\">x</a>", &report) ==
        Strings{"https://app.example/a"});
  std::string encoded = "<a href=\"/";
  for (size_t i = 0; i < kUrlBytesMax; ++i) encoded += "&#x61;";
  encoded += "\">x</a><div data-preheat=\"/" + std::string(kUrlBytesMax + 1, 'b') + "\">";
  CHECK(Html(encoded, &report).empty());
  CHECK(report.skipped_bad_url == 2);
}

TEST_CASE("refs: first base href changes the base for later references") {
  ExtractReport report;
  const Strings urls = Html(
      "<a href=a>before</a>"
      "<base target=_blank>"
      "<BASE HREF=\"/docs/v2/\">"
      "<base href=\"/ignored/\">"
      "<a href=a>after</a><a href=../b>up</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/issues/a", "https://app.example/docs/v2/a",
                        "https://app.example/docs/b"});
}

TEST_CASE("refs: a cross-origin base makes relative links cross-origin") {
  ExtractReport report;
  CHECK(Html("<base href='https://cdn.example/'><a href=x>x</a><a href=/y>y</a>", &report)
            .empty());
  CHECK(report.skipped_cross_origin == 2);
}

TEST_CASE("refs: raw text, comments and doctype hold no links") {
  ExtractReport report;
  const Strings urls = Html(
      "<!DOCTYPE html><html><head>"
      "<title><a href=/t>no</a></title>"
      "<script>var s = '<a href=/s>'; if (a</b) {} </scripty> </SCRIPT  >"
      "<style>a[href='/y'] { }</style>"
      "<!-- <a href=/c>commented</a> -->"
      "<!--> <a href=/short>short comment closes at once</a>"
      "</head><body><textarea><a href=/ta></a></textarea>"
      "<?php echo '<a href=/p>' ?>"
      "<a href=/real>real</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/short", "https://app.example/real"});
  CHECK(report.malformed == 0);
}

TEST_CASE("refs: attribute syntax: quotes, case, missing values, odd spacing") {
  ExtractReport report;
  const Strings urls = Html(
      "<A HREF='/single'>s</A>"
      "<a\nclass=x\thref = \"/spaced\" >s</a>"
      "<a href=/unquoted/path?x=1 title=t>u</a>"
      "<a title=\"a > b\" href=\"/after-gt\">g</a>"
      "<a href>missing value</a>"
      "<a/href=\"/slash\">sl</a>"
      "<a href=\"/first\" href=\"/second\">dup attr</a>"
      "<area shape=rect href=\"/area\">"
      "<link href=/not-a-link><img src=/img.png>"
      "<a name=anchor>no href</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/single", "https://app.example/spaced",
                        "https://app.example/unquoted/path?x=1", "https://app.example/after-gt",
                        // href with no value is the page itself
                        "https://app.example/issues/list?page=2", "https://app.example/slash",
                        "https://app.example/first", "https://app.example/area"});
}

TEST_CASE("refs: whitespace in attribute values") {
  const Strings urls = Html("<a href=\"  /padded \n\">p</a><a href=\"/a\tb\nc\">t</a>"
                            "<a href=\"/with space\">s</a>");
  CHECK(urls == Strings{"https://app.example/padded", "https://app.example/abc",
                        "https://app.example/with%20space"});
}

// The URL parser reads a backslash in an http(s) URL's path or authority
// as "/" (not in its query or fragment): the page's link goes where
// new URL(href, page) says, and the preheater must fetch that URL.
TEST_CASE("refs: backslashes before the query are slashes, as the browser reads them") {
  ExtractReport report;
  const Strings urls = Html(
      "<a href=\"\\issues\\1\">1</a>"
      "<a href=\"..\\about\">about</a>"
      "<a href=\"/\\other.example/x\">cross</a>"
      "<a href=\"https:\\\\app.example\\y\">y</a>"
      "<a href=\"/a?b\\c\">query</a>"
      "<a href=\"/d#e\\f\">fragment</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/issues/1", "https://app.example/about",
                        "https://app.example/y", "https://app.example/a?b%5Cc",
                        "https://app.example/d"});
  CHECK(report.skipped_cross_origin == 1);
  CHECK(report.skipped_bad_url == 0);
  ExtractReport json_report;
  const std::vector<Reference> refs = ExtractJsonReferences(
      R"({"next": "\\issues\\2"})", Page(), {{"/next", ""}}, {}, &json_report);
  CHECK(Urls(refs) == Strings{"https://app.example/issues/2"});
}

TEST_CASE("refs: character references in attribute values are decoded") {
  const Strings urls = Html(
      "<a href=\"/s?a=1&amp;b=2\">1</a>"
      "<a href=\"/s?a=1&#38;c=3\">2</a>"
      "<a href=\"/s?a=1&#x26;d=4\">3</a>"
      "<a href='/q?x=&quot;y&quot;'>4</a>"
      "<a href=\"/q?&lt;&gt;&apos;\">5</a>"
      "<a href=\"/s?a=1&ampx=2\">legacy before alnum stays</a>"
      "<a href=\"/s?a=1&unknown;\">unknown stays</a>"
      "<a href=\"/s?e=&amp\">legacy at end</a>"
      "<a href=\"&#x2F;hex-slash\">6</a>"
      "<a href=\"/n&#0;&#xD800;&#99999999999;\">bad code points</a>");
  CHECK(urls == Strings{"https://app.example/s?a=1&b=2", "https://app.example/s?a=1&c=3",
                        "https://app.example/s?a=1&d=4", "https://app.example/q?x=%22y%22",
                        "https://app.example/q?%3C%3E'", "https://app.example/s?a=1&ampx=2",
                        "https://app.example/s?a=1&unknown;", "https://app.example/s?e=&",
                        "https://app.example/hex-slash",
                        "https://app.example/n%EF%BF%BD%EF%BF%BD%EF%BF%BD"});
}

TEST_CASE("refs: numeric references to C1 controls name Windows-1252 characters, as in HTML") {
  // What a browser's a.href gives for these hrefs: &#128; is the euro sign
  // (U+20AC), &#x9F; Y with diaeresis (U+0178); &#129; is undefined in
  // Windows-1252 and stays U+0081.
  const Strings urls = Html(
      "<a href=\"/p&#128;\">1</a>"
      "<a href=\"/q&#x9F;\">2</a>"
      "<a href=\"/r&#129;\">3</a>"
      "<a href=\"/s&#x99;&#150;\">4</a>");
  CHECK(urls == Strings{"https://app.example/p%E2%82%AC", "https://app.example/q%C5%B8",
                        "https://app.example/r%C2%81", "https://app.example/s%E2%84%A2%E2%80%93"});
}

TEST_CASE("refs: named character references are case-sensitive HTML names") {
  const Strings urls = Html(
      "<a href=\"/a&Tab;b\">1</a>"
      "<a href=\"/c&NewLine;d\">2</a>"
      "<a href=\"/e?x=1&AMP;y=2\">3</a>"
      "<a href=\"/f?x=&LT;&GT;&QUOT\">4</a>"
      "<a href=\"/g&tab;h\">lower-case tab is no HTML name</a>"
      "<a href=\"/i&newline;j\">lower-case newline is no HTML name</a>"
      "<a href=\"/k?a=1&AMPx=2\">legacy before alnum stays</a>");
  CHECK(urls == Strings{"https://app.example/ab", "https://app.example/cd",
                        "https://app.example/e?x=1&y=2", "https://app.example/f?x=%3C%3E%22",
                        "https://app.example/g&tab;h", "https://app.example/i&newline;j",
                        "https://app.example/k?a=1&AMPx=2"});
}

TEST_CASE("refs: nofollow and download links are skipped") {
  ExtractReport report;
  const Strings urls = Html(
      "<a href=/nf rel=nofollow>1</a>"
      "<a href=/nf2 rel=\"noopener NoFollow\">2</a>"
      "<a href=/dl download>3</a>"
      "<a href=/dl2 download=\"file.zip\">4</a>"
      "<a href=/hinted-nf rel=nofollow data-preheat>5</a>"
      "<a href=/kept rel=\"noopener nofollowish\">6</a>",
      &report);
  CHECK(urls == Strings{"https://app.example/kept"});
  CHECK(report.skipped_bad_url == 0);
  CHECK(report.skipped_cross_origin == 0);
}

TEST_CASE("refs: data-preheat values") {
  const std::vector<Reference> refs = ExtractHtmlReferences(
      "<button data-preheat=\"/api/prefetch\">x</button>"
      "<a href=/one data-preheat=true>1</a>"
      "<a href=/two data-preheat=\"1\">2</a>"
      "<a href=/three data-preheat=\"\">3</a>"
      "<a href=/ignored data-preheat=\"/four\">4</a>"
      "<span data-preheat>nothing to fetch</span>"
      "<span data-preheat=true>nothing to fetch</span>"
      "<link data-preheat href=/five>"
      "<a href=/logout data-preheat=false>opted out</a>"
      "<a href=/delete data-preheat=\"0\">opted out</a>",
      Page(), {}, nullptr);
  REQUIRE(refs.size() == 6);
  CHECK(Urls(refs) == Strings{"https://app.example/api/prefetch", "https://app.example/one",
                              "https://app.example/two", "https://app.example/three",
                              "https://app.example/four", "https://app.example/five"});
  for (const Reference& r : refs) CHECK(r.hinted);
}

TEST_CASE("refs: route filtering") {
  ExtractOptions options;
  options.routes = {Route("/issues/:id"), Route("/static/*")};
  ExtractReport report;
  const std::vector<Reference> refs = ExtractHtmlReferences(
      "<a href=/issues/7>7</a><a href=/about>about</a>"
      "<a href=/static/app.css>css</a><a href=/issues/7/comments>c</a>"
      "<a href=https://other.example/issues/1>x</a>",
      Page(), options, &report);
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].url == "https://app.example/issues/7");
  CHECK(refs[0].route == "/issues/:id");
  CHECK(refs[1].url == "https://app.example/static/app.css");
  CHECK(refs[1].route == "/static/*");
  CHECK(refs[1].position == 1);
  CHECK(report.skipped_no_route == 2);
  CHECK(report.skipped_cross_origin == 1);
}

TEST_CASE("refs: references_max truncates") {
  ExtractOptions options;
  options.references_max = 2;
  ExtractReport report;
  CHECK(Html("<a href=/1></a><a href=/2></a><a href=/1></a><a href=/3></a><a href=/4></a>",
             &report, options) == Strings{"https://app.example/1", "https://app.example/2"});
  CHECK(report.truncated);
  CHECK(report.duplicates == 1);

  // Exactly at the limit: nothing lost, not truncated.
  report = {};
  CHECK(Html("<a href=/1></a><a href=/2></a><a href=/2></a>", &report, options).size() == 2);
  CHECK_FALSE(report.truncated);

  options.references_max = 0;
  CHECK(Html("<a href=/1></a>", &report, options).empty());
  CHECK(report.truncated);
}

TEST_CASE("refs: input_bytes_max reads only a prefix") {
  ExtractOptions options;
  const std::string html = "<a href=/1></a><a href=/2></a>";
  options.input_bytes_max = 15;  // exactly the first element
  ExtractReport report;
  CHECK(Html(html, &report, options) == Strings{"https://app.example/1"});
  CHECK(report.truncated);
  CHECK(report.malformed == 0);  // the cut is ours, not the page's
  options.input_bytes_max = 20;  // cuts the second tag short
  CHECK(Html(html, &report, options) == Strings{"https://app.example/1"});
  CHECK(report.truncated);
  CHECK(report.malformed == 0);
}

TEST_CASE("refs: broken markup is counted and survives") {
  ExtractReport report;
  CHECK(Html("<a href=/ok>ok</a><a href=\"/unterminated", &report) ==
        Strings{"https://app.example/ok"});
  CHECK(report.malformed == 1);
  CHECK(Html("<a href=/x", &report).empty());  // tag cut by end of input
  CHECK(report.malformed == 1);
  CHECK(Html("<!-- never closed <a href=/x>", &report).empty());
  CHECK(report.malformed == 1);
  CHECK(Html("<script><a href=/x>", &report).empty());
  CHECK(report.malformed == 1);
  CHECK(Html("<!DOCTYPE", &report).empty());
  CHECK(report.malformed == 1);
  CHECK(Html("a < b <", &report).empty());
  CHECK(report.malformed == 0);
  CHECK(Html("</></ a><a href=/y>", &report) == Strings{"https://app.example/y"});
}

TEST_CASE("refs: huge and garbage input does not crash") {
  ExtractReport report;
  std::string garbage;
  uint32_t x = 12345;
  for (int i = 0; i < 200000; ++i) {
    x = x * 1103515245u + 12345u;
    static constexpr char kAlphabet[] = "<>/=\"' !-&#;xahref\n";
    garbage.push_back(kAlphabet[(x >> 16) % (sizeof(kAlphabet) - 1)]);
  }
  (void)Html(garbage, &report);
  std::string nested;
  for (int i = 0; i < 100000; ++i) nested += "<a href=/n" + std::to_string(i % 1000) + ">";
  const Strings urls = Html(nested, &report);
  CHECK(urls.size() == 256);  // references_max default
  CHECK(report.truncated);
  const std::string long_name = "<" + std::string(100000, 'a') + " href=/long>";
  CHECK(Html(long_name, &report).empty());
  const std::string long_attr = "<a " + std::string(100000, 'h') + "=/x href=/y>";
  CHECK(Html(long_attr, &report) == Strings{"https://app.example/y"});
  std::string binary(4096, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  (void)Html(binary, &report);
}

// ---------------------------------------------------------------------------
// JSON

std::vector<std::string> Json(std::string_view json, const std::vector<JsonReferenceRule>& rules,
                              ExtractReport* report, const ExtractOptions& options = {}) {
  return Urls(ExtractJsonReferences(json, Page(), rules, options, report));
}

TEST_CASE("refs: json paths with wildcards over arrays and objects") {
  ExtractReport report;
  const char* doc = R"j({
    "items": [{"url": "/issues/1"}, {"url": "2"}, {"other": "/x"}, {"url": "/issues/1#c"}],
    "links": {"next": "?page=3", "prev": "https://app.example/issues/list?page=1"},
    "nested": [[{"u": "/n/a"}], [{"u": "/n/b"}, {"u": "/n/c"}]],
    "a/b": {"~k": "/escaped"},
    "first": ["/zero", "/one"]
  })j";
  const Strings urls = Json(doc,
                            {{"/items/*/url", ""},
                             {"/links/*", ""},
                             {"/nested/*/*/u", ""},
                             {"/a~1b/~0k", ""},
                             {"/first/1", ""},
                             {"/missing/*", ""}},
                            &report);
  CHECK(urls == Strings{"https://app.example/issues/1", "https://app.example/issues/2",
                        "https://app.example/issues/list?page=3",
                        "https://app.example/issues/list?page=1", "https://app.example/n/a",
                        "https://app.example/n/b", "https://app.example/n/c",
                        "https://app.example/escaped", "https://app.example/one"});
  CHECK(report.duplicates == 1);
  CHECK(report.malformed == 0);
}

TEST_CASE("refs: json object wildcard keeps document order") {
  ExtractReport report;
  CHECK(Json(R"j({"z": "/z", "a": "/a", "m": "/m"})j", {{"/*", ""}}, &report) ==
        Strings{"https://app.example/z", "https://app.example/a", "https://app.example/m"});
}

TEST_CASE("refs: json templates with integer and string ids") {
  ExtractReport report;
  ExtractOptions options;
  options.routes = {Route("/api/issues/:id")};
  const std::vector<Reference> refs = ExtractJsonReferences(
      R"j({"issue": {"references": [42, "43", "a b", 18446744073709551615, -1, 4.5, null,
                                   "..", "", "x/y", true]}})j",
      Page(), {{"/issue/references/*", "/api/issues/:id"}}, options, &report);
  CHECK(Urls(refs) == Strings{"https://app.example/api/issues/42",
                              "https://app.example/api/issues/43",
                              "https://app.example/api/issues/a%20b",
                              "https://app.example/api/issues/18446744073709551615",
                              "https://app.example/api/issues/-1",
                              "https://app.example/api/issues/x%2Fy"});
  for (const Reference& r : refs) CHECK(r.route == "/api/issues/:id");
  CHECK(report.malformed == 3);        // 4.5, null, true
  CHECK(report.skipped_bad_url == 2);  // "..", ""
}

TEST_CASE("refs: json template ids are one literal path segment") {
  ExtractReport report;
  const std::vector<Reference> refs = ExtractJsonReferences(
      R"j({"ids": ["%2e%2e", ".%2e", "%2E", "%41", "50%", "a%2Fb", "~-_.!$&'()*+,;=:@"]})j",
      Page(), {{"/ids/*", "/api/issues/:id/comments"}}, {}, &report);
  CHECK(Urls(refs) == Strings{"https://app.example/api/issues/%252e%252e/comments",
                              "https://app.example/api/issues/.%252e/comments",
                              "https://app.example/api/issues/%252E/comments",
                              "https://app.example/api/issues/%2541/comments",
                              "https://app.example/api/issues/50%25/comments",
                              "https://app.example/api/issues/a%252Fb/comments",
                              "https://app.example/api/issues/~-_.!$&'()*+,;=:@/comments"});
  CHECK(report.skipped_bad_url == 0);
}

TEST_CASE("refs: json wrong types are counted as malformed") {
  ExtractReport report;
  CHECK(Json(R"j({"u": ["/a", 1, {"x": 1}, ["/b"], null, false, "/c"]})j", {{"/u/*", ""}},
             &report) == Strings{"https://app.example/a", "https://app.example/c"});
  CHECK(report.malformed == 5);
}

TEST_CASE("refs: json cross-origin and bad URLs are counted") {
  ExtractReport report;
  CHECK(Json(R"j(["https://evil.example/x", "javascript:alert(1)", "/ok"])j", {{"/*", ""}},
             &report) == Strings{"https://app.example/ok"});
  CHECK(report.skipped_cross_origin == 1);
  CHECK(report.skipped_bad_url == 1);
}

TEST_CASE("refs: invalid json gives nothing and malformed = 1") {
  for (const char* bad : {"", "{", "{\"a\": }", "[1, 2", "nul", "{\"a\": \"\xff\"}", "[] []"}) {
    CAPTURE(bad);
    ExtractReport report;
    CHECK(Json(bad, {{"/*", ""}}, &report).empty());
    CHECK(report.malformed == 1);
    CHECK_FALSE(report.truncated);
  }
}

TEST_CASE("refs: deep json nesting is refused before parsing") {
  ExtractReport report;
  ExtractOptions options;
  options.json_depth_max = 4;
  CHECK(Json("[[[[\"/ok\"]]]]", {{"/0/0/0/0", ""}}, &report, options) ==
        Strings{"https://app.example/ok"});
  CHECK_FALSE(report.truncated);
  CHECK(Json("[[[[[\"/deep\"]]]]]", {{"/0/0/0/0/0", ""}}, &report, options).empty());
  CHECK(report.truncated);
  CHECK(report.malformed == 1);
  // Brackets inside strings do not count.
  CHECK(Json(R"j(["/[[[[[[\"{{{{{{"])j", {{"/0", ""}}, &report, options) ==
        Strings{"https://app.example/%5B%5B%5B%5B%5B%5B%22%7B%7B%7B%7B%7B%7B"});
  CHECK_FALSE(report.truncated);

  // Hostile depth with default options: refused, no stack exhaustion.
  const std::string deep(1000000, '[');
  CHECK(Json(deep, {{"/*", ""}}, &report).empty());
  CHECK(report.truncated);
  CHECK(report.malformed == 1);
}

TEST_CASE("refs: json limits") {
  ExtractOptions options;
  options.references_max = 2;
  ExtractReport report;
  CHECK(Json(R"j(["/a", "/b", "/a", "/c"])j", {{"/*", ""}, {"/*", ""}}, &report, options) ==
        Strings{"https://app.example/a", "https://app.example/b"});
  CHECK(report.truncated);
  CHECK(report.duplicates == 1);

  options = {};
  options.input_bytes_max = 5;
  CHECK(Json(R"j(["/a", "/b"])j", {{"/*", ""}}, &report, options).empty());
  CHECK(report.truncated);
  CHECK(report.malformed == 1);
}

TEST_CASE("refs: json broken template and array index rules") {
  ExtractReport report;
  CHECK(Json(R"j([1, 2])j", {{"/*", "no-slash/:id"}}, &report).empty());
  CHECK(report.malformed == 1);
  CHECK(Json(R"j(["/a", "/b"])j", {{"/01", ""}, {"/-1", ""}, {"/2", ""}, {"/x", ""}}, &report)
            .empty());
  CHECK(report.malformed == 0);
  CHECK(Json(R"j("/root")j", {{"", ""}}, &report) == Strings{"https://app.example/root"});
}

TEST_CASE("refs: invalid UTF-8 in the page neither stops the tokenizer nor leaks raw bytes") {
  ExtractReport report;
  Strings urls = Html("<p>\xff\xfe\xC3</p><a href=\"/issues/\x80\xff\">x</a>\xC0<a href=\"/issues/2\">y</a>",
                      &report);
  CHECK(urls == Strings{"https://app.example/issues/%80%FF", "https://app.example/issues/2"});
  CHECK_FALSE(report.truncated);
}

}  // namespace
}  // namespace preheat

#include "preheat/freshness.h"

#include <doctest/doctest.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "preheat/http_date.h"

namespace preheat {
namespace {

// Sun, 06 Nov 1994 08:49:37 GMT.
constexpr int64_t kDateMs = 784111777000;
constexpr char kDate[] = "Sun, 06 Nov 1994 08:49:37 GMT";
const Instant kRequest{kDateMs};
const Instant kResponse{kDateMs};

FreshnessInfo Compute(const Headers& h, int status = 200, Instant request = kRequest,
                      Instant response = kResponse, FreshnessOptions options = {}) {
  return ComputeFreshness(status, h, request, response, options);
}

std::string DatePlus(int64_t seconds) { return FormatHttpDate(Instant{kDateMs + seconds * 1000}); }

// One case of tests/testing/freshness_cases.txt (its header says the format).
struct TableCase {
  int line = 0;
  int status = 0;
  int64_t request_ms = 0, response_ms = 0;
  int64_t lifetime_ms = 0, initial_age_ms = 0, swr_ms = 0, sie_ms = 0;
  int no_cache = 0, must_revalidate = 0;
  Headers headers;
};

std::string Unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out.push_back(s[i]);
      continue;
    }
    char c = s[++i];
    out.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c);
  }
  return out;
}

std::vector<TableCase> ReadTable(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::vector<TableCase> cases;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '\t') {
      REQUIRE_MESSAGE(!cases.empty(), path << ":" << number << ": a field before any case");
      size_t colon = line.find(": ");
      REQUIRE_MESSAGE(colon != std::string::npos, path << ":" << number << ": no \": \"");
      cases.back().headers.Add(line.substr(1, colon - 1), Unescape(line.substr(colon + 2)));
      continue;
    }
    std::istringstream fields(line);
    TableCase c;
    c.line = number;
    std::string word, arrow;
    fields >> word >> c.status >> c.request_ms >> c.response_ms >> arrow >> c.lifetime_ms >>
        c.initial_age_ms >> c.no_cache >> c.must_revalidate >> c.swr_ms >> c.sie_ms;
    REQUIRE_MESSAGE((word == "case" && arrow == "=>" && !fields.fail()),
                    path << ":" << number << ": not a case line");
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST_SUITE("freshness") {
  TEST_CASE("the table the service worker's freshness is checked against holds for the engine") {
    const std::string path = std::string(PREHEAT_TESTS_DIR) + "/testing/freshness_cases.txt";
    std::vector<TableCase> cases = ReadTable(path);
    CHECK(cases.size() >= 40);
    for (const TableCase& c : cases) {
      CAPTURE(c.line);
      FreshnessInfo info = Compute(c.headers, c.status, Instant{c.request_ms}, Instant{c.response_ms});
      CHECK(info.lifetime_ms == c.lifetime_ms);
      CHECK(info.initial_age_ms == c.initial_age_ms);
      CHECK(static_cast<int>(info.no_cache) == c.no_cache);
      CHECK(static_cast<int>(info.must_revalidate) == c.must_revalidate);
      CHECK(info.stale_while_revalidate_ms == c.swr_ms);
      CHECK(info.stale_if_error_ms == c.sie_ms);
    }
  }


  TEST_CASE("max-age gives the lifetime, s-maxage is ignored") {
    FreshnessInfo info = Compute({{"Cache-Control", "max-age=60, s-maxage=9999"}, {"Date", kDate}});
    CHECK(info.lifetime_ms == 60000);
    CHECK(info.initial_age_ms == 0);
    CHECK_FALSE(info.heuristic);
    CHECK_FALSE(info.no_cache);
    CHECK(info.malformed_count == 0);
  }

  TEST_CASE("max-age wins over Expires") {
    FreshnessInfo info =
        Compute({{"Cache-Control", "max-age=5"}, {"Date", kDate}, {"Expires", DatePlus(100)}});
    CHECK(info.lifetime_ms == 5000);
  }

  TEST_CASE("several Cache-Control fields are combined") {
    FreshnessInfo info = Compute({{"Cache-Control", "max-age=60"},
                                  {"Cache-Control", "must-revalidate"},
                                  {"cache-control", "immutable, stale-if-error=10"}});
    CHECK(info.lifetime_ms == 60000);
    CHECK(info.must_revalidate);
    CHECK(info.immutable);
    CHECK(info.stale_if_error_ms == 10000);
    CHECK(info.stale_while_revalidate_ms == 0);

    FreshnessInfo conflict =
        Compute({{"Cache-Control", "max-age=60"}, {"Cache-Control", "max-age=120"}});
    CHECK(conflict.lifetime_ms == 0);
    CHECK(conflict.malformed_count == 1);
  }

  TEST_CASE("invalid max-age is stale and counted, even with Expires") {
    FreshnessInfo info =
        Compute({{"Cache-Control", "max-age=soon"}, {"Date", kDate}, {"Expires", DatePlus(3600)}});
    CHECK(info.lifetime_ms == 0);
    CHECK(info.malformed_count == 1);
  }

  TEST_CASE("huge max-age clamps to 2^31 seconds") {
    FreshnessInfo info = Compute({{"Cache-Control", "max-age=999999999999999999999"}});
    CHECK(info.lifetime_ms == (int64_t{1} << 31) * 1000);
  }

  TEST_CASE("no-cache: lifetime 0 and validate every use") {
    FreshnessInfo info = Compute({{"Cache-Control", "no-cache, max-age=600"}});
    CHECK(info.no_cache);
    CHECK(info.lifetime_ms == 0);
  }

  TEST_CASE("Expires minus Date") {
    FreshnessInfo info = Compute({{"Date", kDate}, {"Expires", DatePlus(3600)}});
    CHECK(info.lifetime_ms == 3600000);
    CHECK(info.malformed_count == 0);
  }

  TEST_CASE("Expires without Date uses the response time") {
    FreshnessInfo info =
        Compute({{"Expires", DatePlus(100)}}, 200, kRequest, Instant{kDateMs + 40000});
    CHECK(info.lifetime_ms == 60000);
  }

  TEST_CASE("Expires in the past, \"0\" or invalid is stale") {
    CHECK(Compute({{"Date", kDate}, {"Expires", DatePlus(-60)}}).lifetime_ms == 0);
    CHECK(Compute({{"Date", kDate}, {"Expires", DatePlus(-60)}}).malformed_count == 0);
    FreshnessInfo zero = Compute({{"Date", kDate}, {"Expires", "0"}});
    CHECK(zero.lifetime_ms == 0);
    CHECK(zero.malformed_count == 1);
    FreshnessInfo conflict =
        Compute({{"Date", kDate}, {"Expires", DatePlus(60)}, {"Expires", DatePlus(600)}});
    CHECK(conflict.lifetime_ms == 0);
    CHECK(conflict.malformed_count == 1);
    FreshnessInfo same =
        Compute({{"Date", kDate}, {"Expires", DatePlus(60)}, {"Expires", DatePlus(60)}});
    CHECK(same.lifetime_ms == 60000);
  }

  TEST_CASE("Expires with an invalid Date is stale") {
    FreshnessInfo info = Compute({{"Date", "garbage"}, {"Expires", DatePlus(3600)}});
    CHECK(info.lifetime_ms == 0);
    CHECK(info.malformed_count == 1);
  }

  TEST_CASE("an invalid Expires blocks the heuristic") {
    FreshnessInfo info =
        Compute({{"Date", kDate}, {"Expires", "-1"}, {"Last-Modified", DatePlus(-100 * 86400)}});
    CHECK(info.lifetime_ms == 0);
    CHECK_FALSE(info.heuristic);
  }

  TEST_CASE("heuristic: a fraction of the time since Last-Modified, capped") {
    FreshnessInfo info = Compute({{"Date", kDate}, {"Last-Modified", DatePlus(-1000)}});
    CHECK(info.heuristic);
    CHECK(info.lifetime_ms == 100000);

    FreshnessInfo capped = Compute({{"Date", kDate}, {"Last-Modified", DatePlus(-365 * 86400)}});
    CHECK(capped.heuristic);
    CHECK(capped.lifetime_ms == 24LL * 3600 * 1000);

    FreshnessOptions options;
    options.heuristic_fraction = 0.5;
    options.heuristic_max_ms = 1000;
    CHECK(Compute({{"Date", kDate}, {"Last-Modified", DatePlus(-10)}}, 200, kRequest, kResponse,
                  options)
              .lifetime_ms == 1000);
    options.heuristic_max_ms = std::numeric_limits<int64_t>::max();
    options.heuristic_fraction = 1e300;
    CHECK(Compute({{"Date", kDate}, {"Last-Modified", DatePlus(-10)}}, 200, kRequest, kResponse,
                  options)
              .lifetime_ms == std::numeric_limits<int64_t>::max());
  }

  TEST_CASE("heuristic only for heuristically cacheable statuses") {
    Headers h{{"Date", kDate}, {"Last-Modified", DatePlus(-1000)}};
    CHECK(Compute(h, 404).lifetime_ms == 100000);
    FreshnessInfo info = Compute(h, 302);
    CHECK(info.lifetime_ms == 0);
    CHECK_FALSE(info.heuristic);
    CHECK(Compute(h, 500).lifetime_ms == 0);
  }

  TEST_CASE("Last-Modified in the future gives no heuristic lifetime") {
    CHECK(Compute({{"Date", kDate}, {"Last-Modified", DatePlus(60)}}).lifetime_ms == 0);
  }

  TEST_CASE("nothing explicit, nothing heuristic: 0") {
    FreshnessInfo info = Compute({{"Content-Type", "text/html"}});
    CHECK(info.lifetime_ms == 0);
    CHECK_FALSE(info.heuristic);
    CHECK(info.malformed_count == 0);
  }

  TEST_CASE("age: Age header plus response delay") {
    // Requested at t, answered 2s later with Age: 10 and Date = t.
    FreshnessInfo info = Compute({{"Date", kDate}, {"Age", "10"}, {"Cache-Control", "max-age=60"}},
                                 200, kRequest, Instant{kDateMs + 2000});
    // apparent_age = 2s; corrected_age_value = 10s + 2s.
    CHECK(info.initial_age_ms == 12000);
  }

  TEST_CASE("age: apparent age wins when the Date is old") {
    FreshnessInfo info =
        Compute({{"Date", DatePlus(-100)}, {"Age", "10"}}, 200, kRequest, Instant{kDateMs + 1000});
    CHECK(info.initial_age_ms == 101000);
  }

  TEST_CASE("age: a Date in the future is not a negative age") {
    FreshnessInfo info = Compute({{"Date", DatePlus(500)}});
    CHECK(info.initial_age_ms == 0);
  }

  TEST_CASE("age: invalid Age is ignored and counted") {
    for (const char* age : {"-5", "abc", "1.5", "", "10, 20"}) {
      CAPTURE(age);
      FreshnessInfo info =
          Compute({{"Date", kDate}, {"Age", age}}, 200, kRequest, Instant{kDateMs + 3000});
      CHECK(info.initial_age_ms == 3000);
      CHECK(info.malformed_count == 1);
    }
    FreshnessInfo huge = Compute({{"Age", "99999999999999999999"}});
    CHECK(huge.initial_age_ms == (int64_t{1} << 31) * 1000);
  }

  TEST_CASE("field names match in any case; names of the same length do not") {
    // ComputeFreshness finds its fields in one pass, by length and then name.
    FreshnessInfo info = Compute({{"DATE", DatePlus(-100)},
                                  {"aGE", "10"},
                                  {"cache-CONTROL", "must-revalidate"},
                                  {"EXPIRES", DatePlus(500)}},
                                 200, kRequest, Instant{kDateMs + 1000});
    CHECK(info.lifetime_ms == 600000);
    CHECK(info.initial_age_ms == 101000);
    CHECK(info.must_revalidate);
    CHECK(info.malformed_count == 0);
    FreshnessInfo lm = Compute({{"Date", kDate}, {"LAST-modified", DatePlus(-1000)}});
    CHECK(lm.heuristic);
    CHECK(lm.lifetime_ms == 100000);
    // Same lengths, other names: none of them counts.
    FreshnessInfo others = Compute({{"Dato", "garbage"},
                                    {"Agx", "x"},
                                    {"Expirex", "0"},
                                    {"Cache-Controls", "max-age=5"},
                                    {"Cache-Contro", "max-age=5"},
                                    {"Cache-Kontrol", "max-age=5"},
                                    {"Last-Modifiex", DatePlus(-1000)}});
    CHECK(others.lifetime_ms == 0);
    CHECK_FALSE(others.heuristic);
    CHECK(others.malformed_count == 0);
  }

  TEST_CASE("repeated Date and Age: equal values are one, differing ones invalid") {
    // Equal once OWS is trimmed.
    FreshnessInfo same = Compute({{"Date", DatePlus(-100)},
                                  {"Age", "10"},
                                  {"date", std::string(" ") + DatePlus(-100) + "\t"},
                                  {"AGE", "10 "}},
                                 200, kRequest, Instant{kDateMs + 1000});
    CHECK(same.initial_age_ms == 101000);
    CHECK(same.malformed_count == 0);
    // Disagreeing Dates: counted once, the response time is used, and the
    // Expires is unusable; a third field equal to the first changes nothing.
    FreshnessInfo dates = Compute(
        {{"Date", DatePlus(-100)}, {"Date", DatePlus(-50)}, {"Date", DatePlus(-100)},
         {"Expires", DatePlus(3600)}},
        200, kRequest, Instant{kDateMs + 1000});
    CHECK(dates.malformed_count == 1);
    CHECK(dates.initial_age_ms == 1000);
    CHECK(dates.lifetime_ms == 0);
    // Disagreeing Ages: counted once and ignored.
    FreshnessInfo ages = Compute({{"Date", kDate}, {"Age", "10"}, {"Age", "20"}, {"Age", "10"}},
                                 200, kRequest, Instant{kDateMs + 3000});
    CHECK(ages.malformed_count == 1);
    CHECK(ages.initial_age_ms == 3000);
  }

  TEST_CASE("repeated Last-Modified: the first is used") {
    FreshnessInfo info = Compute(
        {{"Date", kDate}, {"Last-Modified", DatePlus(-1000)}, {"Last-Modified", DatePlus(-2000)}});
    CHECK(info.lifetime_ms == 100000);
    FreshnessInfo invalid_first =
        Compute({{"Date", kDate}, {"Last-Modified", "never"}, {"Last-Modified", DatePlus(-2000)}});
    CHECK_FALSE(invalid_first.heuristic);
    CHECK(invalid_first.lifetime_ms == 0);
  }

  TEST_CASE("age: response before request is no delay") {
    FreshnessInfo info = Compute({{"Date", kDate}}, 200, Instant{kDateMs + 5000}, kResponse);
    CHECK(info.initial_age_ms == 0);
  }

  TEST_CASE("invalid Date is counted and defaults to the response time") {
    FreshnessInfo info = Compute({{"Date", "yesterday"}, {"Cache-Control", "max-age=5"}});
    CHECK(info.malformed_count == 1);
    CHECK(info.lifetime_ms == 5000);
    CHECK(info.initial_age_ms == 0);
  }

  TEST_CASE("stale-while-revalidate and stale-if-error in ms") {
    FreshnessInfo info =
        Compute({{"Cache-Control", "max-age=1, stale-while-revalidate=59, stale-if-error=3600"}});
    CHECK(info.stale_while_revalidate_ms == 59000);
    CHECK(info.stale_if_error_ms == 3600000);
  }

  TEST_CASE("CurrentAgeMs") {
    FreshnessInfo info;
    info.initial_age_ms = 5000;
    CHECK(CurrentAgeMs(info, Instant{1000}, Instant{4000}) == 8000);
    CHECK(CurrentAgeMs(info, Instant{1000}, Instant{0}) == 5000);  // clock went back
    CHECK(CurrentAgeMs(info, Instant{0}, Instant::Never()) == std::numeric_limits<int64_t>::max());
    info.initial_age_ms = -50;
    CHECK(CurrentAgeMs(info, Instant{0}, Instant{10}) == 0);
  }

  TEST_CASE("IsStorable") {
    const CacheControl none;
    CHECK(IsStorable("GET", 200, {}, none));
    CHECK_FALSE(IsStorable("POST", 200, {}, none));
    CHECK_FALSE(IsStorable("get", 200, {}, none));
    CHECK_FALSE(IsStorable("HEAD", 200, {}, none));
    for (int status : {200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501}) {
      CAPTURE(status);
      CHECK(IsStorable("GET", status, {}, none));
    }
    for (int status : {100, 101, 199, 206, 302, 304, 307, 500, 503, 600, -1}) {
      CAPTURE(status);
      CHECK_FALSE(IsStorable("GET", status, {}, none));
    }

    CacheControl max_age = ParseCacheControl("max-age=60");
    CHECK(IsStorable("GET", 302, {}, max_age));
    CHECK(IsStorable("GET", 500, {}, max_age));
    CHECK_FALSE(IsStorable("GET", 206, {}, max_age));
    CHECK_FALSE(IsStorable("GET", 304, {}, max_age));
    CHECK_FALSE(IsStorable("GET", 302, {}, ParseCacheControl("max-age=oops")));
    CHECK(IsStorable("GET", 307, {{"Expires", "0"}}, none));

    CHECK_FALSE(IsStorable("GET", 200, {}, ParseCacheControl("no-store")));
    CHECK_FALSE(IsStorable("GET", 200, {{"Vary", "*"}}, none));
    CHECK_FALSE(IsStorable("GET", 200, {{"Vary", "Accept"}, {"vary", "*"}}, none));
    CHECK(IsStorable("GET", 200, {{"Vary", "Accept-Encoding"}}, none));
  }

  TEST_CASE("status classes") {
    CHECK(IsHeuristicallyCacheable(200));
    CHECK(IsHeuristicallyCacheable(206));
    CHECK(IsHeuristicallyCacheable(501));
    CHECK_FALSE(IsHeuristicallyCacheable(302));
    CHECK_FALSE(IsHeuristicallyCacheable(500));
    for (int s : {500, 502, 503, 504}) CHECK(IsErrorForStaleIfError(s));
    for (int s : {200, 404, 501, 505, 429}) CHECK_FALSE(IsErrorForStaleIfError(s));
  }
}

}  // namespace
}  // namespace preheat

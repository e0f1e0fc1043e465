// A short replay (tiny sizes, no server delay, short dwell) and its
// invariants; the user model and the preheat adapter's reference walk.
#include "replay.h"

#include <doctest/doctest.h>

#include <iterator>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "preheat_adapter.h"
#include "report.h"
#include "user_model.h"

using preheat_demo::Mode;
using preheat_demo::ModeReport;

namespace {

preheat_demo::ReplayOptions TinyOptions() {
  preheat_demo::ReplayOptions o;
  o.seed = 7;
  o.model.sessions = 4;
  o.model.navigations = 8;
  o.model.dwell_min_ms = 5;
  o.model.dwell_max_ms = 30;
  o.model.hover_min_ms = 1;
  o.model.hover_max_ms = 5;
  o.server.api = {};
  o.server.page = {};
  o.server.shell = {};
  o.server.data.issues = 300;
  o.server.threads = 64;
  return o;
}

}  // namespace

TEST_CASE("session plans are deterministic and follow the user model") {
  preheat_demo::TrackerOptions to;
  to.issues = 2000;
  preheat_demo::Tracker tracker(to);
  preheat_demo::UserModelOptions mo;
  mo.sessions = 50;
  mo.navigations = 20;
  auto a = preheat_demo::PlanSessions(tracker, mo, 3);
  auto b = preheat_demo::PlanSessions(tracker, mo, 3);
  REQUIRE(a.size() == 50);
  for (size_t s = 0; s < a.size(); s++) {
    REQUIRE(a[s].steps.size() == 20);
    CHECK(a[s].steps[0].kind == preheat_demo::StepKind::kLanding);
    for (size_t i = 0; i < a[s].steps.size(); i++) {
      const auto& x = a[s].steps[i];
      CHECK(x.path == b[s].steps[i].path);
      CHECK(x.dwell_ms == b[s].steps[i].dwell_ms);
      if (i > 0) {
        CHECK(x.dwell_ms >= mo.dwell_min_ms);
        CHECK(x.dwell_ms <= mo.dwell_max_ms);
      }
      bool click = x.kind != preheat_demo::StepKind::kLanding &&
                   x.kind != preheat_demo::StepKind::kBack;
      CHECK((x.hover_ms > 0) == click);
    }
  }
  auto st = preheat_demo::StatsOf(a);
  CHECK(st.navigations == 1000);
  CHECK(st.returning == 50);  // default: every user has visited before
  CHECK(st.navigations == st.clicks + st.back + 50);
  // Shares near the stated model (wide bounds: 1000 draws).
  double back = static_cast<double>(st.back) / static_cast<double>(st.navigations);
  double xref = static_cast<double>(st.xref_clicks) / static_cast<double>(st.clicks);
  CHECK(back > 0.1);
  CHECK(back < 0.3);
  CHECK(xref > 0.15);
  CHECK(xref < 0.45);
  // Zipf: position 1 is clicked more than position 10.
  size_t first = 0, tenth = 0;
  for (const auto& p : a) {
    for (const auto& x : p.steps) {
      first += x.position == 1;
      tenth += x.position == 10;
    }
  }
  CHECK(first > tenth);

  // The share of returning users changes who is returning, never the clicks.
  preheat_demo::UserModelOptions some = mo;
  some.returning = 0.5;
  auto c = preheat_demo::PlanSessions(tracker, some, 3);
  auto sc = preheat_demo::StatsOf(c);
  CHECK(sc.returning > 10);
  CHECK(sc.returning < 40);
  for (size_t s = 0; s < a.size(); s++) {
    for (size_t i = 0; i < a[s].steps.size(); i++) CHECK(c[s].steps[i].path == a[s].steps[i].path);
  }
  some.returning = 0;
  CHECK(preheat_demo::StatsOf(preheat_demo::PlanSessions(tracker, some, 3)).returning == 0);

  preheat_demo::UserModelOptions bad = mo;
  bad.dwell_min_ms = 10;
  bad.dwell_max_ms = 5;
  CHECK(!preheat_demo::ValidateUserModel(bad).empty());
  bad = mo;
  bad.returning = 1.5;
  CHECK(!preheat_demo::ValidateUserModel(bad).empty());
}

TEST_CASE("the preheat adapter walks list rows and issue references") {
  std::string list = R"({"issues":[{"api_url":"/api/issues/5"},{"api_url":"/api/issues/4"},
                          {"api_url":"/api/issues/5"}],"next":"/api/repos/x/issues?page=2"})";
  CHECK(preheat_demo::WalkReferences(list, "http://o") ==
        std::vector<std::string>{"http://o/api/issues/5", "http://o/api/issues/4"});
  std::string issue = R"({"id":9,"references":["/api/issues/1","/api/issues/2"]})";
  CHECK(preheat_demo::WalkReferences(issue, "http://o").size() == 2);
  // With its repository: the list it links to comes after the references.
  std::string in_repo = R"({"id":9,"repo":"core","references":["/api/issues/1"]})";
  CHECK(preheat_demo::WalkReferences(in_repo, "http://o:8/api/issues/9") ==
        std::vector<std::string>{"http://o:8/api/issues/1",
                                 "http://o:8/api/repos/core/issues?page=1"});
  std::string odd_repo = R"({"id":9,"repo":"../x?y","references":[]})";
  CHECK(preheat_demo::WalkReferences(odd_repo, "http://o/api/issues/9").empty());
  CHECK(preheat_demo::WalkReferences("not json", "http://o").empty());
  CHECK(preheat_demo::WalkReferences("[1,2]", "http://o").empty());
}

TEST_CASE("a short replay: the numbers add up and SWR hits more than no cache") {
  auto options = TinyOptions();
  std::set<Mode> reported;
  options.progress_interval_ms = 5;
  options.on_progress = [&](const std::vector<preheat_demo::ModeProgress>& p) {
    for (const auto& m : p) {
      CHECK(m.done <= m.total);
      reported.insert(m.mode);
    }
  };
  auto result = preheat_demo::RunReplay(options);
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  const auto& report = result.value();
  CHECK(reported.size() == 3);
  REQUIRE(report.modes.size() == 3);
  REQUIRE(report.plan.back > 0);  // revisits exist, so SWR has something to hit
  const uint64_t navs = 4 * 8;
  const ModeReport* by_mode[3] = {};
  for (const ModeReport& m : report.modes) {
    INFO("mode " << preheat_demo::ModeName(m.mode));
    by_mode[static_cast<int>(m.mode)] = &m;
    CHECK(m.navigations == navs);
    CHECK(m.errors == 0);
    CHECK(m.instant + m.fast + m.slow + m.errors == m.navigations);
    CHECK(m.latencies_ms.size() == m.navigations - m.errors);
    CHECK(std::is_sorted(m.latencies_ms.begin(), m.latencies_ms.end()));
    CHECK(m.Percentile(10) <= m.Percentile(50));
    CHECK(m.Percentile(50) <= m.Percentile(90));
    uint64_t states = 0;
    for (const auto& [name, count] : m.states) states += count;
    CHECK(states == m.navigations);
    CHECK(m.hits <= m.navigations);
    // Every navigation that missed reached the server.
    CHECK(m.server.requests >= m.navigations - m.hits);
    CHECK(m.server.page_requests == 0);  // the replay uses the API only
    CHECK(m.wasted_bytes <= m.preheat_bytes);
    uint64_t kinds = 0, instant = 0;
    for (const auto& [kind, v] : m.by_kind) {
      CHECK(v.second <= v.first);
      kinds += v.first;
      instant += v.second;
    }
    CHECK(kinds == m.navigations - m.errors);
    CHECK(instant == m.instant);
  }
  REQUIRE(by_mode[0]);
  REQUIRE(by_mode[1]);
  REQUIRE(by_mode[2]);
  const ModeReport& none = *by_mode[0];
  const ModeReport& swr = *by_mode[1];
  const ModeReport& pre = *by_mode[2];
  CHECK(none.hits == 0);
  CHECK(none.server.requests == none.navigations);  // one request each, nothing extra
  CHECK(none.extra_requests_per_navigation() == doctest::Approx(0));
  CHECK(swr.hit_ratio() > none.hit_ratio());
  // Returning users (the default): the landing page is a cache hit, and the
  // earlier visit's request is not counted.
  REQUIRE(report.plan.returning == 4);
  CHECK(swr.hits >= 4);
  CHECK(swr.server.requests <= swr.navigations);  // SWR: at most one request per navigation
  CHECK(swr.preheats_started == 0);
  CHECK(swr.server.prefetch_requests == 0);
  CHECK(pre.preheats_started > 0);
  CHECK(pre.hovers > 0);
  CHECK(pre.preheats_fetched <= pre.preheats_started);
  CHECK(pre.server.prefetch_requests > 0);
  CHECK(pre.server.requests > pre.navigations - pre.hits);
}

TEST_CASE("a short replay of first-time users: every landing is a miss") {
  auto options = TinyOptions();
  options.model.returning = 0;
  options.modes = {Mode::kSwr};
  auto result = preheat_demo::RunReplay(options);
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  const auto& report = result.value();
  CHECK(report.plan.returning == 0);
  REQUIRE(report.modes.size() == 1);
  const ModeReport& swr = report.modes[0];
  REQUIRE(swr.by_kind.count("landing"));
  CHECK(swr.by_kind.at("landing").first == 4);
  CHECK(swr.hits <= swr.navigations - 4);
  CHECK(swr.server.requests >= 4);
}

TEST_CASE("the replay rejects bad options") {
  auto options = TinyOptions();
  options.model.sessions = 0;
  auto r = preheat_demo::RunReplay(options);
  CHECK_FALSE(r.ok());
  CHECK(r.status().code() == preheat::Code::kInvalidArgument);
  std::vector<Mode> modes;
  std::string error;
  CHECK(preheat_demo::ParseModes("swr,no-cache", &modes, &error));
  CHECK(modes == std::vector<Mode>{Mode::kSwr, Mode::kNoCache});
  CHECK_FALSE(preheat_demo::ParseModes("swr,turbo", &modes, &error));
  CHECK(error.find("turbo") != std::string::npos);
}

TEST_CASE("reports count failed navigations alike: the chart's shares, no percentiles when none loaded") {
  preheat_demo::ReplayReport r;
  ModeReport half;  // 4 navigations: 1 instant, 1 slow, 2 failed
  half.mode = Mode::kNoCache;
  half.navigations = 4;
  half.errors = 2;
  half.instant = 1;
  half.slow = 1;
  half.latencies_ms = {50, 1500};
  ModeReport none;  // every navigation failed
  none.mode = Mode::kSwr;
  none.navigations = 3;
  none.errors = 3;
  r.modes = {half, none};

  std::string html = preheat_demo::RenderHtml(r);
  // The bar's instant share is of all 4 navigations (25%), as in the table,
  // not of the 2 that loaded (50%).
  // The first bar's labels (x = its left edge + 4, y = its row's text line).
  CHECK(html.find("<text x=\"114.0\" y=\"38\">25%</text>") != std::string::npos);
  CHECK(html.find(">50%</text>") != std::string::npos);  // the failed share
  CHECK(html.find("<text x=\"114.0\" y=\"38\">50%</text>") == std::string::npos);

  std::string table = preheat_demo::FormatTable(r);
  size_t swr_row = table.find("\nswr ");
  REQUIRE(swr_row != std::string::npos);
  std::string row = table.substr(swr_row + 1, table.find('\n', swr_row + 1) - swr_row - 1);
  CAPTURE(row);
  std::istringstream words(row);
  std::vector<std::string> cells{std::istream_iterator<std::string>(words),
                                 std::istream_iterator<std::string>()};
  REQUIRE(cells.size() > 8);
  for (size_t i = 4; i <= 8; i++) CHECK(cells[i] == "-");  // P10..P90: "-", not 0 ms

  nlohmann::json j = nlohmann::json::parse(preheat_demo::ReportJson(r));
  CHECK(j["modes"][1]["percentiles_ms"]["p50"].is_null());
  CHECK(j["modes"][0]["percentiles_ms"]["p50"] == 50);
}

#include "preheat/replay.h"

#include <doctest/doctest.h>

#include <string>

namespace preheat {
namespace {

// Four pages; two sessions, one with a back navigation to A.
const char* kTrace = R"({"type":"page","url":"/a","refs":["/b","/c","/d","/e","/f","/g"]}
{"type":"page","url":"/b","refs":["/a","/c"]}
{"type":"page","url":"https://replay.invalid/c","refs":["/a"]}
{"type":"page","url":"/d","refs":[]}
{"type":"session","id":"s1","visits":[{"url":"/a","t_ms":1000},{"url":"/b","t_ms":6000},{"url":"/a","t_ms":11000,"back":true},{"url":"/c","t_ms":17000}]}
{"type":"session","id":"s2","visits":[{"url":"/a","t_ms":0},{"url":"/d","t_ms":4000}]}
)";

const PolicyReport& Get(const ReplayReport& r, const char* name) {
  const PolicyReport* p = r.Find(name);
  REQUIRE(p != nullptr);
  return *p;
}

TEST_CASE("ParseTrace: pages, sessions, resolution against the origin") {
  Trace t = ParseTrace(kTrace);
  CHECK(t.stats.malformed_lines == 0);
  CHECK(t.pages.size() == 4);
  REQUIRE(t.pages.count("https://replay.invalid/a"));
  CHECK(t.pages["https://replay.invalid/a"].refs.size() == 6);
  CHECK(t.pages["https://replay.invalid/a"].ordered);
  REQUIRE(t.sessions.size() == 2);
  CHECK(t.sessions[0].id == "s1");
  CHECK(t.sessions[0].visits[2].back);
  CHECK(t.sessions[0].visits[2].url == "https://replay.invalid/a");
  CHECK(t.sessions[0].visits[3].t_ms == 17000);
}

TEST_CASE("ParseTrace: malformed lines are skipped and counted") {
  std::string text = std::string(kTrace) +
                     "not json\n"
                     "[1,2]\n"
                     "{\"type\":\"page\"}\n"
                     "{\"type\":\"video\",\"url\":\"/x\"}\n"
                     "{\"type\":\"session\",\"visits\":[{\"url\":\"/a\",\"t_ms\":5},"
                     "{\"url\":\"/b\",\"t_ms\":4}]}\n"
                     "{\"type\":\"session\",\"visits\":[{\"url\":\"javascript:x\",\"t_ms\":0}]}\n"
                     "{\"type\":\"page\",\"url\":\"/a\",\"refs\":[]}\n"          // duplicate
                     "{\"type\":\"page\",\"url\":\"/h\",\"refs\":[\"/i\",7]}\n"  // bad ref
                     "\n   \n";
  Trace t = ParseTrace(text);
  CHECK(t.stats.malformed_lines == 6);
  CHECK(t.stats.duplicate_pages == 1);
  CHECK(t.stats.refs_dropped == 1);
  CHECK(t.pages.size() == 5);
  CHECK(t.sessions.size() == 2);
  CHECK(t.stats.lines == 14);
  // Garbage of every kind never crashes and replays what it can.
  ReplayOptions o;
  ReplayReport r = RunReplay(t, {}, o);
  CHECK(r.sessions == 2);
}

TEST_CASE("ParseTrace: limits bound what is kept") {
  TraceLimits limits;
  limits.sessions_max = 1;
  limits.refs_per_page_max = 2;
  Trace t = ParseTrace(kTrace, "https://replay.invalid", limits);
  CHECK(t.sessions.size() == 1);
  CHECK(t.stats.truncated);
  CHECK(t.pages["https://replay.invalid/a"].refs.size() == 2);
  CHECK(t.stats.refs_dropped == 4);
}

TEST_CASE("RunReplay: the numbers add up, per policy") {
  Trace t = ParseTrace(kTrace);
  ReplayReport r = RunReplay(t, {}, ReplayOptions{});
  CHECK(r.sessions == 2);
  REQUIRE(r.policies.size() == 5);
  for (const PolicyReport& p : r.policies) {
    CAPTURE(p.name);
    CHECK(p.navigations == 6);
    CHECK(p.failed_navigations == 0);
    CHECK(p.stuck_sessions == 0);
    CHECK(p.latency.count() == 6);
    CHECK(p.latency.instant() + p.latency.fast() + p.latency.slow() == 6);
    CHECK(p.instant_share() + p.fast_share() + p.slow_share() == doctest::Approx(1.0));
    CHECK(p.requests >= p.navigations - p.cache_hits);
    CHECK(p.extra_requests_per_navigation() ==
          doctest::Approx((double(p.requests) - 6.0) / 6.0));
    CHECK(p.latency.Percentile(10) <= p.latency.Percentile(50));
    CHECK(p.latency.Percentile(50) <= p.latency.Percentile(90));
    CHECK(p.wasted_bytes <= p.prefetch_requests * ReplayOptions{}.body_bytes);
  }
  const PolicyReport& none = Get(r, "no_cache");
  CHECK(none.cache_hits == 0);
  CHECK(none.hit_ratio() == 0);
  CHECK(none.requests == 6);  // one per navigation, nothing else
  CHECK(none.extra_requests_per_navigation() == 0);
  CHECK(none.wasted_bytes == 0);
}

TEST_CASE("RunReplay: SWR serves the back navigation from the cache") {
  Trace t = ParseTrace(kTrace);
  ReplayReport r = RunReplay(t, {}, ReplayOptions{});
  const PolicyReport& swr = Get(r, "swr");
  CHECK(swr.cache_hits == 1);  // the only revisit: back to /a
  CHECK(swr.latency.instant() >= 1);
  CHECK(swr.revalidation_requests == 1);  // served stale, revalidated behind
  CHECK(swr.requests == 6);
  CHECK(swr.prefetch_requests == 0);
  // Same latencies for the same requests: the cache only removes waits.
  CHECK(swr.latency.instant() >= Get(r, "no_cache").latency.instant());
}

TEST_CASE("RunReplay: a navigation that waited for a 304 is not a cache hit") {
  // Without stale-while-revalidate the back navigation to /a finds its
  // entry stale and waits for the origin's 304 (CacheState::kRevalidated):
  // it waited on the network like a miss, so it is no hit.
  Trace t = ParseTrace(kTrace);
  ReplayOptions o;
  o.cache_control = "max-age=0";
  ReplayReport r = RunReplay(t, {}, o);
  const PolicyReport& swr = Get(r, "swr");
  CHECK(swr.navigations == 6);
  CHECK(swr.requests == 6);  // the revisit still went to the origin
  CHECK(swr.revalidation_requests == 0);  // in the navigate lane, not behind
  CHECK(swr.cache_hits == 0);
  CHECK(swr.hit_ratio() == 0);
}

TEST_CASE("RunReplay: every navigation is measured, however short the drain") {
  // drain_ms bounds the background work after the last visit; the last
  // navigation itself (a miss, hundreds of ms) must still be answered and
  // land in a latency bucket, or the shares stop adding up to 1.
  Trace t = ParseTrace(kTrace);
  ReplayOptions o;
  o.drain_ms = 0;
  ReplayReport r = RunReplay(t, {}, o);
  for (const PolicyReport& p : r.policies) {
    CAPTURE(p.name);
    CHECK(p.navigations == 6);
    CHECK(p.latency.count() == 6);
    CHECK(p.instant_share() + p.fast_share() + p.slow_share() == doctest::Approx(1.0));
  }
}

TEST_CASE("RunReplay: prefetching every link costs more than the preheater") {
  Trace t = ParseTrace(kTrace);
  ReplayOptions o;
  for (auto& p : o.policies) {
    if (p.kind == ReplayPolicy::kSwrPreheat) p.preheat.per_surface_max = 1;
  }
  ReplayReport r = RunReplay(t, {}, o);
  const PolicyReport& all = Get(r, "prefetch_all");
  const PolicyReport& ours = Get(r, "swr_preheat");
  CHECK(all.extra_requests_per_navigation() > ours.extra_requests_per_navigation());
  CHECK(all.wasted_bytes > ours.wasted_bytes);
  CHECK(all.cache_hits >= Get(r, "swr").cache_hits);
  CHECK(ours.preheat.issued == ours.prefetch_requests);
  // Hover-only prefetches hovered links: the clicked ones at least.
  CHECK(Get(r, "hover_only").prefetch_requests >= 3);
}

TEST_CASE("RunReplay: deterministic for a seed") {
  Trace t = ParseTrace(kTrace);
  ReplayOptions o;
  o.seed = 42;
  std::string a = RunReplay(t, {}, o).ToJson();
  std::string b = RunReplay(t, {}, o).ToJson();
  CHECK(a == b);
  CHECK(a.find("\"swr_preheat\"") != std::string::npos);
  CHECK(a.find("\"extra_requests_per_navigation\"") != std::string::npos);
  o.seed = 43;
  CHECK(RunReplay(t, {}, o).ToJson() != a);
  CHECK(!RunReplay(t, {}, o).ToTable().empty());
}

TEST_CASE("RunReplay: a prior teaches the preheater what users click") {
  // /g is /a's last link: by position alone it loses to /b.
  std::string text = std::string(kTrace) +
                     R"({"type":"session","visits":[{"url":"/a","t_ms":0},{"url":"/g","t_ms":5000}]})";
  Trace t = ParseTrace(text);
  t.sessions.erase(t.sessions.begin(), t.sessions.begin() + 2);
  std::vector<TraceSession> training = t.sessions;
  ReplayOptions o;
  o.policies = {DefaultReplayPolicies()[2]};
  o.policies[0].preheat.per_surface_max = 1;
  o.other_hovers_per_click = 0;
  o.hover_lead_ms = 0;  // no hover intent: only the surface budget counts
  ReplayReport without = RunReplay(t, {}, o);
  ReplayReport with = RunReplay(t, training, o);
  CHECK(with.training_sessions == 1);
  CHECK(with.prior_pages >= 1);
  CHECK(without.policies[0].cache_hits == 0);
  CHECK(with.policies[0].cache_hits == 1);
  CHECK(with.policies[0].preheat.used == 1);
  CHECK(with.policies[0].latency.instant() == 1);
}

// The preheater's stats are summed over sessions into PolicyReport::preheat;
// used_bytes was left out of the sum, so it read 0 whatever was used.
TEST_CASE("RunReplay: the summed preheat stats keep the bytes used") {
  Trace t = ParseTrace(kTrace);
  ReplayOptions o;
  o.policies = {DefaultReplayPolicies()[2]};
  ReplayReport r = RunReplay(t, {}, o);
  const PreheatStats& s = r.policies[0].preheat;
  REQUIRE(s.used >= 1);
  // Every body of the simulated origin is body_bytes long.
  CHECK(s.used_bytes == s.used * o.body_bytes);
  CHECK(s.fetched_bytes >= s.used_bytes);
}

TEST_CASE("TakeTrainingSessions: a seeded split") {
  Trace t = ParseTrace(kTrace);
  for (int i = 0; i < 50; ++i) t.sessions.push_back(t.sessions[i % 2]);
  Trace u = t;
  auto train = TakeTrainingSessions(&t, 0.7, 7);
  auto train2 = TakeTrainingSessions(&u, 0.7, 7);
  CHECK(train.size() + t.sessions.size() == 52);
  CHECK(train.size() == train2.size());
  CHECK(train.size() > 20);
  CHECK(t.sessions.size() > 5);
  CHECK(TakeTrainingSessions(&t, 0, 7).empty());
}

TEST_CASE("WikispeediaToTrace: pages, back clicks, time spread") {
  const char* articles = "# comment\nA\nB\nC\n";
  const char* links = "# comment\nA\tB\nA\tC\nB\tC\nbroken\n";
  const char* paths =
      "# h\tt\td\tpath\ttarget\ttype\n"
      "ip1\t100\t30\tA;B;<;C\tZ\trestart\n"
      "ip2\t200\t1830\tA;B\tZ\ttimeout\n"
      "ip3\t300\t9\t<;A\tZ\trestart\n"
      "short\n";
  WikispeediaStats st;
  std::string text = WikispeediaToTrace(articles, links, paths, &st);
  CHECK(st.pages == 3);
  CHECK(st.links == 3);
  CHECK(st.sessions == 3);
  CHECK(st.malformed_lines == 2);  // "broken", "short"
  CHECK(st.bad_back_clicks == 1);
  Trace t = ParseTrace(text);
  CHECK(t.stats.malformed_lines == 0);
  CHECK(!t.pages["https://replay.invalid/wiki/A"].ordered);
  CHECK(t.pages["https://replay.invalid/wiki/A"].refs.size() == 2);
  REQUIRE(t.sessions.size() == 3);
  const auto& v = t.sessions[0].visits;
  REQUIRE(v.size() == 4);  // A, B, back to A, C
  CHECK(v[2].url == "https://replay.invalid/wiki/A");
  CHECK(v[2].back);
  CHECK(!v[3].back);
  CHECK(v[1].t_ms == 7500);  // 30 s over 4 visits
  CHECK(t.sessions[1].visits[1].t_ms == 15000);  // 1830 s minus 30 idle minutes, 2 visits
  CHECK(t.sessions[2].visits.size() == 1);
}

TEST_CASE("FormatFixed") {
  CHECK(FormatFixed(12.345, 2) == "12.35");
  CHECK(FormatFixed(-0.5, 1) == "-0.5");
  CHECK(FormatFixed(3, 0) == "3");
  CHECK(FormatFixed(0.05, 3) == "0.050");
}

}  // namespace
}  // namespace preheat

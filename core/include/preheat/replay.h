// Replay: navigation sessions replayed over a link graph against a simulated
// origin, comparing caching and prefetching policies on the same clicks.
//
// Sans-IO like the rest of the core: it takes trace TEXT, simulates time
// with its own discrete-event queue, draws every random number from seeded
// Prngs, and drives the real Engine (memory only) and Preheater.
//
// Trace format (JSON lines; blank lines are ignored):
//
//   {"type":"page","url":"/wiki/A","refs":["/wiki/B","/wiki/C"]}
//   {"type":"session","id":"s1","visits":[
//       {"url":"/wiki/A","t_ms":0},
//       {"url":"/wiki/B","t_ms":5300},
//       {"url":"/wiki/A","t_ms":9100,"back":true}]}
//
// - A "page" line gives the links of a page, in page order. URLs are
//   absolute or resolve against ReplayOptions::origin
//   (https://replay.invalid); refs that do not parse are dropped (counted).
//   A page may appear once; later duplicates are skipped (counted).
//   Optional "ordered": false says the refs are not in page order (e.g.
//   sorted by name), so their positions carry no signal.
// - A "session" line is one user's visits. t_ms is the time of the visit
//   (the click that led to it) relative to any origin; it must not
//   decrease. "back": true marks a back navigation (browser back button:
//   no hover precedes it). The time between two visits is the dwell time.
//   Pages without a "page" line have no refs.
// - Lines that are not JSON objects, have an unknown "type", a missing or
//   mistyped field, a bad visit URL or decreasing times are skipped and
//   counted in TraceStats::malformed_lines; the rest still replays.
//
// Simulation model (the same for every policy):
// - The origin answers each request after a lognormal latency (median
//   latency_median_ms, P90 latency_p90_ms); bodies are body_bytes long and
//   carry `Cache-Control: max-age=0, stale-while-revalidate=86400` and an
//   ETag, so a cached page is served at once (stale) and revalidated with
//   a 304 in the background. Latencies come from a stream keyed by (seed,
//   session, URL, n-th request for that URL), so every policy sees the same
//   latency for the same request.
// - Each click (not back) is preceded by a hover on the clicked link that
//   starts hover_lead_ms before it; each click also brings on average
//   other_hovers_per_click hovers (at least other_hover_min_ms long) on other
//   links of the page, at random times during the dwell.
// - A navigation's latency is the time from the click to the engine's
//   answer. Pages are "loaded" (refs surfaced, prefetches started) when the
//   answer arrives, unless the user has already moved on.
// - Each session gets a fresh client: a new Engine (and Preheater).
#ifndef PREHEAT_REPLAY_H_
#define PREHEAT_REPLAY_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "preheat/metrics.h"
#include "preheat/preheater.h"

namespace preheat {

struct TraceLimits {
  uint64_t input_bytes_max = 512ull << 20;  // longer text is read up to here
  uint64_t line_bytes_max = 4u << 20;       // longer lines are malformed
  uint32_t pages_max = 1000000;
  uint32_t refs_per_page_max = 1024;        // further refs are dropped
  uint32_t sessions_max = 1000000;
  uint32_t visits_per_session_max = 10000;  // longer sessions are truncated
};

struct TraceVisit {
  std::string url;  // absolute, normalised
  int64_t t_ms = 0;
  bool back = false;
};

struct TraceSession {
  std::string id;
  std::vector<TraceVisit> visits;
};

struct TraceStats {
  uint64_t lines = 0;            // non-blank lines read
  uint64_t malformed_lines = 0;  // skipped
  uint64_t duplicate_pages = 0;  // skipped
  uint64_t refs_dropped = 0;     // bad URL, or past refs_per_page_max
  uint64_t visits_dropped = 0;   // past visits_per_session_max
  bool truncated = false;        // a limit (bytes, pages, sessions) stopped reading
};

struct TracePage {
  std::vector<std::string> refs;  // absolute, normalised
  // False when the refs are not in page order (the replay then gives the
  // preheater no position information: every ref gets position 0).
  bool ordered = true;
};

struct Trace {
  std::unordered_map<std::string, TracePage> pages;  // by URL
  std::vector<TraceSession> sessions;
  TraceStats stats;
};

// Parses trace text (format above). Never fails: what cannot be read is
// skipped and counted. URLs are resolved against `origin` and normalised.
Trace ParseTrace(std::string_view text, const std::string& origin = "https://replay.invalid",
                 const TraceLimits& limits = {});

// Moves a seeded share `train_fraction` (0..1) of trace->sessions out, for
// training the prior; the rest stay in trace->sessions, in order.
std::vector<TraceSession> TakeTrainingSessions(Trace* trace, double train_fraction,
                                               uint64_t seed);

// What the Wikispeedia converter saw.
struct WikispeediaStats {
  uint64_t pages = 0;
  uint64_t links = 0;
  uint64_t sessions = 0;
  uint64_t malformed_lines = 0;    // lines with too few fields
  uint64_t bad_back_clicks = 0;    // '<' with no page to go back to (ignored)
};

// Converts the Wikispeedia files (articles.tsv, links.tsv, a paths file:
// `hashedIpAddress timestamp durationInSec path target type`) into trace
// text: one page per article ("/wiki/<name>") with its links as refs, one
// session per path. '<' becomes a back visit to the previous page. Visits
// are spread evenly over the path's duration (minus the 30 idle minutes of
// a "timeout" path), the last page getting the same dwell as the others;
// gaps are clamped to [gap_min_ms, gap_max_ms]. Input is bounded like
// TraceLimits (bytes, lines); never fails.
std::string WikispeediaToTrace(std::string_view articles_tsv, std::string_view links_tsv,
                               std::string_view paths_tsv, WikispeediaStats* stats,
                               int64_t gap_min_ms = 1000, int64_t gap_max_ms = 600000);

enum class ReplayPolicy : uint8_t {
  kNoCache = 0,      // every navigation goes to the origin
  kSwr = 1,          // the engine alone: stale-while-revalidate
  kSwrPreheat = 2,   // the engine + preheat::Preheater
  kPrefetchAll = 3,  // on load, prefetch every link of the page (quicklink)
  kHoverOnly = 4,    // prefetch a link hovered hover_only_delay_ms (instant.page)
};
const char* ReplayPolicyName(ReplayPolicy policy);

struct PolicyConfig {
  std::string name;  // key in the report
  ReplayPolicy kind = ReplayPolicy::kSwr;
  PreheatOptions preheat;  // kSwrPreheat only
};

// The preheater configuration the replay uses for kSwrPreheat, tuned on the
// Wikispeedia replay (see replay.cc for why each value).
PreheatOptions ReplayPreheatDefaults();
// The five policies, with ReplayPreheatDefaults() for the preheater.
std::vector<PolicyConfig> DefaultReplayPolicies();

struct ReplayOptions {
  uint64_t seed = 1;
  std::string origin = "https://replay.invalid";
  double latency_median_ms = 300;
  double latency_p90_ms = 1000;  // sigma = ln(p90 / median) / 1.2816
  int64_t latency_max_ms = 30000;
  uint64_t body_bytes = 10 * 1024;
  std::string cache_control = "max-age=0, stale-while-revalidate=86400";
  int64_t hover_lead_ms = 300;            // hover on the clicked link before the click
  double other_hovers_per_click = 1.0;    // mean; geometric count
  int64_t other_hover_min_ms = 65;
  int64_t other_hover_extra_mean_ms = 135;  // exponential, added to the minimum
  int64_t hover_only_delay_ms = 65;
  // After the last visit the session runs this much longer (last page's
  // prefetches and revalidations), then stops; a navigation not answered
  // by then keeps it running until its answer (every navigation is timed).
  int64_t drain_ms = 30000;
  uint32_t sessions_max = 1000000;  // replay at most this many sessions
  uint64_t events_per_session_max = 1000000;
  // How the prior is trained from the training sessions: per page, their
  // forward clicks plus `prior_backoff` pseudo-clicks spread over the page's
  // links by each link's click-through rate on all training pages (a link
  // people click wherever it appears is likely on a page nobody trained
  // on). 0: the raw counts only.
  double prior_backoff = 2.0;
  std::vector<PolicyConfig> policies = DefaultReplayPolicies();
};

struct PolicyReport {
  std::string name;
  ReplayPolicy kind = ReplayPolicy::kSwr;
  uint64_t navigations = 0;
  uint64_t failed_navigations = 0;  // the engine answered an error
  LatencyHistogram latency;         // navigation latencies
  uint64_t cache_hits = 0;          // answered from the cache (no wait for the network)
  uint64_t requests = 0;            // every request the origin saw
  uint64_t prefetch_requests = 0;   // of which in the preheat lane
  uint64_t revalidation_requests = 0;
  uint64_t bytes_received = 0;      // response bodies
  uint64_t wasted_bytes = 0;        // prefetched bodies never navigated to
  uint64_t stuck_sessions = 0;      // hit events_per_session_max
  PreheatStats preheat;             // kSwrPreheat: summed over sessions

  double Share(uint64_t n) const { return navigations ? double(n) / double(navigations) : 0; }
  double instant_share() const { return Share(latency.instant()); }  // < 200 ms
  double fast_share() const { return Share(latency.fast()); }        // 200 .. 999 ms
  double slow_share() const { return Share(latency.slow()); }        // >= 1000 ms
  double hit_ratio() const { return Share(cache_hits); }
  // (requests - navigations) / navigations.
  double extra_requests_per_navigation() const {
    return navigations ? (double(requests) - double(navigations)) / double(navigations) : 0;
  }
};

struct ReplayReport {
  uint64_t sessions = 0;           // replayed
  uint64_t training_sessions = 0;  // used for the prior
  uint64_t prior_pages = 0;        // pages with prior transitions
  std::vector<PolicyReport> policies;  // in ReplayOptions::policies order

  const PolicyReport* Find(const std::string& name) const;
  // One object keyed by policy name: {"swr":{"navigations":..,
  // "instant_share":..,"fast_share":..,"slow_share":..,"p10_ms":..,
  // "p25_ms":..,"p50_ms":..,"p75_ms":..,"p90_ms":..,"hit_ratio":..,
  // "requests":..,"extra_requests_per_navigation":..,"wasted_bytes":..,...},...}
  std::string ToJson() const;
  // A fixed-width table, one row per policy.
  std::string ToTable() const;
};

// Replays trace.sessions (at most options.sessions_max) under every policy.
// `training` sessions teach the preheater's prior (see prior_backoff): the
// prior's rows are recorded into each fresh preheater's model, only for the
// pages the session visits, which gives the same scores as importing the
// whole prior (TransitionModel::Import) at a fraction of the cost.
// Deterministic for a given options.seed.
ReplayReport RunReplay(const Trace& trace, const std::vector<TraceSession>& training,
                       const ReplayOptions& options);

// `value` with `decimals` (0..9) digits after the point ("12.35"); for
// tables, since the core formats without stdio.
std::string FormatFixed(double value, int decimals);

}  // namespace preheat

#endif  // PREHEAT_REPLAY_H_

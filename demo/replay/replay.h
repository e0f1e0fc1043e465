// Replay: runs the planned sessions (user_model.h) through the native
// runtime against an in-process DemoServer, once per mode, and measures
// time from click to content.
//
// Method: each session is one user with their own Runtime (own memory-only
// cache, own lanes and connections), on its own thread, in real time (dwell
// and server delays are slept, never scaled). Sessions of a mode run
// concurrently; by default the modes also run concurrently, each against its
// own server built from the same options and seed, so every mode sees the
// same data and latency distribution and the whole run takes about one
// session's length. A navigation is Runtime::Get of the page's API URL in
// Lane::kNavigate; its latency is from the click to the Get's answer.
// Returning users (SessionPlan::returning) first fetch their landing page
// (the earlier visit); every session of a mode waits for the others to be
// ready, then the server's counters restart and the measured sessions run.
#ifndef PREHEAT_DEMO_REPLAY_REPLAY_H_
#define PREHEAT_DEMO_REPLAY_REPLAY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "demo_server.h"
#include "preheat/status.h"
#include "user_model.h"

namespace preheat_demo {

enum class Mode : uint8_t {
  kNoCache = 0,     // engine policy no_store: every navigation goes to the network
  kSwr = 1,         // the engine as the headers say: stale-while-revalidate
  kSwrPreheat = 2,  // SWR plus the preheat adapter (references and hovers)
};
const char* ModeName(Mode mode);  // "no-cache", "swr", "swr+preheat"
// Parses a comma-separated list of mode names. False with *error on failure.
bool ParseModes(const std::string& text, std::vector<Mode>* out, std::string* error);

struct ModeProgress {
  Mode mode;
  uint64_t done = 0;   // navigations answered
  uint64_t total = 0;  // navigations planned
};

struct ReplayOptions {
  uint64_t seed = 1;  // plans the sessions; seeds the runtimes
  UserModelOptions model;
  DemoServerOptions server;  // host/port are ignored: each mode gets a free port
  std::vector<Mode> modes = {Mode::kNoCache, Mode::kSwr, Mode::kSwrPreheat};
  bool concurrent_modes = true;
  // Per-surface preheat budget (PreheatOptions::per_surface_max); negative:
  // DemoPreheatOptions()'s.
  int32_t preheat_budget = -1;
  // Called from a monitor thread about every progress_interval_ms, and once
  // at the end.
  std::function<void(const std::vector<ModeProgress>&)> on_progress;
  int64_t progress_interval_ms = 1000;
};

struct ModeReport {
  Mode mode = Mode::kNoCache;
  uint64_t navigations = 0;  // planned and run
  uint64_t errors = 0;       // navigations with no content (an error or a non-2xx status)
  // Served from a cache tier without waiting on the network (fresh, stale
  // while revalidating, or stale-if-error).
  uint64_t hits = 0;
  std::map<std::string, uint64_t> states;  // CacheState name -> navigations
  // Click-to-content times of navigations with content, ascending.
  std::vector<int64_t> latencies_ms;
  uint64_t instant = 0;  // < 200 ms
  uint64_t fast = 0;     // 200 .. 999 ms
  uint64_t slow = 0;     // >= 1000 ms
  // Step kind (StepKindName) -> navigations with content, of which instant.
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_kind;
  // Everything the server saw for this mode, including revalidations and
  // preheats still in flight when sessions ended.
  ServerCounters server;
  // Preheating (swr+preheat only).
  uint64_t hovers = 0;
  uint64_t preheats_started = 0;
  uint64_t preheats_fetched = 0;
  uint64_t preheat_bytes = 0;
  // Body bytes fetched by preheating for pages the session never opened.
  uint64_t wasted_bytes = 0;
  int64_t wall_ms = 0;

  double hit_ratio() const;
  // (requests the server saw - navigations) / navigations.
  double extra_requests_per_navigation() const;
  // Nearest-rank percentile of latencies_ms (p in 0..100); 0 when empty.
  int64_t Percentile(double p) const;
};

struct ReplayReport {
  PlanStats plan;
  UserModelOptions model;
  uint64_t seed = 0;
  std::vector<ModeReport> modes;
  std::vector<std::string> warnings;  // e.g. the server ran out of threads
  int64_t wall_ms = 0;
};

// Errors: kInvalidArgument (bad options, with what is wrong);
// kUnavailable (a server or runtime could not start).
preheat::Result<ReplayReport> RunReplay(const ReplayOptions& options);

}  // namespace preheat_demo

#endif  // PREHEAT_DEMO_REPLAY_REPLAY_H_

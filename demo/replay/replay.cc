#include "replay.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "preheat_adapter.h"
#include "preheat_native/runtime.h"

namespace preheat_demo {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point t0, Clock::time_point t1) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count() / 1000;
}

// Sleeps up to `ms`, waking early when `abort` is set.
void SleepMs(int64_t ms, const std::atomic<bool>& abort) {
  auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (!abort && Clock::now() < until) {
    auto left = until - Clock::now();
    std::this_thread::sleep_for(std::min<Clock::duration>(left, std::chrono::milliseconds(100)));
  }
}

// Holds every session of a mode until all have arrived (after the earlier
// visits of returning users), then runs `on_open` once and lets them go.
class StartGate {
 public:
  StartGate(size_t sessions, std::function<void()> on_open)
      : waiting_(sessions), on_open_(std::move(on_open)) {}
  void ArriveAndWait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (--waiting_ == 0) {
      on_open_();
      open_ = true;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t waiting_;
  bool open_ = false;
  std::function<void()> on_open_;
};

struct SessionResult {
  std::string error;  // the session could not run (runtime failed to start)
  uint64_t navigations = 0;
  uint64_t errors = 0;
  uint64_t hits = 0;
  std::map<std::string, uint64_t> states;
  std::vector<int64_t> latencies_ms;
  std::map<std::string, std::pair<uint64_t, uint64_t>> kinds;  // navigations, instant
  PreheatStats preheat;
  uint64_t wasted_bytes = 0;
};

// Waits (up to 30 s) until the runtime has nothing in flight or queued.
void WaitIdle(preheat_native::Runtime& runtime, const std::atomic<bool>& abort) {
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (!abort && Clock::now() < give_up) {
    nlohmann::json stats = nlohmann::json::parse(runtime.StatsJson().get(), nullptr, false);
    uint64_t busy = 0;
    for (const char* part : {"inflight", "queued"}) {
      if (!stats.is_object() || !stats.contains(part) || !stats[part].is_object()) return;
      for (const auto& [lane, n] : stats[part].items()) {
        if (n.is_number_unsigned()) busy += n.get<uint64_t>();
      }
    }
    if (busy == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool IsHit(preheat::CacheState s) {
  return s == preheat::CacheState::kFresh || s == preheat::CacheState::kStale ||
         s == preheat::CacheState::kStaleIfError;
}

// One navigation: Runtime::Get in the navigate lane; the answer and when it
// came.
struct Answer {
  preheat::Result<preheat::CacheResult> result = preheat::Status::Internal("no answer");
  Clock::time_point at;
};
Answer Navigate(preheat_native::Runtime& runtime, const std::string& url) {
  preheat::CacheRequest req;
  req.url = url;
  req.lane = preheat::Lane::kNavigate;
  std::promise<Answer> promise;
  auto answered = promise.get_future();
  runtime.Get(std::move(req), [&promise](preheat::Result<preheat::CacheResult> r) {
    Answer a;
    a.at = Clock::now();  // content is available now: stop the clock first
    a.result = std::move(r);
    promise.set_value(std::move(a));
  });
  return answered.get();
}

void RunSession(const SessionPlan& plan, Mode mode, const std::string& origin, uint64_t seed,
                int32_t preheat_budget, std::atomic<uint64_t>* done,
                const std::atomic<bool>& abort, StartGate* gate, SessionResult* out) {
  preheat_native::RuntimeOptions ro;  // memory-only: every user starts cold
  ro.seed = seed;
  if (mode == Mode::kNoCache) ro.engine.default_policy.no_store = true;
  if (mode == Mode::kSwrPreheat) {
    ro.preheat = DemoPreheatOptions();
    if (preheat_budget >= 0) ro.preheat->per_surface_max = static_cast<uint32_t>(preheat_budget);
  }
  auto created = preheat_native::Runtime::Create(ro);
  if (!created.ok()) {
    out->error = "runtime: " + created.status().ToString();
    gate->ArriveAndWait();
    return;
  }
  std::unique_ptr<preheat_native::Runtime> runtime = std::move(created).value();
  // A returning user's earlier visit: the landing page enters the cache
  // (nothing to keep without a cache). Not measured; its request is not
  // counted (the server's counters restart when the gate opens).
  if (plan.returning && mode != Mode::kNoCache && !plan.steps.empty() && !abort) {
    Navigate(*runtime, origin + plan.steps.front().path);
    WaitIdle(*runtime, abort);
  }
  gate->ArriveAndWait();
  std::unique_ptr<PreheatAdapter> adapter;
  if (mode == Mode::kSwrPreheat) adapter = std::make_unique<PreheatAdapter>(runtime.get(), origin);

  for (const Step& step : plan.steps) {
    if (abort) break;
    const std::string url = origin + step.path;
    if (step.kind != StepKind::kLanding) {
      SleepMs(step.dwell_ms - step.hover_ms, abort);
      if (adapter && step.hover_ms > 0) adapter->Hover(url);
      SleepMs(step.hover_ms, abort);
    }
    const Clock::time_point click = Clock::now();
    Answer a = Navigate(*runtime, url);
    out->navigations++;
    const auto& r = a.result;
    int status = r.ok() && r->entry ? r->entry->status : 0;
    if (!r.ok() || status < 200 || status >= 300) {
      out->errors++;
      out->states[r.ok() ? "http-" + std::to_string(status) : preheat::CodeName(r.status().code())]++;
    } else {
      out->latencies_ms.push_back(MsSince(click, a.at));
      auto& kind = out->kinds[StepKindName(step.kind)];
      kind.first++;
      if (MsSince(click, a.at) < 200) kind.second++;
      out->states[preheat::CacheStateName(r->state)]++;
      if (IsHit(r->state)) out->hits++;
    }
    if (adapter) adapter->Navigated(url, status, r.ok() && r->entry ? r->entry->body : "");
    done->fetch_add(1);
  }
  // The user stays on the last page: let started revalidations and
  // preheats reach the server, so the request count is what a longer
  // session would show for these navigations, not cut short by shutdown.
  WaitIdle(*runtime, abort);
  if (adapter) {
    out->preheat = adapter->Collect();
    // Preheated bytes no navigation of the session used.
    out->wasted_bytes += out->preheat.bytes - out->preheat.used_bytes;
  }
  runtime->Shutdown();
}

// Runs every session of one mode against its own server.
preheat::Result<ModeReport> RunMode(Mode mode, const ReplayOptions& options,
                                    const std::vector<SessionPlan>& plans,
                                    std::atomic<uint64_t>* done, const std::atomic<bool>& abort) {
  DemoServerOptions so = options.server;
  so.host = "127.0.0.1";
  so.port = 0;
  // A session keeps up to ~7 connections (navigate, revalidations, two
  // preheats), each holding a server thread while kept alive.
  so.threads = std::max<size_t>(so.threads, 8 * static_cast<size_t>(plans.size()));
  std::string error;
  auto server = DemoServer::Start(so, &error);
  if (!server) return preheat::Status::Unavailable("demo server: " + error);
  Clock::time_point t0 = Clock::now();
  // Opens when every session is ready (returning users' earlier visits
  // done): the measured part starts with zeroed counters.
  StartGate gate(plans.size(), [&] {
    server->ResetCounters();
    t0 = Clock::now();
  });

  std::vector<SessionResult> results(plans.size());
  std::vector<std::thread> threads;
  threads.reserve(plans.size());
  for (size_t i = 0; i < plans.size(); i++) {
    threads.emplace_back([&, i] {
      RunSession(plans[i], mode, server->base_url(), options.seed * 1000003 + i,
                 options.preheat_budget, done, abort, &gate, &results[i]);
    });
  }
  for (auto& t : threads) t.join();

  ModeReport m;
  m.mode = mode;
  m.wall_ms = MsSince(t0, Clock::now());
  server->Stop();  // finishes requests being handled, so the counters are final
  m.server = server->counters();
  for (const auto& r : results) {
    if (!r.error.empty()) return preheat::Status::Unavailable(r.error);
    m.navigations += r.navigations;
    m.errors += r.errors;
    m.hits += r.hits;
    for (const auto& [k, v] : r.states) m.states[k] += v;
    m.latencies_ms.insert(m.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    for (const auto& [k, v] : r.kinds) {
      m.by_kind[k].first += v.first;
      m.by_kind[k].second += v.second;
    }
    m.hovers += r.preheat.hovers;
    m.preheats_started += r.preheat.started;
    m.preheats_fetched += r.preheat.fetched;
    m.preheat_bytes += r.preheat.bytes;
    m.wasted_bytes += r.wasted_bytes;
  }
  std::sort(m.latencies_ms.begin(), m.latencies_ms.end());
  for (int64_t v : m.latencies_ms) {
    if (v < 200) {
      m.instant++;
    } else if (v < 1000) {
      m.fast++;
    } else {
      m.slow++;
    }
  }
  return m;
}

}  // namespace

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNoCache: return "no-cache";
    case Mode::kSwr: return "swr";
    case Mode::kSwrPreheat: return "swr+preheat";
  }
  return "?";
}

bool ParseModes(const std::string& text, std::vector<Mode>* out, std::string* error) {
  std::vector<Mode> modes;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    bool found = false;
    for (Mode m : {Mode::kNoCache, Mode::kSwr, Mode::kSwrPreheat}) {
      if (item == ModeName(m)) {
        if (std::find(modes.begin(), modes.end(), m) == modes.end()) modes.push_back(m);
        found = true;
      }
    }
    if (!found) {
      *error = "unknown mode '" + item + "' (expected no-cache, swr, swr+preheat)";
      return false;
    }
  }
  if (modes.empty()) {
    *error = "no modes given";
    return false;
  }
  *out = modes;
  return true;
}

double ModeReport::hit_ratio() const {
  return navigations == 0 ? 0 : static_cast<double>(hits) / static_cast<double>(navigations);
}

double ModeReport::extra_requests_per_navigation() const {
  if (navigations == 0) return 0;
  return (static_cast<double>(server.requests) - static_cast<double>(navigations)) /
         static_cast<double>(navigations);
}

int64_t ModeReport::Percentile(double p) const {
  if (latencies_ms.empty()) return 0;
  double rank = std::ceil(p / 100.0 * static_cast<double>(latencies_ms.size()));
  size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return latencies_ms[std::min(i, latencies_ms.size() - 1)];
}

preheat::Result<ReplayReport> RunReplay(const ReplayOptions& options) {
  std::string bad = ValidateUserModel(options.model);
  if (bad.empty()) bad = Tracker::ValidateOptions(options.server.data);
  if (bad.empty() && options.modes.empty()) bad = "no modes to run";
  if (!bad.empty()) return preheat::Status::InvalidArgument(bad);

  ReplayReport report;
  report.seed = options.seed;
  report.model = options.model;
  // The plan reads the link graph of the data every server will generate.
  std::vector<SessionPlan> plans;
  {
    Tracker tracker(options.server.data);
    plans = PlanSessions(tracker, options.model, options.seed);
  }
  report.plan = StatsOf(plans);

  const size_t nmodes = options.modes.size();
  std::vector<std::atomic<uint64_t>> done(nmodes);
  std::atomic<bool> abort{false};
  std::vector<preheat::Result<ModeReport>> results(nmodes, preheat::Status::Internal("not run"));

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  auto progress = [&] {
    if (!options.on_progress) return;
    std::vector<ModeProgress> p;
    for (size_t i = 0; i < nmodes; i++) {
      p.push_back({options.modes[i], done[i].load(), report.plan.navigations});
    }
    options.on_progress(p);
  };
  std::thread monitor([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(options.progress_interval_ms),
                        [&] { return finished; })) {
      progress();
    }
  });

  const Clock::time_point t0 = Clock::now();
  auto run = [&](size_t i) {
    results[i] = RunMode(options.modes[i], options, plans, &done[i], abort);
    if (!results[i].ok()) abort = true;  // the report would be incomplete anyway
  };
  if (options.concurrent_modes) {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < nmodes; i++) threads.emplace_back(run, i);
    for (auto& t : threads) t.join();
  } else {
    for (size_t i = 0; i < nmodes && !abort; i++) run(i);
  }
  report.wall_ms = MsSince(t0, Clock::now());
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  cv.notify_all();
  monitor.join();
  progress();

  for (auto& r : results) {
    if (!r.ok()) return r.status();
    const ModeReport& m = r.value();
    if (m.server.max_concurrent >= std::max<size_t>(options.server.threads, 8 * plans.size())) {
      report.warnings.push_back(std::string(ModeName(m.mode)) +
                                ": the server used all its worker threads; requests may "
                                "have queued (raise --threads)");
    }
    report.modes.push_back(std::move(r).value());
  }
  return report;
}

}  // namespace preheat_demo

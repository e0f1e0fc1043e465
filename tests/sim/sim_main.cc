// The deterministic simulator: many seeded runs of the engine over a fake
// store and a fake origin, with injected latency, errors, content changes
// and crashes, checking invariants after every step.
//
//   preheat_sim --seeds 10000     run seeds 1..10000
//   preheat_sim --seed 1234       reproduce one seed (prints its steps with -v)
//
// Everything random is drawn from the seed, and time is simulated, so a seed
// replays exactly.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "preheat/engine.h"
#include "preheat/http_date.h"
#include "preheat/preheater.h"
#include "preheat/prng.h"
#include "testing/fake_origin.h"
#include "testing/fake_store.h"
#include "testing/sim_loop.h"

namespace preheat::sim {
namespace {

using testing::FakeOrigin;
using testing::FakeStore;
using testing::SimLoop;

struct Failure {
  std::string message;
};

// One origin resource: fixed header style, changing content.
struct Resource {
  std::string url;
  std::string cache_control;
  int64_t lifetime_ms = 0;  // what the headers make its freshness lifetime
  bool no_store = false;
  bool etag = false;
  bool vary_language = false;
  std::string tag;
  int version = 1;
};

const struct {
  const char* cache_control;
  int64_t lifetime_ms;
  bool no_store;
} kStyles[] = {
    {"no-store", 0, true},
    {"max-age=5", 5000, false},
    {"max-age=0, stale-while-revalidate=30", 0, false},
    {"no-cache", 0, false},
    {"max-age=2, must-revalidate", 2000, false},
    {"max-age=1, stale-if-error=60", 1000, false},
    {"max-age=3, stale-while-revalidate=5, stale-if-error=10", 3000, false},
    {"", 0, false},
    {"max-age=abc, stale-while-revalidate=20", 0, false},
    {"private, max-age=10, stale-while-revalidate=100, stale-if-error=100", 10000, false},
};

class Simulation {
 public:
  Simulation(uint64_t seed, bool verbose)
      : seed_(seed), verbose_(verbose), prng_(seed), loop_(), store_(&loop_, seed * 3 + 1),
        origin_(&loop_, seed * 5 + 2) {}

  std::optional<Failure> Run(int steps) {
    Configure();
    if (!CreateEngine()) return failure_;
    for (step_ = 0; step_ < steps && !failure_; ++step_) {
      Step();
      if (!failure_) CheckInvariants();
    }
    // Drain: everything in flight completes, invariants still hold.
    if (!failure_) {
      origin_.down = false;
      RunUntil(AddMs(loop_.now(), 120'000));
      CheckInvariants();
    }
    return failure_;
  }

 private:
  void Fail(const std::string& message) {
    if (!failure_) failure_ = Failure{"step " + std::to_string(step_) + ": " + message};
  }
  void Log(const std::string& line) {
    if (verbose_) std::printf("  [%lld] %s\n", static_cast<long long>(loop_.now().unix_ms), line.c_str());
  }

  void Configure() {
    options_.memory_max_bytes = 1500 + prng_.Below(20'000);
    options_.memory_max_entries = 2 + prng_.Below(40);
    options_.store_max_bytes = 3000 + prng_.Below(40'000);
    options_.store_max_entries = 3 + prng_.Below(60);
    options_.entry_max_bytes = 200 + prng_.Below(600);
    options_.write_batch_max = 1 + static_cast<uint32_t>(prng_.Below(12));
    options_.write_delay_ms = static_cast<int64_t>(prng_.Below(300));
    options_.pending_writes_max = 4 + static_cast<uint32_t>(prng_.Below(64));
    for (auto& lane : options_.lanes) {
      lane.inflight_max = 1 + static_cast<uint32_t>(prng_.Below(4));
      lane.queue_max = 1 + static_cast<uint32_t>(prng_.Below(32));
    }
    if (prng_.Chance(0.6)) {
      max_stale_ms_ = static_cast<int64_t>(prng_.Below(20'000));
      options_.default_policy.max_stale_ms = max_stale_ms_;
    }
    options_.default_policy.revalidate_after_serving = prng_.Chance(0.3);
    store_.faults.latency_ms = static_cast<int64_t>(prng_.Below(20));
    store_.faults.latency_jitter_ms = static_cast<int64_t>(prng_.Below(20));
    store_.faults.get_error = prng_.Chance(0.3) ? prng_.NextDouble() * 0.1 : 0;
    store_.faults.write_error = prng_.Chance(0.1) ? prng_.NextDouble() * 0.05 : 0;
    origin_.latency_ms = 1 + static_cast<int64_t>(prng_.Below(150));
    origin_.latency_jitter_ms = static_cast<int64_t>(prng_.Below(300));
    origin_.network_error = prng_.Chance(0.5) ? prng_.NextDouble() * 0.2 : 0;
    origin_.truncated = prng_.Chance(0.3) ? prng_.NextDouble() * 0.1 : 0;
    origin_.hang = prng_.Chance(0.3) ? prng_.NextDouble() * 0.05 : 0;
    if (prng_.Chance(0.5)) options_.request_timeout_ms = 200 + static_cast<int64_t>(prng_.Below(5000));
    server_error_ = prng_.Chance(0.5) ? prng_.NextDouble() * 0.2 : 0;

    preheat_options_.namespace_name = "alice";
    preheat_options_.request_headers.Set("X-Namespace", "alice");
    preheat_options_.request_headers.Set("X-Preheater", "1");
    if (prng_.Chance(0.5)) preheat_options_.request_headers.Set("Accept-Language", "en");
    preheat_options_.requests_per_s = 0.5 + prng_.NextDouble() * 10;
    preheat_options_.requests_burst = 1 + static_cast<double>(prng_.Below(8));
    preheat_options_.bytes_per_s = 500 + static_cast<double>(prng_.Below(20'000));
    preheat_options_.bytes_burst = 1000 + static_cast<double>(prng_.Below(20'000));
    preheat_options_.inflight_max = 1 + static_cast<uint32_t>(prng_.Below(3));
    preheat_options_.queue_max = 1 + static_cast<uint32_t>(prng_.Below(16));
    preheat_options_.per_surface_max = 1 + static_cast<uint32_t>(prng_.Below(8));
    preheat_options_.score_min = prng_.NextDouble() * 0.2;
    preheat_options_.use_window_ms = 1000 + static_cast<int64_t>(prng_.Below(30'000));
    preheat_options_.routes = {"/r/:id"};

    int count = 3 + static_cast<int>(prng_.Below(14));
    for (int i = 0; i < count; ++i) {
      Resource r;
      r.url = "https://sim.example/r/" + std::to_string(i);
      const auto& style = kStyles[prng_.Below(sizeof(kStyles) / sizeof(kStyles[0]))];
      r.cache_control = style.cache_control;
      r.lifetime_ms = style.lifetime_ms;
      r.no_store = style.no_store;
      r.etag = prng_.Chance(0.7);
      r.vary_language = prng_.Chance(0.25);
      r.tag = "t" + std::to_string(prng_.Below(3));
      resources_.push_back(r);
    }
    origin_.handler = [this](const HttpRequest& req, Instant now) { return Serve(req, now); };
  }

  bool CreateEngine() {
    auto created = Engine::Create(options_, &store_, &origin_, seed_);
    if (!created.ok()) {
      Fail("create: " + created.status().ToString());
      return false;
    }
    engine_ = std::move(created).value();
    engine_->Start(loop_.now());
    auto preheater = Preheater::Create(preheat_options_, engine_.get(), loop_.now());
    if (!preheater.ok()) {
      Fail("create preheater: " + preheater.status().ToString());
      return false;
    }
    preheater_ = std::move(preheater).value();
    preheat_started_ = loop_.now();
    preheat_requests_ = 0;
    return true;
  }

  // The origin. Bodies name what they are, so the checker can tell a wrong
  // answer from a right one without trusting the engine.
  HttpResponse Serve(const HttpRequest& req, Instant now) {
    HttpResponse resp;
    const Resource* res = Find(req.url);
    if (!res) {
      resp.status = 404;
      resp.headers.Set("Cache-Control", "no-store");
      return resp;
    }
    if (req.method != "GET") {
      resp.status = 204;
      return resp;
    }
    if (prng_.Chance(server_error_)) {
      resp.status = 503;
      resp.body = "unavailable";
      return resp;
    }
    std::string ns = req.headers.Get("x-namespace").value_or("?");
    std::string lang = res->vary_language ? req.headers.Get("accept-language").value_or("") : "";
    std::string etag = "\"v" + std::to_string(res->version) + "-" + lang + "\"";
    validated_at_[Identity(ns, res->url, res->version, lang)] = now;
    if (!res->cache_control.empty()) resp.headers.Set("Cache-Control", res->cache_control);
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.headers.Set("Cache-Tag", res->tag);
    if (res->vary_language) resp.headers.Set("Vary", "Accept-Language");
    if (res->etag) {
      resp.headers.Set("ETag", etag);
      if (req.headers.Get("if-none-match") == etag) {
        resp.status = 304;
        return resp;
      }
    }
    resp.status = 200;
    resp.body = "ns=" + ns + ";url=" + res->url + ";v=" + std::to_string(res->version) +
                ";lang=" + lang + ";nostore=" + (res->no_store ? "1" : "0") + ";" +
                std::string(prng_.Below(300), 'x');
    return resp;
  }

  const Resource* Find(const std::string& url) const {
    for (const auto& r : resources_) {
      if (r.url == url) return &r;
    }
    return nullptr;
  }

  static std::string Identity(const std::string& ns, const std::string& url, int version,
                              const std::string& lang) {
    return ns + "|" + url + "|" + std::to_string(version) + "|" + lang;
  }

  static std::string Field(const std::string& body, const std::string& name) {
    std::string needle = name + "=";
    size_t at = body.find(needle);
    if (at == std::string::npos) return "";
    at += needle.size();
    return body.substr(at, body.find(';', at) - at);
  }

  // ---- operations ---------------------------------------------------------

  void Step() {
    uint64_t roll = prng_.Below(100);
    if (roll < 40) {
      DoGet();
    } else if (roll < 60) {
      RunUntil(AddMs(loop_.now(), static_cast<int64_t>(prng_.Below(3000))));
    } else if (roll < 70) {
      for (int i = 0, n = static_cast<int>(prng_.Below(10)); i < n; ++i) RunOneEvent();
    } else if (roll < 76) {
      Resource& r = resources_[prng_.Below(resources_.size())];
      r.version++;
      Log("origin: " + r.url + " now v" + std::to_string(r.version));
    } else if (roll < 80) {
      DoInvalidate();
    } else if (roll < 82) {
      std::string ns = RandomNamespace();
      Log("clear " + ns);
      Status s = engine_->Clear(ns, loop_.now());
      if (!s.ok()) Fail("clear failed: " + s.ToString());
    } else if (roll < 88) {
      DoFlushAndMaybeCrash(prng_.Chance(0.3));
    } else if (roll < 90) {
      Crash();
    } else if (roll < 93) {
      origin_.down = !origin_.down;
      Log(std::string("origin ") + (origin_.down ? "down" : "up"));
    } else if (roll < 97) {
      DoPreheatSignal();
    } else {
      for (int i = 0, n = 1 + static_cast<int>(prng_.Below(4)); i < n; ++i) DoGet();
    }
  }

  std::string RandomNamespace() { return prng_.Chance(0.5) ? "alice" : "bob"; }

  void DoGet() {
    const Resource& res = resources_[prng_.Below(resources_.size())];
    CacheRequest req;
    req.url = res.url;
    req.namespace_name = RandomNamespace();
    req.headers.Set("X-Namespace", req.namespace_name);
    std::string lang = prng_.Chance(0.5) ? "en" : "fr";
    req.headers.Set("Accept-Language", lang);
    req.lane = static_cast<Lane>(prng_.Below(kLaneCount));
    Log("get " + req.namespace_name + " " + req.url + " lang=" + lang + " lane=" +
        LaneName(req.lane));
    uint64_t generation = generation_;
    engine_->Get(req, loop_.now(),
                 [this, req, lang, generation, vary = res.vary_language](Result<CacheResult> r) {
                   if (generation != generation_) return;
                   CheckAnswer(req, lang, vary, r);
                 });
  }

  void CheckAnswer(const CacheRequest& req, const std::string& lang, bool vary,
                   const Result<CacheResult>& r) {
    if (!r.ok()) {
      Log("  -> error " + r.status().ToString());
      return;
    }
    const CacheEntry& e = *r->entry;
    Log(std::string("  -> ") + CacheStateName(r->state) + " from " + SourceName(r->source) +
        " status " + std::to_string(e.status) + " " + e.body.substr(0, 60));
    if (e.status != 200) return;
    std::string ns = Field(e.body, "ns");
    if (ns != req.namespace_name) {
      Fail("namespace " + req.namespace_name + " was served an entry of namespace " + ns);
    }
    if (Field(e.body, "url") != req.url) Fail("served the wrong URL: " + e.body.substr(0, 80));
    if (vary && Field(e.body, "lang") != lang) {
      Fail("Vary ignored: asked lang=" + lang + ", served " + Field(e.body, "lang"));
    }
    bool from_cache = r->state != CacheState::kMiss;
    if (from_cache && Field(e.body, "nostore") == "1") Fail("served a no-store response from cache");
    if (from_cache && max_stale_ms_ && r->state != CacheState::kRevalidated) {
      const Resource* res = Find(req.url);
      int version = std::atoi(Field(e.body, "v").c_str());
      auto it = validated_at_.find(Identity(ns, req.url, version, Field(e.body, "lang")));
      if (it == validated_at_.end()) {
        Fail("served a version the origin never sent");
      } else {
        int64_t staleness = ElapsedMs(it->second, loop_.now()) - res->lifetime_ms;
        if (staleness > *max_stale_ms_) {
          Fail("served data " + std::to_string(staleness) + " ms stale, over max_stale_ms " +
               std::to_string(*max_stale_ms_));
        }
      }
    }
  }

  // The preheater's inputs: a surface of references, an intent, a
  // navigation. Preheats go to namespace "alice" in the lowest lane.
  void DoPreheatSignal() {
    uint64_t kind = prng_.Below(3);
    const std::string page = resources_[prng_.Below(resources_.size())].url;
    if (kind == 0) {
      std::vector<Reference> refs;
      for (uint32_t i = 0, n = static_cast<uint32_t>(prng_.Below(8)); i < n; ++i) {
        refs.push_back({resources_[prng_.Below(resources_.size())].url, i});
      }
      Log("surface " + page + " with " + std::to_string(refs.size()) + " refs");
      preheater_->Surface(page, refs, loop_.now());
    } else if (kind == 1) {
      Log("intent " + page);
      preheater_->Intent(page, static_cast<IntentKind>(prng_.Below(5)), loop_.now());
    } else {
      const std::string to = resources_[prng_.Below(resources_.size())].url;
      Log("navigated " + page + " -> " + to);
      preheater_->Navigated(page, to, loop_.now());
    }
  }

  void DoInvalidate() {
    InvalidateSelector sel;
    sel.namespace_name = RandomNamespace();
    uint64_t kind = prng_.Below(3);
    if (kind == 0) {
      sel.kind = InvalidateSelector::Kind::kUrl;
      sel.value = resources_[prng_.Below(resources_.size())].url;
    } else if (kind == 1) {
      sel.kind = InvalidateSelector::Kind::kUrlPrefix;
      sel.value = "https://sim.example/r/1";
    } else {
      sel.kind = InvalidateSelector::Kind::kTag;
      sel.value = "t" + std::to_string(prng_.Below(3));
    }
    InvalidateMode mode = prng_.Chance(0.5) ? InvalidateMode::kMarkStale : InvalidateMode::kRemove;
    Log("invalidate " + sel.namespace_name + " " + sel.value);
    auto r = engine_->Invalidate(sel, mode, loop_.now());
    if (!r.ok()) Fail("invalidate failed: " + r.status().ToString());
  }

  // Flushes; when the flush succeeds, every entry the memory tier holds must
  // be durable in the store (unless the store evicted it for its budget).
  void DoFlushAndMaybeCrash(bool crash) {
    Log(crash ? "flush + crash" : "flush");
    std::optional<Status> result;
    uint64_t generation = generation_;
    engine_->Flush(loop_.now(), [&result, this, generation](Status s) {
      if (generation == generation_) result = s;
    });
    for (int i = 0; i < 100'000 && !result && !failure_; ++i) {
      if (!RunOneEvent()) break;
    }
    if (!result) {
      Fail("flush never completed");
      return;
    }
    if (!result->ok()) {
      bool explained = engine_->metrics().store_degraded ||
                       (result->code() == Code::kLimitReached && engine_->metrics().writes_dropped > 0);
      if (!explained) Fail("flush failed without a reason: " + result->ToString());
      return;
    }
    std::vector<std::pair<std::string, uint64_t>> held;
    engine_->VisitMemory([&](const CacheEntry& e) { held.emplace_back(e.key, e.body_hash); });
    for (const auto& [key, hash] : held) {
      if (store_.evicted().count(key)) continue;
      auto it = store_.records().find(key);
      if (it == store_.records().end()) {
        Fail("flushed entry missing from the store: " + key + " (store_errors " + std::to_string(engine_->metrics().store_errors) + ", corrupt " + std::to_string(engine_->metrics().corrupt_records) + ")");
        return;
      }
      auto decoded = DecodeEntry(it->second.value, {});
      if (!decoded.ok() || decoded->body_hash != hash) {
        Fail("store holds a different version of flushed entry " + key);
        return;
      }
    }
    if (crash) Crash();
  }

  void Crash() {
    Log("crash");
    generation_++;
    loop_.DropAll();
    store_.Crash();
    origin_.Crash();
    preheater_.reset();
    engine_.reset();
    CreateEngine();
  }

  // ---- the loop ------------------------------------------------------------

  Instant NextDeadline() const {
    Instant a = engine_->NextDeadline(), b = preheater_->NextDeadline();
    return a < b ? a : b;
  }
  void OnDeadline() {
    engine_->OnDeadline(loop_.now());
    preheater_->OnDeadline(loop_.now());
  }

  bool RunOneEvent() {
    Instant deadline = NextDeadline();
    Instant next = loop_.NextTime();
    if (next.IsNever() && deadline.IsNever()) return false;
    if (deadline <= next) {
      loop_.RunUntil(deadline);
      OnDeadline();
    } else {
      loop_.RunOne();
    }
    CheckInvariants();
    return true;
  }

  void RunUntil(Instant until) {
    for (int i = 0; i < 1'000'000 && !failure_; ++i) {
      Instant deadline = NextDeadline();
      Instant next = loop_.NextTime();
      Instant first = deadline < next ? deadline : next;
      if (first > until) break;
      RunOneEvent();
    }
    if (loop_.now() < until) loop_.RunUntil(until);
  }

  void CheckInvariants() {
    const Metrics& m = engine_->metrics();
    if (m.memory_bytes > options_.memory_max_bytes) {
      Fail("memory tier over budget: " + std::to_string(m.memory_bytes));
    }
    if (m.memory_entries > options_.memory_max_entries) Fail("memory tier over entry budget");
    if (store_.inflight() == 0) {
      StoreUsage usage = store_.Usage();
      if (usage.bytes > options_.store_max_bytes || usage.entries > options_.store_max_entries) {
        Fail("store over budget at rest: " + std::to_string(usage.bytes) + " bytes, " +
             std::to_string(usage.entries) + " entries");
      }
    }
    if (origin_.max_inflight_per_key > 1) Fail("two requests for one key were in flight at once");
    // A navigation waits only for other navigations: when one is queued,
    // its own lane is full.
    if (engine_->QueuedCount(Lane::kNavigate) > 0 &&
        engine_->InflightCount(Lane::kNavigate) < options_.lanes[0].inflight_max) {
      Fail("a navigation is queued while its lane has room");
    }
    // The preheater's request budget: burst + rate x time since it started.
    for (size_t i = preheat_requests_seen_; i < origin_.requests.size(); ++i) {
      if (origin_.requests[i].headers.Has("x-preheater")) preheat_requests_++;
    }
    preheat_requests_seen_ = origin_.requests.size();
    double allowed = preheat_options_.requests_burst +
                     preheat_options_.requests_per_s *
                         static_cast<double>(ElapsedMs(preheat_started_, loop_.now())) / 1000.0;
    if (static_cast<double>(preheat_requests_) > allowed + 1e-9) {
      Fail("preheater over its request budget: " + std::to_string(preheat_requests_) + " > " +
           std::to_string(allowed));
    }
    if (preheater_->stats().issued > 0 &&
        engine_->InflightCount(Lane::kPreheat) > preheat_options_.inflight_max &&
        engine_->InflightCount(Lane::kPreheat) > options_.lanes[2].inflight_max) {
      Fail("preheats over their in-flight limit");
    }
    for (int lane = 0; lane < kLaneCount; ++lane) {
      if (engine_->InflightCount(static_cast<Lane>(lane)) > options_.lanes[lane].inflight_max) {
        Fail(std::string("lane over its in-flight limit: ") + LaneName(static_cast<Lane>(lane)));
      }
    }
  }

  uint64_t seed_;
  bool verbose_;
  Prng prng_;
  SimLoop loop_;
  FakeStore store_;
  FakeOrigin origin_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  PreheatOptions preheat_options_;
  std::unique_ptr<Preheater> preheater_;
  Instant preheat_started_;
  uint64_t preheat_requests_ = 0;
  size_t preheat_requests_seen_ = 0;
  std::vector<Resource> resources_;
  std::map<std::string, Instant> validated_at_;
  std::optional<int64_t> max_stale_ms_;
  double server_error_ = 0;
  uint64_t generation_ = 0;
  int step_ = 0;
  std::optional<Failure> failure_;
};

}  // namespace
}  // namespace preheat::sim

int main(int argc, char** argv) {
  uint64_t first = 1, count = 1000;
  int steps = 200;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--seeds") && i + 1 < argc) {
      count = std::strtoull(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      first = std::strtoull(argv[++i], nullptr, 10);
      count = 1;
    } else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "-v")) {
      verbose = true;
    } else {
      std::fprintf(stderr, "usage: preheat_sim [--seeds N | --seed S] [--steps K] [-v]\n");
      return 2;
    }
  }
  std::printf("simulator: seeds %llu..%llu, %d steps each\n", static_cast<unsigned long long>(first),
              static_cast<unsigned long long>(first + count - 1), steps);
  uint64_t failed = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    preheat::sim::Simulation sim(seed, verbose);
    auto failure = sim.Run(steps);
    if (failure) {
      failed++;
      std::printf("FAILED seed=%llu %s\n  reproduce with: preheat_sim --seed %llu -v\n",
                  static_cast<unsigned long long>(seed), failure->message.c_str(),
                  static_cast<unsigned long long>(seed));
      if (failed >= 5) break;
    }
  }
  std::printf("simulator: %llu passed, %llu failed\n",
              static_cast<unsigned long long>(count - failed), static_cast<unsigned long long>(failed));
  return failed == 0 ? 0 : 1;
}

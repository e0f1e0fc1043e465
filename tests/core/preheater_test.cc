#include "preheat/preheater.h"

#include <doctest/doctest.h>

#include <memory>

#include "preheat/http_date.h"
#include "testing/fake_origin.h"
#include "testing/fake_store.h"
#include "testing/sim_loop.h"

namespace preheat {
namespace {

using testing::FakeOrigin;
using testing::SimLoop;

struct Fixture {
  SimLoop loop;
  FakeOrigin origin{&loop, 3};
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Preheater> preheater;
  int status = 200;
  std::string retry_after;

  explicit Fixture(PreheatOptions options = {}) {
    origin.handler = [this](const HttpRequest& req, Instant now) {
      HttpResponse r;
      r.status = status;
      r.headers.Set("Cache-Control", "max-age=60");
      r.headers.Set("Date", FormatHttpDate(now));
      if (!retry_after.empty()) r.headers.Set("Retry-After", retry_after);
      r.body = std::string(1000, 'x');
      return r;
    };
    engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
    options.routes = {"/issues/:id"};
    preheater = std::move(Preheater::Create(options, engine.get(), loop.now()).value());
  }
  static std::vector<Reference> Refs(int n, int offset = 0) {
    std::vector<Reference> refs;
    for (int i = 0; i < n; ++i) {
      refs.push_back({"https://app.example/issues/" + std::to_string(i + offset),
                      static_cast<uint32_t>(i)});
    }
    return refs;
  }
  void Run(int64_t ms) {
    Instant until = AddMs(loop.now(), ms);
    for (int i = 0; i < 100000; ++i) {
      Instant d = preheater->NextDeadline();
      Instant next = loop.NextTime();
      Instant first = std::min(d, next);
      if (first > until) break;
      if (d <= next) {
        loop.RunUntil(d);
        preheater->OnDeadline(loop.now());
      } else {
        loop.RunOne();
      }
    }
    loop.RunUntil(until);
  }
  size_t PreheatRequests() const {
    size_t n = 0;
    for (const auto& r : origin.requests) n += r.lane == Lane::kPreheat;
    return n;
  }
};

TEST_CASE("preheater: fills the cache in the preheat lane, within the surface budget") {
  PreheatOptions o;
  o.per_surface_max = 5;
  o.requests_per_s = 100;
  o.requests_burst = 100;
  o.bytes_burst = 1e9;
  Fixture f(o);
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(25), f.loop.now());
  f.Run(10'000);
  CHECK(f.PreheatRequests() == 5);
  CHECK(f.preheater->stats().fetched == 5);
  CHECK(f.preheater->stats().dropped_budget + f.preheater->stats().skipped_low_score == 20);
  // The first positions went first.
  CHECK(f.origin.requests[0].url == "https://app.example/issues/0");
  // Those are now cached: a navigation is a memory hit, and counts as used.
  bool hit = false;
  f.engine->Get({"https://app.example/issues/0"}, f.loop.now(),
                [&](Result<CacheResult> r) { hit = r.ok() && r->source == Source::kMemory; });
  CHECK(hit);
  f.preheater->Navigated("https://app.example/issues", "https://app.example/issues/0", f.loop.now());
  CHECK(f.preheater->stats().used == 1);
  // Already cached references are skipped, not fetched again.
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(3), f.loop.now());
  f.Run(10'000);
  CHECK(f.PreheatRequests() == 5);
  CHECK(f.preheater->stats().skipped_cached >= 3);
}

TEST_CASE("preheater: token bucket limits the request rate") {
  PreheatOptions o;
  o.requests_per_s = 2;
  o.requests_burst = 1;
  o.per_surface_max = 100;
  o.bytes_burst = 1e9;
  o.bytes_per_s = 1e9;
  Fixture f(o);
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(10), f.loop.now());
  f.Run(2000);
  // 1 at once, then one per 500 ms: about 5 in two seconds, never 10.
  CHECK(f.PreheatRequests() >= 4);
  CHECK(f.PreheatRequests() <= 6);
}

TEST_CASE("preheater: leaving a surface drops its queued preheats") {
  PreheatOptions o;
  o.inflight_max = 1;
  o.per_surface_max = 100;
  Fixture f(o);
  f.preheater->Surface("https://app.example/a", Fixture::Refs(10), f.loop.now());
  f.preheater->Surface("https://app.example/b", Fixture::Refs(2, 100), f.loop.now());
  CHECK(f.preheater->stats().dropped_left_surface >= 8);
  f.Run(60'000);
  CHECK(f.PreheatRequests() <= 3);  // the one in flight from a, and b's two
}

TEST_CASE("preheater: hover must be held; pointerdown is immediate; save-data keeps only strong intent") {
  PreheatOptions o;
  o.hover_intent_ms = 100;
  Fixture f(o);
  const std::string url = "https://app.example/issues/7";
  f.preheater->Intent(url, IntentKind::kHoverStart, f.loop.now());
  f.Run(50);
  f.preheater->Intent(url, IntentKind::kHoverEnd, f.loop.now());
  f.Run(500);
  CHECK(f.PreheatRequests() == 0);
  f.preheater->Intent(url, IntentKind::kHoverStart, f.loop.now());
  f.Run(500);
  CHECK(f.PreheatRequests() == 1);
  f.preheater->SetSaveData(true);
  f.preheater->Surface("https://app.example/x", Fixture::Refs(5, 50), f.loop.now());
  f.preheater->Intent("https://app.example/issues/8", IntentKind::kHoverStart, f.loop.now());
  f.Run(500);
  CHECK(f.PreheatRequests() == 1);
  f.preheater->Intent("https://app.example/issues/9", IntentKind::kPointerDown, f.loop.now());
  f.Run(500);
  CHECK(f.PreheatRequests() == 2);
  CHECK(f.preheater->stats().skipped_save_data >= 6);
}

TEST_CASE("preheater: 503 with Retry-After opens the breaker and stops preheating") {
  PreheatOptions o;
  o.per_surface_max = 100;
  o.inflight_max = 1;
  Fixture f(o);
  f.status = 503;
  f.retry_after = "120";
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(10), f.loop.now());
  f.Run(60'000);
  CHECK(f.PreheatRequests() == 1);
  CHECK(f.preheater->breaker_state(f.loop.now()) == BreakerState::kOpen);
  CHECK(f.preheater->stats().breaker_blocked >= 1);
  // After Retry-After, one probe; its success closes the breaker.
  f.status = 200;
  f.retry_after.clear();
  f.Run(70'000);
  CHECK(f.preheater->breaker_state(f.loop.now()) == BreakerState::kClosed);
  CHECK(f.PreheatRequests() > 2);
}

TEST_CASE("preheater: preheats never take navigation slots") {
  PreheatOptions o;
  o.per_surface_max = 100;
  o.inflight_max = 8;
  o.requests_burst = 100;
  Fixture f(o);
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(20), f.loop.now());
  CHECK(f.engine->InflightCount(Lane::kPreheat) <= f.engine->options().lanes[2].inflight_max);
  bool answered = false;
  f.engine->Get({"https://app.example/elsewhere"}, f.loop.now(),
                [&](Result<CacheResult> r) { answered = r.ok(); });
  CHECK(f.engine->InflightCount(Lane::kNavigate) == 1);
  f.loop.RunUntil(AddMs(f.loop.now(), f.origin.latency_ms));
  CHECK(answered);
}

TEST_CASE("preheater: the transition model ranks what users actually open") {
  PreheatOptions o;
  o.per_surface_max = 1;
  Fixture f(o);
  const std::string page = "https://app.example/issues/1";
  for (int i = 0; i < 10; ++i) f.preheater->Navigated(page, "https://app.example/issues/9", f.loop.now());
  auto refs = Fixture::Refs(10);  // issues/9 is last on the page
  f.preheater->Surface(page, refs, f.loop.now());
  f.Run(1000);
  REQUIRE(f.PreheatRequests() == 1);
  CHECK(f.origin.requests[0].url == "https://app.example/issues/9");
}

TEST_CASE("preheater: unused preheats count as wasted after the use window") {
  PreheatOptions o;
  o.use_window_ms = 1000;
  o.per_surface_max = 2;
  Fixture f(o);
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(2), f.loop.now());
  f.Run(5000);
  CHECK(f.preheater->stats().fetched == 2);
  CHECK(f.preheater->stats().wasted_bytes == 2000);
  CHECK(f.preheater->StatsJson(f.loop.now()).find("\"wasted_bytes\":2000") != std::string::npos);
}

TEST_CASE("preheater: options are validated") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  PreheatOptions bad;
  bad.inflight_max = 0;
  CHECK(Preheater::Create(bad, engine.get(), loop.now()).status().code() == Code::kInvalidArgument);
  PreheatOptions bad_ns;
  bad_ns.namespace_name = "no spaces allowed";
  CHECK(!Preheater::Create(bad_ns, engine.get(), loop.now()).ok());
  CHECK(!Preheater::Create({}, nullptr, loop.now()).ok());
}

}  // namespace
}  // namespace preheat

namespace preheat {
namespace {

TEST_CASE("preheater: the transition model persists through the engine's store") {
  SimLoop loop;
  testing::FakeStore store(&loop, 9);
  FakeOrigin origin(&loop, 3);
  origin.handler = [](const HttpRequest&, Instant) { return HttpResponse{200, {}, "x"}; };
  const std::string a = "https://app.example/issues/1", b = "https://app.example/issues/2";
  {
    auto engine = std::move(Engine::Create({}, &store, &origin, 1).value());
    auto preheater = std::move(Preheater::Create({}, engine.get(), loop.now()).value());
    for (int i = 0; i < 3; ++i) preheater->Navigated(a, b, loop.now());
    REQUIRE(preheater->SaveModel(loop.now()).ok());
    std::optional<Status> flushed;
    engine->Flush(loop.now(), [&](Status s) { flushed = s; });
    loop.RunAll();
    REQUIRE(flushed.has_value());
    CHECK(flushed->ok());
  }
  auto engine = std::move(Engine::Create({}, &store, &origin, 2).value());
  auto preheater = std::move(Preheater::Create({}, engine.get(), loop.now()).value());
  CHECK(preheater->model().Probability(a, b, loop.now()) == 0);
  std::optional<Status> loaded;
  preheater->LoadModel(loop.now(), [&](Status s) { loaded = s; });
  loop.RunAll();
  REQUIRE(loaded.has_value());
  CHECK(loaded->ok());
  CHECK(preheater->model().Probability(a, b, loop.now()) == doctest::Approx(1.0));
  // Blobs survive store eviction longer than cache entries and never match
  // an invalidation.
  CHECK(engine->Invalidate({InvalidateSelector::Kind::kAll, "", ""}, InvalidateMode::kRemove,
                           loop.now())
            .ok());
  loop.RunAll();
  bool still_there = false;
  engine->GetBlob("preheat-model ", loop.now(), [&](Result<std::string> r) { still_there = r.ok(); });
  loop.RunAll();
  CHECK(still_there);
  // Without a store there is nothing to persist to.
  auto memory_only = std::move(Engine::Create({}, nullptr, &origin, 3).value());
  CHECK(memory_only->PutBlob("x", "y", loop.now()).code() == Code::kUnavailable);
}

}  // namespace
}  // namespace preheat

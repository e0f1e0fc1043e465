#include "preheat/preheater.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

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

// Each Surface reset the surface's budget: an app surfacing one page again
// (a re-render) had its references preheated again, per_surface_max more
// each time, when their answers were not kept (here 404s: a prefetch keeps
// no error status).
TEST_CASE("preheater: surfacing the same page again does not renew its budget") {
  PreheatOptions o;
  o.per_surface_max = 2;
  o.requests_per_s = 100;
  o.requests_burst = 100;
  o.bytes_burst = 1e9;
  Fixture f(o);
  f.status = 404;
  const std::string page = "https://app.example/issues";
  f.preheater->Surface(page, Fixture::Refs(5), f.loop.now());
  f.Run(10'000);
  REQUIRE(f.PreheatRequests() == 2);
  for (int i = 0; i < 3; ++i) {
    f.preheater->Surface(page, Fixture::Refs(5), f.loop.now());
    f.Run(10'000);
  }
  CHECK(f.PreheatRequests() == 2);
  // A navigation, to the same page too, starts a new surface and budget.
  f.preheater->Navigated(page, page, f.loop.now());
  f.preheater->Surface(page, Fixture::Refs(5), f.loop.now());
  f.Run(10'000);
  CHECK(f.PreheatRequests() == 4);
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
  // Breaker settings under which it could never open (a window smaller
  // than the verdict's minimum) or never hold back are refused too.
  const auto breaker_refused = [&](void (*set)(BreakerOptions*)) {
    PreheatOptions o;
    set(&o.breaker);
    return Preheater::Create(o, engine.get(), loop.now()).status().code() == Code::kInvalidArgument;
  };
  CHECK(breaker_refused([](BreakerOptions* b) { b->window = 3; b->min_requests = 5; }));
  CHECK(breaker_refused([](BreakerOptions* b) { b->window = 0; }));
  CHECK(breaker_refused([](BreakerOptions* b) { b->min_requests = 0; }));
  CHECK(breaker_refused([](BreakerOptions* b) { b->open_ms = 0; }));
  CHECK(breaker_refused([](BreakerOptions* b) { b->open_max_ms = b->open_ms - 1; }));
  CHECK(breaker_refused([](BreakerOptions* b) { b->failure_ratio_max = 1.5; }));
  // It opens when failures exceed the ratio: at 1 they never can.
  CHECK(breaker_refused([](BreakerOptions* b) { b->failure_ratio_max = 1; }));
  CHECK_FALSE(breaker_refused([](BreakerOptions* b) { b->failure_ratio_max = 0.99; }));
  CHECK_FALSE(breaker_refused([](BreakerOptions* b) { b->window = 5; b->min_requests = 5; }));
}


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


using testing::FakeStore;

HttpResponse Ok200(Instant now) {
  HttpResponse r;
  r.status = 200;
  r.headers.Set("Cache-Control", "max-age=60");
  r.headers.Set("Date", FormatHttpDate(now));
  r.body = std::string(100, 'x');
  return r;
}

size_t MemoryEntries(const Engine& engine) {
  size_t n = 0;
  engine.VisitMemory([&](const CacheEntry&) { n++; });
  return n;
}

// Clear (logout) cancelled the in-flight preheats, whose completion pumped
// the queue at once: the namespace just cleared was refilled with the
// user's data, sent with their request headers.
TEST_CASE("preheater: Clear of its namespace is not refilled by queued preheats") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  origin.handler = [](const HttpRequest&, Instant now) { return Ok200(now); };
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  PreheatOptions o;
  o.namespace_name = "alice";
  o.request_headers.Set("Authorization", "Bearer alice");
  o.requests_burst = 100;
  o.requests_per_s = 100;
  o.per_surface_max = 10;
  o.hover_intent_ms = 50;
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());

  SUBCASE("its own namespace: queue and hovers go, nothing more is fetched") {
    p->Surface("https://app.example/issues", Fixture::Refs(10), loop.now());
    p->Intent("https://app.example/issues/77", IntentKind::kHoverStart, loop.now());
    REQUIRE(engine->InflightCount(Lane::kPreheat) == 2);
    REQUIRE(engine->Clear("alice", loop.now()).ok());  // logout
    for (int i = 0; i < 100 && loop.NextTime() < Instant::Never(); ++i) {
      loop.RunOne();
      if (p->NextDeadline() <= loop.now()) p->OnDeadline(loop.now());
    }
    loop.RunUntil(AddMs(loop.now(), 1000));
    p->OnDeadline(loop.now());
    loop.RunAll();
    CHECK(MemoryEntries(*engine) == 0);
    CHECK(origin.requests.size() == 2);
    CHECK(p->StatsJson(loop.now()).find("\"queued\":0") != std::string::npos);
    // Still usable: the next surface preheats as before.
    p->Surface("https://app.example/other", Fixture::Refs(1, 50), loop.now());
    loop.RunAll();
    CHECK(origin.requests.size() == 3);
    CHECK(MemoryEntries(*engine) == 1);
  }
  SUBCASE("another namespace: nothing of this preheater is dropped") {
    p->Surface("https://app.example/issues", Fixture::Refs(8), loop.now());
    REQUIRE(engine->Clear("bob", loop.now()).ok());
    loop.RunAll();
    CHECK(origin.requests.size() == 8);
    CHECK(MemoryEntries(*engine) == 8);
  }
}

// Engine::CancelAll (shutdown) cancelled the in-flight preheats, and each
// cancellation started the next queued one, only to be cancelled in turn:
// the queue was used up without a request.
TEST_CASE("preheater: a cancelled preheat starts no other") {
  PreheatOptions o;
  o.requests_burst = 100;
  o.requests_per_s = 100;
  o.per_surface_max = 10;
  Fixture f(o);
  f.preheater->Surface("https://app.example/issues", Fixture::Refs(8), f.loop.now());
  REQUIRE(f.PreheatRequests() == 2);
  f.engine->CancelAll(f.loop.now());
  CHECK(f.preheater->stats().issued == 2);  // not the queued ones, to be cancelled too
  CHECK(f.PreheatRequests() == 2);
  CHECK(f.preheater->stats().failures == 0);
  // What is queued goes out at the next deadline, as usual.
  f.Run(1000);
  CHECK(f.PreheatRequests() == 8);
}

// A half-open probe answered by the store (no request went out) closed the
// breaker, although the origin had said nothing.
TEST_CASE("preheater: a store hit does not count as the half-open probe's success") {
  SimLoop loop;
  FakeStore store(&loop, 9);
  FakeOrigin origin(&loop, 1);
  int status = 200;
  origin.handler = [&](const HttpRequest&, Instant now) {
    HttpResponse r = Ok200(now);
    r.status = status;
    return r;
  };
  {
    // issues/0 lies in the store only.
    auto engine = std::move(Engine::Create({}, &store, &origin, 1).value());
    engine->Start(loop.now());
    engine->Get({"https://app.example/issues/0"}, loop.now(), [](Result<CacheResult>) {});
    loop.RunAll();
    engine->Flush(loop.now(), [](Status) {});
    loop.RunAll();
  }
  auto engine = std::move(Engine::Create({}, &store, &origin, 2).value());
  engine->Start(loop.now());
  loop.RunAll();
  PreheatOptions o;
  o.inflight_max = 1;
  o.per_surface_max = 100;
  o.requests_burst = 100;
  o.requests_per_s = 100;
  o.breaker.min_requests = 1;
  o.breaker.open_ms = 1000;
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  status = 503;  // the origin is down
  p->Surface("https://app.example/issues/99", Fixture::Refs(1, 50), loop.now());
  loop.RunAll();
  REQUIRE(p->breaker_state(loop.now()) == BreakerState::kOpen);
  loop.RunUntil(AddMs(loop.now(), 1000));
  REQUIRE(p->breaker_state(loop.now()) == BreakerState::kHalfOpen);
  p->Intent("https://app.example/issues/0", IntentKind::kPointerDown, loop.now());  // in the store
  loop.RunAll();
  CHECK(origin.requests.size() == 2);  // the origin was asked nothing new
  CHECK(p->breaker_state(loop.now()) == BreakerState::kHalfOpen);
  // The probe's slot was freed: the next preheat is the probe, and the
  // origin's answer to it decides.
  status = 200;
  p->Intent("https://app.example/issues/1", IntentKind::kPointerDown, loop.now());
  loop.RunAll();
  CHECK(origin.requests.size() == 3);
  CHECK(p->breaker_state(loop.now()) == BreakerState::kClosed);
}

// A 429 with explicit freshness to a preheat was stored, counted as both
// failure and fetched, and then served to the user's navigation as fresh.
TEST_CASE("preheater: a 429 to a preheat is neither kept nor counted as fetched") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  int status = 429;
  origin.handler = [&](const HttpRequest&, Instant now) {
    HttpResponse r = Ok200(now);
    r.status = status;
    r.headers.Set("Retry-After", "1");
    return r;
  };
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  auto p = std::move(Preheater::Create({}, engine.get(), loop.now()).value());
  p->Intent("https://app.example/issues/7", IntentKind::kPointerDown, loop.now());
  loop.RunAll();
  CHECK(p->stats().failures == 1);
  CHECK(p->stats().fetched == 0);
  CHECK(p->StatsJson(loop.now()).find("\"tracked\":0") != std::string::npos);
  CHECK(MemoryEntries(*engine) == 0);
  status = 200;
  int got = 0;
  engine->Get({"https://app.example/issues/7"}, loop.now(),
              [&](Result<CacheResult> r) { got = r.ok() ? r->entry->status : -1; });
  loop.RunAll();
  CHECK(got == 200);
  // A navigation joined the preheat's request: the 429 is kept for it (it
  // asked), yet for the preheater it is a failure, not a fetch.
  status = 429;
  loop.RunUntil(AddMs(loop.now(), 30'000));  // the breaker the first 429 opened half-opens
  p->Intent("https://app.example/issues/8", IntentKind::kPointerDown, loop.now());
  engine->Get({"https://app.example/issues/8"}, loop.now(),
              [&](Result<CacheResult> r) { got = r.ok() && r->stored ? r->entry->status : -1; });
  loop.RunAll();
  CHECK(got == 429);
  CHECK(p->stats().failures == 2);
  CHECK(p->stats().fetched == 0);
  CHECK(p->StatsJson(loop.now()).find("\"tracked\":0") != std::string::npos);
}

// The model records navigations by normalised URL; references and
// visibility given as the app wrote them ("#comments", an upper-case host)
// missed it: the reference the user always takes ranked by position only.
TEST_CASE("preheater: references and visibility are matched by their normalised URL") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  origin.handler = [](const HttpRequest&, Instant now) { return Ok200(now); };
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  PreheatOptions o;
  o.per_surface_max = 1;
  o.inflight_max = 1;
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  for (int i = 0; i < 10; ++i) {
    p->Navigated("https://app.example/list", "https://app.example/issues/2", loop.now());
  }
  std::vector<Reference> refs(2);
  refs[0].url = "https://app.example/issues/1";
  refs[0].position = 0;
  refs[1].url = "https://APP.example:443/issues/2#comments";
  refs[1].position = 1;
  p->Surface("https://app.example/list", refs, loop.now());
  loop.RunAll();
  REQUIRE(origin.requests.size() == 1);
  CHECK(origin.requests[0].url == "https://app.example/issues/2");

  // Visibility: two equal references; the one reported visible (as the app
  // wrote it) goes first.
  std::vector<Reference> two(2);
  two[0].url = "https://app.example/issues/3";
  two[1].url = "https://app.example/issues/4";
  o.per_surface_max = 2;
  o.requests_per_s = 0.001;  // one token: the second preheat waits in the queue
  o.requests_burst = 1;
  auto q = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  q->Surface("https://app.example/other", two, loop.now());  // issues/3 goes; 4 waits
  loop.RunAll();
  two[0].url = "https://app.example/issues/5";
  two[1].url = "https://app.example/issues/6";
  two[1].position = 1;
  q->Surface("https://app.example/other2", two, loop.now());
  q->Visible("https://app.example/issues/6#top", true, loop.now());
  q->OnDeadline(AddMs(loop.now(), 1'000'000));
  loop.RunAll();
  REQUIRE(origin.requests.size() >= 3);
  CHECK(origin.requests[2].url == "https://app.example/issues/6");
}

// NextDeadline computed from the engine's last time, not the preheater's:
// after a preheater-only entry point it answered a time already past.
TEST_CASE("preheater: NextDeadline is not in the past after OnDeadline(now)") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  origin.handler = [](const HttpRequest&, Instant now) { return Ok200(now); };
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  PreheatOptions o;
  o.requests_per_s = 1;
  o.requests_burst = 1;
  o.per_surface_max = 10;
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  p->Surface("https://app.example/issues", Fixture::Refs(2), loop.now());
  loop.RunAll();  // the first preheat completes at +10 ms; the second waits for a token
  Instant later = AddMs(loop.now(), 890);
  p->Visible("https://app.example/issues/1", true, later);
  p->OnDeadline(later);
  CHECK(p->NextDeadline() > later);
  CHECK(p->NextDeadline() <= AddMs(later, 1000));
}

// A model within its own limits (defaults: 4096 pages x 32 targets) exported
// to ~6 MB, over PutBlob's 4 MiB: SaveModel failed with kTooLarge for good.
TEST_CASE("preheater: a full model can still be saved") {
  SimLoop loop;
  FakeStore store(&loop, 9);
  FakeOrigin origin(&loop, 1);
  auto engine = std::move(Engine::Create({}, &store, &origin, 1).value());
  auto p = std::move(Preheater::Create({}, engine.get(), loop.now()).value());
  for (int from = 0; from < 4096; ++from) {
    for (int to = 0; to < 32; ++to) {
      p->Navigated("https://app.example/api/issues/" + std::to_string(from),
                   "https://app.example/api/issues/" + std::to_string(100000 + from * 32 + to),
                   AddMs(loop.now(), from));
    }
  }
  CHECK(p->SaveModel(AddMs(loop.now(), 4096)).ok());
  engine->Flush(loop.now(), [](Status) {});
  loop.RunAll();
  std::optional<Status> loaded;
  auto engine2 = std::move(Engine::Create({}, &store, &origin, 2).value());
  auto p2 = std::move(Preheater::Create({}, engine2.get(), loop.now()).value());
  p2->LoadModel(loop.now(), [&](Status s) { loaded = s; });
  loop.RunAll();
  REQUIRE(loaded.has_value());
  CHECK(loaded->ok());
  // The most recently updated pages were kept.
  CHECK(p2->model().pages() > 1000);
  CHECK(p2->model().Total("https://app.example/api/issues/4095", loop.now()) > 0);
}

// Intent() while disabled was queued (and hovers kept), and preheated once
// enabled again, minutes later.
TEST_CASE("preheater: intents while disabled are not preheated later") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  origin.handler = [](const HttpRequest&, Instant now) { return Ok200(now); };
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  auto p = std::move(Preheater::Create({}, engine.get(), loop.now()).value());
  p->Intent("https://app.example/issues/6", IntentKind::kHoverStart, loop.now());
  p->SetEnabled(false);  // drops the hover
  p->Intent("https://app.example/issues/7", IntentKind::kPointerDown, loop.now());
  p->Intent("https://app.example/issues/8", IntentKind::kHoverStart, loop.now());
  p->Intent("https://app.example/issues/9", IntentKind::kFocus, loop.now());
  loop.RunUntil(AddMs(loop.now(), 600'000));
  p->SetEnabled(true);
  p->OnDeadline(loop.now());
  loop.RunAll();
  CHECK(origin.requests.empty());
  CHECK(p->NextDeadline().IsNever());
}

// Navigated() erased a used preheat from `tracked` but not from its order
// list, which then grew past tracked_max.
TEST_CASE("preheater: tracked preheats stay within tracked_max") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  origin.handler = [](const HttpRequest&, Instant now) { return Ok200(now); };
  auto engine = std::move(Engine::Create({}, nullptr, &origin, 1).value());
  PreheatOptions o;
  o.tracked_max = 4;
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  for (int i = 0; i < 100; ++i) {
    std::string u = "https://app.example/issues/" + std::to_string(i);
    p->Intent(u, IntentKind::kPointerDown, loop.now());
    loop.RunAll();
    p->Navigated("https://app.example/", u, loop.now());
    loop.RunUntil(AddMs(loop.now(), 1000));
    p->OnDeadline(loop.now());
  }
  CHECK(p->stats().used == 100);
  CHECK(p->StatsJson(loop.now()).find("\"tracked\":0") != std::string::npos);
  // Unused ones: at most tracked_max, the oldest retired as wasted.
  for (int i = 0; i < 10; ++i) {
    p->Intent("https://app.example/unused/" + std::to_string(i), IntentKind::kPointerDown,
              loop.now());
    loop.RunAll();
    loop.RunUntil(AddMs(loop.now(), 1000));  // a request token back
  }
  REQUIRE(p->stats().fetched == 110);
  CHECK(p->StatsJson(loop.now()).find("\"tracked\":4") != std::string::npos);
  CHECK(p->stats().wasted_bytes == 6 * 100);
}


// Answers every request with kTooLarge, as a driver does once a body goes
// past the request's max_body_bytes, except those for "/ok" paths.
class OversizeFetcher : public Fetcher {
 public:
  explicit OversizeFetcher(SimLoop* loop) : loop_(loop) {}
  void Start(OpId op, const HttpRequest& request, Done done) override {
    requests.push_back(request.url);
    bool ok = request.url.find("/ok") != std::string::npos;
    loop_->After(10, [this, op, ok, done]() {
      if (!ok) return done(op, loop_->now(), Status::TooLarge("body over max_body_bytes"));
      HttpResponse r;
      r.status = 200;
      r.headers.Set("Cache-Control", "max-age=60");
      r.body = "x";
      done(op, loop_->now(), std::move(r));
    });
  }
  void Cancel(OpId) override {}
  std::vector<std::string> requests;

 private:
  SimLoop* loop_;
};

// A response too large to keep (kTooLarge) opened the breaker like an
// origin outage: a surface of a few big exports stopped every preheat for
// open_ms, though the origin answered each request.
TEST_CASE("preheater: responses too large to keep do not open the breaker") {
  SimLoop loop;
  OversizeFetcher fetcher(&loop);
  auto engine = std::move(Engine::Create({}, nullptr, &fetcher, 1).value());
  PreheatOptions o;
  o.requests_burst = 100;
  o.requests_per_s = 100;
  o.per_surface_max = 100;
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  std::vector<Reference> big;
  for (int i = 0; i < 8; ++i) {
    big.push_back({"https://app.example/exports/" + std::to_string(i), static_cast<uint32_t>(i)});
  }
  p->Surface("https://app.example/exports", big, loop.now());
  loop.RunAll();
  CHECK(fetcher.requests.size() == 8);
  CHECK(p->breaker_state(loop.now()) == BreakerState::kClosed);
  p->Intent("https://app.example/ok/1", IntentKind::kPointerDown, loop.now());
  loop.RunAll();
  CHECK(fetcher.requests.size() == 9);
  CHECK(p->stats().fetched == 1);
  CHECK(p->stats().breaker_blocked == 0);
}


// A preheat the store answered (no request went out) still spent a token
// of the request budget: after a restart, with the surface's top
// references in the store but not in memory, those reads used up the burst
// and the one reference that needed the network waited for the slow
// refill.
TEST_CASE("preheater: preheats the store answers cost no request token") {
  SimLoop loop;
  FakeStore store(&loop, 9);
  FakeOrigin origin(&loop, 1);
  origin.handler = [](const HttpRequest&, Instant now) { return Ok200(now); };
  {
    auto engine = std::move(Engine::Create({}, &store, &origin, 1).value());
    engine->Start(loop.now());
    for (int i = 0; i < 4; ++i) {
      engine->Get({"https://app.example/issues/" + std::to_string(i)}, loop.now(),
                  [](Result<CacheResult>) {});
    }
    loop.RunAll();
    engine->Flush(loop.now(), [](Status) {});
    loop.RunAll();
  }
  origin.requests.clear();
  auto engine = std::move(Engine::Create({}, &store, &origin, 2).value());
  engine->Start(loop.now());
  loop.RunAll();
  PreheatOptions o;
  o.inflight_max = 1;
  o.per_surface_max = 100;
  o.requests_burst = 2;
  o.requests_per_s = 0.001;  // one token per 1000 s
  auto p = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  // issues/0..3 lie in the store; issues/4 is nowhere yet.
  p->Surface("https://app.example/issues", Fixture::Refs(5), loop.now());
  for (int i = 0; i < 1000 && loop.NextTime() < Instant::Never(); ++i) {
    loop.RunOne();
    if (p->NextDeadline() <= loop.now()) p->OnDeadline(loop.now());
  }
  CHECK(p->stats().skipped_cached == 4);
  REQUIRE(origin.requests.size() == 1);
  CHECK(origin.requests[0].url == "https://app.example/issues/4");
  CHECK(p->stats().issued == 1);
  CHECK(p->stats().fetched == 1);
}


// References given by the app (not by the extractors, which keep each URL
// once) that name one URL twice, here with different fragments, took two
// places of the surface budget: the next reference was dropped.
TEST_CASE("preheater: a surface's duplicate references take one budget place") {
  PreheatOptions o;
  o.per_surface_max = 2;
  o.requests_burst = 100;
  o.requests_per_s = 100;
  Fixture f(o);
  std::vector<Reference> refs = {{"https://app.example/issues/1#top", 0},
                                 {"https://app.example/issues/1#comments", 1},
                                 {"https://app.example/issues/2", 2}};
  f.preheater->Surface("https://app.example/issues", refs, f.loop.now());
  f.Run(1000);
  REQUIRE(f.PreheatRequests() == 2);
  CHECK(f.origin.requests[0].url == "https://app.example/issues/1");
  CHECK(f.origin.requests[1].url == "https://app.example/issues/2");
  CHECK(f.preheater->stats().dropped_budget == 0);
}


// A page's references often name the page itself (a "#main" skip link,
// first on the page; a title linking to itself): it ranked first and was
// preheated, a request for the page the user is already on, which took
// the top place of the surface's budget.
TEST_CASE("preheater: the page being viewed is not preheated from its own references") {
  PreheatOptions o;
  o.per_surface_max = 1;
  o.requests_burst = 100;
  o.requests_per_s = 100;
  Fixture f(o);
  std::vector<Reference> refs = {{"https://app.example/issues/1", 0},
                                 {"https://app.example/issues/2", 1}};
  f.preheater->Surface("https://app.example/issues/1#comments", refs, f.loop.now());
  f.Run(1000);
  REQUIRE(f.PreheatRequests() == 1);
  CHECK(f.origin.requests[0].url == "https://app.example/issues/2");
}

// A navigation to a page whose preheat was still on the wire (the usual
// case for a hover or pointerdown preheat: the click comes before the
// answer) joins that request and uses its response, but the preheat was
// only followed once it arrived, after Navigated: it was booked unused and
// its bytes wasted.
TEST_CASE("preheater: a preheat still in flight when the user opens it counts as used") {
  PreheatOptions o;
  o.use_window_ms = 1000;
  Fixture f(o);
  f.origin.latency_ms = 200;
  const std::string url = "https://app.example/issues/7";
  f.preheater->Intent(url, IntentKind::kPointerDown, f.loop.now());
  REQUIRE(f.PreheatRequests() == 1);
  f.Run(50);
  f.preheater->Navigated("https://app.example/issues", url, f.loop.now());
  std::optional<Result<CacheResult>> got;
  CacheRequest req;
  req.url = url;
  f.engine->Get(req, f.loop.now(), [&](Result<CacheResult> r) { got = std::move(r); });
  f.Run(5000);
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(f.PreheatRequests() == 1);
  CHECK(f.origin.requests.size() == 1);  // the navigation joined the preheat
  CHECK(f.preheater->stats().fetched == 1);
  CHECK(f.preheater->stats().used == 1);
  CHECK(f.preheater->stats().used_bytes == 1000);
  CHECK(f.preheater->stats().wasted_bytes == 0);
  CHECK(f.preheater->stats().preheat_to_use_ms.count() == 1);
}

// A preheat the engine refuses because its preheat lane's queue is full
// (the app's own prefetches filled it) never went out, yet it kept its
// request token: a burst of refusals spent the whole budget on nothing,
// and the next surface could not preheat.
TEST_CASE("preheater: a preheat the engine's full lane refuses costs no request token") {
  SimLoop loop;
  FakeOrigin origin(&loop, 5);
  origin.latency_ms = 100;
  origin.handler = [](const HttpRequest&, Instant) {
    HttpResponse r;
    r.status = 200;
    r.headers.Set("Cache-Control", "max-age=600");
    r.body = "x";
    return r;
  };
  EngineOptions eo;
  eo.lanes[static_cast<int>(Lane::kPreheat)] = {1, 2};
  auto engine = std::move(Engine::Create(eo, nullptr, &origin, 1).value());
  PreheatOptions o;
  o.requests_burst = 4;
  o.requests_per_s = 0.001;  // nothing refills during the test
  o.per_surface_max = 12;
  auto preheater = std::move(Preheater::Create(o, engine.get(), loop.now()).value());
  // The app fills the lane: one on the wire, two queued.
  int app_done = 0;
  for (const char* url :
       {"https://app.example/app/1", "https://app.example/app/2", "https://app.example/app/3"}) {
    CacheRequest req;
    req.url = url;
    req.lane = Lane::kPreheat;
    engine->Prefetch(req, loop.now(), [&](Result<CacheResult>) { app_done++; });
  }
  preheater->Surface("https://app.example/a", Fixture::Refs(3), loop.now());
  CHECK(preheater->stats().issued == 0);  // none went out
  loop.RunUntil(AddMs(loop.now(), 1000));
  REQUIRE(app_done == 3);
  // The lane is free again: the whole burst is still there.
  preheater->Surface("https://app.example/b", Fixture::Refs(4, 10), loop.now());
  loop.RunUntil(AddMs(loop.now(), 1000));
  size_t preheats = 0;
  for (const auto& r : origin.requests) {
    preheats += r.lane == Lane::kPreheat && r.url.find("/issues/") != std::string::npos;
  }
  CHECK(preheats == 4);
  CHECK(preheater->stats().issued == 4);
}

}  // namespace
}  // namespace preheat

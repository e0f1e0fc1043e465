// StoreWrite::fresh_until and Engine::StoreReadServesRecord: the hints that
// let a store driver answer a plain cold read itself (the web package).
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "preheat/engine.h"
#include "preheat/http_date.h"
#include "testing/fake_origin.h"
#include "testing/fake_store.h"
#include "testing/sim_loop.h"

namespace preheat {
namespace {

using testing::FakeOrigin;
using testing::FakeStore;
using testing::SimLoop;

constexpr const char* kUrl = "https://app.example/issues/7";
const std::string kKey = std::string(" ") + kUrl;

// An origin answering kUrl with `headers` (Date set to the request's time
// unless given), an engine over a fake store, and a way to reopen it.
struct HintFixture {
  SimLoop loop;
  FakeStore store{&loop, 3};
  FakeOrigin origin{&loop, 4};
  EngineOptions options;
  std::unique_ptr<Engine> engine;
  std::vector<std::pair<std::string, std::string>> headers;

  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  explicit HintFixture(HeaderList h, EngineOptions o = {})
      : options(std::move(o)), headers(std::move(h)) {
    // Reads complete at the time they start: freshness is judged then.
    store.faults.latency_ms = 0;
    origin.handler = [this](const HttpRequest&, Instant now) {
      HttpResponse r;
      r.status = 200;
      r.headers.Set("Date", FormatHttpDate(now));
      for (const auto& [name, value] : headers) r.headers.Set(name, value);
      r.body = "issue";
      return r;
    };
    Reopen();
  }
  // A new engine over the same store: memory cold.
  void Reopen() {
    auto created = Engine::Create(options, &store, &origin, 11);
    REQUIRE(created.ok());
    engine = std::move(created).value();
    engine->Start(loop.now());
  }
  Result<CacheResult> Get(Headers request_headers = {}) {
    std::optional<Result<CacheResult>> out;
    engine->Get(CacheRequest{kUrl, "", request_headers}, loop.now(),
                [&](Result<CacheResult> r) { out = std::move(r); });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    return *out;
  }
  void Flush() {
    std::optional<Status> out;
    engine->Flush(loop.now(), [&](Status s) { out = s; });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    REQUIRE(out->ok());
  }
  // Whether a cold plain Get at the current time is answered fresh from the
  // store's record with nothing else started (no request, no revalidation).
  bool ColdReadServesRecordFresh() {
    Reopen();
    const size_t before = origin.CountRequests(kUrl);
    auto r = Get();
    REQUIRE(r.ok());
    bool served = r->source == Source::kStore && r->state == CacheState::kFresh &&
                  !r->revalidating && origin.CountRequests(kUrl) == before;
    loop.RunAll();  // whatever it started ends before the next engine
    return served;
  }
};

// For each kind of response: stored, then read cold just before and at its
// fresh_until; a plain read takes the record fresh exactly before it.
TEST_CASE("engine: fresh_until is the instant a cold plain read stops serving the record fresh") {
  struct Case {
    const char* name;
    std::vector<std::pair<std::string, std::string>> headers;
    bool never;  // kNeverFresh expected
    EngineOptions options;
  };
  EngineOptions route_max_age;
  route_max_age.routes.push_back(RoutePolicy{"/issues/:id", 5'000, {}, {}, false, false});
  EngineOptions revalidating;
  revalidating.default_policy.revalidate_after_serving = true;
  EngineOptions route_over_no_cache = route_max_age;
  const Instant start = SimLoop().now();
  std::vector<Case> cases = {
      {"max-age", {{"Cache-Control", "max-age=60"}}, false, {}},
      {"max-age with Age", {{"Cache-Control", "max-age=60"}, {"Age", "25"}}, false, {}},
      {"Age past max-age", {{"Cache-Control", "max-age=60"}, {"Age", "90"}}, true, {}},
      {"Expires", {{"Expires", FormatHttpDate(AddMs(start, 3'600'000))}}, false, {}},
      {"heuristic", {{"Last-Modified", FormatHttpDate(Instant{0})}}, false, {}},
      {"no-cache", {{"Cache-Control", "no-cache, max-age=60"}}, true, {}},
      {"Vary on a request header", {{"Cache-Control", "max-age=60"}, {"Vary", "Accept"}}, false, {}},
      {"route max age", {{"Cache-Control", "max-age=600"}}, false, route_max_age},
      {"route max age over no-cache", {{"Cache-Control", "no-cache"}}, false, route_over_no_cache},
      {"revalidate after serving", {{"Cache-Control", "max-age=60"}}, true, revalidating},
      {"revalidate after serving, immutable", {{"Cache-Control", "max-age=60, immutable"}}, false,
       revalidating},
  };
  for (const Case& c : cases) {
    const std::string name = c.name;
    CAPTURE(name);
    HintFixture f(c.headers, c.options);
    REQUIRE(f.Get().ok());
    f.Flush();
    const Instant until = f.store.fresh_until(kKey);
    if (c.never) {
      CHECK(until == StoreWrite::kNeverFresh);
      CHECK_FALSE(f.ColdReadServesRecordFresh());
      continue;
    }
    REQUIRE(until > f.loop.now());
    f.loop.RunUntil(AddMs(until, -1));
    CHECK(f.ColdReadServesRecordFresh());
    f.loop.RunUntil(until);
    CHECK_FALSE(f.ColdReadServesRecordFresh());
  }
}

// Vary: an empty request matches a stored absent field, so the hint holds;
// a record stored for a request that sent the field is never fresh for one
// that does not.
TEST_CASE("engine: fresh_until is never for a Vary an empty request does not match") {
  HintFixture f(HintFixture::HeaderList{{"Cache-Control", "max-age=60"}, {"Vary", "Accept"}});
  Headers accept;
  accept.Set("Accept", "application/json");
  REQUIRE(f.Get(accept).ok());
  f.Flush();
  CHECK(f.store.fresh_until(kKey) == StoreWrite::kNeverFresh);
  CHECK_FALSE(f.ColdReadServesRecordFresh());
}

// An invalidated entry is written marked: never fresh.
TEST_CASE("engine: an invalidated entry's record is never fresh for a plain read") {
  HintFixture f(HintFixture::HeaderList{{"Cache-Control", "max-age=600"}});
  REQUIRE(f.Get().ok());
  f.Flush();
  REQUIRE(f.store.fresh_until(kKey) > f.loop.now());
  auto marked = f.engine->Invalidate({InvalidateSelector::Kind::kUrl, kUrl, ""},
                                     InvalidateMode::kMarkStale, f.loop.now());
  REQUIRE(marked.ok());
  REQUIRE(*marked == 1);
  f.Flush();
  REQUIRE(f.store.records().count(kKey) == 1);
  CHECK(f.store.fresh_until(kKey) == StoreWrite::kNeverFresh);
}

// StoreReadServesRecord: true for the read a cold get started, until
// something decides the key while it is on its way.
TEST_CASE("engine: StoreReadServesRecord tells whether a store read still answers its get") {
  HintFixture f(HintFixture::HeaderList{{"Cache-Control", "max-age=600"}});
  REQUIRE(f.Get().ok());
  f.Flush();
  // Starts a cold get (its answer goes to *out) and returns its store read's op.
  auto start_read = [&f](std::optional<Result<CacheResult>>* out) {
    f.Reopen();
    f.loop.RunAll();
    f.engine->Get(CacheRequest{kUrl, "", {}}, f.loop.now(),
                  [out](Result<CacheResult> r) { *out = std::move(r); });
    REQUIRE(f.engine->metrics().store_reads == 1);
    const OpId op = f.store.last_get_op();
    REQUIRE(f.engine->StoreReadServesRecord(kKey, op));
    return op;
  };
  std::optional<Result<CacheResult>> out;
  SUBCASE("another read or key") {
    const OpId op = start_read(&out);
    CHECK_FALSE(f.engine->StoreReadServesRecord(kKey, op + 1));
    CHECK_FALSE(f.engine->StoreReadServesRecord(" https://app.example/issues/8", op));
  }
  SUBCASE("superseded by an invalidation") {
    const OpId op = start_read(&out);
    REQUIRE(f.engine->Invalidate({InvalidateSelector::Kind::kUrl, kUrl, ""},
                                 InvalidateMode::kMarkStale, f.loop.now())
                .ok());
    CHECK_FALSE(f.engine->StoreReadServesRecord(kKey, op));
  }
  SUBCASE("superseded by newer data in memory (a mutate's optimistic value)") {
    const OpId op = start_read(&out);
    HttpRequest write;
    write.method = "PATCH";
    write.url = kUrl;
    f.engine->Mutate(CacheRequest{kUrl, "", {}}, HttpResponse{200, {}, "mine"}, write,
                     f.loop.now(), [](Status) {});
    CHECK_FALSE(f.engine->StoreReadServesRecord(kKey, op));
  }
  SUBCASE("a memory-only invalidation leaves the store's record, and the read") {
    const OpId op = start_read(&out);
    InvalidateSelector memory_only{InvalidateSelector::Kind::kUrl, kUrl, ""};
    memory_only.memory_only = true;
    REQUIRE(f.engine->Invalidate(memory_only, InvalidateMode::kMarkStale, f.loop.now()).ok());
    CHECK(f.engine->StoreReadServesRecord(kKey, op));
    while (!out && f.loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    CHECK_FALSE(f.engine->StoreReadServesRecord(kKey, op));  // completed
  }
}

}  // namespace
}  // namespace preheat

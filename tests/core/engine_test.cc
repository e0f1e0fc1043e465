#include "preheat/engine.h"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "preheat/http_date.h"
#include "testing/fake_origin.h"
#include "testing/fake_store.h"
#include "testing/sim_loop.h"

namespace preheat {
namespace {

using testing::FakeOrigin;
using testing::FakeStore;
using testing::SimLoop;

constexpr const char* kUrl = "https://app.example/issues/1";

// An engine over a fake store and origin, on a simulated clock.
struct Fixture {
  SimLoop loop;
  FakeStore store{&loop, 1};
  FakeOrigin origin{&loop, 2};
  std::unique_ptr<Engine> engine;
  // What the origin serves for kUrl.
  std::string body = "v1";
  std::string etag = "\"v1\"";
  std::string cache_control = "max-age=60";
  int status = 200;
  int requests_with_inm = 0;

  explicit Fixture(EngineOptions options = {}, bool with_store = true) {
    origin.handler = [this](const HttpRequest& req, Instant now) {
      HttpResponse r;
      if (req.headers.Get("if-none-match") == etag) {
        requests_with_inm++;
        r.status = 304;
        r.headers.Set("ETag", etag);
        r.headers.Set("Cache-Control", cache_control);
        r.headers.Set("Date", FormatHttpDate(now));
        return r;
      }
      r.status = status;
      r.headers.Set("ETag", etag);
      r.headers.Set("Cache-Control", cache_control);
      r.headers.Set("Date", FormatHttpDate(now));
      r.headers.Set("Cache-Tag", "issues, issue-" + req.url.substr(req.url.rfind('/') + 1));
      r.headers.Add("Set-Cookie", "session=secret");
      r.body = body;
      return r;
    };
    auto created = Engine::Create(options, with_store ? &store : nullptr, &origin, 42);
    REQUIRE(created.ok());
    engine = std::move(created).value();
    engine->Start(loop.now());
    loop.RunAll();
  }

  // Gets a URL and runs the loop until it is answered.
  Result<CacheResult> Get(const std::string& url = kUrl, std::string ns = "",
                          Headers headers = {}) {
    std::optional<Result<CacheResult>> out;
    CacheRequest req{url, ns, headers};
    engine->Get(req, loop.now(), [&](Result<CacheResult> r) { out = std::move(r); });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    return *out;
  }
  void Advance(int64_t ms) { loop.RunUntil(AddMs(loop.now(), ms)); }
  void Settle() {
    // Runs every event, including write-behind deadlines.
    for (int i = 0; i < 1000; ++i) {
      Instant d = engine->NextDeadline();
      if (!d.IsNever()) loop.At(d, [this] { engine->OnDeadline(loop.now()); });
      if (loop.pending() == 0) break;
      loop.RunOne();
    }
  }
  // The origin answers PATCH requests 500 (a write Mutate sends fails).
  void RefuseWrites() {
    origin.handler = [base = origin.handler](const HttpRequest& req, Instant now) {
      if (req.method == "PATCH") return HttpResponse{500, {}, "nope"};
      return base(req, now);
    };
  }
  Status Flush() {
    std::optional<Status> out;
    engine->Flush(loop.now(), [&](Status s) { out = s; });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    return *out;
  }
};

// An entry too big for the memory tier but within the store's limits is
// kept in the store: `stored` ("kept in a tier") says so, on the miss that
// fetched it and on the store read that serves it later.
TEST_CASE("engine: an entry kept in the store alone is reported stored") {
  EngineOptions options;
  options.memory_max_bytes = 4000;
  Fixture f(options);
  f.body = std::string(5000, 'x');  // more than the memory tier holds
  auto first = f.Get();
  REQUIRE(first.ok());
  REQUIRE(first->source == Source::kNetwork);
  CHECK(first->stored);
  REQUIRE(f.Flush().ok());
  REQUIRE(f.store.records().count(*Engine::KeyFor(kUrl, "")) == 1);
  auto again = f.Get();
  REQUIRE(again.ok());
  CHECK(again->source == Source::kStore);
  CHECK(again->stored);
}

TEST_CASE("engine: miss, then fresh from memory without a request") {
  Fixture f;
  auto first = f.Get();
  REQUIRE(first.ok());
  CHECK(first->state == CacheState::kMiss);
  CHECK(first->source == Source::kNetwork);
  CHECK(first->entry->body == "v1");
  CHECK(first->stored);
  CHECK_FALSE(first->entry->headers.Has("set-cookie"));
  f.Advance(1000);
  auto second = f.Get();
  REQUIRE(second.ok());
  CHECK(second->state == CacheState::kFresh);
  CHECK(second->source == Source::kMemory);
  CHECK(second->age_ms >= 1000);
  CHECK(f.origin.CountRequests(kUrl) == 1);
  CHECK(f.engine->metrics().memory_hits == 1);
  CHECK(f.engine->metrics().misses == 1);
}

TEST_CASE("engine: a memory hit answers inside Get") {
  Fixture f;
  f.Get();
  bool answered = false;
  f.engine->Get({kUrl}, f.loop.now(), [&](Result<CacheResult> r) {
    answered = r.ok() && r->state == CacheState::kFresh;
  });
  CHECK(answered);
}

TEST_CASE("engine: peek answers synchronously from memory only") {
  Fixture f;
  CHECK(f.engine->Peek({kUrl}, f.loop.now()).status().IsNotFound());
  f.Get();
  auto peek = f.engine->Peek({kUrl}, f.loop.now());
  REQUIRE(peek.ok());
  CHECK(peek->entry->body == "v1");
  CHECK(f.engine->Peek({"not a url"}, f.loop.now()).status().code() == Code::kInvalidArgument);
}

TEST_CASE("engine: MemoryBodyHash reads the memory tier at any age and counts no peek") {
  Fixture f;
  f.cache_control = "max-age=10";
  auto key = Engine::KeyFor(kUrl, "");
  REQUIRE(key.ok());
  CHECK(f.engine->MemoryBodyHash(*key).status().IsNotFound());
  f.Get();
  auto peek = f.engine->Peek({kUrl}, f.loop.now());
  REQUIRE(peek.ok());
  const uint64_t peeks = f.engine->metrics().peeks;
  const uint64_t peek_hits = f.engine->metrics().peek_hits;
  auto hash = f.engine->MemoryBodyHash(*key);
  REQUIRE(hash.ok());
  CHECK(*hash == peek->entry->body_hash);
  f.Advance(60'000);  // stale: still held
  CHECK(f.engine->MemoryBodyHash(*key).ok());
  CHECK(f.engine->metrics().peeks == peeks);
  CHECK(f.engine->metrics().peek_hits == peek_hits);
  CHECK(f.engine->MemoryBodyHash("no such key").status().IsNotFound());
}

TEST_CASE("engine: stale-while-revalidate serves stale, revalidates once with If-None-Match") {
  Fixture f;
  f.cache_control = "max-age=10, stale-while-revalidate=60";
  f.Get();
  f.Advance(20'000);
  auto stale = f.Get();
  REQUIRE(stale.ok());
  CHECK(stale->state == CacheState::kStale);
  CHECK(stale->revalidating);
  CHECK(stale->entry->body == "v1");
  f.Settle();
  CHECK(f.origin.CountRequests(kUrl) == 2);
  CHECK(f.requests_with_inm == 1);
  CHECK(f.engine->metrics().not_modified == 1);
  // The 304 refreshed freshness: fresh again, no request.
  auto fresh = f.Get();
  CHECK(fresh->state == CacheState::kFresh);
  CHECK(f.origin.CountRequests(kUrl) == 2);
}

TEST_CASE("engine: subscribers hear about changed data, not about 304s") {
  Fixture f;
  f.cache_control = "max-age=0, stale-while-revalidate=600";
  auto key = Engine::KeyFor(kUrl, "");
  REQUIRE(key.ok());
  int calls = 0;
  std::string seen;
  auto sub = f.engine->Subscribe(*key, [&](const CacheResult& r) {
    calls++;
    seen = r.entry->body;
  });
  REQUIRE(sub.ok());
  f.Get();
  f.Advance(1000);
  f.Get();  // stale -> 304
  f.Settle();
  CHECK(calls == 0);
  f.body = "v2";
  f.etag = "\"v2\"";
  f.Advance(1000);
  auto stale = f.Get();
  CHECK(stale->entry->body == "v1");
  f.Settle();
  CHECK(calls == 1);
  CHECK(seen == "v2");
  CHECK(f.engine->metrics().revalidations_changed == 1);
  f.engine->Unsubscribe(*sub);
  f.body = "v3";
  f.etag = "\"v3\"";
  f.Advance(1000);
  f.Get();
  f.Settle();
  CHECK(calls == 1);
}

TEST_CASE("engine: concurrent gets of one key make one request") {
  Fixture f;
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    f.engine->Get({kUrl}, f.loop.now(), [&](Result<CacheResult> r) {
      CHECK(r.ok());
      answered++;
    });
  }
  f.loop.RunAll();
  CHECK(answered == 5);
  CHECK(f.origin.CountRequests(kUrl) == 1);
  CHECK(f.engine->metrics().coalesced >= 4);
}

TEST_CASE("engine: no-store is never kept, and replaces what was kept") {
  Fixture f;
  f.Get();
  f.Flush();
  CHECK(f.store.records().size() == 1);
  f.cache_control = "no-store";
  f.body = "secret";
  f.etag = "\"s\"";
  f.Advance(61'000);
  auto r = f.Get();
  CHECK(r->entry->body == "secret");
  CHECK_FALSE(r->stored);
  f.Flush();
  CHECK(f.store.records().empty());
  CHECK(f.engine->Peek({kUrl}, f.loop.now()).status().IsNotFound());
}

TEST_CASE("engine: no-cache always validates before serving") {
  Fixture f;
  f.cache_control = "no-cache";
  f.Get();
  auto second = f.Get();
  CHECK(second->state == CacheState::kRevalidated);
  CHECK(f.requests_with_inm == 1);
}

TEST_CASE("engine: stale-if-error serves stored data while the origin fails") {
  Fixture f;
  f.cache_control = "max-age=1, stale-if-error=600";
  f.Get();
  f.Advance(5000);
  f.status = 503;
  f.etag = "\"other\"";
  auto r = f.Get();
  REQUIRE(r.ok());
  CHECK(r->state == CacheState::kStaleIfError);
  CHECK(r->entry->body == "v1");
  f.origin.down = true;
  auto r2 = f.Get();
  REQUIRE(r2.ok());
  CHECK(r2->state == CacheState::kStaleIfError);
  CHECK(f.engine->metrics().stale_if_error_served == 2);
}

TEST_CASE("engine: without stale-if-error a failing origin is an error") {
  Fixture f;
  f.cache_control = "max-age=1";
  f.Get();
  f.Advance(5000);
  f.origin.down = true;
  auto r = f.Get();
  CHECK(r.status().code() == Code::kUnavailable);
  f.origin.down = false;
  f.status = 503;
  f.etag = "\"x\"";
  auto r2 = f.Get();
  REQUIRE(r2.ok());
  CHECK(r2->state == CacheState::kMiss);
  CHECK(r2->entry->status == 503);
}

TEST_CASE("engine: must-revalidate forbids serving stale, even on error") {
  Fixture f;
  f.cache_control = "max-age=1, must-revalidate, stale-while-revalidate=600, stale-if-error=600";
  f.Get();
  f.Advance(5000);
  auto r = f.Get();
  CHECK(r->state == CacheState::kRevalidated);
  f.Advance(5000);
  f.origin.down = true;
  CHECK_FALSE(f.Get().ok());
}

TEST_CASE("engine: route policy max_stale caps stale serving") {
  EngineOptions options;
  RoutePolicy policy;
  policy.pattern = "/issues/:id";
  policy.max_stale_ms = 5000;
  options.routes.push_back(policy);
  Fixture f(options);
  f.cache_control = "max-age=0, stale-while-revalidate=600";
  f.Get();
  f.Advance(3000);
  CHECK(f.Get()->state == CacheState::kStale);
  f.Settle();
  f.Advance(10'000);
  CHECK(f.engine->Peek({kUrl}, f.loop.now()).status().IsNotFound());
  CHECK(f.Get()->state == CacheState::kRevalidated);
}

TEST_CASE("engine: revalidate_after_serving revalidates fresh hits") {
  EngineOptions options;
  options.default_policy.revalidate_after_serving = true;
  Fixture f(options);
  f.Get();
  auto hit = f.Get();
  CHECK(hit->state == CacheState::kFresh);
  CHECK(hit->revalidating);
  f.Settle();
  CHECK(f.requests_with_inm == 1);
}

TEST_CASE("engine: Vary selects the stored variant") {
  Fixture f;
  f.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse r;
    r.status = 200;
    r.headers.Set("Cache-Control", "max-age=60");
    r.headers.Set("Vary", "Accept-Language");
    r.headers.Set("Date", FormatHttpDate(now));
    r.body = req.headers.Get("accept-language").value_or("none");
    return r;
  };
  f.Get(kUrl, "", {{"Accept-Language", "fr"}});
  auto fr = f.Get(kUrl, "", {{"Accept-Language", "fr"}});
  CHECK(fr->state == CacheState::kFresh);
  CHECK(fr->entry->body == "fr");
  auto de = f.Get(kUrl, "", {{"Accept-Language", "de"}});
  CHECK(de->state == CacheState::kMiss);
  CHECK(de->entry->body == "de");
}

TEST_CASE("engine: namespaces never see each other's entries") {
  Fixture f;
  f.Get(kUrl, "alice");
  auto bob = f.Get(kUrl, "bob");
  CHECK(bob->state == CacheState::kMiss);
  CHECK(f.engine->Clear("alice", f.loop.now()).ok());
  CHECK(f.engine->Peek({kUrl, "alice"}, f.loop.now()).status().IsNotFound());
  CHECK(f.engine->Peek({kUrl, "bob"}, f.loop.now()).ok());
  CHECK(f.engine->Clear("bad namespace!", f.loop.now()).code() == Code::kInvalidArgument);
}

TEST_CASE("engine: write-behind batches, flush, and store hits after a restart") {
  EngineOptions options;
  options.write_batch_max = 100;
  Fixture f(options);
  for (int i = 0; i < 10; ++i) f.Get("https://app.example/issues/" + std::to_string(i));
  CHECK(f.store.records().empty());  // nothing written yet: batched
  CHECK_FALSE(f.engine->NextDeadline().IsNever());
  CHECK(f.Flush().ok());
  CHECK(f.store.records().size() == 10);
  CHECK(f.store.batches_applied() == 1);
  // A new engine over the same store: a store hit, promoted to memory.
  auto created = Engine::Create({}, &f.store, &f.origin, 7);
  REQUIRE(created.ok());
  f.engine = std::move(created).value();
  auto r = f.Get("https://app.example/issues/3");
  REQUIRE(r.ok());
  CHECK(r->source == Source::kStore);
  CHECK(r->state == CacheState::kFresh);
  CHECK(f.Get("https://app.example/issues/3")->source == Source::kMemory);
  CHECK(f.origin.CountRequests("https://app.example/issues/3") == 1);
}

TEST_CASE("engine: a store hit rewrites last access only when the stored one is touch_interval_ms old") {
  EngineOptions options;
  options.touch_interval_ms = 60'000;
  Fixture f(options);
  f.cache_control = "max-age=86400";
  REQUIRE(f.Get().ok());
  REQUIRE(f.Flush().ok());
  const Instant written = f.store.records().at(" " + std::string(kUrl)).last_access;
  const uint64_t batches = f.store.batches_applied();
  // Re-read through a new engine (memory cold) within the interval: no write.
  auto reopen = [&f](EngineOptions o) {
    auto created = Engine::Create(o, &f.store, &f.origin, 7);
    REQUIRE(created.ok());
    f.engine = std::move(created).value();
  };
  f.loop.RunUntil(AddMs(written, 59'000));
  reopen(options);
  auto r = f.Get();
  REQUIRE(r.ok());
  CHECK(r->source == Source::kStore);
  REQUIRE(f.Flush().ok());
  CHECK(f.store.batches_applied() == batches);
  CHECK(f.store.records().at(" " + std::string(kUrl)).last_access == written);
  // Once the stored access is that old, the hit writes the new one.
  // (The touch carries the time the read completed, after the store's
  // latency: between the call and the flush's end.)
  auto stored_access = [&f] { return f.store.records().at(" " + std::string(kUrl)).last_access; };
  f.loop.RunUntil(AddMs(written, 60'000));
  reopen(options);
  Instant read_at = f.loop.now();
  REQUIRE(f.Get().ok());
  REQUIRE(f.Flush().ok());
  CHECK(f.store.batches_applied() == batches + 1);
  CHECK(stored_access() >= read_at);
  CHECK(stored_access() <= f.loop.now());
  // 0: every hit writes it.
  options.touch_interval_ms = 0;
  f.loop.RunUntil(AddMs(f.loop.now(), 1));
  reopen(options);
  read_at = f.loop.now();
  REQUIRE(f.Get().ok());
  REQUIRE(f.Flush().ok());
  CHECK(f.store.batches_applied() == batches + 2);
  CHECK(stored_access() >= read_at);
  CHECK(f.origin.CountRequests(kUrl) == 1);
}

TEST_CASE("engine: the write-behind deadline flushes without an explicit flush") {
  EngineOptions options;
  options.write_delay_ms = 50;
  Fixture f(options);
  f.Get();
  Instant deadline = f.engine->NextDeadline();
  REQUIRE_FALSE(deadline.IsNever());
  f.loop.RunUntil(deadline);
  f.engine->OnDeadline(f.loop.now());
  f.loop.RunAll();
  CHECK(f.store.records().size() == 1);
  CHECK(f.engine->NextDeadline().IsNever());
}

TEST_CASE("engine: a corrupt stored record is dropped and counted, then refetched") {
  Fixture f;
  f.Get();
  f.Flush();
  auto key = *Engine::KeyFor(kUrl, "");
  f.store.mutable_records()[key].value[5] ^= 0x55;
  auto created = Engine::Create({}, &f.store, &f.origin, 7);
  f.engine = std::move(created).value();
  auto r = f.Get();
  REQUIRE(r.ok());
  CHECK(r->state == CacheState::kMiss);
  CHECK(f.engine->metrics().corrupt_records == 1);
}

TEST_CASE("engine: a failing store degrades to memory-only and keeps serving") {
  Fixture f;
  f.store.faults.write_error = 1.0;
  f.Get();
  Status s = f.Flush();
  CHECK(s.code() == Code::kNoSpace);
  CHECK(f.engine->metrics().store_degraded);
  auto r = f.Get();
  CHECK(r->state == CacheState::kFresh);
  CHECK(r->source == Source::kMemory);
}

// Degrading dropped the pending writes: after a confirmed write, the put of
// the version fetched after it (which had taken the place of the target's
// removal) was lost, and the next session served the version before the
// write, as fresh, from the store.
TEST_CASE("engine: a store that degrades is told to forget what this session replaced") {
  Fixture f;
  f.cache_control = "max-age=600";
  REQUIRE(f.Get().ok());
  REQUIRE(f.Flush().ok());
  f.store.faults.disk_full = true;  // puts fail from now on; removals still apply
  f.body = "v2";                    // the origin after the write
  f.etag = "\"v2\"";
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  std::optional<Status> done;
  f.engine->Mutate({kUrl}, HttpResponse{200, {}, "v2"}, write, f.loop.now(),
                   [&](Status s) { done = s; });
  f.loop.RunAll();
  REQUIRE(done.has_value());
  REQUIRE(done->ok());
  CHECK(f.Flush().code() == Code::kNoSpace);
  CHECK(f.engine->metrics().store_degraded);
  f.Settle();
  CHECK(f.engine->metrics().degrade_removals == 1);

  f.store.faults.disk_full = false;  // the next session
  auto next = Engine::Create(EngineOptions{}, &f.store, &f.origin, 43);
  REQUIRE(next.ok());
  std::unique_ptr<Engine> engine = std::move(next).value();
  engine->Start(f.loop.now());
  std::optional<Result<CacheResult>> out;
  engine->Get({kUrl}, f.loop.now(), [&](Result<CacheResult> r) { out = std::move(r); });
  while (!out && f.loop.RunOne()) {
  }
  REQUIRE(out.has_value());
  REQUIRE(out->ok());
  CHECK((*out)->entry->body == "v2");  // not v1, the version before the write
  CHECK((*out)->source == Source::kNetwork);
}

TEST_CASE("engine: memory budget holds; oversized entries are served but not kept") {
  EngineOptions options;
  options.memory_max_bytes = 4000;
  options.entry_max_bytes = 2000;
  Fixture f(options, /*with_store=*/false);
  f.body = std::string(1000, 'x');
  for (int i = 0; i < 20; ++i) {
    f.Get("https://app.example/issues/" + std::to_string(i));
    CHECK(f.engine->metrics().memory_bytes <= 4000);
  }
  CHECK(f.engine->metrics().memory_evictions > 0);
  f.body = std::string(3000, 'y');
  auto big = f.Get("https://app.example/big");
  CHECK(big->entry->body.size() == 3000);
  CHECK_FALSE(big->stored);
  CHECK(f.engine->metrics().too_large == 1);
}

TEST_CASE("engine: invalidate by tag marks stale, by prefix removes") {
  Fixture f;
  f.cache_control = "max-age=600, stale-while-revalidate=600";
  f.Get();
  f.Get("https://app.example/issues/2");
  auto marked = f.engine->Invalidate({InvalidateSelector::Kind::kTag, "issue-1", ""},
                                     InvalidateMode::kMarkStale, f.loop.now());
  REQUIRE(marked.ok());
  CHECK(*marked == 1);
  auto r = f.Get();
  CHECK(r->state == CacheState::kStale);
  CHECK(r->revalidating);
  f.Settle();
  CHECK(f.Get()->state == CacheState::kFresh);
  auto removed = f.engine->Invalidate({InvalidateSelector::Kind::kUrlPrefix,
                                       "https://app.example/issues/", ""},
                                      InvalidateMode::kRemove, f.loop.now());
  CHECK(*removed == 2);
  CHECK(f.Get()->state == CacheState::kMiss);
}

// A tag invalidation removed the store's records by their tag, and dropped
// the pending write of a matching entry: when the store held an older
// version of that key without the tag (the tag came with the new version),
// that version survived, and the next get served it from the store, fresh.
TEST_CASE("engine: a tag invalidation leaves no older untagged version of a pending entry in the store") {
  for (InvalidateMode mode : {InvalidateMode::kRemove, InvalidateMode::kMarkStale}) {
    CAPTURE(static_cast<int>(mode));
    EngineOptions options;
    options.write_delay_ms = 60'000;  // the new version's put stays pending
    Fixture f(options);
    f.cache_control = "max-age=600";
    bool tagged = false;  // v1 carries no tag; v2 is tagged "issue-1"
    auto handler = f.origin.handler;
    f.origin.handler = [&tagged, handler](const HttpRequest& req, Instant now) {
      HttpResponse r = handler(req, now);
      if (!tagged) r.headers.Remove("Cache-Tag");
      return r;
    };
    REQUIRE(f.Get()->entry->body == "v1");
    REQUIRE(f.Flush().ok());  // the store holds v1, untagged
    tagged = true;
    f.body = "v2";
    f.etag = "\"v2\"";
    CacheRequest reload{kUrl, "", {}};
    reload.mode = CacheMode::kReload;
    std::optional<Result<CacheResult>> got;
    f.engine->Get(reload, f.loop.now(), [&](Result<CacheResult> r) { got = std::move(r); });
    while (!got && f.loop.RunOne()) {
    }
    REQUIRE(got.has_value());
    REQUIRE((*got)->entry->body == "v2");
    REQUIRE(f.engine->metrics().pending_writes == 1);  // v2's put, not yet written

    auto n = f.engine->Invalidate({InvalidateSelector::Kind::kTag, "issue-1", ""}, mode,
                                  f.loop.now());
    REQUIRE(n.ok());
    CHECK(*n == 1);
    REQUIRE(f.Flush().ok());
    // Neither mode leaves v1 to be served as if nothing had been invalidated.
    auto stored = f.store.records().find(" " + std::string(kUrl));
    if (stored != f.store.records().end()) {
      auto decoded = DecodeEntry(stored->second.value, FreshnessOptions{});
      REQUIRE(decoded.ok());
      CHECK(decoded->body == "v2");
      CHECK(decoded->invalidated);
    }
    // A new session (memory cold) does not serve v1 fresh from the store.
    auto created = Engine::Create(options, &f.store, &f.origin, 7);
    REQUIRE(created.ok());
    f.engine = std::move(created).value();
    auto r = f.Get();
    REQUIRE(r.ok());
    CHECK(r->entry->body == "v2");
    CHECK(r->state != CacheState::kFresh);
  }
}

TEST_CASE("engine: mutate is optimistic and rolls back when the write fails") {
  Fixture f;
  f.Get();
  auto key = *Engine::KeyFor(kUrl, "");
  std::vector<std::string> seen;
  f.engine->Subscribe(key, [&](const CacheResult& r) { seen.push_back(r.entry->body); });
  f.RefuseWrites();
  std::optional<Status> done;
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  f.engine->Mutate({kUrl}, HttpResponse{200, {}, "optimistic"}, write, f.loop.now(),
                   [&](Status s) { done = s; });
  CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "optimistic");
  f.loop.RunAll();
  REQUIRE(done.has_value());
  CHECK(done->code() == Code::kHttpError);
  CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "v1");
  CHECK(seen == std::vector<std::string>{"optimistic", "v1"});
  CHECK(f.engine->metrics().rollbacks == 1);
}

// Two writes of one key in flight, both refused: whichever fails first, the
// cache ends on the entry before them, never on a value the origin refused.
TEST_CASE("engine: two failed mutates of one key roll back to the entry before both") {
  for (bool first_fails_first : {true, false}) {
    CAPTURE(first_fails_first);
    Fixture f;
    f.Get();
    auto key = *Engine::KeyFor(kUrl, "");
    std::vector<std::string> seen;
    f.engine->Subscribe(key, [&](const CacheResult& r) { seen.push_back(r.entry ? r.entry->body : "(none)"); });
    f.origin.handler = [base = f.origin.handler](const HttpRequest& req, Instant now) {
      if (req.method == "PATCH") return HttpResponse{500, {}, "nope"};
      return base(req, now);
    };
    HttpRequest write;
    write.method = "PATCH";
    write.url = kUrl;
    int failed = 0;
    f.origin.latency_ms = first_fails_first ? 10 : 50;
    f.engine->Mutate({kUrl}, HttpResponse{200, {}, "t1"}, write, f.loop.now(), [&](Status s) { failed += !s.ok(); });
    f.origin.latency_ms = first_fails_first ? 50 : 10;
    f.engine->Mutate({kUrl}, HttpResponse{200, {}, "t2"}, write, f.loop.now(), [&](Status s) { failed += !s.ok(); });
    f.loop.RunAll();
    CHECK(failed == 2);
    CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "v1");
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back() == "v1");
  }
}

TEST_CASE("engine: CancelAll rolls two writes of one key back to the entry before both") {
  Fixture f;
  f.Get();
  f.origin.handler = [base = f.origin.handler](const HttpRequest& req, Instant now) {
    if (req.method == "PATCH") return HttpResponse{204, {}, ""};
    return base(req, now);
  };
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  int cancelled = 0;
  for (const char* value : {"t1", "t2"}) {
    f.engine->Mutate({kUrl}, HttpResponse{200, {}, value}, write, f.loop.now(),
                     [&](Status s) { cancelled += s.code() == Code::kCancelled; });
  }
  f.engine->CancelAll(f.loop.now());
  CHECK(cancelled == 2);
  CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "v1");
}

TEST_CASE("engine: a failed mutate of a key not cached before tells subscribers it is gone") {
  Fixture f;
  auto key = *Engine::KeyFor(kUrl, "");
  std::vector<std::string> seen;
  f.engine->Subscribe(key, [&](const CacheResult& r) { seen.push_back(r.entry ? r.entry->body : "(none)"); });
  f.origin.handler = [](const HttpRequest&, Instant) { return HttpResponse{500, {}, "nope"}; };
  HttpRequest write;
  write.method = "PUT";
  write.url = kUrl;
  std::optional<Status> done;
  f.engine->Mutate({kUrl}, HttpResponse{200, {}, "created"}, write, f.loop.now(), [&](Status s) { done = s; });
  f.loop.RunAll();
  REQUIRE(done.has_value());
  CHECK_FALSE(done->ok());
  CHECK(f.engine->Peek({kUrl}, f.loop.now()).status().code() == Code::kNotFound);
  CHECK(seen == std::vector<std::string>{"created", "(none)"});
}

// The key's entry was in the store only (too big for memory): a failed
// write rolled back to "nothing" and told subscribers the entry was gone,
// though the store still held it and the next get served it from there.
TEST_CASE("engine: a failed mutate of a key held in the store alone forgets it there too") {
  EngineOptions options;
  options.memory_max_bytes = 4000;
  Fixture f(options);
  f.body = std::string(5000, 'x');  // more than the memory tier holds
  REQUIRE(f.Get().ok());
  REQUIRE(f.Flush().ok());
  auto key = *Engine::KeyFor(kUrl, "");
  std::vector<std::string> seen;
  f.engine->Subscribe(key, [&](const CacheResult& r) {
    seen.push_back(r.entry ? r.entry->body.substr(0, 8) : "(none)");
  });
  f.RefuseWrites();
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  std::optional<Status> done;
  f.engine->Mutate({kUrl}, HttpResponse{200, {}, "optimist"}, write, f.loop.now(),
                   [&](Status s) { done = s; });
  f.loop.RunAll();
  REQUIRE(done.has_value());
  CHECK(done->code() == Code::kHttpError);
  CHECK(seen == std::vector<std::string>{"optimist", "(none)"});
  REQUIRE(f.Flush().ok());
  CHECK(f.store.records().count(key) == 0);
  auto after = f.Get();
  REQUIRE(after.ok());
  CHECK(after->source == Source::kNetwork);
}

// A second tab wrote a newer record: this engine changes its memory copy,
// drops its pending writes, and leaves the shared store alone.
TEST_CASE("engine: a memory_only invalidation leaves the store's records and drops pending writes") {
  for (InvalidateMode mode : {InvalidateMode::kMarkStale, InvalidateMode::kRemove}) {
    CAPTURE(static_cast<int>(mode));
    EngineOptions options;
    options.write_delay_ms = 60000;
    Fixture f(options);
    f.cache_control = "max-age=600, stale-while-revalidate=600";
    f.Get();
    CHECK(f.Flush().ok());
    auto key = *Engine::KeyFor(kUrl, "");
    REQUIRE(f.store.records().count(key) == 1);
    f.store.mutable_records()[key].tags.push_back("newer");  // stands for the other tab's record
    f.Get("https://app.example/issues/2");                   // pending, not yet written
    auto key2 = *Engine::KeyFor("https://app.example/issues/2", "");
    InvalidateSelector peer{InvalidateSelector::Kind::kUrlPrefix, "https://app.example/issues/", ""};
    peer.memory_only = true;
    auto n = f.engine->Invalidate(peer, mode, f.loop.now());
    REQUIRE(n.ok());
    CHECK(*n == 2);
    auto peeked = f.engine->Peek({kUrl}, f.loop.now());
    if (mode == InvalidateMode::kRemove) {
      CHECK(peeked.status().code() == Code::kNotFound);
    } else {
      REQUIRE(peeked.ok());
      CHECK(peeked->state == CacheState::kStale);
    }
    CHECK(f.Flush().ok());
    REQUIRE(f.store.records().count(key) == 1);
    CHECK(f.store.records().at(key).tags.back() == "newer");
    CHECK(f.store.records().count(key2) == 0);  // its pending write was dropped
  }
}

// A revalidation on the wire when the app mutates: its 304 validates the
// version from before the write and must not replace the optimistic value
// the app is showing (the write's own outcome decides what follows).
TEST_CASE("engine: a revalidation's 304 during a mutate leaves the optimistic value in place") {
  Fixture f;
  f.cache_control = "max-age=60, stale-while-revalidate=600";
  f.Get();
  f.Advance(90'000);
  f.origin.latency_ms = 50;
  auto stale = f.Get();  // served stale; the revalidation's 304 comes in 50 ms
  REQUIRE(stale.ok());
  REQUIRE(stale->revalidating);
  f.RefuseWrites();
  f.origin.latency_ms = 200;  // the write's answer comes later
  std::optional<Status> done;
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  f.engine->Mutate({kUrl}, HttpResponse{200, {}, "optimistic"}, write, f.loop.now(),
                   [&](Status s) { done = s; });
  f.Advance(100);
  REQUIRE(f.requests_with_inm == 1);  // the 304 arrived
  REQUIRE_FALSE(done.has_value());
  CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "optimistic");
  f.loop.RunAll();
  REQUIRE(done.has_value());
  CHECK_FALSE(done->ok());
  CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "v1");  // rolled back
}

TEST_CASE("engine: a successful mutate revalidates and keeps the origin's version") {
  Fixture f;
  f.Get();
  f.origin.handler = [&f, base = f.origin.handler](const HttpRequest& req, Instant now) {
    if (req.method == "PATCH") {
      f.body = "patched";
      f.etag = "\"p\"";
      return HttpResponse{204, {}, ""};
    }
    return base(req, now);
  };
  std::optional<Status> done;
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  f.engine->Mutate({kUrl}, HttpResponse{200, {}, "patched?"}, write, f.loop.now(),
                   [&](Status s) { done = s; });
  f.Settle();
  REQUIRE(done.has_value());
  CHECK(done->ok());
  CHECK(f.engine->Peek({kUrl}, f.loop.now())->entry->body == "patched");
}

TEST_CASE("engine: lanes have their own limits; preheats never delay navigation") {
  EngineOptions options;
  options.lanes[2] = {1, 10};  // preheat: one at a time
  Fixture f(options, /*with_store=*/false);
  for (int i = 0; i < 5; ++i) {
    CacheRequest req{"https://app.example/p/" + std::to_string(i), "", {}, Lane::kPreheat};
    f.engine->Get(req, f.loop.now(), [](Result<CacheResult>) {});
  }
  CHECK(f.engine->InflightCount(Lane::kPreheat) == 1);
  CHECK(f.engine->QueuedCount(Lane::kPreheat) == 4);
  bool answered = false;
  f.engine->Get({kUrl}, f.loop.now(), [&](Result<CacheResult> r) { answered = r.ok(); });
  CHECK(f.engine->InflightCount(Lane::kNavigate) == 1);
  f.Advance(f.origin.latency_ms);
  CHECK(answered);
  // A navigation for a queued preheat promotes it to the navigate lane.
  bool promoted = false;
  f.engine->Get({"https://app.example/p/4"}, f.loop.now(),
                [&](Result<CacheResult> r) { promoted = r.ok(); });
  CHECK(f.engine->QueuedCount(Lane::kPreheat) <= 2);
  f.Advance(f.origin.latency_ms);
  CHECK(promoted);
  f.loop.RunAll();
  CHECK(f.engine->metrics().requests_by_lane[2] == 4);
}

TEST_CASE("engine: a full lane queue rejects with kLimitReached") {
  EngineOptions options;
  options.lanes[0] = {1, 1};
  Fixture f(options, /*with_store=*/false);
  std::vector<Code> codes;
  for (int i = 0; i < 3; ++i) {
    f.engine->Get({"https://app.example/x/" + std::to_string(i)}, f.loop.now(),
                  [&](Result<CacheResult> r) { codes.push_back(r.status().code()); });
  }
  REQUIRE(codes.size() == 1);
  CHECK(codes[0] == Code::kLimitReached);
  f.loop.RunAll();
  CHECK(codes.size() == 3);
}

TEST_CASE("engine: malformed URLs and namespaces are clear errors") {
  Fixture f;
  CHECK(f.Get("javascript:alert(1)").status().code() == Code::kInvalidArgument);
  CHECK(f.Get("https://app.example/", "a b").status().code() == Code::kInvalidArgument);
  CHECK(f.engine->metrics().bad_requests == 2);
  CHECK(f.origin.requests.empty());
}

TEST_CASE("engine: malformed max-age is treated as stale and counted") {
  Fixture f;
  f.cache_control = "max-age=abc";
  f.Get();
  auto r = f.Get();
  CHECK(r->state == CacheState::kRevalidated);
  CHECK(f.engine->metrics().malformed_headers >= 1);
}

TEST_CASE("engine: options are validated") {
  SimLoop loop;
  FakeOrigin origin(&loop, 1);
  EngineOptions bad;
  bad.lanes[0].inflight_max = 0;
  CHECK(Engine::Create(bad, nullptr, &origin, 1).status().code() == Code::kInvalidArgument);
  EngineOptions bad_route;
  bad_route.routes.push_back(RoutePolicy{"no-slash"});
  CHECK(Engine::Create(bad_route, nullptr, &origin, 1).status().code() ==
        Code::kInvalidArgument);
  CHECK(Engine::Create({}, nullptr, nullptr, 1).status().code() == Code::kInvalidArgument);
}

TEST_CASE("engine: metrics export as JSON with latency buckets") {
  Fixture f;
  f.Get();
  f.Get();
  std::string json = f.engine->MetricsJson();
  CHECK(json.find("\"memory_hits\":1") != std::string::npos);
  CHECK(json.find("\"get_latency_ms\"") != std::string::npos);
  CHECK(f.engine->metrics().get_latency.count() == 2);
}

TEST_CASE("engine: a stale read whose revalidation the full lane refused says it is not revalidating") {
  EngineOptions options;
  options.lanes[static_cast<int>(Lane::kRevalidate)].inflight_max = 1;
  options.lanes[static_cast<int>(Lane::kRevalidate)].queue_max = 1;
  Fixture f(options);
  f.cache_control = "max-age=10, stale-while-revalidate=600";
  f.origin.latency_ms = 100;  // revalidations stay on the wire while the reads run
  const std::string urls[] = {"https://app.example/issues/1", "https://app.example/issues/2",
                              "https://app.example/issues/3"};
  for (const auto& url : urls) f.Get(url);
  f.Advance(20'000);
  std::vector<CacheResult> served;
  for (const auto& url : urls) {
    auto r = f.Get(url);
    REQUIRE(r.ok());
    served.push_back(*r);
  }
  CHECK(served[0].state == CacheState::kStale);
  CHECK(served[0].revalidating);  // on the wire
  CHECK(served[1].revalidating);  // queued
  CHECK(served[2].state == CacheState::kStale);
  CHECK_FALSE(served[2].revalidating);  // refused: no fetch will complete it
  CHECK(f.engine->metrics().queue_rejected == 1);
  f.Settle();
  CHECK(f.origin.CountRequests(urls[2]) == 1);  // only its first fetch
}

TEST_CASE("engine: a write confirmed while a revalidation was on the wire leaves nothing fresh from before it") {
  // RFC 9111 4.4: a 2xx to an unsafe request invalidates what is stored,
  // including a response that arrives while the write is in flight.
  for (bool revalidation_first : {true, false}) {
    CAPTURE(revalidation_first);
    Fixture f;
    f.Get();            // v1, max-age=60
    f.Advance(61'000);  // stale: the next get revalidates
    f.origin.handler = [&f, base = f.origin.handler](const HttpRequest& req, Instant now) {
      if (req.method == "PATCH") {
        f.body = "patched";
        f.etag = "\"p\"";
        return HttpResponse{204, {}, ""};
      }
      return base(req, now);
    };
    // A reader revalidates (the origin, before the write, answers 304 for v1)
    // and the user saves a change in the same instant; the PATCH is answered
    // after the revalidation or before it.
    f.origin.latency_ms = revalidation_first ? 10 : 30;
    f.engine->Get({kUrl}, f.loop.now(), [](Result<CacheResult>) {});
    f.origin.latency_ms = 20;
    std::optional<Status> done;
    HttpRequest write;
    write.method = "PATCH";
    write.url = kUrl;
    f.engine->Mutate({kUrl}, HttpResponse{200, {}, "patched?"}, write, f.loop.now(),
                     [&](Status s) { done = s; });
    f.Settle();
    REQUIRE(done.has_value());
    REQUIRE(done->ok());
    auto after = f.Get();
    REQUIRE(after.ok());
    CHECK(after->entry->body == "patched");  // the origin's version, fetched after the write
    CHECK(f.origin.CountRequests(kUrl) == 4);  // v1, the revalidation, the PATCH, the refetch
  }
}

TEST_CASE("engine: an invalidation while a request is on the wire is not undone by its answer") {
  for (InvalidateMode mode : {InvalidateMode::kMarkStale, InvalidateMode::kRemove}) {
    CAPTURE(static_cast<int>(mode));
    Fixture f;
    f.cache_control = "max-age=60, stale-while-revalidate=600";
    f.Get();            // v1
    f.Advance(61'000);  // stale: served, revalidated in the background
    auto stale = f.Get();
    REQUIRE(stale->revalidating);  // If-None-Match: "v1", answered 304 by the origin as it was
    // The data changes on the server and the app is told while the 304 is on its way.
    REQUIRE(f.engine->Invalidate({InvalidateSelector::Kind::kUrl, kUrl, ""}, mode, f.loop.now()).ok());
    f.body = "v2";
    f.etag = "\"v2\"";
    f.Settle();
    CHECK(f.origin.CountRequests(kUrl) == 2);
    auto after = f.Get();
    REQUIRE(after.ok());
    CHECK(after->state != CacheState::kFresh);  // never v1 as fresh again
    f.Settle();
    auto later = f.Get();
    REQUIRE(later.ok());
    CHECK(later->entry->body == "v2");
    CHECK(later->state == CacheState::kFresh);
  }
}

TEST_CASE("engine: a 304 naming another representation does not refresh the stored one") {
  // RFC 9111 4.3.4: a 304 whose strong validator matches no stored response
  // must not update it (here an origin that answers If-Modified-Since alone).
  Fixture f;
  int unconditional = 0;
  f.origin.handler = [&](const HttpRequest& req, Instant now) {
    HttpResponse r;
    r.headers.Set("ETag", f.etag);
    r.headers.Set("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT");
    r.headers.Set("Cache-Control", "max-age=60");
    r.headers.Set("Date", FormatHttpDate(now));
    if (req.headers.Has("if-modified-since")) {
      r.status = 304;
      return r;
    }
    unconditional++;
    r.status = 200;
    r.body = f.body;
    return r;
  };
  f.Get();  // body v1, ETag "v1"
  f.body = "v2";
  f.etag = "\"v2\"";
  f.Advance(61'000);
  auto r = f.Get();  // conditional on "v1": 304 with ETag "v2", then asked again without conditions
  REQUIRE(r.ok());
  CHECK(r->entry->body == "v2");
  CHECK(r->entry->headers.Get("etag") == std::string("\"v2\""));
  CHECK(unconditional == 2);
  CHECK(f.engine->metrics().not_modified == 0);
  // A 304 for the stored representation, weak or strong, still refreshes it.
  f.Advance(61'000);
  auto again = f.Get();
  CHECK(again->state == CacheState::kRevalidated);
  CHECK(unconditional == 2);
}

TEST_CASE("engine: without stale-while-revalidate, age equal to the lifetime is validated first") {
  // RFC 9111 4.2: fresh while lifetime > age; serving stale needs permission.
  Fixture f;
  f.origin.latency_ms = 0;
  f.origin.handler = [](const HttpRequest&, Instant) {
    HttpResponse r;  // no Date: its age is counted from its arrival
    r.status = 200;
    r.headers.Set("Cache-Control", "max-age=60");
    r.body = "v1";
    return r;
  };
  f.Get();
  f.Advance(60'000);
  auto r = f.Get();
  REQUIRE(r.ok());
  CHECK(r->state != CacheState::kStale);
  CHECK(f.origin.CountRequests(kUrl) == 2);
}

TEST_CASE("engine: without stale-if-error, an origin error at age equal to the lifetime is not hidden") {
  Fixture f;
  f.origin.latency_ms = 0;
  int requests = 0;
  f.origin.handler = [&](const HttpRequest&, Instant) {
    HttpResponse r;  // no Date: its age is counted from its arrival
    r.status = ++requests == 1 ? 200 : 503;
    r.headers.Set("Cache-Control", "max-age=60");
    r.body = requests == 1 ? "v1" : "down";
    return r;
  };
  f.Get();
  f.Advance(60'000);
  auto r = f.Get();
  REQUIRE(r.ok());
  CHECK(r->state != CacheState::kStaleIfError);
  CHECK(r->entry->status == 503);
}

TEST_CASE("engine: CancelAll answers every get, read and write still waiting") {
  EngineOptions options;
  options.lanes[static_cast<int>(Lane::kNavigate)].inflight_max = 1;  // the rest queue
  Fixture f(options);
  f.Get("https://app.example/stored");
  REQUIRE(f.Flush().ok());
  Fixture g(options);  // a new engine on its own store: nothing in memory
  g.store.mutable_records() = f.store.records();
  g.origin.latency_ms = 1000;
  std::vector<Status> answers;
  for (const char* url : {"https://app.example/a", "https://app.example/b", "https://app.example/stored"}) {
    g.engine->Get({url}, g.loop.now(), [&](Result<CacheResult> r) { answers.push_back(r.status()); });
  }
  HttpRequest write;
  write.method = "PATCH";
  write.url = "https://app.example/a";
  g.engine->Mutate({"https://app.example/c"}, HttpResponse{200, {}, "x"}, write, g.loop.now(),
                   [&](Status s) { answers.push_back(s); });
  CHECK(answers.empty());
  g.engine->CancelAll(g.loop.now());
  REQUIRE(answers.size() == 4);
  for (const Status& s : answers) CHECK(s.code() == Code::kCancelled);
  CHECK_FALSE(g.engine->Peek({"https://app.example/c"}, g.loop.now()).ok());  // rolled back
  g.Settle();  // late completions change nothing
  CHECK(answers.size() == 4);
  CHECK(g.Get("https://app.example/a").ok());  // still usable
}

TEST_CASE("engine: the first read of a fresh prefetch skips revalidation; later reads do not") {
  Fixture f;
  f.cache_control = "max-age=0, stale-while-revalidate=600";
  bool prefetched = false;
  f.engine->Prefetch({kUrl, "", {}, Lane::kPreheat}, f.loop.now(),
                     [&](Result<CacheResult> r) { prefetched = r.ok(); });
  f.loop.RunAll();
  REQUIRE(prefetched);
  f.Advance(1000);
  auto first = f.Get();
  CHECK(first->state == CacheState::kFresh);
  CHECK_FALSE(first->revalidating);
  auto second = f.Get();
  CHECK(second->state == CacheState::kStale);
  CHECK(second->revalidating);
  f.Settle();
  CHECK(f.origin.CountRequests(kUrl) == 2);  // the prefetch and one revalidation
  // A prefetch of what is stored answers from the tier without a request.
  bool from_memory = false;
  f.engine->Prefetch({kUrl, "", {}, Lane::kPreheat}, f.loop.now(),
                     [&](Result<CacheResult> r) { from_memory = r.ok() && r->source == Source::kMemory; });
  CHECK(from_memory);
  CHECK(f.origin.CountRequests(kUrl) == 2);
  CHECK(f.engine->metrics().prefetches == 2);
}

// A 429 with explicit freshness (storable under RFC 9111) to a preheat was
// kept, and the user's navigation was then served it as fresh.
TEST_CASE("engine: an error status to a prefetch alone is answered but kept in no tier") {
  for (int status : {429, 404, 503}) {
    CAPTURE(status);
    Fixture f;
    f.status = status;
    std::optional<Result<CacheResult>> prefetched;
    f.engine->Prefetch({kUrl, "", {}, Lane::kPreheat}, f.loop.now(),
                       [&](Result<CacheResult> r) { prefetched = std::move(r); });
    f.Settle();
    REQUIRE(prefetched.has_value());
    REQUIRE(prefetched->ok());
    CHECK((*prefetched)->entry->status == status);
    CHECK_FALSE((*prefetched)->stored);
    CHECK(f.Flush().ok());
    CHECK(f.store.records().empty());
    f.status = 200;
    auto got = f.Get();
    REQUIRE(got.ok());
    CHECK(got->entry->status == 200);
    CHECK(got->source == Source::kNetwork);
  }
  // A get that joined the request asked for it: kept as the headers allow.
  Fixture g;
  g.status = 429;
  g.engine->Prefetch({kUrl, "", {}, Lane::kPreheat}, g.loop.now(), [](Result<CacheResult>) {});
  auto joined = g.Get();
  REQUIRE(joined.ok());
  CHECK(joined->entry->status == 429);
  CHECK(joined->stored);
}

TEST_CASE("engine: clear watchers hear of every Clear before its waiters are cancelled") {
  Fixture f;
  std::vector<std::string> cleared;
  bool answered_before_watch = false;
  bool answered = false;
  f.engine->Get({kUrl, "alice"}, f.loop.now(), [&](Result<CacheResult> r) {
    answered = true;
    CHECK(r.status().code() == Code::kCancelled);
  });
  auto id = f.engine->WatchClears([&](const std::string& ns) {
    if (ns == "alice" && cleared.empty()) answered_before_watch = answered;
    cleared.push_back(ns);
  });
  REQUIRE(id.ok());
  CHECK(f.engine->Clear("alice", f.loop.now()).ok());
  CHECK(f.engine->Clear("bob", f.loop.now()).ok());
  CHECK(f.engine->Clear("bad namespace!", f.loop.now()).code() == Code::kInvalidArgument);
  CHECK(cleared == std::vector<std::string>{"alice", "bob"});
  CHECK(answered);
  CHECK_FALSE(answered_before_watch);
  f.engine->Unsubscribe(*id);
  CHECK(f.engine->Clear("alice", f.loop.now()).ok());
  CHECK(cleared.size() == 2);
  EngineOptions one;
  one.subscribers_max = 1;
  Fixture g(one);
  REQUIRE(g.engine->WatchClears([](const std::string&) {}).ok());
  CHECK(g.engine->WatchClears([](const std::string&) {}).status().code() == Code::kLimitReached);
  CHECK(g.engine->Subscribe("k", [](const CacheResult&) {}).status().code() == Code::kLimitReached);
}

TEST_CASE("engine: no prefetch grace for no-cache responses or after the grace period") {
  Fixture f;
  f.cache_control = "no-cache";
  f.engine->Prefetch({kUrl, "", {}, Lane::kPreheat}, f.loop.now(), [](Result<CacheResult>) {});
  f.loop.RunAll();
  CHECK(f.Get()->state == CacheState::kRevalidated);
  Fixture g;
  g.cache_control = "max-age=0, stale-while-revalidate=600";
  g.engine->Prefetch({kUrl, "", {}, Lane::kPreheat}, g.loop.now(), [](Result<CacheResult>) {});
  g.loop.RunAll();
  g.Advance(g.engine->options().prefetch_grace_ms + 1);
  CHECK(g.Get()->state == CacheState::kStale);
}

TEST_CASE("engine: a store removal that fails, then succeeds, is retried; the store stays trusted") {
  for (int failures : {1, 2}) {
    CAPTURE(failures);
    Fixture f;
    f.Get(kUrl, "alice");
    CHECK(f.Flush().ok());
    CHECK(f.store.records().size() == 1);
    f.store.faults.remove_failures = failures;
    CHECK(f.engine->Clear("alice", f.loop.now()).ok());
    f.loop.RunAll();
    CHECK_FALSE(f.engine->metrics().store_degraded);
    CHECK(f.engine->metrics().store_errors == static_cast<uint64_t>(failures));
    CHECK(f.store.records().empty());
    // The store still works: a new entry is read back from it.
    f.Get(kUrl, "bob");
    CHECK(f.Flush().ok());
    CHECK(f.store.records().size() == 1);
  }
}

TEST_CASE("engine: a failed store removal (logout) degrades rather than keep serving from it") {
  Fixture f;
  f.Get(kUrl, "alice");
  CHECK(f.Flush().ok());
  f.store.faults.remove_error = 1.0;
  CHECK(f.engine->Clear("alice", f.loop.now()).ok());
  f.loop.RunAll();
  CHECK(f.engine->metrics().store_degraded);
  CHECK(f.engine->metrics().store_degraded_reason.find("remove failed") != std::string::npos);
  // Nothing of alice's is served, from memory or from the store.
  auto again = f.Get(kUrl, "alice");
  CHECK(again->state == CacheState::kMiss);
  CHECK(again->source == Source::kNetwork);
}

// A Flush after Clear completes when the store's removal has: `seen_records`
// is how many records the store held when done ran (-1: not yet run).
struct FlushAfterClear {
  std::optional<Status> status;
  int seen_records = -1;
};

FlushAfterClear ClearThenFlush(Fixture& f, const std::string& ns) {
  FlushAfterClear out;
  REQUIRE(f.engine->Clear(ns, f.loop.now()).ok());
  f.engine->Flush(f.loop.now(), [&](Status s) {
    out.status = s;
    out.seen_records = static_cast<int>(f.store.records().size());
  });
  CHECK_FALSE(out.status.has_value());  // the removal is still in flight
  f.loop.RunAll();
  return out;
}

TEST_CASE("engine: a Flush after Clear completes once the store no longer holds the entries") {
  for (int failures : {0, 2}) {
    CAPTURE(failures);
    Fixture f;
    f.store.faults.latency_ms = 20;
    f.Get(kUrl, "alice");
    REQUIRE(f.Flush().ok());
    REQUIRE(f.store.records().size() == 1);
    f.store.faults.remove_failures = failures;  // retried: the flush waits for the last attempt
    FlushAfterClear r = ClearThenFlush(f, "alice");
    REQUIRE(r.status.has_value());
    CHECK(r.status->ok());
    CHECK(r.seen_records == 0);
    CHECK(f.engine->metrics().store_errors == static_cast<uint64_t>(failures));
  }
}

TEST_CASE("engine: a Flush after Clear reports a removal that failed every attempt") {
  Fixture f;
  f.Get(kUrl, "alice");
  REQUIRE(f.Flush().ok());
  f.store.faults.remove_error = 1.0;
  FlushAfterClear r = ClearThenFlush(f, "alice");
  REQUIRE(r.status.has_value());
  CHECK(r.status->code() == Code::kIoError);
  CHECK(r.status->message().find("remove failed") != std::string::npos);
  CHECK(r.seen_records == 1);
  CHECK(f.engine->metrics().store_degraded);
}

TEST_CASE("engine: Clear removes from a degraded store, which a later session opens again") {
  Fixture f;
  f.Get(kUrl, "alice");
  REQUIRE(f.Flush().ok());
  REQUIRE(f.store.records().size() == 1);
  // A failed write degrades the store: nothing more is read from it.
  f.store.faults.write_error = 1.0;
  f.Get("https://app.example/issues/2", "alice");
  CHECK_FALSE(f.Flush().ok());
  REQUIRE(f.engine->metrics().store_degraded);
  f.store.faults.write_error = 0;
  REQUIRE(f.engine->Clear("alice", f.loop.now()).ok());
  f.loop.RunAll();
  CHECK(f.store.records().empty());
}

TEST_CASE("engine: the next Flush reports writes dropped even when the batches drained on their own") {
  EngineOptions options;
  options.write_batch_max = 2;
  options.pending_writes_max = 2;
  Fixture f(options);
  f.store.faults.latency_ms = 10;
  // Five responses arrive together: the first two go out as a batch, two
  // more wait, the fifth finds the pending writes full and is dropped.
  int answered = 0;
  for (int i = 1; i <= 5; ++i) {
    CacheRequest req{"https://app.example/issues/" + std::to_string(i), "", {}};
    f.engine->Get(req, f.loop.now(), [&](Result<CacheResult> r) { answered += r.ok() ? 1 : 0; });
  }
  f.loop.RunAll();  // every batch written: nothing pending, nothing in flight
  REQUIRE(answered == 5);
  REQUIRE(f.engine->metrics().writes_dropped == 1);
  REQUIRE(f.engine->metrics().pending_writes == 0);
  Status flushed = f.Flush();
  CHECK(flushed.code() == Code::kLimitReached);
  CHECK(f.Flush().ok());  // reported once
}

// With the pending writes full, the mark a confirmed write put on the
// resource it was sent to (RFC 9111 4.4) was dropped like any put, and its
// entry left memory: the store kept the unmarked record, and the next get
// served it fresh from there, without asking the origin.
TEST_CASE("engine: a write's invalidation of its URL is not lost when the pending writes are full") {
  EngineOptions options;
  options.pending_writes_max = 1;
  options.write_delay_ms = 60'000;
  Fixture f(options);
  f.cache_control = "max-age=600";
  const std::string target = "https://app.example/issues/2";
  REQUIRE(f.Get().ok());  // kUrl: where the write goes
  REQUIRE(f.Flush().ok());
  REQUIRE(f.Get(target).ok());  // the entry the write optimistically updates
  REQUIRE(f.Flush().ok());      // both in the store, fresh for 10 minutes
  HttpRequest write;
  write.method = "PATCH";
  write.url = kUrl;
  std::optional<Status> done;
  f.engine->Mutate({target}, HttpResponse{200, {}, "optimistic"}, write, f.loop.now(),
                   [&](Status s) { done = s; });
  // The write's answer: the target's removal takes the one pending slot,
  // then kUrl is marked invalidated.
  while (!done && f.loop.RunOne()) {
  }
  REQUIRE(done.has_value());
  REQUIRE(done->ok());
  f.body = "v2";  // the origin after the write
  f.etag = "\"v2\"";
  f.Settle();
  (void)f.Flush();  // may report the dropped put (kLimitReached)
  const size_t requests = f.origin.CountRequests(kUrl);
  auto r = f.Get();
  REQUIRE(r.ok());
  // Validated with the origin (or refetched), not served from before the write.
  CHECK(f.origin.CountRequests(kUrl) == requests + 1);
  CHECK(r->entry->body == "v2");
}

// PutBlob answered OK for a blob that never reached the store: dropped
// because pending_writes_max writes waited, or written and evicted at once
// (with every entry) because it alone was over store_max_bytes.
TEST_CASE("engine: PutBlob refuses a blob the store would not keep instead of dropping it") {
  EngineOptions options;
  options.pending_writes_max = 1;
  options.store_max_bytes = 4000;
  Fixture f(options);
  REQUIRE(f.Get().ok());  // its put waits: the one pending slot
  CHECK(f.engine->PutBlob("model", "m1", f.loop.now()).code() == Code::kLimitReached);
  REQUIRE(f.Flush().ok());
  CHECK(f.engine->PutBlob("model", "m1", f.loop.now()).ok());
  CHECK(f.engine->PutBlob("big", std::string(5000, 'b'), f.loop.now()).code() ==
        Code::kTooLarge);
  REQUIRE(f.Flush().ok());
  std::optional<Result<std::string>> got;
  f.engine->GetBlob("model", f.loop.now(), [&](Result<std::string> r) { got = std::move(r); });
  f.loop.RunAll();
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(**got == "m1");
  CHECK(f.store.records().count(*Engine::KeyFor(kUrl, "")) == 1);  // the entry stays
}

// The store's usage in the metrics came only with writes and evictions:
// after a removal (Invalidate kRemove, Clear) it still counted what was
// removed until the next write.
TEST_CASE("engine: store usage in the metrics drops with an invalidation's or a Clear's removal") {
  Fixture f;
  REQUIRE(f.Get().ok());
  REQUIRE(f.Get("https://app.example/issues/2").ok());
  REQUIRE(f.Get("https://app.example/issues/3", "other").ok());
  REQUIRE(f.Flush().ok());
  REQUIRE(f.engine->metrics().store_entries == 3);
  const uint64_t all_bytes = f.engine->metrics().store_bytes;
  REQUIRE(f.engine->Invalidate({InvalidateSelector::Kind::kUrl, kUrl, ""},
                               InvalidateMode::kRemove, f.loop.now())
              .ok());
  REQUIRE(f.Flush().ok());
  f.loop.RunAll();
  CHECK(f.engine->metrics().store_entries == 2);
  CHECK(f.engine->metrics().store_bytes < all_bytes);
  REQUIRE(f.engine->Clear("", f.loop.now()).ok());
  REQUIRE(f.Flush().ok());
  f.loop.RunAll();
  CHECK(f.engine->metrics().store_entries == 1);  // the other namespace's
  CHECK(f.engine->metrics().store_evicted_bytes == 0);  // removed, not evicted
}

}  // namespace
}  // namespace preheat

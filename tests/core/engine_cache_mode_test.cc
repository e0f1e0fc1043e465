// CacheRequest::mode: fetch()'s RequestCache modes on Engine::Get, and the
// request directives of a get's Cache-Control (RFC 9111 5.2.1).
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

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

constexpr const char* kA = "https://app.example/a";

// An engine over a fake store and an origin serving kA as version
// `version` (ETag "v<version>", body "v<version>", Cache-Control `cc`).
struct ModeRig {
  SimLoop loop;
  FakeStore store{&loop, 1};
  FakeOrigin origin{&loop, 2};
  std::unique_ptr<Engine> engine;
  int version = 1;
  std::string cc = "max-age=60";
  int not_modified = 0;

  ModeRig() {
    origin.handler = [this](const HttpRequest& req, Instant now) {
      HttpResponse resp;
      const std::string etag = "\"v" + std::to_string(version) + "\"";
      resp.headers.Set("ETag", etag);
      resp.headers.Set("Cache-Control", cc);
      resp.headers.Set("Date", FormatHttpDate(now));
      if (req.headers.Get("If-None-Match") == etag) {
        not_modified++;
        resp.status = 304;
        return resp;
      }
      resp.status = 200;
      resp.body = "v" + std::to_string(version);
      return resp;
    };
    Open();
  }
  void Open() {
    auto created = Engine::Create(EngineOptions{}, &store, &origin, 7);
    REQUIRE(created.ok());
    engine = std::move(created).value();
    engine->Start(loop.now());
    loop.RunAll();
  }
  // Writes everything down and starts a new engine: memory cold, store not.
  void Reopen() {
    std::optional<Status> flushed;
    engine->Flush(loop.now(), [&](Status s) { flushed = s; });
    while (!flushed && loop.RunOne()) {
    }
    REQUIRE(flushed.has_value());
    REQUIRE(flushed->ok());
    engine.reset();
    Open();
  }
  Result<CacheResult> Get(CacheMode mode, const std::string& url = kA) {
    return GetWith({}, mode, url);
  }
  // A get whose request carries `cache_control` (a Pragma line when it
  // starts with "Pragma:").
  Result<CacheResult> Ask(const std::string& cache_control, CacheMode mode = CacheMode::kDefault,
                          const std::string& url = kA) {
    Headers headers;
    if (cache_control.rfind("Pragma:", 0) == 0) {
      headers.Add("Pragma", cache_control.substr(8));
    } else {
      headers.Add("Cache-Control", cache_control);
    }
    return GetWith(headers, mode, url);
  }
  Result<CacheResult> GetWith(const Headers& headers, CacheMode mode, const std::string& url) {
    std::optional<Result<CacheResult>> out;
    CacheRequest req{url, "", headers};
    req.mode = mode;
    engine->Get(req, loop.now(), [&](Result<CacheResult> r) { out = std::move(r); });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    return *out;
  }
  // Starts a new engine (memory cold) and reads kA from the store: the
  // body the store holds.
  std::string StoredBody() {
    Reopen();
    auto stored = Get(CacheMode::kDefault);
    REQUIRE(stored.ok());
    CHECK(stored->source == Source::kStore);
    return stored->entry->body;
  }
  void Advance(int64_t ms) { loop.RunUntil(AddMs(loop.now(), ms)); }
  size_t Requests() { return origin.CountRequests(kA); }
};

TEST_SUITE("engine: cache modes") {

TEST_CASE("mode names round-trip; an unknown name is kInvalidArgument") {
  for (CacheMode mode : {CacheMode::kDefault, CacheMode::kNoCache, CacheMode::kReload,
                         CacheMode::kForceCache, CacheMode::kOnlyIfCached, CacheMode::kNoStore}) {
    auto parsed = ParseCacheMode(CacheModeName(mode));
    REQUIRE(parsed.ok());
    CHECK(*parsed == mode);
  }
  CHECK(ParseCacheMode("No-Store").status().code() == Code::kInvalidArgument);
  CHECK(ParseCacheMode("").status().code() == Code::kInvalidArgument);
}

TEST_CASE("no-cache validates a fresh entry before serving it") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(1'000);
  auto validated = r.Get(CacheMode::kNoCache);  // fresh for 59 s more
  REQUIRE(validated.ok());
  CHECK(validated->state == CacheState::kRevalidated);
  CHECK(r.not_modified == 1);
  CHECK(r.Requests() == 2);
  r.version = 2;  // the origin changed: no-cache brings the new version
  auto changed = r.Get(CacheMode::kNoCache);
  REQUIRE(changed.ok());
  CHECK(changed->state == CacheState::kMiss);
  CHECK(changed->entry->body == "v2");
  auto after = r.Get(CacheMode::kDefault);  // and it is what the cache holds
  REQUIRE(after.ok());
  CHECK(after->state == CacheState::kFresh);
  CHECK(after->entry->body == "v2");
}

TEST_CASE("no-cache validates a just-preheated entry too (no prefetch grace)") {
  ModeRig r;
  std::optional<Result<CacheResult>> prefetched;
  r.engine->Prefetch({kA, "", {}, Lane::kPreheat}, r.loop.now(),
                     [&](Result<CacheResult> res) { prefetched = std::move(res); });
  while (!prefetched && r.loop.RunOne()) {
  }
  REQUIRE(prefetched.has_value());
  auto validated = r.Get(CacheMode::kNoCache);
  REQUIRE(validated.ok());
  CHECK(validated->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 2);
}

TEST_CASE("no-cache and reload: a failed origin is the error, nothing stale stands in") {
  ModeRig r;
  r.cc = "max-age=60, stale-if-error=3600";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.origin.down = true;
  for (CacheMode mode : {CacheMode::kNoCache, CacheMode::kReload, CacheMode::kNoStore}) {
    CAPTURE(CacheModeName(mode));
    auto failed = r.Get(mode);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().code() == Code::kUnavailable);
  }
  // The held entry is untouched: a default get still serves it, fresh.
  auto held = r.Get(CacheMode::kDefault);
  REQUIRE(held.ok());
  CHECK(held->state == CacheState::kFresh);
  CHECK(held->entry->body == "v1");
}

TEST_CASE("reload asks the origin without conditions and stores the answer") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Reopen();  // held in the store only: reload must not read it
  r.version = 2;
  auto reloaded = r.Get(CacheMode::kReload);
  REQUIRE(reloaded.ok());
  CHECK(reloaded->state == CacheState::kMiss);
  CHECK(reloaded->source == Source::kNetwork);
  CHECK(reloaded->entry->body == "v2");
  REQUIRE(r.origin.requests.size() == 2);
  CHECK_FALSE(r.origin.requests.back().headers.Has("If-None-Match"));
  CHECK(r.not_modified == 0);
  CHECK(r.StoredBody() == "v2");
}

TEST_CASE("no-store asks the origin without conditions and keeps the answer nowhere") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.version = 2;
  auto fetched = r.Get(CacheMode::kNoStore);
  REQUIRE(fetched.ok());
  CHECK(fetched->state == CacheState::kMiss);
  CHECK(fetched->entry->body == "v2");
  CHECK_FALSE(fetched->stored);
  REQUIRE(r.origin.requests.size() == 2);
  CHECK_FALSE(r.origin.requests.back().headers.Has("If-None-Match"));
  // What the tiers held is untouched, in memory and in the store.
  auto held = r.Get(CacheMode::kDefault);
  REQUIRE(held.ok());
  CHECK(held->state == CacheState::kFresh);
  CHECK(held->entry->body == "v1");
  CHECK(r.StoredBody() == "v1");
}

TEST_CASE("reload does not join a conditional request: its answer is the origin's own") {
  ModeRig r;
  r.cc = "max-age=60, stale-while-revalidate=600";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);
  auto stale = r.Get(CacheMode::kDefault);  // served stale, revalidating (If-None-Match)
  REQUIRE(stale.ok());
  REQUIRE(stale->revalidating);
  auto reloaded = r.Get(CacheMode::kReload);  // while that request is on the wire
  REQUIRE(reloaded.ok());
  CHECK(reloaded->state == CacheState::kMiss);
  CHECK(reloaded->source == Source::kNetwork);
  CHECK(reloaded->entry->body == "v1");
  r.loop.RunAll();
  CHECK(r.Requests() == 3);
  CHECK(r.not_modified == 1);  // the revalidation's
}

TEST_CASE("force-cache serves a held entry at any age, with no request") {
  ModeRig r;
  r.cc = "max-age=60, must-revalidate";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(3'600'000);  // an hour stale, and must-revalidate
  auto forced = r.Get(CacheMode::kForceCache);
  REQUIRE(forced.ok());
  CHECK(forced->state == CacheState::kStale);
  CHECK_FALSE(forced->revalidating);
  CHECK(forced->entry->body == "v1");
  r.loop.RunAll();
  CHECK(r.Requests() == 1);
  // Nothing held: force-cache goes to the origin, as the default does.
  auto missed = r.Get(CacheMode::kForceCache, "https://app.example/new");
  REQUIRE(missed.ok());
  CHECK(missed->state == CacheState::kMiss);
}

TEST_CASE("only-if-cached answers from memory or the store, never the origin") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(120'000);  // stale
  auto from_memory = r.Get(CacheMode::kOnlyIfCached);
  REQUIRE(from_memory.ok());
  CHECK(from_memory->state == CacheState::kStale);
  CHECK(from_memory->source == Source::kMemory);
  r.Reopen();
  auto fresh_engine = r.Get(CacheMode::kOnlyIfCached);
  REQUIRE(fresh_engine.ok());
  CHECK(fresh_engine->source == Source::kStore);
  CHECK(fresh_engine->entry->body == "v1");
  auto absent = r.Get(CacheMode::kOnlyIfCached, "https://app.example/absent");
  REQUIRE_FALSE(absent.ok());
  CHECK(absent.status().code() == Code::kNotFound);
  r.loop.RunAll();
  CHECK(r.origin.requests.size() == 1);
  CHECK(r.engine->metrics().misses == 1);
}

TEST_CASE("request no-cache, and Pragma: no-cache without Cache-Control, validate first") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  for (const char* asked : {"no-cache", "Pragma: no-cache", "Pragma: x, No-Cache"}) {
    CAPTURE(asked);
    auto validated = r.Ask(asked);
    REQUIRE(validated.ok());
    CHECK(validated->state == CacheState::kRevalidated);
  }
  CHECK(r.not_modified == 3);
  // A Cache-Control field present: Pragma is not read (RFC 9111 5.4).
  Headers both;
  both.Add("Cache-Control", "max-stale");
  both.Add("Pragma", "no-cache");
  auto fresh = r.GetWith(both, CacheMode::kDefault, kA);
  REQUIRE(fresh.ok());
  CHECK(fresh->state == CacheState::kFresh);
  CHECK(r.Requests() == 4);
}

TEST_CASE("request max-age: an older entry goes to the origin, a younger one is served") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(10'000);  // 10 s old, fresh for 50 s more
  auto young_enough = r.Ask("max-age=20");
  REQUIRE(young_enough.ok());
  CHECK(young_enough->state == CacheState::kFresh);
  CHECK(r.Requests() == 1);
  auto too_old = r.Ask("max-age=5");
  REQUIRE(too_old.ok());
  CHECK(too_old->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 2);
  // The 304 made it new: age 0 now.
  r.Advance(1'000);
  auto zero = r.Ask("max-age=0");
  REQUIRE(zero.ok());
  CHECK(zero->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 3);
}

TEST_CASE("request min-fresh: an entry fresh for less than that goes to the origin") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(40'000);  // fresh for 20 s more
  auto enough = r.Ask("min-fresh=15");
  REQUIRE(enough.ok());
  CHECK(enough->state == CacheState::kFresh);
  auto too_little = r.Ask("min-fresh=30");
  REQUIRE(too_little.ok());
  CHECK(too_little->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 2);
}

TEST_CASE("request max-age and min-fresh: a failed origin is the error, no stale-if-error") {
  ModeRig r;
  r.cc = "max-age=60, stale-if-error=3600";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(30'000);
  r.origin.down = true;
  for (const char* asked : {"max-age=10", "min-fresh=45"}) {
    CAPTURE(asked);
    auto failed = r.Ask(asked);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.status().code() == Code::kUnavailable);
  }
  // Without the directives the entry is served, fresh; once stale, the
  // origin's failure lets stale-if-error serve it.
  auto held = r.Get(CacheMode::kDefault);
  REQUIRE(held.ok());
  CHECK(held->state == CacheState::kFresh);
  r.Advance(60'000);
  auto stale = r.Get(CacheMode::kDefault);
  REQUIRE(stale.ok());
  CHECK(stale->state == CacheState::kStaleIfError);
}

TEST_CASE("request max-stale serves a stale entry and revalidates it, within its bound") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());  // no stale-while-revalidate
  r.Advance(90'000);  // 30 s stale
  auto past_bound = r.Ask("max-stale=10");
  REQUIRE(past_bound.ok());
  CHECK(past_bound->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 2);
  r.Advance(90'000);  // 30 s stale again
  r.version = 2;
  auto within = r.Ask("max-stale=60");
  REQUIRE(within.ok());
  CHECK(within->state == CacheState::kStale);
  CHECK(within->entry->body == "v1");
  CHECK(within->revalidating);
  r.loop.RunAll();
  CHECK(r.Requests() == 3);
  r.Advance(3'600'000);  // an hour stale: max-stale without a value takes any
  auto any = r.Ask("max-stale");
  REQUIRE(any.ok());
  CHECK(any->state == CacheState::kStale);
  CHECK(any->entry->body == "v2");
}

TEST_CASE("request max-stale does not serve must-revalidate, no-cache or malformed-bound entries") {
  for (const char* response_cc : {"max-age=60, must-revalidate", "no-cache"}) {
    CAPTURE(response_cc);
    ModeRig r;
    r.cc = response_cc;
    REQUIRE(r.Get(CacheMode::kDefault).ok());
    r.Advance(90'000);
    auto validated = r.Ask("max-stale");
    REQUIRE(validated.ok());
    CHECK(validated->state == CacheState::kRevalidated);
  }
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);
  const uint64_t malformed = r.engine->metrics().malformed_headers;
  auto bad = r.Ask("max-stale=soon");  // dropped: nothing stale accepted
  REQUIRE(bad.ok());
  CHECK(bad->state == CacheState::kRevalidated);
  CHECK(r.engine->metrics().malformed_headers == malformed + 1);
}

TEST_CASE("request no-store: a fresh entry still answers; the origin's answer is kept nowhere") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  auto held = r.Ask("no-store");
  REQUIRE(held.ok());
  CHECK(held->state == CacheState::kFresh);
  CHECK(r.Requests() == 1);
  r.Advance(90'000);  // stale: the origin answers, unconditionally
  r.version = 2;
  auto fetched = r.Ask("no-store");
  REQUIRE(fetched.ok());
  CHECK(fetched->state == CacheState::kMiss);
  CHECK(fetched->entry->body == "v2");
  CHECK_FALSE(fetched->stored);
  CHECK_FALSE(r.origin.requests.back().headers.Has("If-None-Match"));
  auto absent = r.Ask("no-store", CacheMode::kDefault, "https://app.example/new");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->stored);
  r.Reopen();
  auto only = r.Get(CacheMode::kOnlyIfCached, "https://app.example/new");
  CHECK(only.status().code() == Code::kNotFound);
  auto old = r.Get(CacheMode::kForceCache);
  REQUIRE(old.ok());
  CHECK(old->entry->body == "v1");
}

TEST_CASE("request only-if-cached: usable entries only, never the origin, no revalidation") {
  ModeRig r;
  r.cc = "max-age=60, stale-while-revalidate=60";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  auto fresh = r.Ask("only-if-cached");
  REQUIRE(fresh.ok());
  CHECK(fresh->state == CacheState::kFresh);
  r.Advance(90'000);  // within stale-while-revalidate: served, not revalidated
  auto stale = r.Ask("only-if-cached");
  REQUIRE(stale.ok());
  CHECK(stale->state == CacheState::kStale);
  CHECK_FALSE(stale->revalidating);
  r.Advance(60'000);  // past it: not usable without the origin
  auto past = r.Ask("only-if-cached");
  REQUIRE_FALSE(past.ok());
  CHECK(past.status().code() == Code::kNotFound);
  auto past_any = r.Ask("only-if-cached, max-stale");  // unless max-stale allows it
  REQUIRE(past_any.ok());
  CHECK(past_any->state == CacheState::kStale);
  auto absent = r.Ask("only-if-cached", CacheMode::kDefault, "https://app.example/absent");
  CHECK(absent.status().code() == Code::kNotFound);
  // With force-cache it is the only-if-cached mode: any age.
  auto forced = r.Ask("only-if-cached", CacheMode::kForceCache);
  REQUIRE(forced.ok());
  r.loop.RunAll();
  CHECK(r.Requests() == 1);
}

TEST_CASE("request max-age without max-stale: no stale entry, not even within stale-while-revalidate") {
  // RFC 9111 5.2.1.1: unless max-stale is present too, the client does
  // not wish to receive a stale response.
  ModeRig r;
  r.cc = "max-age=60, stale-while-revalidate=600";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);  // 90 s old, 30 s stale
  auto validated = r.Ask("max-age=120");
  REQUIRE(validated.ok());
  CHECK(validated->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 2);
  r.Advance(90'000);  // 30 s stale again: a max-stale past that allows it
  auto too_stale = r.Ask("max-age=120, max-stale=10");
  REQUIRE(too_stale.ok());
  CHECK(too_stale->state == CacheState::kRevalidated);
  CHECK(r.Requests() == 3);
  r.Advance(90'000);
  auto allowed = r.Ask("max-age=120, max-stale=60");
  REQUIRE(allowed.ok());
  CHECK(allowed->state == CacheState::kStale);
  r.loop.RunAll();
  CHECK(r.Requests() == 4);  // its background revalidation
}

TEST_CASE("request max-stale does not serve an invalidated entry past its stale-while-revalidate") {
  // RFC 9111 4.4: an invalidated response needs validation before it is
  // sent; Invalidate serves it once more only within stale-while-revalidate.
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());  // fresh for 60 s, no stale-while-revalidate
  r.version = 2;
  auto marked = r.engine->Invalidate({InvalidateSelector::Kind::kUrl, kA, ""},
                                     InvalidateMode::kMarkStale, r.loop.now());
  REQUIRE(marked.ok());
  REQUIRE(*marked == 1);
  auto asked = r.Ask("max-stale");
  REQUIRE(asked.ok());
  CHECK(asked->state == CacheState::kMiss);
  CHECK(asked->entry->body == "v2");
  CHECK(r.Requests() == 2);
}

TEST_CASE("request no-store served stale starts no revalidation, whose answer would be kept") {
  // RFC 9111 5.2.1.5: no response to a no-store request is stored. A
  // background revalidation would send its headers (no-store included)
  // and keep the answer.
  ModeRig r;
  r.cc = "max-age=60, stale-while-revalidate=600";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);
  r.version = 2;
  auto stale = r.Ask("no-store");
  REQUIRE(stale.ok());
  CHECK(stale->state == CacheState::kStale);
  CHECK(stale->entry->body == "v1");
  CHECK_FALSE(stale->revalidating);
  r.loop.RunAll();
  CHECK(r.Requests() == 1);
  auto held = r.Get(CacheMode::kForceCache);
  REQUIRE(held.ok());
  CHECK(held->entry->body == "v1");
  // A get without it revalidates as usual.
  auto usual = r.Get(CacheMode::kDefault);
  REQUIRE(usual.ok());
  CHECK(usual->revalidating);
  r.loop.RunAll();
  CHECK(r.Requests() == 2);
  CHECK(r.Get(CacheMode::kForceCache)->entry->body == "v2");
}

TEST_CASE("an entry removed while a get is on the wire does not stand in when the origin fails") {
  // Invalidate(kRemove) forgets it; stale-if-error must not bring it back,
  // for a get with request no-store (its own request) as for any.
  for (std::string asked : {"", "no-store", "max-stale=1"}) {
    CAPTURE(asked);
    ModeRig r;
    r.cc = "max-age=60, stale-if-error=3600";
    REQUIRE(r.Get(CacheMode::kDefault).ok());
    r.Advance(90'000);
    Headers headers;
    if (!asked.empty()) headers.Add("Cache-Control", asked);
    std::optional<Result<CacheResult>> out;
    r.origin.down = true;
    r.engine->Get({kA, "", headers}, r.loop.now(),
                  [&](Result<CacheResult> res) { out = std::move(res); });
    REQUIRE_FALSE(out.has_value());
    auto removed = r.engine->Invalidate({InvalidateSelector::Kind::kUrl, kA, ""},
                                        InvalidateMode::kRemove, r.loop.now());
    REQUIRE(removed.ok());
    CHECK(*removed == 1);
    r.loop.RunAll();
    REQUIRE(out.has_value());
    CHECK(out->status().code() == Code::kUnavailable);
  }
  // By tag: the no-store get's request is unconditional (no base); the
  // entry it keeps for stale-if-error carries the tag.
  ModeRig r;
  r.cc = "max-age=60, stale-if-error=3600";
  auto handler = r.origin.handler;
  r.origin.handler = [handler](const HttpRequest& req, Instant now) {
    HttpResponse resp = handler(req, now);
    resp.headers.Set("Cache-Tag", "issues");
    return resp;
  };
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);
  Headers no_store;
  no_store.Add("Cache-Control", "no-store");
  std::optional<Result<CacheResult>> out;
  r.origin.down = true;
  r.engine->Get({kA, "", no_store}, r.loop.now(),
                [&](Result<CacheResult> res) { out = std::move(res); });
  auto removed = r.engine->Invalidate({InvalidateSelector::Kind::kTag, "issues", ""},
                                      InvalidateMode::kRemove, r.loop.now());
  REQUIRE(removed.ok());
  CHECK(*removed == 1);
  r.loop.RunAll();
  REQUIRE(out.has_value());
  CHECK(out->status().code() == Code::kUnavailable);
}

TEST_CASE("a no-store get has a request of its own: it joins none, and none joins it") {
  // Others' requests on the wire while it starts: a background
  // revalidation's 304 would answer it from the tiers.
  ModeRig r;
  r.cc = "max-age=60, stale-while-revalidate=600";
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);
  auto stale = r.Get(CacheMode::kDefault);  // from memory: the revalidation is on the wire
  REQUIRE(stale.ok());
  REQUIRE(stale->revalidating);
  auto unkept = r.Get(CacheMode::kNoStore);
  REQUIRE(unkept.ok());
  CHECK(unkept->state == CacheState::kMiss);
  CHECK(unkept->source == Source::kNetwork);
  CHECK_FALSE(unkept->stored);
  CHECK(r.Requests() == 3);
  CHECK_FALSE(r.origin.requests.back().headers.Has("If-None-Match"));
  r.loop.RunAll();

  // Others that start while its request is on the wire: a prefetch, and a
  // get served stale, are not answered by it (which is kept nowhere).
  ModeRig q;
  q.cc = "max-age=60, stale-while-revalidate=600";
  const std::string b = "https://app.example/b";
  REQUIRE(q.Get(CacheMode::kDefault).ok());
  q.Advance(90'000);
  q.version = 2;
  std::optional<Result<CacheResult>> no_store_a, no_store_b, prefetched, served;
  CacheRequest nsa{kA, "", {}};
  nsa.mode = CacheMode::kNoStore;
  CacheRequest nsb{b, "", {}};
  nsb.mode = CacheMode::kNoStore;
  q.engine->Get(nsa, q.loop.now(), [&](Result<CacheResult> res) { no_store_a = std::move(res); });
  q.engine->Get(nsb, q.loop.now(), [&](Result<CacheResult> res) { no_store_b = std::move(res); });
  auto b_key = Engine::KeyFor(b, "");
  REQUIRE(b_key.ok());
  CHECK_FALSE(q.engine->HasInMemoryOrInflight(*b_key));  // the preheater's "already cached"
  q.engine->Prefetch({b, "", {}, Lane::kPreheat}, q.loop.now(),
                     [&](Result<CacheResult> res) { prefetched = std::move(res); });
  q.engine->Get({kA, "", {}}, q.loop.now(), [&](Result<CacheResult> res) { served = std::move(res); });
  REQUIRE(served.has_value());
  REQUIRE(served->ok());
  CHECK((*served)->state == CacheState::kStale);
  CHECK((*served)->revalidating);
  q.loop.RunAll();
  REQUIRE(no_store_a.has_value());
  REQUIRE(no_store_b.has_value());
  REQUIRE(prefetched.has_value());
  REQUIRE(prefetched->ok());
  CHECK((*prefetched)->stored);
  CHECK(q.origin.CountRequests(b) == 2);
  // The revalidation kept v2; the prefetch kept b.
  auto after = q.Get(CacheMode::kDefault);
  REQUIRE(after.ok());
  CHECK(after->state == CacheState::kFresh);
  CHECK(after->entry->body == "v2");
  auto b_after = q.Get(CacheMode::kOnlyIfCached, b);
  REQUIRE(b_after.ok());
  CHECK(b_after->stored);
}

TEST_CASE("a background revalidation does not send the get's request directives") {
  ModeRig r;
  REQUIRE(r.Get(CacheMode::kDefault).ok());
  r.Advance(90'000);  // stale, no stale-while-revalidate
  auto stale = r.Ask("max-stale");
  REQUIRE(stale.ok());
  CHECK(stale->state == CacheState::kStale);
  REQUIRE(stale->revalidating);
  r.loop.RunAll();
  REQUIRE(r.origin.requests.size() == 2);
  // The cache's own request: a cache on the way may not answer it stale.
  CHECK_FALSE(r.origin.requests.back().headers.Has("Cache-Control"));
  CHECK(r.origin.requests.back().headers.Has("If-None-Match"));
  // A get that goes to the origin itself sends its own, as the app asked.
  r.Advance(90'000);
  auto own = r.Ask("max-age=0");
  REQUIRE(own.ok());
  REQUIRE(r.origin.requests.size() == 3);
  CHECK(r.origin.requests.back().headers.Get("Cache-Control") == "max-age=0");
}

TEST_CASE("a mode does not change what Prefetch does") {
  ModeRig r;
  std::optional<Result<CacheResult>> out;
  CacheRequest req{"https://app.example/absent", "", {}, Lane::kPreheat};
  req.mode = CacheMode::kOnlyIfCached;
  r.engine->Prefetch(req, r.loop.now(), [&](Result<CacheResult> res) { out = std::move(res); });
  while (!out && r.loop.RunOne()) {
  }
  REQUIRE(out.has_value());
  REQUIRE(out->ok());
  CHECK((*out)->source == Source::kNetwork);
}

}

}  // namespace
}  // namespace preheat

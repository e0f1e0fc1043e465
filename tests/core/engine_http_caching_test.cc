// The engine's HTTP caching rules (RFC 9110 / RFC 9111) where they meet
// revalidation, Vary, mutations and invalidation: each case was a defect.
#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "preheat/engine.h"
#include "preheat/freshness.h"
#include "preheat/http_date.h"
#include "preheat/validators.h"
#include "testing/fake_origin.h"
#include "testing/sim_loop.h"

namespace preheat {
namespace {

using testing::FakeOrigin;
using testing::SimLoop;

constexpr const char* kA = "https://app.example/a";
constexpr const char* kB = "https://app.example/b";

// A memory-only engine over a fake origin whose handler each test sets.
struct Rig {
  SimLoop loop;
  FakeOrigin origin{&loop, 2};
  std::unique_ptr<Engine> engine;
  explicit Rig(EngineOptions options = {}) {
    auto created = Engine::Create(std::move(options), nullptr, &origin, 1);
    REQUIRE(created.ok());
    engine = std::move(created).value();
    engine->Start(loop.now());
  }
  Result<CacheResult> Get(const std::string& url, Headers headers = {}) {
    std::optional<Result<CacheResult>> out;
    engine->Get({url, "", headers}, loop.now(), [&](Result<CacheResult> r) { out = std::move(r); });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    return *out;
  }
  void Advance(int64_t ms) { loop.RunUntil(AddMs(loop.now(), ms)); }
  // The origin serves "v<*version>" (ETag "v<*version>", max-age=60) and
  // answers 304 to an If-None-Match naming the current version.
  void ServeVersions(const int* version) {
    origin.handler = [version](const HttpRequest& req, Instant now) {
      const std::string etag = "\"v" + std::to_string(*version) + "\"";
      HttpResponse resp;
      resp.headers.Set("ETag", etag);
      resp.headers.Set("Cache-Control", "max-age=60");
      resp.headers.Set("Date", FormatHttpDate(now));
      if (req.headers.Get("If-None-Match") == etag) {
        resp.status = 304;
        return resp;
      }
      resp.status = 200;
      resp.body = "v" + std::to_string(*version);
      return resp;
    };
  }
};

// The late-304 race: kA stored as v1 (ETag "v1", max-age=60), then, once
// stale, a conditional get whose 304 takes 100 ms and, beside it, a reload
// that finds v2 in 10 ms. The answers land in `conditional` and `reload`;
// the loop is left to the caller.
struct ReloadPastConditional {
  int version = 1;
  std::optional<Result<CacheResult>> conditional, reload;

  explicit ReloadPastConditional(Rig& r) {
    r.ServeVersions(&version);
    REQUIRE(r.Get(kA).ok());
    r.Advance(120'000);  // stale
    r.origin.latency_ms = 100;  // the 304 takes its time
    r.engine->Get({kA}, r.loop.now(), [this](Result<CacheResult> res) { conditional = res; });
    version = 2;
    r.origin.latency_ms = 10;
    r.engine->Get({kA, "", {}, Lane::kNavigate, CacheMode::kReload}, r.loop.now(),
                  [this](Result<CacheResult> res) { reload = res; });
  }
};

TEST_SUITE("engine: HTTP caching rules") {

// RFC 9110 6.6.1 / RFC 9111 4.3.4: a 304 without Date must not leave the
// stored (old) Date in place, or the refreshed response is stale at once.
TEST_CASE("a 304 without Date refreshes the entry: fresh afterwards") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Cache-Control", "max-age=60");
    if (req.headers.Get("If-None-Match") == "\"v1\"") {
      resp.status = 304;  // no Date
      return resp;
    }
    resp.status = 200;
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(120'000);                       // stale: revalidated with a 304
  auto revalidated = r.Get(kA);
  REQUIRE(revalidated.ok());
  CHECK(revalidated->state == CacheState::kRevalidated);
  r.Advance(1'000);
  auto again = r.Get(kA);                   // 1 s after a 304 with max-age=60
  REQUIRE(again.ok());
  CHECK(again->state == CacheState::kFresh);
  CHECK(r.origin.CountRequests(kA) == 2);
}

// Dated on receipt to the millisecond, as a 200 without Date is: a Date
// header made on receipt would round the time down to the second and give
// the refreshed entry up to 999 ms of age at once (a 400 ms lifetime, 700
// ms past a second, was stale right after its 304).
TEST_CASE("a 304 without Date: the refreshed entry's age starts at zero") {
  Rig r;
  r.Advance(700);  // the clock 700 ms past a whole second
  r.origin.handler = [](const HttpRequest& req, Instant) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Cache-Control", "max-age=1");
    resp.status = req.headers.Get("If-None-Match") == "\"v1\"" ? 304 : 200;
    if (resp.status == 200) resp.body = "v1";
    return resp;  // never a Date
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(5'000);
  auto revalidated = r.Get(kA);
  REQUIRE(revalidated.ok());
  CHECK(revalidated->state == CacheState::kRevalidated);
  CHECK(revalidated->age_ms < 100);  // the fake origin's latency, not 700
}

// RFC 9111 4.2.3: Age is the age of the response that carries it. A 304
// without Age is new from the origin (age 0 but for its delay); the stored
// response's Age (a CDN's, say) described the old response at its receipt,
// and kept beside the 304's receipt time it aged the refreshed entry by as
// much again: with Age: 50 and max-age=60 it was fresh for 10 s after
// every 304, not 60 (Age >= max-age: stale right after every 304).
TEST_CASE("a 304 without Age: the stored Age does not age the refreshed entry") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Cache-Control", "max-age=60");
    resp.headers.Set("Date", FormatHttpDate(now));
    if (req.headers.Get("If-None-Match") == "\"v1\"") {
      resp.status = 304;  // straight from the origin: no Age
      return resp;
    }
    resp.status = 200;
    resp.headers.Set("Age", "50");  // held 50 s by a cache on the way
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(20'000);  // 70 s old: stale, revalidated with a 304
  auto revalidated = r.Get(kA);
  REQUIRE(revalidated.ok());
  CHECK(revalidated->state == CacheState::kRevalidated);
  CHECK(revalidated->age_ms < 2'000);
  r.Advance(30'000);  // 30 s after a 304 with max-age=60
  auto again = r.Get(kA);
  REQUIRE(again.ok());
  CHECK(again->state == CacheState::kFresh);
  CHECK(r.origin.CountRequests(kA) == 2);
}

// A 304 that carries Age replaces the stored one (RFC 9111 4.3.4).
TEST_CASE("a 304 with Age: its Age ages the refreshed entry") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Cache-Control", "max-age=60");
    resp.headers.Set("Date", FormatHttpDate(now));
    if (req.headers.Get("If-None-Match") == "\"v1\"") {
      resp.status = 304;
      resp.headers.Set("Age", "40");
      return resp;
    }
    resp.status = 200;
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(70'000);
  auto revalidated = r.Get(kA);
  REQUIRE(revalidated.ok());
  CHECK(revalidated->state == CacheState::kRevalidated);
  CHECK(revalidated->age_ms >= 40'000);
  r.Advance(30'000);  // 70 s old by the 304's Age: stale
  auto again = r.Get(kA);
  REQUIRE(again.ok());
  CHECK(again->state == CacheState::kRevalidated);
}

// A 304 replaces the stored fields it carries (RFC 9111 4.3.4), the tag
// header (EngineOptions::tag_header) among them: the entry's tags follow.
// They stayed the 200's, so an invalidation by the tag the origin now
// gives missed the entry (and one by the dropped tag still hit it).
TEST_CASE("a 304 with another Cache-Tag retags the entry") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Cache-Control", "max-age=60");
    resp.headers.Set("Date", FormatHttpDate(now));
    if (req.headers.Get("If-None-Match") == "\"v1\"") {
      resp.status = 304;
      resp.headers.Set("Cache-Tag", "project-2");  // the issue moved
      return resp;
    }
    resp.status = 200;
    resp.headers.Set("Cache-Tag", "project-1");
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(120'000);
  auto revalidated = r.Get(kA);
  REQUIRE(revalidated.ok());
  CHECK(revalidated->state == CacheState::kRevalidated);
  auto old_tag = r.engine->Invalidate({InvalidateSelector::Kind::kTag, "project-1", ""},
                                      InvalidateMode::kMarkStale, r.loop.now());
  REQUIRE(old_tag.ok());
  CHECK(*old_tag == 0);
  auto new_tag = r.engine->Invalidate({InvalidateSelector::Kind::kTag, "project-2", ""},
                                      InvalidateMode::kMarkStale, r.loop.now());
  REQUIRE(new_tag.ok());
  CHECK(*new_tag == 1);
}

// A 429 or 408 (without freshness, so not storable) to a revalidation is
// the origin asking to be left alone a while, not news that the resource
// changed or went away: removing the held entry turned the next
// navigation into a miss, sent to the same refusing origin.
TEST_CASE("a 429 or 408 to a revalidation leaves the held entry in place") {
  for (int refusal : {429, 408}) {
    CAPTURE(refusal);
    Rig r;
    int status = 200;
    r.origin.handler = [&status](const HttpRequest&, Instant now) {
      HttpResponse resp;
      resp.status = status;
      resp.headers.Set("Date", FormatHttpDate(now));
      if (status == 200) resp.headers.Set("Cache-Control", "max-age=60, stale-while-revalidate=600");
      resp.body = status == 200 ? "v1" : "slow down";
      return resp;
    };
    REQUIRE(r.Get(kA).ok());
    r.Advance(90'000);
    status = refusal;
    auto stale = r.Get(kA);  // served stale; its revalidation is refused
    REQUIRE(stale.ok());
    REQUIRE(stale->revalidating);
    r.loop.RunAll();
    REQUIRE(r.origin.requests.size() == 2);
    auto peeked = r.engine->Peek({kA}, r.loop.now());
    REQUIRE(peeked.ok());
    CHECK(peeked->entry->body == "v1");
    CHECK(peeked->entry->status == 200);
  }
}

// RFC 9111 4.3.4: a 304 updates the stored response its validator
// identifies, and none other. A reload's own request (beside a conditional
// one) stored v2 first; the conditional request's 304, sent earlier for v1
// and arriving later, then put v1 back over it, refreshed, as fresh for
// its max-age while the origin and the cache a moment before had v2.
TEST_CASE("a late 304 for the old version does not replace a newer stored one") {
  Rig r;
  ReloadPastConditional race(r);
  auto& conditional = race.conditional;
  auto& reload = race.reload;
  r.loop.RunAll();
  REQUIRE(reload.has_value());
  REQUIRE(reload->ok());
  CHECK((*reload)->entry->body == "v2");
  REQUIRE(conditional.has_value());
  REQUIRE(conditional->ok());
  auto after = r.Get(kA);
  REQUIRE(after.ok());
  CHECK(after->entry->body == "v2");
  CHECK(r.origin.CountRequests(kA) == 3);
}

// The same, once memory has evicted the newer answer before the 304
// arrives: the 304 found nothing newer held and stored the old version,
// refreshed, so the next get served v1 fresh after v2 had been served.
TEST_CASE("a late 304 for the old version does not come back after the newer one was evicted") {
  EngineOptions options;
  options.memory_max_entries = 1;
  Rig r(options);
  ReloadPastConditional race(r);
  auto& conditional = race.conditional;
  auto& reload = race.reload;
  while (!reload && r.loop.RunOne()) {
  }
  REQUIRE(reload.has_value());
  REQUIRE(reload->ok());
  CHECK((*reload)->entry->body == "v2");
  REQUIRE(r.Get(kB).ok());  // memory holds one entry: v2 of kA goes
  REQUIRE_FALSE(conditional.has_value());
  r.loop.RunAll();
  REQUIRE(conditional.has_value());
  REQUIRE(conditional->ok());
  auto after = r.Get(kA);
  REQUIRE(after.ok());
  CHECK(after->entry->body == "v2");
}

// The same race with a 200: the conditional request, sent when the origin
// had v2, answered late; the reload beside it, sent no earlier, found v3
// and was kept first. The late 200 replaced v3 with v2, fresh for its
// max-age, and told subscribers v2 after v3.
TEST_CASE("a late 200 to an earlier request does not replace a newer kept one") {
  Rig r;
  int version = 1;
  r.ServeVersions(&version);
  REQUIRE(r.Get(kA).ok());
  auto key = Engine::KeyFor(kA, "");
  REQUIRE(key.ok());
  std::vector<std::string> told;
  REQUIRE(r.engine
              ->Subscribe(*key, [&told](const CacheResult& res) {
                told.push_back(res.entry ? res.entry->body : "");
              })
              .ok());
  r.Advance(120'000);  // stale
  std::optional<Result<CacheResult>> conditional, reload;
  version = 2;
  r.origin.latency_ms = 100;  // the conditional request's 200 takes its time
  r.engine->Get({kA}, r.loop.now(), [&](Result<CacheResult> res) { conditional = res; });
  version = 3;
  r.origin.latency_ms = 10;
  r.engine->Get({kA, "", {}, Lane::kNavigate, CacheMode::kReload}, r.loop.now(),
                [&](Result<CacheResult> res) { reload = res; });
  r.loop.RunAll();
  REQUIRE(reload.has_value());
  REQUIRE(reload->ok());
  CHECK((*reload)->entry->body == "v3");
  REQUIRE(conditional.has_value());
  REQUIRE(conditional->ok());
  CHECK((*conditional)->entry->body == "v2");  // its own answer, as sent
  auto after = r.Get(kA);
  REQUIRE(after.ok());
  CHECK(after->entry->body == "v3");
  CHECK(after->source == Source::kMemory);
  CHECK(told == std::vector<std::string>{"v3"});
}

// RFC 9111 4.2.4 (must-revalidate, no-cache) and the README ("nothing stale
// is served without stale-while-revalidate/stale-if-error"): Peek hands out
// a must-revalidate response an hour past its lifetime, no validation.
TEST_CASE("Peek does not serve a stale must-revalidate or no-cache response") {
  Rig r;
  std::string cc = "max-age=60, must-revalidate";
  r.origin.handler = [&cc](const HttpRequest&, Instant now) {
    HttpResponse resp;
    resp.status = 200;
    resp.headers.Set("Cache-Control", cc);
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(3'600'000);
  CHECK(r.engine->Peek({kA}, r.loop.now()).status().IsNotFound());
  cc = "no-cache";
  REQUIRE(r.Get(kB).ok());
  r.Advance(3'600'000);
  CHECK(r.engine->Peek({kB}, r.loop.now()).status().IsNotFound());
}

// RFC 9111 4.4: a non-error response to an unsafe request MUST invalidate
// the request's target URI. Mutate invalidates only `target`, so a stored
// response for the URL actually written stays fresh.
TEST_CASE("Mutate invalidates the written URL, not only the target") {
  Rig r;
  int version = 1;
  r.origin.handler = [&version](const HttpRequest& req, Instant now) {
    if (req.method == "PATCH") {
      version = 2;
      return HttpResponse{204, {}, ""};
    }
    HttpResponse resp;
    resp.status = 200;
    resp.headers.Set("Cache-Control", "max-age=600");
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.body = "v" + std::to_string(version);
    return resp;
  };
  REQUIRE(r.Get(kA).ok());  // a list, the optimistic target
  REQUIRE(r.Get(kB).ok());  // the item the PATCH goes to
  HttpRequest write;
  write.method = "PATCH";
  write.url = kB;
  std::optional<Status> done;
  r.engine->Mutate({kA}, HttpResponse{200, {}, "list?"}, write, r.loop.now(),
                   [&](Status s) { done = s; });
  r.loop.RunAll();
  REQUIRE(done.has_value());
  REQUIRE(done->ok());
  auto item = r.Get(kB);
  REQUIRE(item.ok());
  CHECK(item->state != CacheState::kFresh);
  CHECK(item->entry->body == "v2");
}

// RFC 9111 4.3.4: a 304's Vary replaces the stored one. The entry keeps the
// request values of the old Vary, so the waiter no longer matches it and is
// retried conditionally on the same base: 304 again, retry again, forever.
TEST_CASE("a 304 that adds Vary answers the get with one request") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Cache-Control", "max-age=60");
    resp.headers.Set("Date", FormatHttpDate(now));
    if (req.headers.Get("If-None-Match") == "\"v1\"") {
      resp.status = 304;
      resp.headers.Set("Vary", "Accept-Encoding");  // the 200 had none
      return resp;
    }
    resp.status = 200;
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(120'000);
  std::optional<Result<CacheResult>> out;
  r.engine->Get({kA}, r.loop.now(), [&](Result<CacheResult> res) { out = std::move(res); });
  r.Advance(5'000);  // 500 round trips of the fake origin's 10 ms
  CHECK(out.has_value());
  CHECK(r.origin.CountRequests(kA) == 2);
}

// RFC 5861 3 (and Engine::Invalidate: "served once more within their
// stale-while-revalidate window"): an entry past its window is not served;
// marking it stale must not make it servable again, at any age.
TEST_CASE("an invalidated entry past its stale-while-revalidate window is not served") {
  Rig r;
  r.origin.handler = [](const HttpRequest&, Instant now) {
    HttpResponse resp;
    resp.status = 200;
    resp.headers.Set("Cache-Control", "max-age=60, stale-while-revalidate=30");
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.body = "v1";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(24LL * 3600 * 1000);  // a day old: far past max-age + swr
  r.origin.down = true;
  CHECK_FALSE(r.Get(kA).ok());    // not servable: the origin is needed
  REQUIRE(r.engine->Invalidate({InvalidateSelector::Kind::kUrl, kA}, InvalidateMode::kMarkStale,
                               r.loop.now()).ok());
  auto after = r.Get(kA);         // the same entry, now marked stale
  CHECK_FALSE(after.ok());
}

// RFC 9111 3 / 5.2.2.5: a 304 whose Cache-Control says no-store updates the
// stored response's headers to no-store; the cache keeps storing it.
TEST_CASE("a 304 carrying no-store does not stay stored") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.headers.Set("ETag", "\"v1\"");
    resp.headers.Set("Date", FormatHttpDate(now));
    if (req.headers.Get("If-None-Match") == "\"v1\"") {
      resp.status = 304;
      resp.headers.Set("Cache-Control", "no-store");
      return resp;
    }
    resp.status = 200;
    resp.headers.Set("Cache-Control", "max-age=60");
    resp.body = "secret";
    return resp;
  };
  REQUIRE(r.Get(kA).ok());
  r.Advance(120'000);
  auto revalidated = r.Get(kA);
  REQUIRE(revalidated.ok());
  CHECK(revalidated->entry->body == "secret");  // answering this request is fine
  CHECK_FALSE(revalidated->stored);
  int stored = 0;
  r.engine->VisitMemory([&](const CacheEntry&) { ++stored; });
  CHECK(stored == 0);
}

// RFC 9111 4.1: a request field absent when the response was stored
// matches only absence. A get with an empty Accept-Encoding (no content
// coding wanted) was served the response stored for a get without one.
TEST_CASE("Vary: an empty request field does not match the stored absent one") {
  Rig r;
  r.origin.handler = [](const HttpRequest& req, Instant now) {
    HttpResponse resp;
    resp.status = 200;
    resp.headers.Set("Vary", "Accept-Encoding");
    resp.headers.Set("Cache-Control", "max-age=600");
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.body = req.headers.Has("Accept-Encoding") ? "identity" : "any";
    return resp;
  };
  auto first = r.Get(kA);
  REQUIRE(first.ok());
  CHECK(first->entry->body == "any");
  auto again = r.Get(kA);  // absent again: the stored response
  REQUIRE(again.ok());
  CHECK(again->state == CacheState::kFresh);
  CHECK(r.origin.CountRequests(kA) == 1);
  auto empty = r.Get(kA, Headers{{"Accept-Encoding", ""}});
  REQUIRE(empty.ok());
  CHECK(empty->entry->body == "identity");
  CHECK(r.origin.CountRequests(kA) == 2);
}

// RFC 9111 4.1: "Vary: *" always fails to match a *stored* response; the
// response itself still answers the request it was fetched for. The engine
// matches every waiter against it, so none matches and each is retried
// with a new request, forever.
TEST_CASE("a response with Vary: * answers its request once") {
  Rig r;
  r.origin.handler = [](const HttpRequest&, Instant now) {
    HttpResponse resp;
    resp.status = 200;
    resp.headers.Set("Vary", "*");
    resp.headers.Set("Date", FormatHttpDate(now));
    resp.body = "v1";
    return resp;
  };
  std::optional<Result<CacheResult>> out;
  r.engine->Get({kA}, r.loop.now(), [&](Result<CacheResult> res) { out = std::move(res); });
  r.Advance(5'000);
  CHECK(out.has_value());
  CHECK(r.origin.CountRequests(kA) == 1);
}
}

}  // namespace
}  // namespace preheat

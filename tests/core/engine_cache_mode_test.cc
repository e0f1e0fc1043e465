// CacheRequest::mode: fetch()'s RequestCache modes on Engine::Get.
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
    std::optional<Result<CacheResult>> out;
    CacheRequest req{url, "", {}};
    req.mode = mode;
    engine->Get(req, loop.now(), [&](Result<CacheResult> r) { out = std::move(r); });
    while (!out && loop.RunOne()) {
    }
    REQUIRE(out.has_value());
    return *out;
  }
  void Advance(int64_t ms) { loop.RunUntil(AddMs(loop.now(), ms)); }
  size_t Requests() { return origin.CountRequests(kA); }
};

TEST_SUITE("engine: cache modes") {

TEST_CASE("mode names round-trip; an unknown name is kInvalidArgument") {
  for (CacheMode mode : {CacheMode::kDefault, CacheMode::kNoCache, CacheMode::kReload,
                         CacheMode::kForceCache, CacheMode::kOnlyIfCached}) {
    auto parsed = ParseCacheMode(CacheModeName(mode));
    REQUIRE(parsed.ok());
    CHECK(*parsed == mode);
  }
  CHECK(ParseCacheMode("no-store").status().code() == Code::kInvalidArgument);
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
  for (CacheMode mode : {CacheMode::kNoCache, CacheMode::kReload}) {
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
  r.Reopen();
  auto stored = r.Get(CacheMode::kDefault);
  REQUIRE(stored.ok());
  CHECK(stored->source == Source::kStore);
  CHECK(stored->entry->body == "v2");
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

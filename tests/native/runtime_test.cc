// The native runtime end to end: Runtime + Engine + SqliteStore +
// CurlFetcher against a real origin on 127.0.0.1. Time is real time plus an
// offset the test moves, so freshness windows pass without sleeping.
#include "preheat_native/runtime.h"

#include <doctest/doctest.h>
#include <unistd.h>
#include <sys/socket.h>
#include <atomic>
#include <future>
#include <thread>
#include <sqlite3.h>

#include <nlohmann/json.hpp>

#include "test_util.h"

using preheat::CacheRequest;
using preheat::CacheResult;
using preheat::CacheState;
using preheat::Code;
using preheat::Instant;
using preheat::Result;
using preheat::Source;
using preheat::StoreSelector;
using preheat_native::Runtime;
using preheat_native::RuntimeOptions;
using preheat_test::TempDir;
using preheat_test::TestServer;

namespace {

struct OffsetClock {
  std::shared_ptr<std::atomic<int64_t>> offset_ms = std::make_shared<std::atomic<int64_t>>(0);
  preheat_native::ClockFn Fn() const {
    auto offset = offset_ms;
    return [offset] { return preheat::AddMs(preheat_native::SystemNow(), offset->load()); };
  }
  void Advance(int64_t ms) { offset_ms->fetch_add(ms); }
};

// An origin whose /r/<name> responses are configured per test.
struct Origin {
  TestServer server;
  std::mutex mu;
  std::string cache_control = "max-age=60";
  std::string etag = "\"v1\"";
  std::string body = "body-v1";
  int status = 200;
  std::atomic<int> requests{0};
  std::atomic<int> conditional{0};  // requests with a matching If-None-Match
  std::atomic<int> not_modified{0};
  // PATCH /r/<name> (a mutation's write) answers write_status; on 200 the
  // resource becomes the request's body under a new ETag.
  int write_status = 200;
  std::atomic<int> writes{0};

  Origin() {
    server.server().Patch(R"(/r/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      int n = ++writes;
      std::lock_guard<std::mutex> lock(mu);
      res.status = write_status;
      if (write_status != 200) return;
      body = req.body;
      etag = "\"w" + std::to_string(n) + "\"";
      res.set_content("ok", "text/plain");
    });
    server.server().Get(R"(/r/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      requests++;
      std::lock_guard<std::mutex> lock(mu);
      res.set_header("Cache-Control", cache_control);
      if (!etag.empty()) res.set_header("ETag", etag);
      res.set_header("Last-Modified", "Tue, 01 Apr 2025 10:00:00 GMT");
      res.set_header("Vary", "Accept");
      if (status != 200) {
        res.status = status;
        res.set_content("origin error", "text/plain");
        return;
      }
      if (!etag.empty() && req.get_header_value("If-None-Match") == etag) {
        conditional++;
        not_modified++;
        res.status = 304;
        return;
      }
      res.set_content(body, "text/plain");
    });
  }
  void SetBody(const std::string& b, const std::string& tag) {
    std::lock_guard<std::mutex> lock(mu);
    body = b;
    etag = tag;
  }
  void SetWriteStatus(int code) {
    std::lock_guard<std::mutex> lock(mu);
    write_status = code;
  }
  void Set(const std::string& cc, int code = 200) {
    std::lock_guard<std::mutex> lock(mu);
    cache_control = cc;
    status = code;
  }
  std::string Url(const std::string& name) { return server.Url("/r/" + name); }
};

CacheRequest Req(const std::string& url) {
  CacheRequest r;
  r.url = url;
  return r;
}

Result<CacheResult> GetNow(Runtime& rt, const std::string& url) { return rt.Get(Req(url)).get(); }

nlohmann::json Stats(Runtime& rt) { return nlohmann::json::parse(rt.StatsJson().get()); }

// Waits until an engine counter reaches `value`; a bound keeps a broken test
// from hanging, and is not a timing assertion.
bool WaitForMetric(Runtime& rt, const char* name, uint64_t value) {
  for (int i = 0; i < 2000; ++i) {
    if (Stats(rt)["engine"].value(name, uint64_t{0}) >= value) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

// `adjust` changes the options before the runtime is created.
std::unique_ptr<Runtime> MakeRuntime(const std::string& db_path, const OffsetClock& clock,
                                     bool require_store = true,
                                     const std::function<void(RuntimeOptions&)>& adjust = {}) {
  RuntimeOptions o;
  o.db_path = db_path;
  o.require_store = require_store;
  o.clock = clock.Fn();
  o.seed = 1;
  if (adjust) adjust(o);
  auto rt = Runtime::Create(o);
  REQUIRE(rt.ok());
  return std::move(rt.value());
}

int64_t CountRows(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* s = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM entries", -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW) {
    n = sqlite3_column_int64(s, 0);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

}  // namespace

TEST_CASE("Runtime: a miss, then a fresh hit from memory without a request") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  auto first = GetNow(*rt, origin.Url("a"));
  REQUIRE(first.ok());
  CHECK(first->state == CacheState::kMiss);
  CHECK(first->source == Source::kNetwork);
  CHECK(first->entry->body == "body-v1");
  CHECK(first->entry->status == 200);
  CHECK(first->stored);

  auto second = GetNow(*rt, origin.Url("a"));
  REQUIRE(second.ok());
  CHECK(second->state == CacheState::kFresh);
  CHECK(second->source == Source::kMemory);
  CHECK(second->entry->body == "body-v1");
  CHECK(origin.requests == 1);
}

TEST_CASE("Runtime: stale-while-revalidate serves stale, revalidates once with If-None-Match") {
  Origin origin;
  origin.Set("max-age=10, stale-while-revalidate=100");
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  REQUIRE(GetNow(*rt, origin.Url("swr")).ok());
  REQUIRE(origin.requests == 1);

  clock.Advance(20 * 1000);  // past max-age, within stale-while-revalidate
  auto stale = GetNow(*rt, origin.Url("swr"));
  REQUIRE(stale.ok());
  CHECK(stale->state == CacheState::kStale);
  CHECK(stale->entry->body == "body-v1");
  CHECK(stale->revalidating);

  REQUIRE(WaitForMetric(*rt, "not_modified", 1));
  CHECK(origin.requests == 2);
  CHECK(origin.conditional == 1);
  CHECK(origin.not_modified == 1);

  // The 304 refreshed the entry: fresh again, and no further request.
  auto again = GetNow(*rt, origin.Url("swr"));
  REQUIRE(again.ok());
  CHECK(again->state == CacheState::kFresh);
  CHECK(origin.requests == 2);
}

TEST_CASE("Runtime: stale-if-error serves the stored body while the origin answers 503") {
  Origin origin;
  origin.Set("max-age=10, stale-if-error=1000");
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  REQUIRE(GetNow(*rt, origin.Url("sie")).ok());

  origin.Set("max-age=10, stale-if-error=1000", 503);
  clock.Advance(20 * 1000);
  auto r = GetNow(*rt, origin.Url("sie"));
  REQUIRE(r.ok());
  CHECK(r->state == CacheState::kStaleIfError);
  CHECK(r->entry->body == "body-v1");
  CHECK(r->entry->status == 200);
  CHECK(origin.requests == 2);
}

TEST_CASE("Runtime: an unreachable origin with nothing stored is kUnavailable") {
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  auto r = GetNow(*rt, "http://127.0.0.1:" + std::to_string(preheat_test::UnusedPort()) + "/x");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnavailable);
  auto bad = GetNow(*rt, "ftp://example.com/");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Code::kInvalidArgument);
}

TEST_CASE("Runtime: no-store responses never reach the database") {
  Origin origin;
  origin.Set("no-store");
  TempDir dir;
  OffsetClock clock;
  std::string path = dir.File("cache.db");
  auto rt = MakeRuntime(path, clock);
  auto r = GetNow(*rt, origin.Url("secret"));
  REQUIRE(r.ok());
  CHECK(r->entry->body == "body-v1");
  CHECK_FALSE(r->stored);
  REQUIRE(rt->Flush().get().ok());
  auto scan = rt->ScanStore(StoreSelector{}, "", 100).get();
  REQUIRE(scan.ok());
  CHECK(scan->empty());
  rt->Shutdown();
  CHECK(CountRows(path) == 0);
  // And it is fetched again each time.
  auto rt2 = MakeRuntime(path, clock);
  REQUIRE(GetNow(*rt2, origin.Url("secret")).ok());
  CHECK(origin.requests == 2);
}

TEST_CASE("Runtime: entries survive a restart on the same file") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  std::string path = dir.File("cache.db");
  {
    auto rt = MakeRuntime(path, clock);
    REQUIRE(GetNow(*rt, origin.Url("keep")).ok());
  }  // the destructor flushes
  CHECK(CountRows(path) == 1);
  auto rt = MakeRuntime(path, clock);
  auto r = GetNow(*rt, origin.Url("keep"));
  REQUIRE(r.ok());
  CHECK(r->source == Source::kStore);
  CHECK(r->state == CacheState::kFresh);
  CHECK(r->entry->body == "body-v1");
  CHECK(origin.requests == 1);
  auto stats = Stats(*rt);
  CHECK(stats["store"]["entries"] == 1);
}

TEST_CASE("Runtime: invalidate removes an entry from both tiers") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  REQUIRE(GetNow(*rt, origin.Url("inv")).ok());
  preheat::InvalidateSelector sel;
  sel.kind = preheat::InvalidateSelector::Kind::kUrl;
  sel.value = origin.Url("inv");
  auto removed = rt->Invalidate(sel, preheat::InvalidateMode::kRemove).get();
  REQUIRE(removed.ok());
  CHECK(*removed == 1);
  auto r = GetNow(*rt, origin.Url("inv"));
  REQUIRE(r.ok());
  CHECK(r->state == CacheState::kMiss);
  CHECK(origin.requests == 2);
}

// A subscriber's calls (on the loop thread), read from the test thread.
struct Heard {
  std::mutex mu;
  std::vector<std::string> bodies;
  preheat::Engine::Subscriber Fn() {
    return [this](const CacheResult& r) {
      std::lock_guard<std::mutex> lock(mu);
      bodies.push_back(r.entry ? r.entry->body : std::string("<none>"));
    };
  }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> lock(mu);
    return bodies;
  }
};

CacheRequest InNamespace(const std::string& url, const std::string& ns) {
  CacheRequest r = Req(url);
  r.namespace_name = ns;
  return r;
}

TEST_CASE("Runtime: peek answers from memory only, starting nothing") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  const std::string url = origin.Url("peek");
  {
    auto rt = MakeRuntime(dir.File("cache.db"), clock);
    CHECK(rt->Peek(Req(url)).get().status().code() == Code::kNotFound);
    CHECK(origin.requests == 0);
    REQUIRE(GetNow(*rt, url).ok());
    auto hit = rt->Peek(Req(url)).get();
    REQUIRE(hit.ok());
    CHECK(hit->source == Source::kMemory);
    CHECK(hit->state == CacheState::kFresh);
    CHECK(hit->entry->body == "body-v1");
    CHECK(rt->Peek(Req("not a url")).get().status().code() == Code::kInvalidArgument);
    REQUIRE(rt->Flush().get().ok());
  }
  // Stored but not in a new runtime's memory: a peek does not read the store.
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  CHECK(rt->Peek(Req(url)).get().status().code() == Code::kNotFound);
  auto stored = GetNow(*rt, url);
  REQUIRE(stored.ok());
  CHECK(stored->source == Source::kStore);
  CHECK(origin.requests == 1);
}

TEST_CASE("Runtime: a subscriber hears a changed revalidation, not a 304, until it unsubscribes") {
  Origin origin;
  origin.Set("max-age=10, stale-while-revalidate=100");
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  const std::string url = origin.Url("sub");
  REQUIRE(GetNow(*rt, url).ok());
  Heard heard;
  auto id = rt->Subscribe(Req(url), heard.Fn()).get();
  REQUIRE(id.ok());

  origin.SetBody("body-v2", "\"v2\"");
  clock.Advance(20 * 1000);
  auto stale = GetNow(*rt, url);
  REQUIRE(stale.ok());
  CHECK(stale->entry->body == "body-v1");
  CHECK(stale->revalidating);
  // The callback runs on the loop before the counter can be read there.
  REQUIRE(WaitForMetric(*rt, "revalidations_changed", 1));
  CHECK(heard.Bodies() == std::vector<std::string>{"body-v2"});

  clock.Advance(20 * 1000);  // stale again; the origin has not changed
  REQUIRE(GetNow(*rt, url).ok());
  REQUIRE(WaitForMetric(*rt, "not_modified", 1));
  CHECK(heard.Bodies().size() == 1);

  rt->Unsubscribe(*id).get();
  origin.SetBody("body-v3", "\"v3\"");
  clock.Advance(20 * 1000);
  REQUIRE(GetNow(*rt, url).ok());
  REQUIRE(WaitForMetric(*rt, "revalidations_changed", 2));
  CHECK(heard.Bodies().size() == 1);
  CHECK(rt->Subscribe(Req("not a url"), heard.Fn()).get().status().code() ==
        Code::kInvalidArgument);
}

TEST_CASE("Runtime: mutate serves the optimistic body, then the origin's; a failed write rolls back") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  const std::string url = origin.Url("mut");
  REQUIRE(GetNow(*rt, url).ok());
  Heard heard;
  REQUIRE(rt->Subscribe(Req(url), heard.Fn()).get().ok());
  preheat::HttpResponse optimistic;
  optimistic.status = 200;
  optimistic.body = "body-optimistic";
  preheat::HttpRequest write;
  write.method = "PATCH";
  write.url = url;
  write.body = "body-written";

  SUBCASE("the write succeeds: the entry is revalidated from the origin") {
    REQUIRE(rt->Mutate(Req(url), optimistic, write).get().ok());
    CHECK(origin.writes == 1);
    // The optimistic body, then the refetched one (the callbacks run on the
    // loop before the counter can be read there).
    REQUIRE(WaitForMetric(*rt, "notifications", 2));
    auto now = rt->Peek(Req(url)).get();
    REQUIRE(now.ok());
    CHECK(now->entry->body == "body-written");
    CHECK(heard.Bodies() == std::vector<std::string>{"body-optimistic", "body-written"});
  }
  SUBCASE("the write fails: the previous entry comes back") {
    origin.SetWriteStatus(500);
    auto done = rt->Mutate(Req(url), optimistic, write).get();
    CHECK(done.code() == Code::kHttpError);
    CHECK(origin.writes == 1);
    auto now = rt->Peek(Req(url)).get();
    REQUIRE(now.ok());
    CHECK(now->entry->body == "body-v1");
    CHECK(heard.Bodies() == std::vector<std::string>{"body-optimistic", "body-v1"});
    CHECK(Stats(*rt)["engine"]["rollbacks"] == 1);
  }
}

TEST_CASE("Runtime: a mutate whose write is answered 303 (post/redirect/get) succeeds; the origin "
          "takes the write once") {
  TestServer origin;
  std::atomic<int> posts{0};
  origin.server().Get("/list", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "max-age=60");
    res.set_content("items: " + std::to_string(posts.load()), "text/plain");
  });
  origin.server().Post("/items", [&](const httplib::Request&, httplib::Response& res) {
    posts++;
    res.status = 303;
    res.set_header("Location", "/list");
  });
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  const std::string list = origin.Url("/list");
  REQUIRE(GetNow(*rt, list).ok());
  preheat::HttpResponse optimistic;
  optimistic.status = 200;
  optimistic.body = "items: 1";
  preheat::HttpRequest write;
  write.method = "POST";
  write.url = origin.Url("/items");
  write.body = "new item";
  preheat::Status done = rt->Mutate(Req(list), optimistic, write).get();
  CHECK_MESSAGE(done.ok(), done.ToString());
  CHECK(posts.load() == 1);
}

TEST_CASE("Runtime: get and mutate refuse a method or header that could split the request; nothing "
          "is sent or served") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  auto rt = MakeRuntime(dir.File("cache.db"), clock);
  const std::string url = origin.Url("inject");

  CacheRequest bad = Req(url);
  bad.headers.Add("X-Trace", "abc\r\nX-Injected: 1");
  auto got = rt->Get(bad).get();
  REQUIRE_FALSE(got.ok());
  CHECK(got.status().code() == Code::kInvalidArgument);
  CHECK(got.status().message().find("X-Trace") != std::string::npos);
  std::promise<Result<CacheResult>> called_back;
  rt->Get(bad, [&](Result<CacheResult> r) { called_back.set_value(std::move(r)); });
  auto got_back = called_back.get_future().get();
  REQUIRE_FALSE(got_back.ok());
  CHECK(got_back.status().code() == Code::kInvalidArgument);
  CHECK(origin.requests == 0);

  REQUIRE(GetNow(*rt, url).ok());
  preheat::HttpResponse optimistic;
  optimistic.status = 200;
  optimistic.body = "body-optimistic";
  preheat::HttpRequest write;
  write.method = "PATCH";
  write.url = url;
  write.body = "body-written";
  write.headers.Add("X-Trace", "abc\r\nX-Injected: 1");
  CHECK(rt->Mutate(Req(url), optimistic, write).get().code() == Code::kInvalidArgument);
  write.headers = preheat::Headers();
  write.method = "PATCH /r/other HTTP/1.1\r\nX-Pad:";
  CHECK(rt->Mutate(Req(url), optimistic, write).get().code() == Code::kInvalidArgument);
  CHECK(origin.writes == 0);
  auto now = rt->Peek(Req(url)).get();
  REQUIRE(now.ok());
  CHECK(now->entry->body == "body-v1");  // the optimistic body was never served
}

TEST_CASE("Runtime: clear removes one namespace from memory and the database") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  const std::string path = dir.File("cache.db");
  auto rt = MakeRuntime(path, clock);
  const CacheRequest alice1 = InNamespace(origin.Url("c1"), "alice");
  const CacheRequest alice2 = InNamespace(origin.Url("c2"), "alice");
  const CacheRequest bob1 = InNamespace(origin.Url("c1"), "bob");
  for (const CacheRequest& r : {alice1, alice2, bob1}) REQUIRE(rt->Get(r).get().ok());
  REQUIRE(rt->Flush().get().ok());
  REQUIRE(CountRows(path) == 3);

  REQUIRE(rt->Clear("alice").get().ok());
  CHECK(CountRows(path) == 1);  // committed: another connection sees it
  CHECK(rt->Peek(alice1).get().status().code() == Code::kNotFound);
  CHECK(rt->Peek(bob1).get().ok());
  auto again = rt->Get(alice1).get();
  REQUIRE(again.ok());
  CHECK(again->source == Source::kNetwork);
  CHECK(origin.requests == 4);
  CHECK(rt->Clear("not a namespace!").get().code() == Code::kInvalidArgument);
}

TEST_CASE("Runtime: clear succeeds after writes were dropped (never stored, nothing to remove)") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  const std::string path = dir.File("cache.db");
  auto created = MakeRuntime(path, clock, true, [](RuntimeOptions& o) {
    o.engine.pending_writes_max = 1;
    o.engine.write_delay_ms = 600000;
  });
  Runtime& rt = *created;
  for (const char* name : {"w1", "w2", "w3"}) REQUIRE(rt.Get(Req(origin.Url(name))).get().ok());
  REQUIRE(Stats(rt)["engine"]["writes_dropped"] > 0);
  REQUIRE(rt.Clear("").get().ok());
  CHECK(CountRows(path) == 0);
  CHECK(rt.Peek(Req(origin.Url("w1"))).get().status().code() == Code::kNotFound);
}

TEST_CASE("Runtime: a clear the engine cannot finish is retried on the database, or says why") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  const std::string path = dir.File("cache.db");
  auto created = MakeRuntime(path, clock, true, [](RuntimeOptions& o) {
    o.store.busy_timeout_ms = 50;  // another process's lock fails operations soon
  });
  Runtime& rt = *created;
  const CacheRequest alice = InNamespace(origin.Url("d1"), "alice");
  const CacheRequest bob = InNamespace(origin.Url("d1"), "bob");
  REQUIRE(rt.Get(alice).get().ok());
  REQUIRE(rt.Get(bob).get().ok());
  REQUIRE(rt.Flush().get().ok());
  REQUIRE(CountRows(path) == 2);

  // Another process holds the write lock: every removal times out.
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  preheat::Status blocked = rt.Clear("alice").get();
  CHECK(blocked.code() == Code::kUnavailable);
  CHECK(rt.Peek(alice).get().status().code() == Code::kNotFound);  // memory forgot at once
  CHECK(Stats(rt)["engine"]["store_degraded"] == true);
  REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(other);
  CHECK(CountRows(path) == 2);  // nothing was lost or removed

  // The lock gone, the engine's store is still degraded; the runtime's own
  // removal does it.
  REQUIRE(rt.Clear("alice").get().ok());
  CHECK(CountRows(path) == 1);
  auto left = rt.ScanStore(preheat::StoreSelector{}, "", 10).get();
  REQUIRE(left.ok());
  REQUIRE(left->size() == 1);
  CHECK(left->front().key.rfind("bob ", 0) == 0);
}

TEST_CASE("Runtime: an unusable database path") {
  TempDir dir;
  OffsetClock clock;
  {
    std::ofstream f(dir.File("file"));
    f << "x";
  }
  RuntimeOptions o;
  o.db_path = dir.File("file/cache.db");
  o.clock = clock.Fn();
  SUBCASE("is an error when the store is required") {
    o.require_store = true;
    auto rt = Runtime::Create(o);
    REQUIRE_FALSE(rt.ok());
    CHECK(rt.status().code() == Code::kIoError);
  }
  SUBCASE("leaves the runtime memory-only otherwise") {
    auto rt = Runtime::Create(o);
    REQUIRE(rt.ok());
    CHECK_FALSE((*rt)->has_store());
    CHECK((*rt)->open_report().find("memory-only") != std::string::npos);
    CHECK((*rt)->Flush().get().ok());
    auto stats = Stats(**rt);
    CHECK(stats["store"].is_null());
  }
}

TEST_CASE("Runtime: calls after Shutdown fail with kUnavailable") {
  OffsetClock clock;
  auto rt = MakeRuntime("", clock, false);
  rt->Shutdown();
  rt->Shutdown();  // idempotent
  auto r = rt->Get(Req("http://127.0.0.1/")).get();
  CHECK(r.status().code() == Code::kUnavailable);
  bool called = false;
  rt->Get(Req("http://127.0.0.1/"), [&](Result<CacheResult> res) {
    called = true;
    CHECK(res.status().code() == Code::kUnavailable);
  });
  CHECK(called);
}

TEST_CASE("Runtime: Shutdown answers every get, queued behind the lanes' limits or on the wire") {
  // An origin that accepts connections and never answers: the first gets
  // hold the navigate lane's slots, the rest wait in its queue. Shutdown
  // cancels those on the wire; their completions start queued ones on a
  // stopping fetcher; every get must still be answered.
  int port = 0;
  int listener = preheat_test::BindLoopback(&port);
  REQUIRE(listener >= 0);
  REQUIRE(listen(listener, 1024) == 0);
  OffsetClock clock;
  auto rt = MakeRuntime("", clock, false);
  const int n = 40;
  std::vector<std::future<Result<CacheResult>>> futures;
  std::atomic<int> callbacks{0};
  for (int i = 0; i < n; ++i) {
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/p" + std::to_string(i);
    futures.push_back(rt->Get(Req(url)));
    rt->Get(Req(url + "?cb"), [&callbacks](Result<CacheResult> r) {
      // A callback that takes a moment lets the loop fall behind the shutdown.
      if (callbacks.fetch_add(r.ok() ? 1000 : 1) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    });
  }
  CHECK(rt->Flush().wait_for(std::chrono::seconds(20)) == std::future_status::ready);  // the loop took them all
  std::thread other([&] { rt->Shutdown(); });  // two callers at once: one shutdown
  rt->Shutdown();
  other.join();
  int errors = 0;
  for (auto& f : futures) {
    REQUIRE(f.wait_for(std::chrono::seconds(0)) == std::future_status::ready);
    auto r = f.get();  // a broken promise (an unanswered get) would throw
    errors += r.ok() ? 0 : 1;
  }
  CHECK(errors == n);
  CHECK(callbacks.load() == n);  // each once, each an error
  close(listener);
}

TEST_CASE("Runtime: a database deleted while open is recreated; stats report it, writes land") {
  Origin origin;
  TempDir dir;
  OffsetClock clock;
  std::string path = dir.File("cache.db");
  {
    auto rt = MakeRuntime(path, clock);
    REQUIRE(GetNow(*rt, origin.Url("before")).ok());
    REQUIRE(rt->Flush().get().ok());
    auto stats = Stats(*rt);
    CHECK(stats["store"]["status"] == "ok");
    CHECK(stats["store"]["file_replaced_count"] == 0);
    CHECK(stats["store"]["last_file_event"].is_null());

    REQUIRE(std::filesystem::remove(path));
    REQUIRE(GetNow(*rt, origin.Url("after")).ok());
    REQUIRE(rt->Flush().get().ok());
    stats = Stats(*rt);
    CHECK(stats["store"]["status"] == "ok");
    CHECK(stats["store"]["file_replaced_count"] == 1);
    CHECK(stats["store"]["last_file_event"].get<std::string>().find("deleted while open") !=
          std::string::npos);
    CHECK(stats["engine"]["store_degraded"] == false);
    // Still serving: the entry from before is in the memory tier.
    auto r = GetNow(*rt, origin.Url("before"));
    REQUIRE(r.ok());
    CHECK(r->entry->body == "body-v1");
  }
  CHECK(CountRows(path) == 1);  // the batch flushed after the deletion
}

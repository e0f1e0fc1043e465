// The real Engine over FaultyStore(SqliteStore), with an in-process origin:
// when the store fails the engine keeps serving from memory and says it is
// degraded; no batch whose Flush returned OK is lost (checked by reopening
// the SQLite file), through injected errors, latency, torn batches and
// crash points; nothing crashes. Every fault comes from a printed seed.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "preheat/engine.h"
#include "preheat/entry.h"
#include "preheat/prng.h"
#include "preheat_native/sqlite_store.h"
#include "pump.h"
#include "test_util.h"
#include "../testing/faulty_store.h"

using preheat::CacheRequest;
using preheat::CacheResult;
using preheat::Code;
using preheat::Engine;
using preheat::EngineOptions;
using preheat::HttpResponse;
using preheat::Instant;
using preheat::Result;
using preheat::Source;
using preheat::Status;
using preheat::testing::FaultyStore;
using preheat_native::SqliteStore;
using preheat_test::InProcessOrigin;
using preheat_test::Pump;
using preheat_test::TempDir;

namespace {

std::string UrlOf(int i) { return "https://origin.test/item/" + std::to_string(i); }

// Bodies are "<url>#<version>": versions per URL only go up, so a check can
// accept a newer version than the one it knows was flushed.
struct VersionedOrigin {
  std::map<std::string, int> version;
  bool down = false;
  InProcessOrigin::Handler Handler() {
    return [this](const preheat::HttpRequest& req, Instant) -> Result<HttpResponse> {
      if (down) return Status::Unavailable("origin down");
      HttpResponse r;
      r.status = 200;
      r.headers.Set("Cache-Control", "max-age=5");
      r.headers.Set("Content-Type", "text/plain");
      r.body = req.url + "#" + std::to_string(version[req.url]);
      return r;
    };
  }
};

int VersionOfBody(const std::string& body) {
  auto hash = body.rfind('#');
  return hash == std::string::npos ? -1 : std::stoi(body.substr(hash + 1));
}

// One engine over FaultyStore(SqliteStore(path)), driven by a Pump.
struct Rig {
  Rig(const std::string& path, uint64_t seed, VersionedOrigin* versions, EngineOptions options = {})
      : origin(&pump, versions->Handler()) {
    preheat_native::SqliteStoreOptions so;
    so.post = pump.Poster();
    so.clock = pump.Clock();
    auto opened = SqliteStore::Open(path, so);
    REQUIRE(opened.ok());
    sqlite = std::move(opened).value();
    faulty = std::make_unique<FaultyStore>(
        sqlite.get(), seed, [this](int64_t ms, std::function<void()> fn) { pump.After(ms, fn); },
        pump.Clock());
    auto created = Engine::Create(std::move(options), faulty.get(), &origin, seed);
    REQUIRE(created.ok());
    engine = std::move(created).value();
    pump.SetDeadlineHooks([this] { return engine->NextDeadline(); },
                          [this](Instant now) { engine->OnDeadline(now); });
    engine->Start(pump.Now());
    pump.RunUntil([] { return false; }, 20);  // let Start's evict complete
  }
  ~Rig() { Shutdown(); }

  // As a process exit: the engine goes (pending writes are lost unless
  // flushed), then the store drains and closes.
  void Shutdown() {
    if (!engine) return;
    pump.SetDeadlineHooks({}, {});
    engine.reset();
    sqlite->Close();
    pump.RunReady();
  }

  // Gets and waits (bounded: a crashed store never answers).
  std::optional<Result<CacheResult>> Get(const std::string& url, int64_t timeout_ms = 2000) {
    std::optional<Result<CacheResult>> out;
    CacheRequest req;
    req.url = url;
    engine->Get(req, pump.Now(), [&](Result<CacheResult> r) { out = std::move(r); });
    pump.RunUntil([&] { return out.has_value(); }, timeout_ms);
    return out;
  }

  std::optional<Status> Flush(int64_t timeout_ms = 2000) {
    std::optional<Status> out;
    engine->Flush(pump.Now(), [&](Status s) { out = std::move(s); });
    pump.RunUntil([&] { return out.has_value(); }, timeout_ms);
    return out;
  }

  Pump pump;
  InProcessOrigin origin;
  std::unique_ptr<SqliteStore> sqlite;
  std::unique_ptr<FaultyStore> faulty;
  std::unique_ptr<Engine> engine;
};

// key -> body of every entry in the file, read raw after the store closed.
std::map<std::string, std::string> ReadFile(const std::string& path) {
  std::map<std::string, std::string> out;
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_stmt* check = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(check) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(check, 0))) == "ok");
  sqlite3_finalize(check);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT key, value FROM entries", -1, &s, nullptr) == SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string key(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)));
    std::string value(static_cast<const char*>(sqlite3_column_blob(s, 1)),
                      static_cast<size_t>(sqlite3_column_bytes(s, 1)));
    auto entry = preheat::DecodeEntry(value, preheat::FreshnessOptions{});
    CHECK_MESSAGE(entry.ok(), "undecodable record for ", key);
    if (entry.ok()) out[key] = entry->body;
  }
  sqlite3_finalize(s);
  sqlite3_close_v2(db);
  return out;
}

std::string KeyOf(const std::string& url) { return Engine::KeyFor(url, "").value(); }

}  // namespace

TEST_CASE("faulty store: the engine serves from memory and reports degraded when the store fails") {
  TempDir dir;
  std::string path = dir.File("cache.db");
  VersionedOrigin versions;
  std::map<std::string, std::string> flushed;
  {
    Rig rig(path, 1, &versions);
    for (int i = 0; i < 50; ++i) {
      auto r = rig.Get(UrlOf(i));
      REQUIRE(r.has_value());
      REQUIRE(r->ok());
      flushed[KeyOf(UrlOf(i))] = (*r)->entry->body;
    }
    auto f = rig.Flush();
    REQUIRE(f.has_value());
    REQUIRE(f->ok());
    CHECK_FALSE(rig.engine->metrics().store_degraded);

    rig.faulty->faults().SetAllErrors(1.0);
    for (int i = 0; i < 50; ++i) {
      auto r = rig.Get(UrlOf(i));
      REQUIRE(r.has_value());
      REQUIRE(r->ok());
      CHECK((*r)->source == Source::kMemory);
      CHECK((*r)->entry->body == flushed[KeyOf(UrlOf(i))]);
    }
    for (int i = 50; i < 60; ++i) {
      auto r = rig.Get(UrlOf(i));
      REQUIRE(r.has_value());
      REQUIRE(r->ok());
      CHECK((*r)->source == Source::kNetwork);
    }
    auto f2 = rig.Flush();
    REQUIRE(f2.has_value());
    CHECK_FALSE(f2->ok());
    const auto& m = rig.engine->metrics();
    CHECK(m.store_degraded);
    CHECK_FALSE(m.store_degraded_reason.empty());
    CHECK(m.store_errors > 0);
    CHECK(rig.engine->MetricsJson().find("\"store_degraded\":true") != std::string::npos);
    // Still serving, from memory and the network.
    for (int i = 0; i < 60; ++i) {
      auto r = rig.Get(UrlOf(i));
      REQUIRE(r.has_value());
      CHECK(r->ok());
    }
    auto r = rig.Get(UrlOf(61));
    REQUIRE(r.has_value());
    CHECK(r->ok());
    // Degraded: Flush says so at once.
    auto f3 = rig.Flush();
    REQUIRE(f3.has_value());
    CHECK(f3->code() == Code::kUnavailable);
  }
  auto file = ReadFile(path);
  for (const auto& kv : flushed) {
    const std::string& key = kv.first;  // CAPTURE needs a plain variable (clang, C++17)
    CAPTURE(key);
    REQUIRE(file.count(key) == 1);
    CHECK(file[key] == kv.second);
  }
}

// Random gets, origin changes and flushes over random faults. After the run
// (or its crash), every entry whose Flush returned OK is in the file, with
// that version or a newer one. Then a restarted engine reads them back.
TEST_CASE("faulty store: no batch whose flush returned OK is lost, under errors, torn batches "
          "and crashes") {
  const int kSeeds = 24;
  int crashes = 0, torn = 0, degraded = 0, clean = 0;
  size_t checked = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    CAPTURE(seed);  // reproduce with this seed
    TempDir dir;
    std::string path = dir.File("cache.db");
    VersionedOrigin versions;
    preheat::Prng prng(seed * 7919);
    // key -> version flushed OK (the latest such flush).
    std::map<std::string, int> committed;
    bool crashed = false;
    {
      EngineOptions options;
      options.write_batch_max = 8;  // many batches
      options.write_delay_ms = 50;
      Rig rig(path, seed, &versions, options);
      auto& f = rig.faulty->faults();
      int mode = static_cast<int>(seed % 4);
      f.latency_ms = static_cast<int64_t>(prng.Below(3));
      f.latency_jitter_ms = static_cast<int64_t>(prng.Below(5));
      if (mode == 0) {  // rare errors of every kind
        f.SetAllErrors(0.01);
      } else if (mode == 1) {  // torn batches
        f.torn_write = 0.05;
      } else if (mode == 2) {  // a crash point
        f.crash_after_ops = 10 + static_cast<int64_t>(prng.Below(80));
      } else {  // read errors only: the engine must not degrade for them
        f.error[FaultyStore::kGet] = 0.2;
      }
      // What each flush covers: the latest version served per key when it
      // was called.
      std::map<std::string, int> served;
      for (int step = 0; step < 400; ++step) {
        if (rig.faulty->crashed()) break;  // a dead process runs no further
        uint64_t action = prng.Below(100);
        std::string url = UrlOf(static_cast<int>(prng.Below(40)));
        if (action < 70) {
          auto r = rig.Get(url, 500);
          if (!r.has_value()) {
            CHECK(rig.faulty->crashed());  // only a dead store leaves a get hanging
            continue;
          }
          if (r->ok() && (*r)->stored) {
            int v = VersionOfBody((*r)->entry->body);
            int& s = served[KeyOf(url)];
            s = std::max(s, v);
          }
        } else if (action < 85) {
          versions.version[url]++;
          rig.pump.Advance(1000);  // let max-age run out now and then
        } else {
          std::map<std::string, int> snapshot = served;
          auto st = rig.Flush(500);
          if (st.has_value() && st->ok()) {
            for (const auto& [k, v] : snapshot) committed[k] = std::max(committed[k], v);
          }
        }
      }
      crashed = rig.faulty->crashed();
      crashes += crashed;
      torn += rig.faulty->counters().torn_writes > 0;
      degraded += rig.engine->metrics().store_degraded;
      if (mode == 3) {
        CHECK_FALSE(rig.engine->metrics().store_degraded);  // read errors never degrade
      }
      clean += !crashed && !rig.engine->metrics().store_degraded;
    }  // process exit (or death): engine destroyed, store closed
    auto file = ReadFile(path);
    checked += committed.size();
    for (const auto& kv : committed) {
      const std::string& key = kv.first;
      CAPTURE(key);
      REQUIRE(file.count(key) == 1);
      CHECK(VersionOfBody(file[key]) >= kv.second);
    }
    // Restart on the same file, the origin down: flushed entries come back
    // from the store.
    VersionedOrigin down;
    down.down = true;
    Rig again(path, seed + 1000, &down);
    for (const auto& [key, version] : committed) {
      std::string url = key.substr(key.find(' ') + 1);
      auto r = again.Get(url);
      REQUIRE(r.has_value());
      if (!r->ok()) continue;  // stale beyond its windows with the origin down
      CHECK((*r)->source == Source::kStore);
      CHECK(VersionOfBody((*r)->entry->body) >= version);
    }
  }
  MESSAGE("seeds ", kSeeds, ": crashed ", crashes, ", torn ", torn, ", degraded ", degraded,
          ", clean ", clean, "; flushed entries checked in the file ", checked);
  CHECK(checked > 0);
  CHECK(crashes > 0);
  CHECK(clean > 0);
}

// SqliteStore budgets (issue: native runtime), each against raw SQLite in the
// same process and the same run, on files with the same settings (WAL,
// synchronous=NORMAL, default page cache):
//  - a store hit (memory tier cold) within 1.3x of a raw prepared SELECT of
//    the same row by key, measured one Get at a time (post to the worker,
//    post back, wait) and with kPipeline Gets outstanding;
//  - writing 100,000 entries of 1 KB in batches of 1000 within 1.25x of raw
//    batched INSERTs of the same rows;
//  - under a 10,000-entry budget, 1,000,000 engine-style puts (batches, then
//    Evict to 90% of the budget): the cost per put over the last 10% within
//    1.5x of the first 10% (a custom loop after the benchmarks; --churn_puts=N
//    shortens it, --churn_puts=0 skips it).
//
// Timing: the store works on its own thread, so the ratios RunWithRatios
// prints use process CPU time (every thread: the store's worker included, the
// caller's idle waits excluded). Wall-clock ratios, which include the thread
// hops' scheduling latency, are printed after them.
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../bench/bench_data.h"
#include "../bench/bench_ratio.h"
#include "test_util.h"
#include "preheat/store.h"
#include "preheat_native/event_loop.h"
#include "preheat_native/sqlite_store.h"

namespace preheat::bench {
namespace {

using preheat_native::SqliteStore;
using preheat_native::SqliteStoreOptions;

constexpr size_t kReadRows = 10'000;
constexpr size_t kValueBytes = 1024;
constexpr size_t kPipeline = 64;
constexpr size_t kWriteRows = 100'000;
constexpr size_t kWriteBatch = 1000;

// ---- plumbing ---------------------------------------------------------------

// The benchmark thread plays the event loop: the store posts completions
// here and the benchmark thread runs them.
using preheat_test::Inbox;
using preheat_test::TempDir;

TempDir& Dir() {
  static TempDir dir;
  return dir;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "store_bench: %s\n", what);
    std::abort();
  }
}
void CheckSql(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "store_bench: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
    std::abort();
  }
}

std::string ValueOf(size_t i) {
  std::string v(kValueBytes, 'v');
  std::snprintf(v.data(), v.size(), "%zu", i);
  return v;
}

std::unique_ptr<SqliteStore> OpenStore(const std::string& path, Inbox* inbox) {
  SqliteStoreOptions options;
  options.post = inbox->Post();
  options.clock = preheat_native::SystemNow;
  auto store = SqliteStore::Open(path, options);
  Check(store.ok(), "open store");
  return std::move(store).value();
}

// A raw connection with the store's settings.
sqlite3* OpenRaw(const std::string& path) {
  sqlite3* db = nullptr;
  CheckSql(sqlite3_open_v2(path.c_str(), &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           nullptr),
           db, "open raw");
  CheckSql(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", nullptr,
                        nullptr, nullptr),
           db, "raw pragmas");
  return db;
}

void WaitAll(Inbox* inbox, const size_t* done, size_t want) {
  while (*done < want) inbox->RunOne();
}

std::vector<StoreWrite> PutBatch(size_t first, size_t count, int64_t now_ms) {
  std::vector<StoreWrite> batch;
  batch.reserve(count);
  for (size_t i = first; i < first + count; ++i) {
    StoreWrite w;
    w.kind = StoreWrite::Kind::kPut;
    w.record.key = KeyOf(i);
    w.record.value = ValueOf(i);
    w.record.last_access = Instant{now_ms};
    batch.push_back(std::move(w));
  }
  return batch;
}

// Wall-clock ns per iteration, measured around each benchmark's loop (the
// last run of each benchmark wins, which is the reported one).
std::map<std::string, double>& WallNs() {
  static std::map<std::string, double> wall;
  return wall;
}
class WallTimer {
 public:
  WallTimer(benchmark::State& state, std::string name) : state_(state), name_(std::move(name)) {}
  void Start() { start_ = std::chrono::steady_clock::now(); }
  void Pause() { paused_ns_ -= Now(); }
  void Resume() { paused_ns_ += Now(); }
  void Stop() {
    double total = Now() - paused_ns_;
    if (state_.iterations() > 0) WallNs()[name_] = total / state_.iterations();
  }

 private:
  double Now() const {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_)
        .count();
  }
  benchmark::State& state_;
  std::string name_;
  std::chrono::steady_clock::time_point start_;
  double paused_ns_ = 0;
};

// ---- reads --------------------------------------------------------------------

// The read database: kReadRows rows written through the store (so it has
// the store's schema, triggers and indexes), then closed.
const std::string& ReadDb() {
  static const std::string path = [] {
    std::string p = Dir().File("read.db");
    Inbox inbox;
    auto store = OpenStore(p, &inbox);
    size_t done = 0;
    for (size_t first = 0; first < kReadRows; first += kWriteBatch) {
      store->Write(first, PutBatch(first, kWriteBatch, 1000),
                   [&](OpId, Instant, Result<StoreUsage> u) {
                     Check(u.ok(), "fill read db");
                     done++;
                   });
      WaitAll(&inbox, &done, first / kWriteBatch + 1);
    }
    store->Close();
    return p;
  }();
  return path;
}

const std::vector<std::string>& Keys() {
  static const std::vector<std::string> keys = MakeKeys(kReadRows);
  return keys;
}

// A fixed random probe order, the same for every read benchmark.
const std::vector<uint32_t>& Probes() {
  static const std::vector<uint32_t> probes = MakeProbes(kReadRows);
  return probes;
}

// What a store Get returns, read the raw way: value (copied out, as the
// store must) and last_access. `with_tags` also reads the record's packed
// tags column with the store's own statement (schema 3), so that
// baseline is the store's SQL without the store.
struct RawReader {
  explicit RawReader(bool with_tags) : with_tags(with_tags) {
    db = OpenRaw(ReadDb());
    const char* sql = with_tags ? "SELECT value, last_access, tags FROM entries WHERE key = ?1"
                                : "SELECT value, last_access FROM entries WHERE key = ?1";
    CheckSql(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &get, nullptr), db,
             "prepare get");
  }
  ~RawReader() {
    sqlite3_finalize(get);
    sqlite3_close_v2(db);
  }
  StoreRecord Read(const std::string& key) {
    StoreRecord r;
    sqlite3_bind_text64(get, 1, key.data(), key.size(), SQLITE_STATIC, SQLITE_UTF8);
    int rc = sqlite3_step(get);
    Check(rc == SQLITE_ROW, "raw get");
    r.key = key;
    r.value.assign(static_cast<const char*>(sqlite3_column_blob(get, 0)),
                   static_cast<size_t>(sqlite3_column_bytes(get, 0)));
    r.last_access = Instant{sqlite3_column_int64(get, 1)};
    if (with_tags && sqlite3_column_type(get, 2) != SQLITE_NULL) {
      r.tags.emplace_back(static_cast<const char*>(sqlite3_column_blob(get, 2)),
                          static_cast<size_t>(sqlite3_column_bytes(get, 2)));
    }
    sqlite3_reset(get);
    return r;
  }
  bool with_tags;
  sqlite3* db = nullptr;
  sqlite3_stmt* get = nullptr;
};

// One iteration = kPipeline reads, for every read benchmark, so all their
// times per iteration compare directly.
void RawSelect(benchmark::State& state, bool with_tags) {
  RawReader raw(with_tags);
  const auto& probes = Probes();
  size_t i = 0;
  WallTimer wall(state, with_tags ? "BM_RawSelectStoreSql" : "BM_RawSelect");
  wall.Start();
  for (auto _ : state) {
    for (size_t j = 0; j < kPipeline; ++j) {
      StoreRecord r = raw.Read(Keys()[probes[i++ & (probes.size() - 1)]]);
      benchmark::DoNotOptimize(r.value.data());
    }
  }
  wall.Stop();
  state.SetItemsProcessed(state.iterations() * kPipeline);
}
void BM_RawSelect(benchmark::State& state) { RawSelect(state, false); }
void BM_RawSelectStoreSql(benchmark::State& state) { RawSelect(state, true); }

// `outstanding` Gets in flight at once; kPipeline per iteration either way.
void StoreGet(benchmark::State& state, size_t outstanding) {
  Inbox inbox;
  auto store = OpenStore(ReadDb(), &inbox);
  const auto& probes = Probes();
  size_t i = 0;
  size_t done = 0;
  size_t started = 0;
  auto on_get = [&](OpId, Instant, Result<StoreRecord> r) {
    Check(r.ok(), "store get");
    benchmark::DoNotOptimize(r->value.data());
    done++;
  };
  WallTimer wall(state, outstanding == 1 ? "BM_StoreGetOneAtATime" : "BM_StoreGetPipelined");
  wall.Start();
  for (auto _ : state) {
    for (size_t j = 0; j < kPipeline; j += outstanding) {
      for (size_t k = 0; k < outstanding; ++k) {
        store->Get(++started, Keys()[probes[i++ & (probes.size() - 1)]], on_get);
      }
      WaitAll(&inbox, &done, started);
    }
  }
  wall.Stop();
  state.SetItemsProcessed(state.iterations() * kPipeline);
  store->Close();
}
void BM_StoreGetOneAtATime(benchmark::State& state) { StoreGet(state, 1); }
void BM_StoreGetPipelined(benchmark::State& state) { StoreGet(state, kPipeline); }

BENCHMARK(BM_RawSelect)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_RawSelectStoreSql)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_StoreGetOneAtATime)->MeasureProcessCPUTime()->UseRealTime();
BENCHMARK(BM_StoreGetPipelined)->MeasureProcessCPUTime()->UseRealTime();

// ---- writes -------------------------------------------------------------------

const char* const kRawSchema =
    "CREATE TABLE entries(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,"
    " last_access INTEGER NOT NULL, charge INTEGER NOT NULL);"
    "CREATE INDEX entries_by_last_access ON entries(last_access);";

std::string FreshPath(const char* name) {
  static int n = 0;
  std::string p = Dir().File(std::string(name) + std::to_string(n++) + ".db");
  return p;
}
void RemoveDb(const std::string& p) {
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((p + suffix).c_str());
}

// The same rows the store writes, into a table of the same shape (primary
// key and last_access index, without the store's tags and usage triggers),
// `per_txn` rows per transaction.
void RawInsert(benchmark::State& state, size_t per_txn) {
  std::vector<std::vector<StoreWrite>> batches;
  WallTimer wall(state, per_txn == kWriteBatch ? "BM_RawInsertBatched" : "BM_RawInsertOneTxn");
  wall.Start();
  for (auto _ : state) {
    state.PauseTiming();
    wall.Pause();
    std::string path = FreshPath("raw");
    sqlite3* db = OpenRaw(path);
    CheckSql(sqlite3_exec(db, kRawSchema, nullptr, nullptr, nullptr), db, "raw schema");
    sqlite3_stmt* ins = nullptr;
    CheckSql(sqlite3_prepare_v3(db,
                                "INSERT OR REPLACE INTO entries(key, value, last_access, charge)"
                                " VALUES(?1, ?2, ?3, ?4)",
                                -1, SQLITE_PREPARE_PERSISTENT, &ins, nullptr),
             db, "prepare insert");
    batches.clear();
    for (size_t first = 0; first < kWriteRows; first += kWriteBatch) {
      batches.push_back(PutBatch(first, kWriteBatch, 1000 + first));
    }
    wall.Resume();
    state.ResumeTiming();
    size_t in_txn = 0;
    for (const auto& batch : batches) {
      for (const StoreWrite& w : batch) {
        if (in_txn == 0) CheckSql(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
        const StoreRecord& r = w.record;
        sqlite3_bind_text64(ins, 1, r.key.data(), r.key.size(), SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_blob64(ins, 2, r.value.data(), r.value.size(), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, r.last_access.unix_ms);
        sqlite3_bind_int64(ins, 4, static_cast<sqlite3_int64>(r.ChargeBytes()));
        CheckSql(sqlite3_step(ins), db, "insert");
        sqlite3_reset(ins);
        if (++in_txn == per_txn) {
          CheckSql(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
          in_txn = 0;
        }
      }
    }
    if (in_txn > 0) CheckSql(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    state.PauseTiming();
    wall.Pause();
    sqlite3_finalize(ins);
    sqlite3_close_v2(db);
    RemoveDb(path);
    wall.Resume();
    state.ResumeTiming();
  }
  wall.Stop();
  state.SetItemsProcessed(state.iterations() * kWriteRows);
}
// The store's own statements on the store's own schema (schema 3: an insert
// per new row, one usage update per batch), run raw on the benchmark
// thread: what the schema costs, apart from the store's plumbing.
void BM_RawStoreSql(benchmark::State& state) {
  WallTimer wall(state, "BM_RawStoreSql");
  wall.Start();
  for (auto _ : state) {
    state.PauseTiming();
    wall.Pause();
    std::string path = FreshPath("rawstore");
    {
      Inbox inbox;
      OpenStore(path, &inbox)->Close();  // creates the schema
    }
    sqlite3* db = OpenRaw(path);
    sqlite3_stmt* put = nullptr;
    sqlite3_stmt* usage = nullptr;
    CheckSql(sqlite3_prepare_v3(db,
                                "INSERT INTO entries(key, value, last_access, charge, tags)"
                                " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(key) DO NOTHING",
                                -1, SQLITE_PREPARE_PERSISTENT, &put, nullptr),
             db, "prepare put");
    CheckSql(sqlite3_prepare_v3(db,
                                "UPDATE usage SET bytes = bytes + ?1, entries = entries + ?2"
                                " WHERE id = 0 RETURNING bytes, entries",
                                -1, SQLITE_PREPARE_PERSISTENT, &usage, nullptr),
             db, "prepare usage");
    std::vector<std::vector<StoreWrite>> batches;
    for (size_t first = 0; first < kWriteRows; first += kWriteBatch) {
      batches.push_back(PutBatch(first, kWriteBatch, 1000 + first));
    }
    wall.Resume();
    state.ResumeTiming();
    for (const auto& batch : batches) {
      CheckSql(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
      int64_t bytes = 0;
      for (const StoreWrite& w : batch) {
        const StoreRecord& r = w.record;
        sqlite3_bind_text64(put, 1, r.key.data(), r.key.size(), SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_blob64(put, 2, r.value.data(), r.value.size(), SQLITE_STATIC);
        sqlite3_bind_int64(put, 3, r.last_access.unix_ms);
        sqlite3_bind_int64(put, 4, static_cast<sqlite3_int64>(r.ChargeBytes()));
        CheckSql(sqlite3_step(put), db, "put");
        sqlite3_reset(put);
        Check(sqlite3_changes(db) == 1, "new row");
        bytes += static_cast<int64_t>(r.ChargeBytes());
      }
      sqlite3_bind_int64(usage, 1, bytes);
      sqlite3_bind_int64(usage, 2, static_cast<int64_t>(batch.size()));
      CheckSql(sqlite3_step(usage), db, "usage");
      sqlite3_reset(usage);
      CheckSql(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    state.PauseTiming();
    wall.Pause();
    sqlite3_finalize(put);
    sqlite3_finalize(usage);
    sqlite3_close_v2(db);
    RemoveDb(path);
    wall.Resume();
    state.ResumeTiming();
  }
  wall.Stop();
  state.SetItemsProcessed(state.iterations() * kWriteRows);
}

void BM_RawInsertBatched(benchmark::State& state) { RawInsert(state, kWriteBatch); }
void BM_RawInsertOneTxn(benchmark::State& state) { RawInsert(state, kWriteRows); }

// The same rows through SqliteStore::Write, kWriteBatch per Write, one
// Write in flight at a time (as the engine's write-behind sends them).
void BM_StoreWrite(benchmark::State& state) {
  WallTimer wall(state, "BM_StoreWrite");
  wall.Start();
  for (auto _ : state) {
    state.PauseTiming();
    wall.Pause();
    std::string path = FreshPath("store");
    Inbox inbox;
    auto store = OpenStore(path, &inbox);
    std::vector<std::vector<StoreWrite>> batches;
    for (size_t first = 0; first < kWriteRows; first += kWriteBatch) {
      batches.push_back(PutBatch(first, kWriteBatch, 1000 + first));
    }
    size_t done = 0;
    wall.Resume();
    state.ResumeTiming();
    for (size_t b = 0; b < batches.size(); ++b) {
      store->Write(b, std::move(batches[b]), [&](OpId, Instant, Result<StoreUsage> u) {
        Check(u.ok(), "store write");
        done++;
      });
      WaitAll(&inbox, &done, b + 1);
    }
    state.PauseTiming();
    wall.Pause();
    Check(store->usage().entries == kWriteRows, "store usage after writes");
    store->Close();
    RemoveDb(path);
    wall.Resume();
    state.ResumeTiming();
  }
  wall.Stop();
  state.SetItemsProcessed(state.iterations() * kWriteRows);
}

BENCHMARK(BM_RawInsertBatched)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);
BENCHMARK(BM_RawInsertOneTxn)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);
BENCHMARK(BM_RawStoreSql)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);
BENCHMARK(BM_StoreWrite)
    ->MeasureProcessCPUTime()
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(5);

// ---- eviction under churn -----------------------------------------------------

// Engine-style: batches of write_batch_max puts of new keys, one Write in
// flight; after a Write reports usage over the budget, one Evict to 90% of
// it. Returns 0 when the last decile's cost per put is within 1.5x of the
// first's.
int RunChurn(size_t puts) {
  constexpr uint64_t kBudgetEntries = 10'000;
  constexpr size_t kBatch = 128;  // EngineOptions::write_batch_max
  constexpr double kTarget = 1.5;
  std::string path = FreshPath("churn");
  Inbox inbox;
  auto store = OpenStore(path, &inbox);
  const size_t kDeciles = 10;
  std::vector<double> cpu_ns(kDeciles, 0), wall_ns(kDeciles, 0);
  std::vector<size_t> count(kDeciles, 0);
  std::vector<std::vector<double>> batch_wall_ns(kDeciles);
  size_t evictions = 0;
  uint64_t max_entries_seen = 0;
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
  };
  auto wall_now = [] {
    return std::chrono::duration<double, std::nano>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  std::printf("\nchurn: %zu puts of %zu-byte values, budget %llu entries, batches of %zu\n", puts,
              kValueBytes, static_cast<unsigned long long>(kBudgetEntries), kBatch);
  for (size_t first = 0; first < puts; first += kBatch) {
    size_t n = std::min(kBatch, puts - first);
    auto batch = PutBatch(first, n, static_cast<int64_t>(first));
    double c0 = cpu_now(), w0 = wall_now();
    size_t done = 0;
    uint64_t entries = 0;
    store->Write(first, std::move(batch), [&](OpId, Instant, Result<StoreUsage> u) {
      Check(u.ok(), "churn write");
      entries = u->entries;
      done++;
    });
    WaitAll(&inbox, &done, 1);
    max_entries_seen = std::max(max_entries_seen, entries);
    if (entries > kBudgetEntries) {
      store->Evict(first, UINT64_MAX, kBudgetEntries * 9 / 10,
                   [&](OpId, Instant, Result<StoreUsage> u) {
                     Check(u.ok(), "churn evict");
                     Check(u->entries <= kBudgetEntries * 9 / 10, "evicted to target");
                     done++;
                   });
      WaitAll(&inbox, &done, 2);
      evictions++;
    }
    size_t d = std::min(kDeciles - 1, first * kDeciles / puts);
    double c = cpu_now() - c0, w = wall_now() - w0;
    cpu_ns[d] += c;
    wall_ns[d] += w;
    count[d] += n;
    batch_wall_ns[d].push_back(w / n);
  }
  store->Close();
  std::error_code ec;
  uint64_t file_bytes = std::filesystem::file_size(path, ec);
  std::printf("  evictions %zu, max entries after a write %llu, file %.1f MB\n", evictions,
              static_cast<unsigned long long>(max_entries_seen), file_bytes / 1e6);
  std::printf("  decile  cpu_ns/put  wall_ns/put  median_batch_wall_ns/put\n");
  std::vector<double> medians(kDeciles, 0);
  for (size_t d = 0; d < kDeciles; ++d) {
    auto& v = batch_wall_ns[d];
    std::sort(v.begin(), v.end());
    medians[d] = v.empty() ? 0 : v[v.size() / 2];
    std::printf("  %6zu  %10.0f  %11.0f  %24.0f\n", d, cpu_ns[d] / count[d],
                wall_ns[d] / count[d], medians[d]);
  }
  RemoveDb(path);
  double cpu_ratio = (cpu_ns[9] / count[9]) / (cpu_ns[0] / count[0]);
  double wall_ratio = (wall_ns[9] / count[9]) / (wall_ns[0] / count[0]);
  double median_ratio = medians[9] / medians[0];
  bool ok = cpu_ratio <= kTarget;
  std::printf("  last 10%% / first 10%%: cpu %.2fx (target <= %.2fx) %s; wall %.2fx; median batch"
              " wall %.2fx\n",
              cpu_ratio, kTarget, ok ? "ok" : "OVER BUDGET", wall_ratio, median_ratio);
  return ok ? 0 : 1;
}

// For valgrind --tool=callgrind: exactly `ops` reads of one kind, so two
// runs with different `ops` give instructions per read by difference.
int RunProbe(const std::string& kind, size_t ops) {
  const auto& probes = Probes();
  if (kind == "raw" || kind == "raw_store_sql") {
    RawReader raw(kind == "raw_store_sql");
    for (size_t i = 0; i < ops; ++i) {
      StoreRecord r = raw.Read(Keys()[probes[i & (probes.size() - 1)]]);
      benchmark::DoNotOptimize(r.value.data());
    }
    return 0;
  }
  if (kind == "raw_write" || kind == "store_write") {
    std::string path = FreshPath("probe");
    Inbox inbox;
    std::unique_ptr<SqliteStore> store;
    sqlite3* db = nullptr;
    sqlite3_stmt* ins = nullptr;
    if (kind == "store_write") {
      store = OpenStore(path, &inbox);
    } else {
      db = OpenRaw(path);
      CheckSql(sqlite3_exec(db, kRawSchema, nullptr, nullptr, nullptr), db, "raw schema");
      CheckSql(sqlite3_prepare_v3(db,
                                  "INSERT OR REPLACE INTO entries(key, value, last_access, charge)"
                                  " VALUES(?1, ?2, ?3, ?4)",
                                  -1, SQLITE_PREPARE_PERSISTENT, &ins, nullptr),
               db, "prepare insert");
    }
    size_t done = 0;
    for (size_t first = 0; first < ops; first += kWriteBatch) {
      auto batch = PutBatch(first, kWriteBatch, 1000);
      if (store) {
        store->Write(first, std::move(batch), [&](OpId, Instant, Result<StoreUsage> u) {
          Check(u.ok(), "store write");
          done++;
        });
        WaitAll(&inbox, &done, first / kWriteBatch + 1);
        continue;
      }
      CheckSql(sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0), db, "begin");
      for (const StoreWrite& w : batch) {
        const StoreRecord& r = w.record;
        sqlite3_bind_text64(ins, 1, r.key.data(), r.key.size(), SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_blob64(ins, 2, r.value.data(), r.value.size(), SQLITE_STATIC);
        sqlite3_bind_int64(ins, 3, r.last_access.unix_ms);
        sqlite3_bind_int64(ins, 4, static_cast<sqlite3_int64>(r.ChargeBytes()));
        CheckSql(sqlite3_step(ins), db, "insert");
        sqlite3_reset(ins);
      }
      CheckSql(sqlite3_exec(db, "COMMIT", 0, 0, 0), db, "commit");
    }
    if (store) store->Close();
    sqlite3_finalize(ins);
    if (db) sqlite3_close_v2(db);
    RemoveDb(path);
    return 0;
  }
  Inbox inbox;
  auto store = OpenStore(ReadDb(), &inbox);
  size_t outstanding = kind == "store1" ? 1 : kPipeline;
  size_t done = 0;
  size_t started = 0;
  auto on_get = [&](OpId, Instant, Result<StoreRecord> r) {
    Check(r.ok(), "store get");
    done++;
  };
  while (started < ops) {
    for (size_t k = 0; k < outstanding; ++k) {
      store->Get(started + 1, Keys()[probes[started & (probes.size() - 1)]], on_get);
      started++;
    }
    WaitAll(&inbox, &done, started);
  }
  return 0;
}

}  // namespace
}  // namespace preheat::bench

int main(int argc, char** argv) {
  size_t churn_puts = 1'000'000;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--probe=", 8) == 0 && i + 1 < argc) {
      // --probe=raw|raw_store_sql|store|store1|raw_write|store_write OPS
      preheat::bench::ReadDb();
      return preheat::bench::RunProbe(argv[i] + 8, std::strtoull(argv[i + 1], nullptr, 10));
    }
    if (std::strncmp(argv[i], "--churn_puts=", 13) == 0) {
      churn_puts = std::strtoull(argv[i] + 13, nullptr, 10);
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  int status = preheat::bench::RunWithRatios(
      n, args.data(),
      {{"BM_StoreGetOneAtATime/process_time/real_time", "BM_RawSelect/process_time/real_time", 1.3},
       {"BM_StoreGetPipelined/process_time/real_time", "BM_RawSelect/process_time/real_time", 1.3},
       {"BM_StoreGetPipelined/process_time/real_time",
        "BM_RawSelectStoreSql/process_time/real_time", 1.3},
       {"BM_StoreWrite/iterations:5/process_time/real_time",
        "BM_RawInsertBatched/iterations:5/process_time/real_time", 1.25},
       {"BM_StoreWrite/iterations:5/process_time/real_time",
        "BM_RawInsertOneTxn/iterations:5/process_time/real_time", 1.25},
       {"BM_StoreWrite/iterations:5/process_time/real_time",
        "BM_RawStoreSql/iterations:5/process_time/real_time", 1.25}});
  const auto& wall = preheat::bench::WallNs();
  std::printf("\nwall-clock ratios (same run; include thread hops):\n");
  auto print = [&](const char* c, const char* b) {
    auto ci = wall.find(c), bi = wall.find(b);
    if (ci == wall.end() || bi == wall.end()) return;
    std::printf("  %-52s / %-48s = %.2fx\n", c, b, ci->second / bi->second);
  };
  print("BM_StoreGetOneAtATime", "BM_RawSelect");
  print("BM_StoreGetPipelined", "BM_RawSelect");
  print("BM_StoreGetPipelined",
        "BM_RawSelectStoreSql");
  print("BM_StoreWrite",
        "BM_RawInsertBatched");
  print("BM_StoreWrite",
        "BM_RawInsertOneTxn");
  print("BM_StoreWrite", "BM_RawStoreSql");
  if (churn_puts > 0) status |= preheat::bench::RunChurn(churn_puts);
  return status;
}

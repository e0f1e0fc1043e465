// preheat_soak: a long mixed workload (gets, invalidations, flushes, origin
// changes, namespace clears) through the real Engine over
// FaultyStore(SqliteStore), with an in-process origin and a virtual clock.
// Invariants are checked every --check_every operations: memory tier within
// budget, store within budget at rest, no entries left of a cleared
// namespace; RSS, file descriptors and threads are sampled and must not
// grow. When the store degrades or crashes, the "process" restarts on the
// same file (engine and store reopened), as a supervisor would.
//
//   preheat_soak [--ops N] [--seed S] [--check_every K] [--fault_rate P]
//
// Not part of ctest: it takes minutes. Exit status 0 when every check held.
#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../testing/faulty_store.h"
#include "preheat/engine.h"
#include "preheat/prng.h"
#include "preheat_native/sqlite_store.h"
#include "pump.h"

using preheat::CacheRequest;
using preheat::CacheResult;
using preheat::Engine;
using preheat::EngineOptions;
using preheat::HttpResponse;
using preheat::Instant;
using preheat::InvalidateMode;
using preheat::InvalidateSelector;
using preheat::Result;
using preheat::Status;
using preheat::testing::FaultyStore;
using preheat_native::SqliteStore;
using preheat_test::InProcessOrigin;
using preheat_test::Pump;

namespace {

long ReadStatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0) return std::strtol(line.c_str() + n + 1, nullptr, 10);
  }
  return -1;
}
int CountDir(const char* path) {
  DIR* d = opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

struct Failure {
  int count = 0;
  void Report(uint64_t seed, uint64_t op, const std::string& what) {
    if (count++ < 20) {
      std::fprintf(stderr, "FAIL at op %llu: %s (reproduce with --seed %llu)\n",
                   static_cast<unsigned long long>(op), what.c_str(),
                   static_cast<unsigned long long>(seed));
    }
  }
};

const char* const kNamespaces[] = {"", "alice", "bob", "carol"};
constexpr int kUrls = 5000;
constexpr int kBodyMax = 3000;

class Soak {
 public:
  Soak(std::string path, uint64_t seed, double fault_rate)
      : path_(std::move(path)), seed_(seed), fault_rate_(fault_rate), prng_(seed) {
    options_.memory_max_bytes = 4ull << 20;
    options_.memory_max_entries = 2000;
    options_.store_max_bytes = 8ull << 20;
    options_.store_max_entries = 4000;
    options_.write_batch_max = 64;
    options_.write_delay_ms = 100;
    Open();
  }
  ~Soak() { Close(); }

  void Open() {
    preheat_native::SqliteStoreOptions so;
    so.post = pump_.Poster();
    so.clock = pump_.Clock();
    auto opened = SqliteStore::Open(path_, so);
    if (!opened.ok()) {
      std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
      std::exit(2);
    }
    sqlite_ = std::move(opened).value();
    faulty_ = std::make_unique<FaultyStore>(
        sqlite_.get(), prng_.Next(),
        [this](int64_t ms, std::function<void()> fn) { pump_.After(ms, std::move(fn)); },
        pump_.Clock());
    auto& f = faulty_->faults();
    f.SetAllErrors(fault_rate_);
    f.error[FaultyStore::kGet] = fault_rate_ * 10;  // reads fail more, never degrade
    f.latency_jitter_ms = 3;
    f.torn_write = fault_rate_;
    origin_ = std::make_unique<InProcessOrigin>(
        &pump_, [this](const preheat::HttpRequest& req, Instant) -> Result<HttpResponse> {
          if (prng_.Chance(0.01)) return Status::Unavailable("origin flake");
          HttpResponse r;
          r.status = 200;
          auto q = req.url.rfind('/');
          int id = std::atoi(req.url.c_str() + q + 1);
          int v = versions_[id];
          std::string etag = "\"" + std::to_string(v) + "\"";
          r.headers.Set("ETag", etag);
          r.headers.Set("Cache-Control", "max-age=30, stale-while-revalidate=30");
          r.headers.Set("Cache-Tag", "t" + std::to_string(id % 50));
          if (req.headers.Get("If-None-Match") == etag) {
            r.status = 304;
            return r;
          }
          r.body.assign(100 + (id * 7919 + v) % kBodyMax, static_cast<char>('a' + v % 26));
          return r;
        });
    origin_->latency_ms = 1;
    auto created = Engine::Create(options_, faulty_.get(), origin_.get(), prng_.Next());
    if (!created.ok()) std::exit(2);
    engine_ = std::move(created).value();
    pump_.SetDeadlineHooks([this] { return engine_->NextDeadline(); },
                           [this](Instant now) { engine_->OnDeadline(now); });
    engine_->Start(pump_.Now());
  }

  void Close() {
    if (!engine_) return;
    pump_.SetDeadlineHooks({}, {});
    engine_.reset();
    // The "process" dies: its timers (the origin's answers, the faulty
    // store's delayed completions) die with it, before what they point at.
    pump_.DropTimers();
    origin_.reset();
    sqlite_->Close();
    pump_.RunReady();
    pump_.DropTimers();
    faulty_.reset();
    sqlite_.reset();
  }

  void Restart() {
    Close();
    Open();
    restarts_++;
  }

  bool Step(uint64_t op, Failure* fail) {
    uint64_t a = prng_.Below(1000);
    const char* ns = kNamespaces[prng_.Below(4)];
    int id = static_cast<int>(prng_.Below(kUrls));
    std::string url = "https://origin.test/page/" + std::to_string(id);
    if (a < 800) {
      CacheRequest req;
      req.url = url;
      req.namespace_name = ns;
      bool done = false;
      engine_->Get(req, pump_.Now(), [&](Result<CacheResult> r) {
        done = true;
        gets_ok_ += r.ok();
      });
      if (!pump_.RunUntil([&] { return done || faulty_->crashed(); }, 5000)) {
        fail->Report(seed_, op, "a get never completed");
      }
      gets_++;
    } else if (a < 860) {
      versions_[id]++;
    } else if (a < 900) {
      InvalidateSelector sel;
      sel.namespace_name = ns;
      uint64_t k = prng_.Below(3);
      sel.kind = k == 0 ? InvalidateSelector::Kind::kUrl
                        : (k == 1 ? InvalidateSelector::Kind::kTag
                                  : InvalidateSelector::Kind::kUrlPrefix);
      sel.value = k == 0 ? url
                         : (k == 1 ? "t" + std::to_string(id % 50)
                                   : "https://origin.test/page/" + std::to_string(id % 10));
      auto r = engine_->Invalidate(
          sel, prng_.Chance(0.5) ? InvalidateMode::kRemove : InvalidateMode::kMarkStale,
          pump_.Now());
      if (!r.ok()) fail->Report(seed_, op, "invalidate: " + r.status().ToString());
    } else if (a < 920) {
      bool done = false;
      engine_->Flush(pump_.Now(), [&](Status s) {
        done = true;
        flushes_ok_ += s.ok();
      });
      pump_.RunUntil([&] { return done || faulty_->crashed(); }, 5000);
      flushes_++;
    } else if (a < 922) {
      std::string cleared = kNamespaces[1 + prng_.Below(3)];
      uint64_t remove_errors = faulty_->counters().injected_errors[FaultyStore::kRemoveMatching];
      Status s = engine_->Clear(cleared, pump_.Now());
      if (!s.ok()) fail->Report(seed_, op, "clear: " + s.ToString());
      clears_++;
      // An injected RemoveMatching failure leaves the store's entries (the
      // engine only counts it): then only memory is checked.
      bool remove_failed =
          faulty_->counters().injected_errors[FaultyStore::kRemoveMatching] != remove_errors;
      clears_remove_failed_ += remove_failed;
      CheckCleared(op, cleared, !remove_failed, fail);
    } else {
      pump_.Advance(static_cast<int64_t>(prng_.Below(2000)));
      pump_.RunReady();
    }
    if (faulty_->crashed() || engine_->metrics().store_degraded) {
      crashed_restarts_ += faulty_->crashed();
      Restart();
    }
    return true;
  }

  // Right after Clear(ns): memory holds nothing of ns; once the engine's
  // removal has reached the store, neither does the store.
  void CheckCleared(uint64_t op, const std::string& ns, bool check_store, Failure* fail) {
    std::string prefix = ns + " ";
    engine_->VisitMemory([&](const preheat::CacheEntry& e) {
      if (e.key.compare(0, prefix.size(), prefix) == 0) {
        fail->Report(seed_, op, "memory holds " + e.key + " after Clear(" + ns + ")");
      }
    });
    if (!check_store) return;
    if (!Quiesce()) return;  // a failure meanwhile: the removal may not have applied
    if (faulty_->crashed() || engine_->metrics().store_degraded) return;
    std::optional<size_t> found;
    preheat::StoreSelector sel{preheat::StoreSelector::Kind::kPrefix, prefix};
    sqlite_->Scan(1ull << 60, sel, "", 10,
                  [&](preheat::OpId, Instant, Result<std::vector<preheat::StoreRecordMeta>> r) {
                    found = r.ok() ? r->size() : 0;
                  });
    pump_.RunUntil([&] { return found.has_value(); }, 5000);
    if (found.value_or(0) > 0) {
      fail->Report(seed_, op, "store holds entries of " + ns + " after Clear + flush");
    }
  }

  // Flushes and lets eviction finish. False when the store failed meanwhile.
  bool Quiesce() {
    std::optional<Status> st;
    engine_->Flush(pump_.Now(), [&](Status s) { st = s; });
    pump_.RunUntil([&] { return st.has_value() || faulty_->crashed(); }, 5000);
    if (!st.has_value() || !st->ok()) return false;
    // Eviction, if the last batch started one, completes through the pump.
    pump_.RunUntil([] { return false; }, 5, 1);
    return true;
  }

  void CheckInvariants(uint64_t op, Failure* fail) {
    const auto& m = engine_->metrics();
    if (m.memory_bytes > options_.memory_max_bytes ||
        m.memory_entries > options_.memory_max_entries) {
      fail->Report(seed_, op, "memory tier over budget: " + std::to_string(m.memory_entries) +
                                  " entries, " + std::to_string(m.memory_bytes) + " bytes");
    }
    if (!Quiesce()) return;
    if (faulty_->crashed() || engine_->metrics().store_degraded) return;
    preheat::StoreUsage u = sqlite_->usage();
    if (u.bytes > options_.store_max_bytes || u.entries > options_.store_max_entries) {
      fail->Report(seed_, op, "store over budget at rest: " + std::to_string(u.entries) +
                                  " entries, " + std::to_string(u.bytes) + " bytes");
    }
    max_store_entries_ = std::max<uint64_t>(max_store_entries_, u.entries);
  }

  uint64_t gets_ = 0, gets_ok_ = 0, flushes_ = 0, flushes_ok_ = 0, clears_ = 0;
  uint64_t restarts_ = 0, crashed_restarts_ = 0, max_store_entries_ = 0;
  uint64_t clears_remove_failed_ = 0;
  const FaultyStore& faulty() const { return *faulty_; }

 private:
  std::string path_;
  uint64_t seed_;
  double fault_rate_;
  preheat::Prng prng_;
  EngineOptions options_;
  Pump pump_;
  std::unique_ptr<SqliteStore> sqlite_;
  std::unique_ptr<FaultyStore> faulty_;
  std::unique_ptr<InProcessOrigin> origin_;
  std::unique_ptr<Engine> engine_;
  std::map<int, int> versions_;
};

}  // namespace

int main(int argc, char** argv) {
  uint64_t ops = 1'000'000;
  uint64_t seed = 1;
  uint64_t check_every = 10'000;
  double fault_rate = 0.0005;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--ops") ops = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--seed") seed = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--check_every") check_every = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--fault_rate") fault_rate = std::strtod(argv[i + 1], nullptr);
    else {
      std::fprintf(stderr, "usage: preheat_soak [--ops N] [--seed S] [--check_every K]"
                           " [--fault_rate P]\n");
      return 2;
    }
  }
  char dir_template[] = "/tmp/preheat-soak-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return 2;
  std::string path = std::string(dir) + "/soak.db";
  std::printf("soak: %llu ops, seed %llu, fault rate %g, checks every %llu ops, db %s\n",
              static_cast<unsigned long long>(ops), static_cast<unsigned long long>(seed),
              fault_rate, static_cast<unsigned long long>(check_every), path.c_str());
  Failure fail;
  long rss_start_kb = 0, rss_peak_kb = 0;
  int fds_start = 0, threads_start = 0, fds_max = 0, threads_max = 0;
  auto start = std::chrono::steady_clock::now();
  {
    Soak soak(path, seed, fault_rate);
    for (uint64_t op = 1; op <= ops; ++op) {
      soak.Step(op, &fail);
      if (op % check_every == 0 || op == ops) {
        soak.CheckInvariants(op, &fail);
        long rss = ReadStatusKb("VmRSS:");
        int fds = CountDir("/proc/self/fd");
        int threads = CountDir("/proc/self/task");
        if (op == check_every) {  // after warm-up: caches and the page cache filled
          rss_start_kb = rss;
          fds_start = fds;
          threads_start = threads;
        }
        rss_peak_kb = std::max(rss_peak_kb, rss);
        fds_max = std::max(fds_max, fds);
        threads_max = std::max(threads_max, threads);
        if (op % (check_every * 10) == 0 || op == ops) {
          double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          std::printf("  op %8llu  %7.0f ops/s  rss %6ld KB  fds %3d  threads %2d  restarts %llu"
                      "  store max entries %llu\n",
                      static_cast<unsigned long long>(op), op / s, rss, fds, threads,
                      static_cast<unsigned long long>(soak.restarts_),
                      static_cast<unsigned long long>(soak.max_store_entries_));
          std::fflush(stdout);
        }
      }
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto& c = soak.faulty().counters();
    std::printf("done: %llu ops in %.1f s = %.0f ops/s\n", static_cast<unsigned long long>(ops),
                secs, ops / secs);
    std::printf("  gets %llu (ok %llu), flushes %llu (ok %llu), clears %llu (store removal"
                " failed by injection %llu), restarts %llu (after a crash %llu)\n",
                static_cast<unsigned long long>(soak.gets_),
                static_cast<unsigned long long>(soak.gets_ok_),
                static_cast<unsigned long long>(soak.flushes_),
                static_cast<unsigned long long>(soak.flushes_ok_),
                static_cast<unsigned long long>(soak.clears_),
                static_cast<unsigned long long>(soak.clears_remove_failed_),
                static_cast<unsigned long long>(soak.restarts_),
                static_cast<unsigned long long>(soak.crashed_restarts_));
    std::printf("  last store instance: injected errors get %llu write %llu evict %llu\n",
                static_cast<unsigned long long>(c.injected_errors[FaultyStore::kGet]),
                static_cast<unsigned long long>(c.injected_errors[FaultyStore::kWrite]),
                static_cast<unsigned long long>(c.injected_errors[FaultyStore::kEvict]));
  }
  std::printf("  rss: after warm-up %ld KB, peak %ld KB; fds: after warm-up %d, max %d;"
              " threads: after warm-up %d, max %d\n",
              rss_start_kb, rss_peak_kb, fds_start, fds_max, threads_start, threads_max);
  if (fds_max > fds_start + 2) fail.Report(seed, ops, "file descriptors grew");
  if (threads_max > threads_start + 1) fail.Report(seed, ops, "threads grew");
  // The tiers' budgets are 4 MB + SQLite's page cache; allow generous slack
  // for the allocator, but not unbounded growth.
  if (rss_peak_kb > rss_start_kb + 64 * 1024) fail.Report(seed, ops, "RSS grew by over 64 MB");
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  rmdir(dir);
  std::printf("%s (%d failures)\n", fail.count == 0 ? "PASS" : "FAIL", fail.count);
  return fail.count == 0 ? 0 : 1;
}

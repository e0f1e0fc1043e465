// FaultyStore: a Store decorator that injects failures into any Store (a
// SqliteStore, an IndexedDB binding, a FakeStore), as leveldb's ErrorEnv
// wraps an Env. Every fault is drawn from one seeded Prng, so a failing run
// is reproduced by its seed.
#ifndef PREHEAT_TESTS_TESTING_FAULTY_STORE_H_
#define PREHEAT_TESTS_TESTING_FAULTY_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "preheat/prng.h"
#include "preheat/status.h"
#include "preheat/store.h"

namespace preheat::testing {

// Faults, per operation:
//  - errors: the operation fails (with error_code[kind]) without reaching
//    the wrapped store, so nothing of it applies, as the Store contract
//    requires of a failed operation;
//  - latency: the completion is delayed by latency_ms plus up to
//    latency_jitter_ms (so completions may arrive out of order, which the
//    contract allows; effects still apply in call order in the wrapped
//    store);
//  - torn writes: a Write forwards only a prefix of its batch and then the
//    store crashes. A Store may not apply part of a failed batch, so a torn
//    batch is modelled as the process dying mid-batch: the prefix is applied
//    and nothing completes any more (this write included);
//  - crash points: after crash_after_ops operations have been forwarded,
//    the store crashes: later operations are not forwarded, and no
//    operation, in flight or later, ever completes (a killed process). The
//    wrapped store may still apply operations it had already been given.
//
// REQUIRES: `schedule` runs fn later (after at least delay_ms) on the
// thread that drives the store, never inside the call; `clock` gives the
// driver's time (delayed and injected completions carry it); the wrapped store
// outlives this one or is closed (drained) before it is destroyed.
// Completions arriving after destruction are dropped.
class FaultyStore : public Store {
 public:
  enum Kind : int { kGet = 0, kWrite = 1, kRemoveMatching = 2, kScan = 3, kEvict = 4 };
  static constexpr int kKinds = 5;
  static const char* KindName(int kind) {
    static const char* const names[kKinds] = {"get", "write", "remove_matching", "scan", "evict"};
    return kind >= 0 && kind < kKinds ? names[kind] : "?";
  }

  using Scheduler = std::function<void(int64_t delay_ms, std::function<void()> fn)>;
  // The driver's time, for completions of injected failures.
  using Clock = std::function<Instant()>;

  struct Faults {
    double error[kKinds] = {0, 0, 0, 0, 0};  // chance per operation
    Code error_code[kKinds] = {Code::kIoError, Code::kIoError, Code::kIoError, Code::kIoError,
                               Code::kIoError};
    int64_t latency_ms = 0;
    int64_t latency_jitter_ms = 0;
    double torn_write = 0;         // chance a Write is torn (then a crash)
    int64_t crash_after_ops = -1;  // forwarded operations before a crash; -1: never

    // Every kind fails with chance p.
    void SetAllErrors(double p) {
      for (double& e : error) e = p;
    }
  };

  struct Counters {
    uint64_t started[kKinds] = {0, 0, 0, 0, 0};
    uint64_t forwarded[kKinds] = {0, 0, 0, 0, 0};
    uint64_t injected_errors[kKinds] = {0, 0, 0, 0, 0};
    uint64_t completed[kKinds] = {0, 0, 0, 0, 0};
    uint64_t swallowed = 0;  // completions dropped because of a crash
    uint64_t torn_writes = 0;
    uint64_t torn_prefix_writes = 0;  // StoreWrites of torn batches that were forwarded
  };

  FaultyStore(Store* wrapped, uint64_t seed, Scheduler schedule, Clock clock)
      : wrapped_(wrapped),
        state_(std::make_shared<State>(seed, std::move(schedule), std::move(clock))) {}
  ~FaultyStore() override { state_->alive = false; }
  FaultyStore(const FaultyStore&) = delete;
  FaultyStore& operator=(const FaultyStore&) = delete;

  Faults& faults() { return state_->faults; }
  const Counters& counters() const { return state_->counters; }
  bool crashed() const { return state_->crashed; }
  uint64_t forwarded_ops() const { return state_->forwarded_total; }
  // Crashes now: nothing is forwarded or completed afterwards.
  void Crash() { state_->crashed = true; }

  void Get(OpId op, const std::string& key, GetDone done) override {
    if (!Admit<StoreRecord>(kGet, op, done)) return;
    wrapped_->Get(op, key, Wrap<StoreRecord>(kGet, std::move(done)));
  }

  void Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) override {
    State& s = *state_;
    if (!s.crashed && !batch.empty() && s.prng.Chance(s.faults.torn_write)) {
      s.counters.started[kWrite]++;
      s.counters.torn_writes++;
      size_t keep = static_cast<size_t>(s.prng.Below(batch.size()));
      batch.resize(keep);
      s.counters.torn_prefix_writes += keep;
      s.counters.forwarded[kWrite]++;
      s.forwarded_total++;
      // The prefix reaches the store; its completion, like every later one,
      // is swallowed by the crash.
      s.crashed = true;
      if (keep > 0) wrapped_->Write(op, std::move(batch), Wrap<StoreUsage>(kWrite, std::move(done)));
      return;
    }
    if (!Admit<StoreUsage>(kWrite, op, done)) return;
    wrapped_->Write(op, std::move(batch), Wrap<StoreUsage>(kWrite, std::move(done)));
  }

  void RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) override {
    if (!Admit<uint64_t>(kRemoveMatching, op, done)) return;
    wrapped_->RemoveMatching(op, selector, Wrap<uint64_t>(kRemoveMatching, std::move(done)));
  }

  void Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
            uint32_t limit, ScanDone done) override {
    if (!Admit<std::vector<StoreRecordMeta>>(kScan, op, done)) return;
    wrapped_->Scan(op, selector, start_after_key, limit,
                   Wrap<std::vector<StoreRecordMeta>>(kScan, std::move(done)));
  }

  void Evict(OpId op, uint64_t target_bytes, uint64_t target_entries, EvictDone done) override {
    if (!Admit<StoreUsage>(kEvict, op, done)) return;
    wrapped_->Evict(op, target_bytes, target_entries, Wrap<StoreUsage>(kEvict, std::move(done)));
  }

 private:
  struct State {
    State(uint64_t seed, Scheduler s, Clock c)
        : prng(seed), schedule(std::move(s)), clock(std::move(c)) {}
    Prng prng;
    Scheduler schedule;
    Clock clock;
    Faults faults;
    Counters counters;
    bool crashed = false;
    bool alive = true;
    uint64_t forwarded_total = 0;

    int64_t Latency() {
      int64_t ms = faults.latency_ms;
      if (faults.latency_jitter_ms > 0) {
        ms += static_cast<int64_t>(prng.Below(static_cast<uint64_t>(faults.latency_jitter_ms) + 1));
      }
      return ms;
    }
  };

  // Decides an operation's fate before it is forwarded. Returns true when it
  // should be forwarded; otherwise it was failed (scheduled) or swallowed.
  template <typename T, typename Done>
  bool Admit(int kind, OpId op, Done& done) {
    State& s = *state_;
    s.counters.started[kind]++;
    if (s.crashed) return false;  // never completes
    if (s.faults.crash_after_ops >= 0 &&
        s.forwarded_total >= static_cast<uint64_t>(s.faults.crash_after_ops)) {
      s.crashed = true;
      return false;
    }
    if (s.prng.Chance(s.faults.error[kind])) {
      s.counters.injected_errors[kind]++;
      Status error(s.faults.error_code[kind],
                   std::string("injected ") + KindName(kind) + " failure");
      std::weak_ptr<State> weak = state_;
      s.schedule(s.Latency(), [weak, kind, op, done = std::move(done), error]() mutable {
        auto st = weak.lock();
        if (!st || !st->alive) return;
        if (st->crashed) {
          st->counters.swallowed++;
          return;
        }
        st->counters.completed[kind]++;
        done(op, st->clock(), Result<T>(error));
      });
      return false;
    }
    s.counters.forwarded[kind]++;
    s.forwarded_total++;
    return true;
  }

  // The wrapped store's completion, delayed and dropped as the faults say.
  template <typename T, typename Done>
  Done Wrap(int kind, Done done) {
    std::weak_ptr<State> weak = state_;
    return [weak, kind, done = std::move(done)](OpId op, Instant now, Result<T> result) mutable {
      auto st = weak.lock();
      if (!st || !st->alive) return;
      if (st->crashed) {
        st->counters.swallowed++;
        return;
      }
      int64_t delay = st->Latency();
      if (delay <= 0) {
        st->counters.completed[kind]++;
        done(op, now, std::move(result));
        return;
      }
      st->schedule(delay, [weak, kind, op, done = std::move(done),
                           result = std::move(result)]() mutable {
        auto st2 = weak.lock();
        if (!st2 || !st2->alive) return;
        if (st2->crashed) {
          st2->counters.swallowed++;
          return;
        }
        st2->counters.completed[kind]++;
        done(op, st2->clock(), std::move(result));
      });
    };
  }

  Store* wrapped_;
  std::shared_ptr<State> state_;
};

}  // namespace preheat::testing

#endif  // PREHEAT_TESTS_TESTING_FAULTY_STORE_H_

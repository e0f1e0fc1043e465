// FakeStore: an in-memory Store with latency, injected failures and crashes.
// Shared by the core's unit tests and the simulator.
#ifndef PREHEAT_TESTS_TESTING_FAKE_STORE_H_
#define PREHEAT_TESTS_TESTING_FAKE_STORE_H_

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "preheat/prng.h"
#include "preheat/store.h"
#include "testing/sim_loop.h"

namespace preheat::testing {

// Operations run in FIFO order, one at a time, each taking `latency_ms`;
// their effects apply when they complete. A Crash() loses every operation
// not yet completed (unflushed writes), as a killed process would.
class FakeStore : public Store {
 public:
  struct Faults {
    double get_error = 0;    // chance a Get fails with kIoError
    double write_error = 0;  // chance a Write fails (kNoSpace), applying nothing
    double remove_error = 0; // chance a RemoveMatching fails (kIoError), removing nothing
    int remove_failures = 0; // the next this many RemoveMatching fail, whatever the chance
    bool disk_full = false;  // a Write holding a put fails (kNoSpace); removals alone apply
    int64_t latency_ms = 1;
    int64_t latency_jitter_ms = 0;
  };

  FakeStore(SimLoop* loop, uint64_t seed) : loop_(loop), prng_(seed) {}

  Faults faults;

  void Get(OpId op, const std::string& key, GetDone done) override {
    last_get_op_ = op;
    Enqueue([this, op, key, done]() {
      if (prng_.Chance(faults.get_error)) return done(op, loop_->now(), Status::IoError("injected"));
      auto it = records_.find(key);
      if (it == records_.end()) return done(op, loop_->now(), Status::NotFound(key));
      done(op, loop_->now(), it->second);
    });
  }

  void Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) override {
    Enqueue([this, op, batch = std::move(batch), done]() {
      bool has_put = std::any_of(batch.begin(), batch.end(),
                                 [](const StoreWrite& w) { return w.kind == StoreWrite::Kind::kPut; });
      if (prng_.Chance(faults.write_error) || (faults.disk_full && has_put)) {
        return done(op, loop_->now(), Status::NoSpace("injected: disk full"));
      }
      for (const StoreWrite& w : batch) {
        switch (w.kind) {
          case StoreWrite::Kind::kPut:
            records_[w.record.key] = w.record;
            fresh_until_[w.record.key] = w.fresh_until;
            break;
          case StoreWrite::Kind::kRemove: records_.erase(w.record.key); break;
          case StoreWrite::Kind::kTouch: {
            auto it = records_.find(w.record.key);
            if (it != records_.end()) it->second.last_access = w.record.last_access;
            break;
          }
        }
      }
      writes_applied_ += batch.size();
      batches_applied_++;
      done(op, loop_->now(), Usage());
    });
  }

  void RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) override {
    Enqueue([this, op, selector, done]() {
      if (faults.remove_failures > 0 || prng_.Chance(faults.remove_error)) {
        if (faults.remove_failures > 0) faults.remove_failures--;
        return done(op, loop_->now(), Status::IoError("injected: remove failed"));
      }
      uint64_t removed = 0;
      for (auto it = records_.begin(); it != records_.end();) {
        if (Matches(selector, it->second)) {
          it = records_.erase(it);
          removed++;
        } else {
          ++it;
        }
      }
      done(op, loop_->now(), removed);
    });
  }

  void Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
            uint32_t limit, ScanDone done) override {
    Enqueue([this, op, selector, start_after_key, limit, done]() {
      std::vector<StoreRecordMeta> metas;
      for (auto it = records_.upper_bound(start_after_key);
           it != records_.end() && metas.size() < limit; ++it) {
        if (!Matches(selector, it->second)) continue;
        metas.push_back({it->first, it->second.tags, it->second.last_access,
                         it->second.ChargeBytes()});
      }
      done(op, loop_->now(), std::move(metas));
    });
  }

  void Evict(OpId op, uint64_t target_bytes, uint64_t target_entries, EvictDone done) override {
    Enqueue([this, op, target_bytes, target_entries, done]() {
      StoreUsage usage = Usage();
      std::vector<std::pair<int64_t, std::string>> by_age;
      for (const auto& [key, r] : records_) by_age.emplace_back(r.last_access.unix_ms, key);
      std::sort(by_age.begin(), by_age.end());
      for (const auto& [at, key] : by_age) {
        if (usage.bytes <= target_bytes && usage.entries <= target_entries) break;
        usage.bytes -= records_[key].ChargeBytes();
        usage.entries--;
        records_.erase(key);
        evicted_.insert(key);
      }
      done(op, loop_->now(), usage);
    });
  }

  // Loses every operation that has not completed, as a crash would.
  void Crash() {
    queue_.clear();
    busy_ = false;
    generation_++;
  }

  StoreUsage Usage() const {
    StoreUsage u;
    for (const auto& [key, r] : records_) {
      u.bytes += r.ChargeBytes();
      u.entries++;
    }
    return u;
  }
  const std::map<std::string, StoreRecord>& records() const { return records_; }
  std::map<std::string, StoreRecord>& mutable_records() { return records_; }
  size_t inflight() const { return queue_.size() + (busy_ ? 1 : 0); }
  std::set<std::string>& evicted() { return evicted_; }
  uint64_t batches_applied() const { return batches_applied_; }
  // The op of the last Get started.
  OpId last_get_op() const { return last_get_op_; }
  // The StoreWrite::fresh_until of the last put of `key` applied.
  Instant fresh_until(const std::string& key) const {
    auto it = fresh_until_.find(key);
    return it == fresh_until_.end() ? StoreWrite::kNeverFresh : it->second;
  }

 private:
  static bool Matches(const StoreSelector& s, const StoreRecord& r) {
    switch (s.kind) {
      case StoreSelector::Kind::kKey: return r.key == s.value;
      case StoreSelector::Kind::kPrefix: return r.key.compare(0, s.value.size(), s.value) == 0;
      case StoreSelector::Kind::kTag:
        return std::find(r.tags.begin(), r.tags.end(), s.value) != r.tags.end();
      case StoreSelector::Kind::kAll: return true;
    }
    return false;
  }

  void Enqueue(std::function<void()> op) {
    queue_.push_back(std::move(op));
    if (!busy_) StartNext();
  }
  void StartNext() {
    if (queue_.empty()) {
      busy_ = false;
      return;
    }
    busy_ = true;
    int64_t latency = faults.latency_ms;
    if (faults.latency_jitter_ms > 0) {
      latency += static_cast<int64_t>(prng_.Below(static_cast<uint64_t>(faults.latency_jitter_ms)));
    }
    uint64_t generation = generation_;
    loop_->After(latency, [this, generation]() {
      if (generation != generation_ || queue_.empty()) return;  // crashed meanwhile
      auto op = std::move(queue_.front());
      queue_.pop_front();
      op();
      StartNext();
    });
  }

  SimLoop* loop_;
  Prng prng_;
  std::map<std::string, StoreRecord> records_;
  std::map<std::string, Instant> fresh_until_;
  OpId last_get_op_ = 0;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false;
  uint64_t generation_ = 0;
  uint64_t writes_applied_ = 0;
  uint64_t batches_applied_ = 0;
  std::set<std::string> evicted_;
};

}  // namespace preheat::testing

#endif  // PREHEAT_TESTS_TESTING_FAKE_STORE_H_

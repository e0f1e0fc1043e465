// Store: the persistent tier's interface (SQLite natively, IndexedDB in
// browsers, fakes in tests). The core calls it; drivers implement it.
#ifndef PREHEAT_STORE_H_
#define PREHEAT_STORE_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "preheat/entry.h"
#include "preheat/status.h"
#include "preheat/time.h"

namespace preheat {

using OpId = uint64_t;

// One stored entry as the store sees it. `value` is opaque to the store (the
// core's versioned encoding of a cache entry); the store indexes `key`,
// `last_access` and `tags`. Keys are "<namespace> <normalised URL>", and the
// engine writes tags namespaced the same way ("<namespace> <tag>"), so a
// tag selector never reaches another namespace's entries.
struct StoreRecord {
  std::string key;
  std::string value;
  std::vector<std::string> tags;
  Instant last_access;
  // Bytes charged against the store's budget: key + value + tags.
  uint64_t ChargeBytes() const;
};

// What a Scan returns per record: everything but the value.
struct StoreRecordMeta {
  std::string key;
  std::vector<std::string> tags;
  Instant last_access;
  uint64_t charge_bytes = 0;
};

// One change in a batch.
struct StoreWrite {
  enum class Kind : uint8_t { kPut = 0, kRemove = 1, kTouch = 2 };
  // fresh_until when no plain read may take the record without the engine.
  static constexpr Instant kNeverFresh = Instant{std::numeric_limits<int64_t>::min()};
  Kind kind = Kind::kPut;
  StoreRecord record;  // kRemove: only key; kTouch: key and last_access
  // kPut of a cache entry: the entry `record.value` encodes (null for a
  // remove, a touch or a named blob). Drivers may keep more of it beside
  // the value, for readers that answer without the engine (the web
  // package's cold reads); stores that keep only the value ignore it.
  std::shared_ptr<const CacheEntry> entry;
  // With `entry`: until when (exclusive) the engine that wrote the record
  // would answer a plain read of it from the record alone, fresh, with
  // nothing else to do: a Get without request headers, CacheMode::kDefault,
  // memory holding nothing for the key and no write of it pending
  // (Engine::StoreReadServesRecord). kNeverFresh for a record such a read
  // must not take: invalidated, no-cache, a Vary an empty request does not
  // match, a route that revalidates after serving, a lifetime its initial
  // age has used up. It depends on the engine's options and routes, so a
  // reader may only trust it under the same ones.
  Instant fresh_until = kNeverFresh;
};

// Which records a RemoveMatching or Scan applies to. Exactly one of the
// criteria is used, by `kind`.
struct StoreSelector {
  enum class Kind : uint8_t { kKey = 0, kPrefix = 1, kTag = 2, kAll = 3 };
  Kind kind = Kind::kAll;
  std::string value;  // key, key prefix or tag; ignored for kAll
};

// Totals after an operation, so the core can enforce its budget.
struct StoreUsage {
  uint64_t bytes = 0;
  uint64_t entries = 0;
};

// The persistent tier.
//
// Threading and re-entrancy: the core calls these methods on its own
// thread/tick. Each completion must be delivered later, on that same
// thread/tick, never from inside the call that started it (drivers post it
// to their loop). Completions are delivered exactly once, also when the
// store fails; `now` is the driver's time at completion.
//
// Ordering: operations complete in any order, but their effects are applied
// in the order they were started (a Get started after a Write sees it). One
// exception: a Get started while an Evict runs may or may not see records
// that Evict removes (the IndexedDB driver lets reads run beside the
// read-only look at the totals that precedes an eviction). Either outcome
// is a valid cache: eviction only drops least recently used records.
class Store {
 public:
  using GetDone = std::function<void(OpId op, Instant now, Result<StoreRecord> record)>;
  using WriteDone = std::function<void(OpId op, Instant now, Result<StoreUsage> usage)>;
  using RemoveDone = std::function<void(OpId op, Instant now, Result<uint64_t> removed)>;
  using ScanDone =
      std::function<void(OpId op, Instant now, Result<std::vector<StoreRecordMeta>> metas)>;
  using EvictDone = std::function<void(OpId op, Instant now, Result<StoreUsage> usage)>;

  virtual ~Store() = default;

  // Reads one record: its key, value and last_access; its tags may be left
  // out (the engine reads an entry's tags from its value, so a driver need
  // not convert them on the read path). Errors: kNotFound when absent;
  // kIoError, kUnavailable when the store failed.
  virtual void Get(OpId op, const std::string& key, GetDone done) = 0;

  // Applies a batch atomically (all or nothing) in order: puts replace,
  // removes of absent keys are no-ops, touches of absent keys are no-ops.
  // Reports the usage after it. Errors: kNoSpace (disk full, quota),
  // kIoError, kUnavailable; on error nothing of the batch was applied.
  virtual void Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) = 0;

  // Removes every record the selector matches; reports how many.
  // Errors: kIoError, kUnavailable.
  virtual void RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) = 0;

  // Lists metadata of matching records in key order, starting after
  // `start_after_key` (empty: from the start), at most `limit` of them.
  // Errors: kIoError, kUnavailable.
  virtual void Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
                    uint32_t limit, ScanDone done) = 0;

  // Removes records least recently accessed first until both totals are at
  // or under the targets; reports the usage after it. Errors: kIoError,
  // kUnavailable.
  virtual void Evict(OpId op, uint64_t target_bytes, uint64_t target_entries,
                     EvictDone done) = 0;
};

}  // namespace preheat

#endif  // PREHEAT_STORE_H_

// Engine: the stale-while-revalidate cache. Sans-IO: it is given the time,
// and reaches storage and network only through Store and Fetcher.
#ifndef PREHEAT_ENGINE_H_
#define PREHEAT_ENGINE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "preheat/entry.h"
#include "preheat/fetcher.h"
#include "preheat/freshness.h"
#include "preheat/metrics.h"
#include "preheat/policy.h"
#include "preheat/status.h"
#include "preheat/store.h"
#include "preheat/time.h"

namespace preheat {

struct LaneLimits {
  uint32_t inflight_max = 4;  // requests of this lane on the wire at once
  uint32_t queue_max = 256;   // requests waiting for a slot
};

struct EngineOptions {
  uint64_t memory_max_bytes = 64ull << 20;
  uint64_t memory_max_entries = 100000;
  uint64_t store_max_bytes = 512ull << 20;
  uint64_t store_max_entries = 1000000;
  // Responses with a larger body are served but stored in no tier.
  uint64_t entry_max_bytes = 8ull << 20;
  // Responses with a larger body fail with kTooLarge (the fetcher stops).
  uint64_t response_max_bytes = 32ull << 20;
  int64_t request_timeout_ms = 30000;
  // Write-behind: a batch goes to the store when it has this many writes or
  // when the oldest has waited write_delay_ms, whichever comes first.
  uint32_t write_batch_max = 128;
  int64_t write_delay_ms = 100;
  // Pending writes beyond this are dropped (counted); memory keeps serving.
  uint32_t pending_writes_max = 8192;
  // A store hit writes the record's new last access (the store evicts the
  // least recently accessed first) only when the stored one is at least this
  // old: re-reads within it write nothing (in IndexedDB a touch rewrites the
  // whole record), and eviction order is exact to this granularity, as with
  // a file system's relatime. 0: every store hit writes it.
  int64_t touch_interval_ms = 60'000;
  // Store eviction brings usage down to this fraction of the budget, so
  // eviction runs in batches rather than on every write.
  double store_evict_to_fraction = 0.9;
  LaneLimits lanes[kLaneCount] = {{6, 512}, {4, 512}, {2, 128}};
  // The first Get of an entry a prefetch fetched less than this long ago
  // serves it as fresh without revalidating (browsers' prefetch cache keeps
  // prefetches usable for 5 minutes the same way). Later reads follow the
  // HTTP rules. 0 turns it off.
  int64_t prefetch_grace_ms = 30'000;
  uint32_t waiters_per_key_max = 1024;
  uint32_t subscribers_max = 65536;
  // Response header whose comma-separated values tag the entry.
  std::string tag_header = "Cache-Tag";
  FreshnessOptions freshness;
  std::vector<RoutePolicy> routes;
  RoutePolicy default_policy;
};

// What a Get or Peek answers with.
enum class CacheState : uint8_t {
  kFresh = 0,         // stored and fresh
  kStale = 1,         // stored, stale within stale-while-revalidate; revalidating
  kStaleIfError = 2,  // stored and stale; the origin failed (stale-if-error)
  kRevalidated = 3,   // stored and stale; validated (304) before serving
  kMiss = 4,          // from the network (nothing usable stored)
};
enum class Source : uint8_t { kMemory = 0, kStore = 1, kNetwork = 2 };
const char* CacheStateName(CacheState state);
const char* SourceName(Source source);

struct CacheResult {
  CacheState state = CacheState::kMiss;
  Source source = Source::kNetwork;
  std::shared_ptr<const CacheEntry> entry;  // status, headers, body
  int64_t age_ms = 0;                       // current age when served
  bool revalidating = false;                // a background revalidation started
  bool stored = false;                      // the response is kept in a tier
};

// How a Get may use what the tiers hold: fetch()'s RequestCache modes
// (and the request directives they stand for, RFC 9111 5.2.1), for a
// "refresh" that must reach the origin or an offline read that must not.
enum class CacheMode : uint8_t {
  kDefault = 0,       // the HTTP rules: fresh, stale-while-revalidate, else the origin
  kNoCache = 1,       // a held entry is validated with the origin before it is
                      // served (conditional request), fresh or not
  kReload = 2,        // the origin's response, the tiers not read (it is stored)
  kForceCache = 3,    // any held entry at any age, nothing revalidated; else the origin
  kOnlyIfCached = 4,  // any held entry at any age; never the origin
  kNoStore = 5,       // the origin's response, the tiers neither read nor written
};
const char* CacheModeName(CacheMode mode);  // "default", "no-cache", ...
// Errors: kInvalidArgument for a name CacheModeName does not give.
Result<CacheMode> ParseCacheMode(const std::string& name);

struct CacheRequest {
  std::string url;             // absolute http(s) URL; normalised by the engine
  std::string namespace_name;  // [A-Za-z0-9_.-]{0,64}; "" is the default
  Headers headers;             // sent to the origin; select Vary variants
  Lane lane = Lane::kNavigate;
  // Get only (Peek and Prefetch ignore it and the directives below).
  // A Get also reads the request directives in `headers` (RFC 9111 5.2.1):
  //   Cache-Control: no-cache (or, without Cache-Control, Pragma: no-cache)
  //     is kNoCache for a kDefault get;
  //   max-age=N: nothing older than N s is served without the origin, nor
  //     anything stale (stale-while-revalidate's) unless max-stale allows it;
  //   min-fresh=N: nothing fresh for less than N s more;
  //   max-stale[=N]: a stale entry (at most N s past its lifetime, or any)
  //     is served and revalidated, unless its response said no-cache or
  //     must-revalidate, it was invalidated (Invalidate, Mutate), or the
  //     route's max stale age is exceeded;
  //   no-store: the origin's answer is kept in no tier (what is held may
  //     still answer, revalidated by no request of this get's; the request
  //     is then unconditional);
  //   only-if-cached: never the origin (kNotFound when nothing held may be
  //     served; kForceCache becomes kOnlyIfCached; kReload and kNoStore
  //     ignore it).
  // When max-age or min-fresh sent a get to the origin and it fails, the
  // held entry does not stand in (no stale-if-error), as with kNoCache.
  // An explicit kForceCache or kOnlyIfCached ignores the time directives.
  CacheMode mode = CacheMode::kDefault;
};

// Which entries Invalidate applies to, inside one namespace.
struct InvalidateSelector {
  enum class Kind : uint8_t { kUrl = 0, kUrlPrefix = 1, kTag = 2, kAll = 3 };
  Kind kind = Kind::kUrl;
  std::string value;  // URL, URL prefix (absolute, normalised form), or tag
  std::string namespace_name;
  // Another process sharing the store (a second tab) changed the matching
  // entries there already: the mode applies to this engine's memory copies
  // only, and its pending writes of them are dropped, so that none lands
  // over the other's newer records; the store and requests in flight are
  // left as they are.
  bool memory_only = false;
};
enum class InvalidateMode : uint8_t {
  kMarkStale = 0,  // keep serving (stale), revalidate on next use
  kRemove = 1,     // forget
};

// Not thread-safe: one thread (or tick) drives an Engine. Callbacks given to
// the engine (get answers, subscriptions, flush) run on that thread and may
// call back into the engine. `store` may be null (memory only). `store` and
// `fetcher` must outlive the engine; completions arriving after the engine
// is destroyed are ignored.
class Engine {
 public:
  using GetDone = std::function<void(Result<CacheResult> result)>;
  using Subscriber = std::function<void(const CacheResult& result)>;
  using StatusDone = std::function<void(Status status)>;
  using SubscriptionId = uint64_t;

  // Errors: kInvalidArgument for a bad option or route pattern.
  static Result<std::unique_ptr<Engine>> Create(EngineOptions options, Store* store,
                                                Fetcher* fetcher, uint64_t seed);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Learns the store's usage and enforces its budget. Call once after
  // Create; optional for a memory-only engine.
  void Start(Instant now);

  // The cache key for a request: namespace + ' ' + normalised URL.
  // Errors: kInvalidArgument for a malformed URL or namespace.
  static Result<std::string> KeyFor(const std::string& url, const std::string& namespace_name);
  // What every key of the namespace starts with (namespace + ' '): the
  // store prefix of a whole namespace. The namespace is not checked.
  static std::string NamespaceKeyPrefix(const std::string& namespace_name);

  // Answers from the memory tier in this call, starting nothing.
  // Errors: kNotFound when the memory tier has no usable entry (absent, Vary
  // mismatch, or past its maximum stale age); kInvalidArgument.
  Result<CacheResult> Peek(const CacheRequest& request, Instant now);

  // Answers from memory, else the store, else the network; starts a
  // background revalidation when it serves stale. `done` runs exactly once:
  // inside this call when the memory tier answers, later otherwise.
  // request.mode changes which of these it may use (CacheMode); with
  // kNoCache, kReload and kNoStore a failed origin is the error, no stale entry is
  // served in its place (stale-if-error), as the request asked for the
  // origin's answer. Errors (through done): kInvalidArgument,
  // kUnavailable / kTimeout (the origin failed and nothing stale could be
  // served), kTooLarge, kLimitReached (the lane's queue is full),
  // kCancelled (namespace cleared), kNotFound (kOnlyIfCached and no tier
  // holds a matching entry). An HTTP error status from the origin is not an
  // error: it is a kMiss result with that status.
  void Get(const CacheRequest& request, Instant now, GetDone done);

  // For the preheater: fills the cache without enforcing freshness. When
  // either tier holds the entry, at any age, `done` answers from there (no
  // request, no revalidation, source kMemory or kStore); a fetch already in
  // flight is joined; otherwise it fetches in request.lane (kPreheat for
  // preheats) and answers kMiss from kNetwork. An error status (>= 400)
  // to a request only prefetches waited for is answered but kept in no
  // tier (result.stored false). Errors: as Get.
  void Prefetch(const CacheRequest& request, Instant now, GetDone done);

  // Calls `fn` each time a revalidation or mutation changes the entry for
  // `key` (a different ETag or body), never for an unchanged revalidation.
  // Errors: kLimitReached past subscribers_max.
  Result<SubscriptionId> Subscribe(const std::string& key, Subscriber fn);
  void Unsubscribe(SubscriptionId id);

  // Marks matching entries stale (they are served once more within their
  // stale-while-revalidate window, then revalidated) or removes them, in
  // both tiers. For kMarkStale, matching entries held only in the store are
  // removed (cheaper than rewriting them; the next get refetches). The
  // store's removal finishes later (Flush waits for it); it is tried on a
  // degraded store too, which a later session may open again. A request
  // on the wire for a matching key may have been answered before the
  // change: its response goes to its waiters, and is kept marked stale
  // (kMarkStale; for a tag, any request of the namespace, whose tags are
  // unknown until it is answered) or not kept (kRemove; nor does the removed
  // entry stand in when that request fails: no stale-if-error). memory_only: see
  // InvalidateSelector.
  // Returns how many memory entries matched. Errors: kInvalidArgument.
  Result<uint64_t> Invalidate(const InvalidateSelector& selector, InvalidateMode mode,
                              Instant now);

  // Optimistic update: serves `optimistic` for `target` at once (subscribers
  // are told), sends `write` (e.g. a PATCH) to the origin in the navigate
  // lane, and on success marks the entry stale and revalidates it; on
  // failure (network error or non-2xx status) restores the previous entry
  // (none in memory: the key is forgotten, in the store too) and tells
  // subscribers (a result without an entry when there is none). Writes of one key in flight together roll
  // back in any order to the entry before the first of them. A GET for the key on the wire meanwhile does not
  // replace the optimistic entry, and after a success it is followed by a
  // new revalidation (its answer may predate the write). done: OK, or the
  // write's error (kUnavailable, kTimeout, kHttpError).
  void Mutate(const CacheRequest& target, HttpResponse optimistic, HttpRequest write,
              Instant now, StatusDone done);

  // Calls `fn` with the namespace at the start of every Clear, before that
  // namespace's waiters are cancelled: for the preheater, whose queued
  // preheats of a namespace a logout cleared must not go out afterwards.
  // `fn` may read the engine (CurrentTime, HasInMemoryOrInflight) but must
  // call nothing that changes it. Unsubscribe(id) removes it.
  // Errors: kLimitReached past subscribers_max.
  using ClearWatcher = std::function<void(const std::string& namespace_name)>;
  Result<SubscriptionId> WatchClears(ClearWatcher fn);

  // Removes every entry of a namespace from both tiers (logout). Gets of
  // that namespace waiting on the network complete with kCancelled. The
  // memory tier forgets at once; the store's removal finishes later: a
  // Flush started after Clear completes once it has (or failed).
  // Errors: kInvalidArgument for a bad namespace.
  Status Clear(const std::string& namespace_name, Instant now);

  // Answers everything still waiting, before the engine is destroyed (which
  // would drop it): gets and prefetches fail with kCancelled, their
  // requests and reads stop; writes of Mutate in flight fail with
  // kCancelled and roll back. Pending store writes stay (Flush first to
  // keep them). The engine stays usable.
  void CancelAll(Instant now);

  // Writes every pending write to the store now; `done` runs when they,
  // and the store removals of Invalidate and Clear started before, are
  // durable (OK) or failed (the store's error: a write's, or a removal's
  // after its last attempt), or at once when nothing is pending or in
  // flight or there is no store. kLimitReached when writes were dropped
  // since the last flush because more than pending_writes_max waited;
  // kUnavailable when the store is degraded.
  void Flush(Instant now, StatusDone done);

  // The earliest time OnDeadline must be called, or Instant::Never().
  Instant NextDeadline() const;
  // Runs timers that are due at `now` (write-behind flushes).
  void OnDeadline(Instant now);

  // Small named records kept in the store beside the cache (the
  // preheater's transition model), written with the next batch and evicted
  // last. PutBlob errors: kInvalidArgument (name not 1..256 bytes),
  // kTooLarge (over 4 MiB, or name and bytes over store_max_bytes),
  // kUnavailable (no usable store), kLimitReached (pending_writes_max
  // writes wait: Flush, then try again). GetBlob answers
  // through `done` (at once for a blob not yet written): kNotFound,
  // kUnavailable, or the store's errors.
  Status PutBlob(const std::string& name, std::string bytes, Instant now);
  void GetBlob(const std::string& name, Instant now,
               std::function<void(Result<std::string>)> done);

  // The latest `now` an entry point or completion gave the engine. Inside a
  // callback the engine runs, it is the time of the event that runs it.
  Instant CurrentTime() const;

  const Metrics& metrics() const;
  std::string MetricsJson() const;
  const EngineOptions& options() const;

  // Requests in flight per lane, and queued per lane.
  uint32_t InflightCount(Lane lane) const;
  uint32_t QueuedCount(Lane lane) const;
  // Whether the store read `op` of `key` (a Store::Get this engine started
  // and the store has not completed) would, if completed now with a record
  // of `key` that decodes, serve that record's entry to the get that
  // started it: the read is still this one and nothing superseded it
  // (an invalidation, a clear, a newer response), memory holds nothing for
  // the key and no put or remove of it is pending. With a plain get and a
  // record StoreWrite::fresh_until says is fresh, a driver may then answer
  // that get itself and complete the read afterwards (the web package
  // does). Never fails: false for an unknown read.
  bool StoreReadServesRecord(const std::string& key, OpId op) const;
  // True when a usable-or-stale entry for the key is in the memory tier, or
  // a fetch for it is under way. For the preheater: "already cached".
  bool HasInMemoryOrInflight(const std::string& key) const;
  // The body hash of the memory tier's entry for `key` (a KeyFor key), at
  // any age, read without counting a peek or changing its recency: for a
  // tab comparing its copy with another tab's. Errors: kNotFound when
  // memory holds no entry for the key.
  Result<uint64_t> MemoryBodyHash(const std::string& key) const;

  // Calls fn for every memory-tier entry, most recently used first, without
  // changing recency. For tools (listing) and tests. fn must not call into
  // the engine.
  void VisitMemory(const std::function<void(const CacheEntry& entry)>& fn) const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  void GetOrPrefetch(const CacheRequest& request, Instant now, GetDone done, bool prefetch);
  std::unique_ptr<Impl> impl_;
};

}  // namespace preheat

#endif  // PREHEAT_ENGINE_H_

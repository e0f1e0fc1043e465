// Runtime: the native process's cache. An EventLoop running a
// preheat::Engine over a SqliteStore and a CurlFetcher, behind a
// thread-safe API.
#ifndef PREHEAT_NATIVE_RUNTIME_H_
#define PREHEAT_NATIVE_RUNTIME_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "preheat/engine.h"
#include "preheat/preheater.h"
#include "preheat/status.h"
#include "preheat/store.h"
#include "preheat_native/curl_fetcher.h"
#include "preheat_native/event_loop.h"
#include "preheat_native/sqlite_store.h"

namespace preheat_native {

struct RuntimeOptions {
  // The SQLite file of the persistent tier; empty: memory only.
  std::string db_path;
  // When false (default) a store that fails to open leaves the runtime
  // memory-only and says why in open_report(); when true Create fails.
  bool require_store = false;
  preheat::EngineOptions engine;
  // When set, a Preheater runs beside the engine on the loop (Surface,
  // Intent, Navigated below).
  std::optional<preheat::PreheatOptions> preheat;
  // post and clock are filled in by the runtime.
  SqliteStoreOptions store;
  CurlFetcherOptions fetcher;
  // SystemNow when empty. Must be thread-safe (worker threads call it).
  ClockFn clock;
  // Seeds the engine's PRNG; 0 draws one from std::random_device.
  uint64_t seed = 0;
};

// Thread-safety: every method may be called from any thread; each posts to
// the loop and answers through a std::future or a callback that runs on the
// loop thread. Callbacks must not block on this runtime's futures (the loop
// would wait on itself), and nothing may call Shutdown() or destroy the
// runtime from inside a callback.
class Runtime {
 public:
  using GetDone = std::function<void(preheat::Result<preheat::CacheResult>)>;

  // Errors: kInvalidArgument (bad engine options); with require_store, the
  // store's Open errors (kIoError for an unwritable or read-only path, ...);
  // kInternal when libcurl cannot start.
  static preheat::Result<std::unique_ptr<Runtime>> Create(RuntimeOptions options);

  // Shutdown().
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Notes from opening the store (a corrupt file set aside, a migration, or
  // why the runtime is memory-only); empty when there is nothing to say.
  const std::string& open_report() const { return open_report_; }
  bool has_store() const { return store_ != nullptr; }
  const std::string& db_path() const { return options_.db_path; }

  // Engine::Get. `done` runs on the loop thread; after Shutdown it runs at
  // once, on the calling thread, with kUnavailable. Request headers the
  // fetcher would refuse (CheckRequestHead: a name that is not a token, a
  // value with CR, LF or NUL) fail with kInvalidArgument, nothing fetched.
  void Get(preheat::CacheRequest request, GetDone done);
  std::future<preheat::Result<preheat::CacheResult>> Get(preheat::CacheRequest request);

  // Engine::Peek: the memory tier's answer, starting nothing (no store
  // read, no request). Errors: kNotFound when memory has no usable entry
  // (absent, Vary mismatch, past its maximum stale age); kInvalidArgument;
  // kUnavailable after Shutdown.
  std::future<preheat::Result<preheat::CacheResult>> Peek(preheat::CacheRequest request);

  // Engine::Subscribe for the request's key (URL and namespace): `fn` runs
  // on the loop thread each time a revalidation or a mutation changes the
  // entry (a different ETag or body), never for an unchanged revalidation.
  // Errors: kInvalidArgument (a malformed URL or namespace), kLimitReached
  // (past EngineOptions::subscribers_max), kUnavailable after Shutdown.
  std::future<preheat::Result<preheat::Engine::SubscriptionId>> Subscribe(
      preheat::CacheRequest request, preheat::Engine::Subscriber fn);
  // Stops a subscription's calls; an unknown id is ignored. Calls already
  // posted to the loop may still run until the returned future is ready.
  std::future<void> Unsubscribe(preheat::Engine::SubscriptionId id);

  // Engine::Invalidate.
  std::future<preheat::Result<uint64_t>> Invalidate(preheat::InvalidateSelector selector,
                                                    preheat::InvalidateMode mode);

  // Engine::Mutate: `optimistic` is served for `target` at once
  // (subscribers are told), `write` goes to the origin, and on success the
  // entry is marked stale and revalidated; on failure the previous entry
  // comes back (subscribers are told again). The future: OK, or the
  // write's error (kUnavailable, kTimeout, kHttpError for a non-2xx
  // status; kLimitReached when the navigate lane's queue is full;
  // kInvalidArgument, also at once, nothing served or sent, for a method or
  // headers CheckRequestHead refuses), kUnavailable after Shutdown. A write
  // answered with a redirect is followed as fetch() does (see
  // CurlFetcherOptions::redirects_max); the final answer decides.
  std::future<preheat::Status> Mutate(preheat::CacheRequest target,
                                      preheat::HttpResponse optimistic,
                                      preheat::HttpRequest write);

  // Engine::Clear, then a flush (logout): OK once the namespace's entries
  // are gone from memory and their removal is committed to the database
  // (at once when memory-only). Gets of the namespace waiting on the
  // network complete with kCancelled. Writes the engine dropped earlier
  // (a flush's kLimitReached) do not fail it: they were never stored.
  // When the store is degraded (or the engine's removal failed after its
  // retries), the namespace is removed from the database once more
  // directly, and that decides the answer. Errors: kInvalidArgument (a bad
  // namespace); the store's error when the entries may still be on disk
  // (kIoError, kNoSpace, ...); kUnavailable after Shutdown.
  std::future<preheat::Status> Clear(std::string namespace_name);

  // Engine::Flush: OK once every write accepted so far is committed to the
  // database (or at once when memory-only).
  std::future<preheat::Status> Flush();

  // {"engine": <Engine::MetricsJson>, "store": {"path", "bytes", "entries",
  // "max_bytes", "open_report", "status", "file_replaced_count",
  // "last_file_event"} or null, "inflight": {...}, "queued": {...}}.
  // "status" is "ok" while the store reaches the file at its path;
  // "file_replaced_count" and "last_file_event" (a "<code>: <message>"
  // string, or null) report the file deleted or replaced while open
  // (SqliteStoreHealth).
  std::future<std::string> StatsJson();

  // Direct access to the persistent tier, for tools (`preheat ls/purge`).
  // These bypass the memory tier: callers that also hold entries in memory
  // should use Invalidate. Errors: kUnavailable when memory-only; the
  // store's errors.
  std::future<preheat::Result<std::vector<preheat::StoreRecordMeta>>> ScanStore(
      preheat::StoreSelector selector, std::string start_after_key, uint32_t limit);
  std::future<preheat::Result<uint64_t>> RemoveFromStore(preheat::StoreSelector selector);
  std::future<preheat::Result<preheat::StoreUsage>> WriteStore(
      std::vector<preheat::StoreWrite> batch);

  // Preheater inputs (no-ops without RuntimeOptions::preheat). They post to
  // the loop and return at once.
  void Surface(std::string page_url, std::vector<preheat::Reference> refs);
  void Intent(std::string url, preheat::IntentKind kind);
  void Navigated(std::string from_url, std::string to_url);
  void Visible(std::string url, bool visible);
  // Preheater::StatsJson, or "null" without a preheater.
  std::future<std::string> PreheatStatsJson();
  // Engine::HasInMemoryOrInflight for the request's key: "already cached".
  std::future<bool> IsCachedOrInflight(preheat::CacheRequest request);

  // Flushes pending writes, cancels requests in flight (their gets complete
  // with an error), drains the store, destroys the engine on the loop and
  // joins every thread. Idempotent.
  void Shutdown();

  EventLoop& loop() { return *loop_; }

 private:
  Runtime() = default;
  // Runs fn(engine) on the loop, fulfilling a future with its result, or
  // with `stopped` when the loop no longer runs.
  template <typename T, typename Fn>
  std::future<T> OnLoop(Fn fn, T stopped);

  RuntimeOptions options_;
  std::string open_report_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<CurlFetcher> fetcher_;
  std::unique_ptr<preheat::Engine> engine_;  // touched only on the loop
  std::unique_ptr<preheat::Preheater> preheater_;  // on the loop; may be null
  preheat::OpId next_op_ = 1ull << 62;      // tool ops, apart from the engine's
  std::atomic<bool> shut_down_{false};
  std::once_flag shutdown_once_;
  void ShutdownOnce();
};

}  // namespace preheat_native

#endif  // PREHEAT_NATIVE_RUNTIME_H_

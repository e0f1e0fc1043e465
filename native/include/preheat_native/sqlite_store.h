// SqliteStore: preheat::Store on a SQLite file, for native processes.
#ifndef PREHEAT_NATIVE_SQLITE_STORE_H_
#define PREHEAT_NATIVE_SQLITE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "preheat/status.h"
#include "preheat/store.h"
#include "preheat/time.h"

namespace preheat_native {

// Runs a task on the owner's event loop thread. Must be thread-safe and must
// not run the task inside the call (EventLoop::Post qualifies).
using PostFn = std::function<void(std::function<void()>)>;
// The driver's clock. Called from worker threads, so must be thread-safe.
using ClockFn = std::function<preheat::Instant()>;

struct SqliteStoreOptions {
  // REQUIRES: both set. Completions are delivered through `post`, carrying
  // `clock()` taken when the operation finished.
  PostFn post;
  ClockFn clock;
  // How long an operation waits for another process's lock before failing
  // with kUnavailable. Several processes (CLI runs, a daemon) may share the
  // file.
  int busy_timeout_ms = 5000;
  // PRAGMA synchronous. false: NORMAL (default), true: FULL. In WAL mode
  // NORMAL never corrupts the file and a committed batch survives the
  // process being killed (the WAL is in the OS page cache before COMMIT
  // returns); only a power loss or kernel crash can roll back the last few
  // batches. For a cache that is the right trade: a lost entry is refetched,
  // and FULL costs an fsync per batch. Choose FULL when Flush must also
  // survive power loss.
  bool synchronous_full = false;
  // Open without write access (inspection). Writes fail with kIoError.
  bool read_only = false;
  // Caps the file at this many pages (PRAGMA max_page_count); 0 keeps
  // SQLite's default. Past it writes fail with kNoSpace. For quotas and for
  // tests that need a full disk.
  int64_t max_page_count = 0;
  // Operations queued beyond this fail at once with kUnavailable, so a stuck
  // disk cannot grow the queue without bound.
  uint32_t queue_max = 1u << 16;
};

// The newest schema this code writes (PRAGMA user_version).
inline constexpr int kSqliteSchemaVersion = 2;

// One connection owned by one worker thread. Operations are queued to the
// worker in the order they are called and run in that order, so effects
// apply in call order (as preheat::Store requires); completions are posted
// back through options.post, never run inside the call.
//
// Schema: entries(key TEXT PRIMARY KEY, value BLOB, last_access INTEGER,
// charge INTEGER), tags(key, tag), usage(bytes, entries) kept by triggers in
// the same transaction as every change, so totals stay exact even when
// several processes share the file. One transaction per Write batch.
//
// Thread-safety: the preheat::Store methods may be called from any one
// thread at a time (the core's loop). Close() and the destructor must not
// be called from inside a completion.
class SqliteStore : public preheat::Store {
 public:
  // Opens (creating when absent) the database at `path` and migrates it to
  // kSqliteSchemaVersion. A file that is not a database or fails
  // PRAGMA quick_check is renamed aside to "<path>.corrupt-<n>" (with its
  // -wal and -shm files; never deleted) and a fresh database is created;
  // open_report() then says so.
  // Errors: kInvalidArgument (empty path, options without post/clock);
  // kIoError (cannot create or open the file, e.g. its directory is missing
  // or unwritable; a read-only file unless options.read_only; a schema newer
  // than this code understands); kUnavailable (locked by another process
  // longer than busy_timeout_ms); kNoSpace.
  static preheat::Result<std::unique_ptr<SqliteStore>> Open(const std::string& path,
                                                            SqliteStoreOptions options);

  // Drains the queue (every queued operation completes), then closes the
  // connection and joins the worker. Operations started afterwards complete
  // with kUnavailable. Idempotent.
  ~SqliteStore() override;
  void Close();

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Human-readable notes from Open (a corrupt file renamed aside, a
  // migration); empty when nothing noteworthy happened.
  const std::string& open_report() const;
  const std::string& path() const;
  // The totals after the last completed operation. Thread-safe.
  preheat::StoreUsage usage() const;

  void Get(preheat::OpId op, const std::string& key, GetDone done) override;
  void Write(preheat::OpId op, std::vector<preheat::StoreWrite> batch, WriteDone done) override;
  void RemoveMatching(preheat::OpId op, const preheat::StoreSelector& selector,
                      RemoveDone done) override;
  void Scan(preheat::OpId op, const preheat::StoreSelector& selector,
            const std::string& start_after_key, uint32_t limit, ScanDone done) override;
  void Evict(preheat::OpId op, uint64_t target_bytes, uint64_t target_entries,
             EvictDone done) override;

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace preheat_native

#endif  // PREHEAT_NATIVE_SQLITE_STORE_H_

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
  // PRAGMA journal_size_limit: after a checkpoint the -wal file is
  // truncated back to this many bytes when SQLite restarts it, instead of
  // keeping the size of the largest batch for the connection's life (the
  // WAL is outside max_page_count). Negative: no limit.
  int64_t journal_size_limit_bytes = 4 << 20;
  // Operations queued beyond this fail at once with kUnavailable, so a stuck
  // disk cannot grow the queue without bound.
  uint32_t queue_max = 1u << 16;
};

// The newest schema this code writes (PRAGMA user_version). Older files are
// migrated forward on Open; a newer one is refused.
inline constexpr int kSqliteSchemaVersion = 3;

// What a SqliteStore knows about the file at its path (issue #8: the file
// deleted or replaced while open). A snapshot; see SqliteStore::health().
struct SqliteStoreHealth {
  // OK while operations reach the file at the path. Otherwise why they
  // cannot: the open file was deleted or replaced and the file now at the
  // path cannot be opened (Open's errors: kIoError, e.g. the directory is
  // gone; kUnavailable, kNoSpace). Every operation then fails with this
  // status (so an Engine above degrades to memory-only) while the store
  // retries the open at most once a second.
  preheat::Status status;
  // How many times the open file was found deleted or replaced.
  uint64_t file_replaced_count = 0;
  // The last such event: kIoError with what was found and what the store
  // did ("... was deleted while open; started a fresh one ..."); OK when
  // it never happened.
  preheat::Status last_file_event;
};

// One connection owned by one worker thread. Operations are queued to the
// worker in the order they are called and run in that order, so effects
// apply in call order (as preheat::Store requires); completions are posted
// back through options.post, never run inside the call.
//
// One exception, for speed: a Get called while the store is idle (nothing
// queued or running on the worker) reads on the calling thread, with the
// same connection, and posts its completion like any other. It never waits
// for another process's lock (SQLITE_BUSY sends it to the worker, which
// waits up to busy_timeout_ms) and it skips the periodic moved-file check
// (when that is due, the Get goes to the worker). A handoff to the worker
// and back costs two thread wake-ups, more than the indexed read itself.
// Caveat: SQLite's WAL read path retries internally (about 10 s, ignoring
// the busy timeout) when another process holds every WAL read-mark lock,
// which SQLite itself only does for moments; such a Get would block the
// calling thread for that long.
//
// Schema 3: entries(key TEXT PRIMARY KEY, value BLOB, last_access INTEGER,
// charge INTEGER, tags BLOB) with the record's tags packed into the row (a
// Get reads one row), tags(key, tag) indexed by tag for tag selectors, and
// usage(bytes, entries). The store adjusts usage once per transaction, from
// the charges of the rows it inserts, replaces and removes, inside that
// transaction (under SQLite's write lock), so totals stay exact across
// crashes and when several processes share the file. One transaction per
// Write batch.
//
// Completions: the worker posts the completions of consecutive Gets
// together (up to 64 per post, one `clock()` reading for all of them), and
// any other operation's completion on its own as soon as it finishes.
//
// The file deleted or replaced while open (another process unlinked it or
// renamed another file over it): SQLite would keep writing to the old,
// unreachable inode. Every write (Write, RemoveMatching, Evict) checks with
// one stat() before its transaction and after its commit, reads at most
// once a second. When the file has moved, the store checkpoints and closes
// the old file, then opens what is now at the path: a fresh database when
// nothing is, the replacement when it is a cache database, and when it is
// not a database it is renamed aside to "<path>.corrupt-<n>" (as in Open)
// and a fresh database is created; another program's SQLite database is
// refused as in Open (left untouched; operations fail, see health()). A write whose commit went to the old file is
// applied again to the new one (at most three attempts, then kUnavailable),
// so every completed Write is in the file at the path when it completes.
// What the old file held is not copied: whoever deleted or replaced it
// meant to. The event is reported in health(); it is not an operation
// error unless the new file cannot be opened. Reads between a replacement
// and its detection are served from the old file. Not covered: a file
// truncated or overwritten in place (same inode), which SQLite reports as
// corruption (kIoError); several processes on one file during a
// replacement each reopen on their own.
//
// Errors of the operations, beyond preheat::Store's: kCorrupt from Get and
// Scan when a row's packed tags are malformed; kIoError (or the open error)
// while the file at the path cannot be opened (see SqliteStoreHealth).
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
  // open_report() then says so. A database whose usage row is missing (its
  // entries intact) gets it rebuilt from the entries, also reported.
  // Errors: kInvalidArgument (empty path, options without post/clock);
  // kIoError (cannot create or open the file, e.g. its directory is missing
  // or unwritable; a read-only file unless options.read_only; a schema newer
  // than this code understands; a SQLite database of another program, i.e.
  // schema version 0 with tables, or a newer one without the cache's
  // tables, which is left untouched); kUnavailable (locked by another
  // process longer than busy_timeout_ms); kNoSpace.
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
  // migration, usage totals rebuilt); empty when nothing noteworthy
  // happened.
  const std::string& open_report() const;
  const std::string& path() const;
  // The totals after the last completed operation. Thread-safe.
  preheat::StoreUsage usage() const;
  // The state of the file at path(). Thread-safe.
  SqliteStoreHealth health() const;

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

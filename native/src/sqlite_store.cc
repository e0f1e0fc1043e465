#include "preheat_native/sqlite_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace preheat_native {

using preheat::Instant;
using preheat::OpId;
using preheat::Result;
using preheat::Status;
using preheat::StoreRecord;
using preheat::StoreRecordMeta;
using preheat::StoreSelector;
using preheat::StoreUsage;
using preheat::StoreWrite;

namespace {

// Maps a SQLite result code to the Store's error vocabulary.
Status FromSqlite(int rc, sqlite3* db, const std::string& what) {
  std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string msg = what + ": " + detail;
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return Status::NoSpace(msg + " (disk full or size limit reached)");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Unavailable(msg + " (locked by another connection)");
    case SQLITE_READONLY:
      return Status::IoError(msg + " (the database is read-only)");
    default:
      return Status::IoError(msg);
  }
}

bool IsCorruptionCode(int rc) {
  return (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
}

// Owns a prepared statement; reset on every Use() so cached statements can be
// reused after an early return.
class Stmt {
 public:
  Stmt() = default;
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  int Prepare(sqlite3* db, const char* sql) {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
    return sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr);
  }
  void Finalize() {
    sqlite3_finalize(stmt_);
    stmt_ = nullptr;
  }
  sqlite3_stmt* Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return stmt_;
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

void BindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text64(s, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8);
}
void BindBlob(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_blob64(s, i, v.data(), v.size(), SQLITE_STATIC);
}
std::string ColumnString(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p != nullptr ? std::string(static_cast<const char*>(p), static_cast<size_t>(n))
                      : std::string();
}

// Runs one or more statements without results.
int Exec(sqlite3* db, const char* sql) { return sqlite3_exec(db, sql, nullptr, nullptr, nullptr); }

// The smallest string greater than every string starting with `prefix`, or
// false when there is none (empty, or all 0xff bytes).
bool PrefixSuccessor(std::string prefix, std::string* out) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (prefix.empty()) return false;
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  *out = std::move(prefix);
  return true;
}

// entries.tags (schema 3): the record's distinct tags in byte order, each as
// "<decimal byte length>:<bytes>", concatenated; NULL when there are none.
// Migration 2 -> 3 builds the same format in SQL.
void SortedUniqueTags(const std::vector<std::string>& tags, std::vector<std::string>* out) {
  *out = tags;
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}
std::string PackTags(const std::vector<std::string>& sorted_unique) {
  std::string packed;
  for (const std::string& tag : sorted_unique) {
    packed += std::to_string(tag.size());
    packed += ':';
    packed += tag;
  }
  return packed;
}
// False when `packed` is malformed.
bool UnpackTags(const char* p, size_t n, std::vector<std::string>* tags) {
  size_t i = 0;
  while (i < n) {
    size_t len = 0;
    size_t digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 12) {
      len = len * 10 + static_cast<size_t>(p[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || i >= n || p[i] != ':' || n - i - 1 < len) return false;
    ++i;
    tags->emplace_back(p + i, len);
    i += len;
  }
  return true;
}
bool ColumnTags(sqlite3_stmt* s, int i, std::vector<std::string>* tags) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return true;
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p == nullptr || UnpackTags(static_cast<const char*>(p), static_cast<size_t>(n), tags);
}

// Forward migrations: kMigrations[i] takes user_version i to i + 1. Never
// edit a released step; append a new one and bump kSqliteSchemaVersion.
const char* const kMigrations[] = {
    // 0 -> 1: entries and tags.
    "CREATE TABLE entries(key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL,"
    " last_access INTEGER NOT NULL, charge INTEGER NOT NULL);"
    "CREATE INDEX entries_by_last_access ON entries(last_access);"
    "CREATE TABLE tags(key TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(key, tag))"
    " WITHOUT ROWID;"
    "CREATE INDEX tags_by_tag ON tags(tag, key);"
    "CREATE TRIGGER entries_delete_tags AFTER DELETE ON entries BEGIN"
    " DELETE FROM tags WHERE key = OLD.key; END;",
    // 1 -> 2: usage totals kept by triggers inside each transaction, exact
    // across processes and crashes.
    "CREATE TABLE usage(id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL,"
    " entries INTEGER NOT NULL);"
    "INSERT INTO usage SELECT 0, COALESCE(SUM(charge), 0), COUNT(*) FROM entries;"
    "CREATE TRIGGER usage_insert AFTER INSERT ON entries BEGIN"
    " UPDATE usage SET bytes = bytes + NEW.charge, entries = entries + 1 WHERE id = 0; END;"
    "CREATE TRIGGER usage_delete AFTER DELETE ON entries BEGIN"
    " UPDATE usage SET bytes = bytes - OLD.charge, entries = entries - 1 WHERE id = 0; END;"
    "CREATE TRIGGER usage_update AFTER UPDATE OF charge ON entries BEGIN"
    " UPDATE usage SET bytes = bytes - OLD.charge + NEW.charge WHERE id = 0; END;",
    // 2 -> 3: no triggers (they made SQLite keep a statement journal for
    // every row written): the store adjusts the usage row once per batch,
    // from the old rows it replaces or removes, inside the batch's
    // transaction, and keeps the tags table in step itself. Tags are also
    // packed into entries.tags so a Get reads one row.
    "DROP TRIGGER IF EXISTS usage_insert;"
    "DROP TRIGGER IF EXISTS usage_delete;"
    "DROP TRIGGER IF EXISTS usage_update;"
    "DROP TRIGGER IF EXISTS entries_delete_tags;"
    "ALTER TABLE entries ADD COLUMN tags BLOB;"
    "DELETE FROM tags WHERE key NOT IN (SELECT key FROM entries);"
    "UPDATE entries SET tags = p.packed FROM"
    " (SELECT key, group_concat(length(CAST(tag AS BLOB)) || ':' || tag, '') AS packed"
    "  FROM (SELECT key, tag FROM tags ORDER BY key, tag) GROUP BY key) AS p"
    " WHERE entries.key = p.key;"
    "UPDATE usage SET bytes = (SELECT COALESCE(SUM(charge), 0) FROM entries),"
    " entries = (SELECT COUNT(*) FROM entries) WHERE id = 0;",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSqliteSchemaVersion,
              "one migration per schema version");

// Completions of consecutive Gets are posted together, at most this many per
// post, so a burst of reads costs one wake-up of the owner's loop.
constexpr size_t kCompletionBatchMax = 64;
// A failed reopen (the file was deleted or replaced and the new one cannot
// be opened) is retried by later operations at most this often.
constexpr auto kReopenRetryInterval = std::chrono::seconds(1);
// Reads check whether the file was deleted or replaced at most this often;
// writes check before and after every transaction.
constexpr auto kReadCheckInterval = std::chrono::seconds(1);

}  // namespace

struct SqliteStore::Impl {
  // A completion ready to run on the owner's loop with the time it is
  // delivered.
  using Completion = std::function<void(Instant)>;
  struct Task {
    // Reads (quick): their completions are collected and posted together.
    // Anything else posts what was collected before it runs, and its own
    // completion right after.
    bool quick = false;
    std::function<Completion()> run;
  };

  std::string path;
  SqliteStoreOptions options;
  std::string report;  // written by Open only
  sqlite3* db = nullptr;  // worker only (Open before the worker starts)

  Stmt get, insert, find, update, delete_tags, insert_tag, remove, touch, delete_rowid,
      read_usage, add_usage, set_usage, begin, begin_read, commit, rollback, lru;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<Task> queue;  // guarded by mu
  bool closing = false;    // guarded by mu
  // The worker has taken tasks from the queue and not finished them.
  bool worker_active = false;  // guarded by mu
  // The caller's thread is running a Get on the connection (see InlineGet);
  // the worker does not start while it is.
  bool inline_active = false;  // guarded by mu
  std::atomic<size_t> queued{0};  // tasks accepted and not yet run
  std::thread worker;

  std::atomic<uint64_t> usage_bytes{0};
  std::atomic<uint64_t> usage_entries{0};

  // True while consecutive queued Gets share one read transaction (worker).
  bool read_group = false;

  // Worker-side file watch (issue #8).
  std::chrono::steady_clock::time_point next_read_check{};
  std::chrono::steady_clock::time_point next_reopen_try{};

  mutable std::mutex health_mu;
  SqliteStoreHealth health;  // guarded by health_mu

  ~Impl() { CloseDb(); }

  void CloseDb() {
    // Statements first: sqlite3_close_v2 would otherwise defer the close.
    for (Stmt* s : {&get, &insert, &find, &update, &delete_tags, &insert_tag, &remove, &touch,
                    &delete_rowid, &read_usage, &add_usage, &set_usage, &begin, &begin_read,
                    &commit, &rollback, &lru}) {
      s->Finalize();
    }
    if (db != nullptr) sqlite3_close_v2(db);
    db = nullptr;
  }

  // ---- Open ---------------------------------------------------------------

  // Opens and checks the file, appending noteworthy facts to *notes. Sets
  // *corrupt when the file should be moved aside rather than reported.
  Status TryOpen(bool* corrupt, std::string* notes) {
    *corrupt = false;
    int flags = options.read_only ? SQLITE_OPEN_READONLY
                                  : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;  // one thread uses the connection at a time
    int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
    if (rc != SQLITE_OK) {
      if (IsCorruptionCode(rc)) {
        *corrupt = true;
        return FromSqlite(rc, db, "open " + path);
      }
      Status s = Status::IoError("cannot open or create the cache database " + path + ": " +
                                 (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)) +
                                 " (is its directory missing or not writable?)");
      return s;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    if (!options.read_only && sqlite3_db_readonly(db, "main") == 1) {
      return Status::IoError("the cache database " + path +
                             " is read-only (check its permissions, or open it read-only)");
    }

    // quick_check: O(N) but much cheaper than integrity_check; catches a
    // truncated or overwritten file before it can fail later operations.
    {
      Stmt check;
      rc = check.Prepare(db, "PRAGMA quick_check(1)");
      if (rc == SQLITE_OK) rc = sqlite3_step(check.Use());
      if (IsCorruptionCode(rc)) {
        *corrupt = true;
        return FromSqlite(rc, db, "quick_check " + path);
      }
      if ((rc & 0xff) == SQLITE_CANTOPEN) {
        // The file itself opened: what failed is the -wal or -shm file a
        // WAL database needs beside it (SQLite only says "unable to open
        // database file"), typically because the directory is read-only.
        std::string dir = std::filesystem::path(path).parent_path().string();
        return Status::IoError("cannot open the cache database " + path + ": " +
                               sqlite3_errmsg(db) + " (it needs " + path + "-wal and -shm " +
                               "beside it: is the directory " + (dir.empty() ? "." : dir) +
                               " writable?)");
      }
      if (rc != SQLITE_ROW) return FromSqlite(rc, db, "quick_check " + path);
      std::string verdict = ColumnString(check.get(), 0);
      if (verdict != "ok") {
        *corrupt = true;
        return Status::Corrupt("quick_check " + path + ": " + verdict);
      }
    }

    if (!options.read_only) {
      // Switching a new file to WAL takes an exclusive lock. When several
      // connections open the file at once, each holds a shared lock and
      // SQLite answers SQLITE_BUSY at once (deadlock avoidance skips the busy
      // handler), so back off and retry within the busy timeout.
      Stmt wal;
      rc = wal.Prepare(db, "PRAGMA journal_mode=WAL");
      const auto give_up = std::chrono::steady_clock::now() +
                           std::chrono::milliseconds(options.busy_timeout_ms);
      for (int attempt = 0; rc == SQLITE_OK; ++attempt) {
        rc = sqlite3_step(wal.Use());
        if ((rc & 0xff) != SQLITE_BUSY || std::chrono::steady_clock::now() >= give_up) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(1 + (attempt % 8) * 3));
        rc = SQLITE_OK;
      }
      if (IsCorruptionCode(rc)) {
        *corrupt = true;
        return FromSqlite(rc, db, "journal_mode " + path);
      }
      if (rc != SQLITE_ROW) return FromSqlite(rc, db, "set WAL mode on " + path);
      std::string mode = ColumnString(wal.get(), 0);
      if (mode != "wal") *notes += "journal_mode is " + mode + " (WAL unsupported here); ";
    }
    rc = Exec(db, options.synchronous_full ? "PRAGMA synchronous=FULL"
                                           : "PRAGMA synchronous=NORMAL");
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "set synchronous on " + path);
    // Without a limit the -wal file keeps the size of the largest batch
    // ever written for as long as the connection lives; with one, SQLite
    // truncates it to the limit when it restarts the log after a checkpoint.
    {
      std::string sql = "PRAGMA journal_size_limit=" +
                        std::to_string(options.journal_size_limit_bytes < 0
                                           ? int64_t{-1}
                                           : options.journal_size_limit_bytes);
      rc = Exec(db, sql.c_str());
      if (rc != SQLITE_OK) return FromSqlite(rc, db, "set journal_size_limit on " + path);
    }

    Status s = Migrate(corrupt, notes);
    if (!s.ok()) return s;

    if (options.max_page_count > 0) {
      std::string sql = "PRAGMA max_page_count=" + std::to_string(options.max_page_count);
      rc = Exec(db, sql.c_str());
      if (rc != SQLITE_OK) return FromSqlite(rc, db, "set max_page_count");
    }
    s = PrepareStatements();
    if (!s.ok()) return s;
    return LoadUsage(notes);
  }

  // Reads the usage totals. When their row is gone (a tool, a partial
  // restore) while every entry is intact, rebuilds it from the entries, in
  // a write transaction (another process may rebuild it first), and says so
  // in *notes; a read-only store counts them without writing.
  Status LoadUsage(std::string* notes) {
    Status s = RefreshUsage();
    if (!s.IsNotFound()) return s;
    const std::string what = "rebuild the missing usage totals of " + path;
    if (options.read_only) {
      Stmt total;
      int rc = total.Prepare(db, "SELECT COALESCE(SUM(charge), 0), COUNT(*) FROM entries");
      if (rc == SQLITE_OK) rc = sqlite3_step(total.Use());
      if (rc != SQLITE_ROW) return FromSqlite(rc, db, what);
      usage_bytes.store(static_cast<uint64_t>(sqlite3_column_int64(total.get(), 0)));
      usage_entries.store(static_cast<uint64_t>(sqlite3_column_int64(total.get(), 1)));
      *notes += "the usage totals were missing from " + path + "; counted " +
                std::to_string(usage_entries.load()) + " entries (" +
                std::to_string(usage_bytes.load()) + " bytes) from its entries (read-only: "
                "not written back); ";
      return Status::Ok();
    }
    int rc = Begin();
    if (rc != SQLITE_OK) return FromSqlite(rc, db, what);
    rc = Exec(db,
              "INSERT OR IGNORE INTO usage(id, bytes, entries)"
              " SELECT 0, COALESCE(SUM(charge), 0), COUNT(*) FROM entries");
    const bool rebuilt = rc == SQLITE_OK && sqlite3_changes(db) == 1;
    if (rc == SQLITE_OK) {
      commit.Use();
      rc = StepDone(commit);
    }
    if (rc != SQLITE_OK) {
      Status st = FromSqlite(rc, db, what);
      RollbackIfOpen();
      return st;
    }
    s = RefreshUsage();
    if (!s.ok()) return s.IsNotFound() ? Status::IoError(what + ": " + s.message()) : s;
    if (rebuilt) {
      *notes += "the usage totals were missing from " + path + "; rebuilt them from its " +
                std::to_string(usage_entries.load()) + " entries (" +
                std::to_string(usage_bytes.load()) + " bytes); ";
    }
    return Status::Ok();
  }

  // TryOpen, and when the file is not a database (or fails quick_check),
  // renames it aside and creates a fresh one.
  Status OpenOrReplace(std::string* notes) {
    bool corrupt = false;
    Status s = TryOpen(&corrupt, notes);
    if (!s.ok() && corrupt && !options.read_only) {
      CloseDb();
      std::string moved_to;
      Status moved = MoveAside(&moved_to);
      if (!moved.ok()) return moved;
      *notes += "the cache database " + path + " was unreadable (" + s.message() +
                "); moved it to " + moved_to + " and started a fresh one; ";
      s = TryOpen(&corrupt, notes);
    }
    if (!s.ok()) CloseDb();
    return s;
  }

  int UserVersion(int* version) {
    Stmt v;
    int rc = v.Prepare(db, "PRAGMA user_version");
    if (rc == SQLITE_OK) rc = sqlite3_step(v.Use());
    if (rc != SQLITE_ROW) return rc;
    *version = sqlite3_column_int(v.get(), 0);
    return SQLITE_OK;
  }

  // *has_cache_tables: the schema has the entries and usage tables.
  // *other: the name of a schema object no schema version of this code
  // creates ("" when none).
  int InspectSchema(bool* has_cache_tables, std::string* other) {
    Stmt q;
    int rc = q.Prepare(db,
                       "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'");
    if (rc != SQLITE_OK) return rc;
    static const char* const kOurs[] = {"entries", "tags", "usage", "entries_by_last_access",
                                        "tags_by_tag", "entries_delete_tags", "usage_insert",
                                        "usage_delete", "usage_update"};
    int cache_tables = 0;
    sqlite3_stmt* s = q.Use();
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const std::string name = ColumnString(s, 0);
      if (name == "entries" || name == "usage") cache_tables++;
      if (other->empty() && std::find(std::begin(kOurs), std::end(kOurs), name) == std::end(kOurs)) {
        *other = name;
      }
    }
    *has_cache_tables = cache_tables == 2;
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  Status Migrate(bool* corrupt, std::string* notes) {
    int version = 0;
    int rc = UserVersion(&version);
    if (rc != SQLITE_OK) {
      *corrupt = IsCorruptionCode(rc);
      return FromSqlite(rc, db, "read schema version of " + path);
    }
    // A SQLite file this code did not create: never written (its program
    // may keep its own schema version in user_version too).
    if (version == 0 || version > kSqliteSchemaVersion) {
      bool has_cache_tables = false;
      std::string other;
      rc = InspectSchema(&has_cache_tables, &other);
      if (rc != SQLITE_OK) {
        *corrupt = IsCorruptionCode(rc);
        return FromSqlite(rc, db, "read the schema of " + path);
      }
      if ((version == 0 && !other.empty()) ||
          (version > kSqliteSchemaVersion && !has_cache_tables)) {
        return Status::IoError(
            path + " is a SQLite database of another program (schema version " +
            std::to_string(version) + ", " +
            (other.empty() ? std::string("no cache tables") : "table or index '" + other + "'") +
            "), not a cache database; left as it is: choose another path");
      }
    }
    if (version > kSqliteSchemaVersion) {
      return Status::IoError("the cache database " + path + " has schema version " +
                             std::to_string(version) + ", newer than this program's " +
                             std::to_string(kSqliteSchemaVersion) + "; upgrade preheat");
    }
    if (version == kSqliteSchemaVersion) return Status::Ok();
    if (options.read_only) {
      return Status::IoError("the cache database " + path + " has schema version " +
                             std::to_string(version) + " and needs a migration; open it writable");
    }
    // One transaction per step; re-read the version under the write lock
    // because another process may have migrated meanwhile. A fresh file
    // (version 0) is created, not migrated, so it is not reported.
    const bool fresh = version == 0;
    while (true) {
      rc = Exec(db, "BEGIN IMMEDIATE");
      if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin migration of " + path);
      rc = UserVersion(&version);
      if (rc != SQLITE_OK || version >= kSqliteSchemaVersion || version < 0) {
        Exec(db, "ROLLBACK");
        if (rc != SQLITE_OK) {
          *corrupt = IsCorruptionCode(rc);
          return FromSqlite(rc, db, "read schema version of " + path);
        }
        return Status::Ok();
      }
      rc = Exec(db, kMigrations[version]);
      std::string bump = "PRAGMA user_version=" + std::to_string(version + 1);
      if (rc == SQLITE_OK) rc = Exec(db, bump.c_str());
      if (rc == SQLITE_OK) rc = Exec(db, "COMMIT");
      if (rc != SQLITE_OK) {
        Status s = FromSqlite(rc, db,
                              "migrate " + path + " to schema " + std::to_string(version + 1));
        if (!sqlite3_get_autocommit(db)) Exec(db, "ROLLBACK");
        *corrupt = IsCorruptionCode(rc);
        return s;
      }
      if (!fresh) {
        *notes += "migrated schema " + std::to_string(version) + " -> " +
                  std::to_string(version + 1) + "; ";
      }
    }
  }

  Status PrepareStatements() {
    struct {
      Stmt* stmt;
      const char* sql;
    } const all[] = {
        // One row, no join: the tags are packed into the row.
        {&get, "SELECT value, last_access, tags FROM entries WHERE key = ?1"},
        // A put is an insert; when the key exists (no change), the old row's
        // charge and tags are read and the row is updated in place.
        {&insert,
         "INSERT INTO entries(key, value, last_access, charge, tags) VALUES(?1, ?2, ?3, ?4, ?5)"
         " ON CONFLICT(key) DO NOTHING"},
        {&find, "SELECT rowid, charge, tags IS NOT NULL FROM entries WHERE key = ?1"},
        {&update,
         "UPDATE entries SET value = ?2, last_access = ?3, charge = ?4, tags = ?5"
         " WHERE rowid = ?1"},
        {&delete_tags, "DELETE FROM tags WHERE key = ?1"},
        {&insert_tag, "INSERT OR IGNORE INTO tags(key, tag) VALUES(?1, ?2)"},
        {&remove, "DELETE FROM entries WHERE key = ?1 RETURNING charge, tags IS NOT NULL"},
        {&touch, "UPDATE entries SET last_access = ?2 WHERE key = ?1"},
        {&delete_rowid, "DELETE FROM entries WHERE rowid = ?1"},
        {&read_usage, "SELECT bytes, entries FROM usage WHERE id = 0"},
        {&add_usage,
         "UPDATE usage SET bytes = bytes + ?1, entries = entries + ?2 WHERE id = 0"
         " RETURNING bytes, entries"},
        {&set_usage, "UPDATE usage SET bytes = ?1, entries = ?2 WHERE id = 0"},
        {&begin, "BEGIN IMMEDIATE"},
        {&begin_read, "BEGIN"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&lru,
         "SELECT rowid, charge, tags IS NOT NULL, key FROM entries"
         " ORDER BY last_access, key LIMIT ?1"},
    };
    for (const auto& s : all) {
      int rc = s.stmt->Prepare(db, s.sql);
      if (rc != SQLITE_OK) return FromSqlite(rc, db, std::string("prepare ") + s.sql);
    }
    return Status::Ok();
  }

  // Renames the file and its -wal/-shm companions to "<path>.corrupt-<n>",
  // the first n not taken. Never deletes: the file may be worth a look.
  Status MoveAside(std::string* moved_to) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (int n = 1; n <= 10000; ++n) {
      std::string candidate = path + ".corrupt-" + std::to_string(n);
      if (fs::exists(candidate, ec) || fs::exists(candidate + "-wal", ec)) continue;
      fs::rename(path, candidate, ec);
      if (ec) {
        return Status::IoError("cannot rename corrupt database " + path + " to " + candidate +
                               ": " + ec.message());
      }
      // A stale WAL must not be replayed into the fresh database.
      for (const char* suffix : {"-wal", "-shm"}) {
        std::error_code ec2;
        if (fs::exists(path + suffix, ec2)) fs::rename(path + suffix, candidate + suffix, ec2);
      }
      *moved_to = candidate;
      return Status::Ok();
    }
    return Status::IoError("too many corrupt copies of " + path + " already set aside");
  }

  // ---- The file at `path` (issue #8) --------------------------------------

  SqliteStoreHealth Health() const {
    std::lock_guard<std::mutex> lock(health_mu);
    return health;
  }

  // True when the file the connection has open is no longer the file at
  // `path` (deleted, or replaced by a rename). One stat().
  bool FileMoved() {
    int moved = 0;
    if (sqlite3_file_control(db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK) {
      return false;
    }
    return moved != 0;
  }

  // REQUIRES: the worker, outside a transaction. OK when the connection is
  // on the file now at `path`: when the open file was deleted or replaced,
  // closes it and opens what is at the path (a fresh database when nothing
  // is, the file set aside when it is not a cache database); reports the
  // event in health. Errors: why the file at the path cannot be opened
  // (Open's codes); the connection is then closed and every operation
  // fails until a retry (at most every kReopenRetryInterval) succeeds.
  Status EnsureFile() {
    if (db != nullptr) {
      if (!FileMoved()) return Status::Ok();
      namespace fs = std::filesystem;
      std::error_code ec;
      const bool present = fs::exists(path, ec);
      // Our WAL's frames belong to the old file: have them checkpointed into
      // it and the WAL emptied (best effort), so they can never be replayed
      // into the file now at the path.
      Exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
      CloseDb();
      usage_bytes.store(0);
      usage_entries.store(0);
      std::string notes;
      Status s = OpenOrReplace(&notes);
      std::string event = "the cache database " + path + " was " +
                          (present ? "replaced" : "deleted") + " while open; ";
      if (!s.ok()) {
        event += "cannot open the file now at the path (" + s.ToString() + ")";
      } else if (!present) {
        event += "started a fresh one (what it held is gone with it)";
      } else if (notes.find("moved it to") != std::string::npos) {
        event += "the replacement " + notes.substr(0, notes.size() - 2);
      } else {
        event += "now using the replacement (" + std::to_string(usage_entries.load()) +
                 " entries)";
        if (!notes.empty()) event += "; " + notes.substr(0, notes.size() - 2);
      }
      {
        std::lock_guard<std::mutex> lock(health_mu);
        health.file_replaced_count++;
        health.last_file_event = Status::IoError(event);
        health.status = s;
      }
      next_reopen_try = std::chrono::steady_clock::now() + kReopenRetryInterval;
      return s;
    }
    // Closed by a failed reopen: retry, rate-limited.
    auto now = std::chrono::steady_clock::now();
    if (now < next_reopen_try) return Health().status;
    next_reopen_try = now + kReopenRetryInterval;
    std::string notes;
    Status s = OpenOrReplace(&notes);
    std::lock_guard<std::mutex> lock(health_mu);
    if (s.ok() && !health.status.ok() && !health.last_file_event.ok()) {
      health.last_file_event = Status::IoError(health.last_file_event.message() +
                                               "; opened the file at the path later");
    }
    health.status = s;
    return s;
  }

  // Before a read: EnsureFile at most every kReadCheckInterval (the old
  // file still answers reads consistently in between).
  Status EnsureFileForRead() {
    if (db == nullptr) return EnsureFile();
    auto now = std::chrono::steady_clock::now();
    if (now < next_read_check) return Status::Ok();
    next_read_check = now + kReadCheckInterval;
    return EnsureFile();
  }

  // Runs `txn` (a write transaction returning Result<T>) on the file at
  // `path`. When the file turns out to have been deleted or replaced by the
  // time the transaction committed, its effects went to the old file, so
  // it runs again on the new one (batches are idempotent: puts replace,
  // removes and touches of absent keys are no-ops). Bounded attempts.
  template <typename T, typename Txn>
  Result<T> OnCurrentFile(Txn txn) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      Status s = EnsureFile();
      if (!s.ok()) return s;
      Result<T> result = txn();
      if (!result.ok() || !FileMoved()) return result;
    }
    return Status::Unavailable("the cache database " + path +
                               " keeps being deleted or replaced while open");
  }

  // ---- Worker-side operations -------------------------------------------

  // Errors: kNotFound when the usage row is missing; else as FromSqlite.
  Status RefreshUsage() {
    sqlite3_stmt* s = read_usage.Use();
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return Status::NotFound("the usage row of " + path + " is missing");
    }
    if (rc != SQLITE_ROW) {
      Status st = FromSqlite(rc, db, "read usage");
      sqlite3_reset(s);
      return st;
    }
    usage_bytes.store(static_cast<uint64_t>(sqlite3_column_int64(s, 0)));
    usage_entries.store(static_cast<uint64_t>(sqlite3_column_int64(s, 1)));
    sqlite3_reset(s);
    return Status::Ok();
  }

  StoreUsage Usage() const { return StoreUsage{usage_bytes.load(), usage_entries.load()}; }

  // Runs a step that returns no rows; SQLITE_DONE is success.
  int StepDone(Stmt& stmt) {
    int rc = sqlite3_step(stmt.get());
    sqlite3_reset(stmt.get());
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  void RollbackIfOpen() {
    if (!sqlite3_get_autocommit(db)) {
      rollback.Use();
      StepDone(rollback);
    }
  }

  int Begin() {
    begin.Use();
    return StepDone(begin);
  }

  // Inside a write transaction: adds the deltas to the usage row and reads
  // the totals back into *out.
  int AddUsage(int64_t delta_bytes, int64_t delta_entries, StoreUsage* out) {
    sqlite3_stmt* s;
    if (delta_bytes == 0 && delta_entries == 0) {
      s = read_usage.Use();
    } else {
      s = add_usage.Use();
      sqlite3_bind_int64(s, 1, delta_bytes);
      sqlite3_bind_int64(s, 2, delta_entries);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
      out->bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 0));
      out->entries = static_cast<uint64_t>(sqlite3_column_int64(s, 1));
      rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_CORRUPT;  // the usage row is missing
    }
    sqlite3_reset(s);
    return rc;
  }

  // Commits and publishes `usage`; rolls back on failure.
  Result<StoreUsage> Commit(const StoreUsage& usage, const char* what) {
    commit.Use();
    int rc = StepDone(commit);
    if (rc != SQLITE_OK) {
      Status st = FromSqlite(rc, db, std::string("commit ") + what);
      RollbackIfOpen();
      return st;
    }
    usage_bytes.store(usage.bytes);
    usage_entries.store(usage.entries);
    return usage;
  }

  Result<StoreRecord> DoGet(const std::string& key) {
    if (!read_group) {
      Status ready = EnsureFileForRead();
      if (!ready.ok()) return ready;
    }
    int rc = SQLITE_OK;
    return ReadRow(key, &rc);
  }

  // The Get itself; *rc is the step's result code.
  Result<StoreRecord> ReadRow(const std::string& key, int* rc_out) {
    sqlite3_stmt* s = get.Use();
    BindText(s, 1, key);
    int rc = sqlite3_step(s);
    *rc_out = rc;
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return Status::NotFound("no entry for key " + key);
    }
    if (rc != SQLITE_ROW) {
      Status st = FromSqlite(rc, db, "get");
      sqlite3_reset(s);
      return st;
    }
    StoreRecord record;
    record.key = key;
    record.value = ColumnString(s, 0);
    record.last_access = Instant{sqlite3_column_int64(s, 1)};
    bool tags_ok = ColumnTags(s, 2, &record.tags);
    sqlite3_reset(s);
    if (!tags_ok) return Status::Corrupt("malformed tags for key " + key);
    return record;
  }

  int InsertTags(const std::string& key, const std::vector<std::string>& tags) {
    for (const std::string& tag : tags) {
      sqlite3_stmt* t = insert_tag.Use();
      BindText(t, 1, key);
      BindText(t, 2, tag);
      int rc = StepDone(insert_tag);
      if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
  }
  int DeleteTags(const std::string& key) {
    BindText(delete_tags.Use(), 1, key);
    return StepDone(delete_tags);
  }

  // Applies one change inside the batch's transaction and adds its effect on
  // the totals to *bytes / *entries.
  int ApplyOne(const StoreWrite& w, std::vector<std::string>* tags, std::string* packed,
               int64_t* bytes, int64_t* entries) {
    const StoreRecord& r = w.record;
    switch (w.kind) {
      case StoreWrite::Kind::kPut: {
        const auto charge = static_cast<sqlite3_int64>(r.ChargeBytes());
        tags->clear();
        packed->clear();
        if (!r.tags.empty()) {
          SortedUniqueTags(r.tags, tags);
          *packed = PackTags(*tags);
        }
        sqlite3_stmt* s = insert.Use();
        BindText(s, 1, r.key);
        BindBlob(s, 2, r.value);
        sqlite3_bind_int64(s, 3, r.last_access.unix_ms);
        sqlite3_bind_int64(s, 4, charge);
        if (!tags->empty()) BindBlob(s, 5, *packed);
        int rc = StepDone(insert);
        if (rc != SQLITE_OK) return rc;
        if (sqlite3_changes(db) == 1) {
          *bytes += charge;
          *entries += 1;
          return InsertTags(r.key, *tags);
        }
        // The key exists: replace the row in place.
        sqlite3_stmt* f = find.Use();
        BindText(f, 1, r.key);
        rc = sqlite3_step(f);
        if (rc != SQLITE_ROW) {
          sqlite3_reset(f);
          return rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
        }
        const sqlite3_int64 rowid = sqlite3_column_int64(f, 0);
        const sqlite3_int64 old_charge = sqlite3_column_int64(f, 1);
        const bool old_tags = sqlite3_column_int(f, 2) != 0;
        sqlite3_reset(f);
        sqlite3_stmt* u = update.Use();
        sqlite3_bind_int64(u, 1, rowid);
        BindBlob(u, 2, r.value);
        sqlite3_bind_int64(u, 3, r.last_access.unix_ms);
        sqlite3_bind_int64(u, 4, charge);
        if (!tags->empty()) BindBlob(u, 5, *packed);
        rc = StepDone(update);
        if (rc != SQLITE_OK) return rc;
        *bytes += charge - old_charge;
        if (old_tags) {
          rc = DeleteTags(r.key);
          if (rc != SQLITE_OK) return rc;
        }
        return InsertTags(r.key, *tags);
      }
      case StoreWrite::Kind::kRemove:
        return RemoveKey(r.key, bytes, entries);
      case StoreWrite::Kind::kTouch: {
        sqlite3_stmt* s = touch.Use();
        BindText(s, 1, r.key);
        sqlite3_bind_int64(s, 2, r.last_access.unix_ms);
        return StepDone(touch);
      }
    }
    return SQLITE_MISUSE;
  }

  int RemoveKey(const std::string& key, int64_t* bytes, int64_t* entries) {
    sqlite3_stmt* s = remove.Use();
    BindText(s, 1, key);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      return SQLITE_OK;  // absent
    }
    if (rc != SQLITE_ROW) {
      sqlite3_reset(s);
      return rc;
    }
    *bytes -= sqlite3_column_int64(s, 0);
    *entries -= 1;
    const bool had_tags = sqlite3_column_int(s, 1) != 0;
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return rc;
    return had_tags ? DeleteTags(key) : SQLITE_OK;
  }

  Result<StoreUsage> WriteTxn(const std::vector<StoreWrite>& batch) {
    int rc = Begin();
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin write batch");
    int64_t bytes = 0, entries = 0;
    std::vector<std::string> tags;
    std::string packed;
    for (const StoreWrite& w : batch) {
      rc = ApplyOne(w, &tags, &packed, &bytes, &entries);
      if (rc != SQLITE_OK) break;
    }
    StoreUsage usage;
    if (rc == SQLITE_OK) rc = AddUsage(bytes, entries, &usage);
    if (rc != SQLITE_OK) {
      Status st = FromSqlite(rc, db, "write batch");
      RollbackIfOpen();
      return st;
    }
    return Commit(usage, "write batch");
  }

  Result<StoreUsage> DoWrite(const std::vector<StoreWrite>& batch) {
    return OnCurrentFile<StoreUsage>([&] { return WriteTxn(batch); });
  }

  // Builds "WHERE ..." for a selector over table alias e; binds from ?3 on.
  static std::string SelectorSql(const StoreSelector& sel, bool* has_upper, std::string* upper) {
    *has_upper = false;
    switch (sel.kind) {
      case StoreSelector::Kind::kKey:
        return "e.key = ?3";
      case StoreSelector::Kind::kPrefix:
        *has_upper = PrefixSuccessor(sel.value, upper);
        return *has_upper ? "e.key >= ?3 AND e.key < ?4" : "e.key >= ?3";
      case StoreSelector::Kind::kTag:
        return "e.key IN (SELECT key FROM tags WHERE tag = ?3)";
      case StoreSelector::Kind::kAll:
        return "1";
    }
    return "0";
  }

  static void BindSelector(sqlite3_stmt* s, const StoreSelector& sel, bool has_upper,
                           const std::string& upper) {
    if (sel.kind != StoreSelector::Kind::kAll) BindText(s, 3, sel.value);
    if (has_upper) BindText(s, 4, upper);
  }

  Result<uint64_t> RemoveTxn(const StoreSelector& sel) {
    int rc = Begin();
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin remove");
    uint64_t removed = 0;
    StoreUsage usage;
    if (sel.kind == StoreSelector::Kind::kAll) {
      rc = AddUsage(0, 0, &usage);
      if (rc == SQLITE_OK) removed = usage.entries;
      if (rc == SQLITE_OK) rc = Exec(db, "DELETE FROM entries; DELETE FROM tags");
      if (rc == SQLITE_OK) {
        sqlite3_stmt* s = set_usage.Use();
        sqlite3_bind_int64(s, 1, 0);
        sqlite3_bind_int64(s, 2, 0);
        rc = StepDone(set_usage);
        usage = StoreUsage{};
      }
    } else {
      bool has_upper = false;
      std::string upper;
      std::string sql = "DELETE FROM entries AS e WHERE " + SelectorSql(sel, &has_upper, &upper) +
                        " RETURNING charge, CASE WHEN tags IS NOT NULL THEN key END";
      Stmt stmt;
      rc = stmt.Prepare(db, sql.c_str());
      int64_t bytes = 0;
      std::vector<std::string> tagged;
      if (rc == SQLITE_OK) {
        sqlite3_stmt* s = stmt.Use();
        BindSelector(s, sel, has_upper, upper);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
          removed++;
          bytes -= sqlite3_column_int64(s, 0);
          if (sqlite3_column_type(s, 1) != SQLITE_NULL) tagged.push_back(ColumnString(s, 1));
        }
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
      }
      for (size_t i = 0; rc == SQLITE_OK && i < tagged.size(); ++i) rc = DeleteTags(tagged[i]);
      if (rc == SQLITE_OK) rc = AddUsage(bytes, -static_cast<int64_t>(removed), &usage);
    }
    if (rc != SQLITE_OK) {
      Status st = FromSqlite(rc, db, "remove");
      RollbackIfOpen();
      return st;
    }
    Result<StoreUsage> committed = Commit(usage, "remove");
    if (!committed.ok()) return committed.status();
    return removed;
  }

  Result<uint64_t> DoRemoveMatching(const StoreSelector& sel) {
    return OnCurrentFile<uint64_t>([&] { return RemoveTxn(sel); });
  }

  Result<std::vector<StoreRecordMeta>> DoScan(const StoreSelector& sel,
                                              const std::string& start_after, uint32_t limit) {
    Status ready = EnsureFileForRead();
    if (!ready.ok()) return ready;
    bool has_upper = false;
    std::string upper;
    std::string sql = "SELECT e.key, e.last_access, e.charge, e.tags FROM entries AS e WHERE " +
                      SelectorSql(sel, &has_upper, &upper) +
                      (start_after.empty() ? " AND ?1 IS NULL" : " AND e.key > ?1") +
                      " ORDER BY e.key LIMIT ?2";
    Stmt stmt;
    int rc = stmt.Prepare(db, sql.c_str());
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "prepare scan");
    sqlite3_stmt* s = stmt.Use();
    if (!start_after.empty()) BindText(s, 1, start_after);
    sqlite3_bind_int64(s, 2, limit);
    BindSelector(s, sel, has_upper, upper);
    std::vector<StoreRecordMeta> metas;
    bool tags_ok = true;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      StoreRecordMeta m;
      m.key = ColumnString(s, 0);
      m.last_access = Instant{sqlite3_column_int64(s, 1)};
      m.charge_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
      tags_ok = ColumnTags(s, 3, &m.tags) && tags_ok;
      metas.push_back(std::move(m));
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return FromSqlite(rc, db, "scan");
    if (!tags_ok) return Status::Corrupt("scan: malformed tags in " + path);
    return metas;
  }

  Result<StoreUsage> EvictTxn(uint64_t target_bytes, uint64_t target_entries) {
    int rc = Begin();
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin evict");
    StoreUsage start;
    rc = AddUsage(0, 0, &start);
    int64_t bytes = static_cast<int64_t>(start.bytes);
    int64_t entries = static_cast<int64_t>(start.entries);
    auto over = [&] {
      return (bytes > 0 && static_cast<uint64_t>(bytes) > target_bytes) ||
             (entries > 0 && static_cast<uint64_t>(entries) > target_entries);
    };
    // Least recently accessed first, a chunk at a time: victims are
    // collected before deleting because a table must not change under its
    // own cursor.
    struct Victim {
      sqlite3_int64 rowid;
      sqlite3_int64 charge;
      bool tagged;
      std::string key;
    };
    std::vector<Victim> victims;
    while (rc == SQLITE_OK && over()) {
      victims.clear();
      sqlite3_stmt* s = lru.Use();
      sqlite3_bind_int64(s, 1, 256);
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        bool tagged = sqlite3_column_int(s, 2) != 0;
        victims.push_back(Victim{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1), tagged,
                                 tagged ? ColumnString(s, 3) : std::string()});
      }
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) break;
      rc = SQLITE_OK;
      if (victims.empty()) break;
      for (const Victim& v : victims) {
        sqlite3_bind_int64(delete_rowid.Use(), 1, v.rowid);
        rc = StepDone(delete_rowid);
        if (rc == SQLITE_OK && v.tagged) rc = DeleteTags(v.key);
        if (rc != SQLITE_OK) break;
        bytes -= v.charge;
        entries -= 1;
        if (!over()) break;
      }
    }
    StoreUsage usage;
    if (rc == SQLITE_OK) {
      rc = AddUsage(bytes - static_cast<int64_t>(start.bytes),
                    entries - static_cast<int64_t>(start.entries), &usage);
    }
    if (rc != SQLITE_OK) {
      Status st = FromSqlite(rc, db, "evict");
      RollbackIfOpen();
      return st;
    }
    return Commit(usage, "evict");
  }

  Result<StoreUsage> DoEvict(uint64_t target_bytes, uint64_t target_entries) {
    return OnCurrentFile<StoreUsage>([&] { return EvictTxn(target_bytes, target_entries); });
  }

  // ---- Queue --------------------------------------------------------------

  void PostReady(std::vector<Completion>* ready) {
    if (ready->empty()) return;
    Instant now = options.clock();
    if (ready->size() == 1) {
      options.post([c = std::move(ready->front()), now]() mutable { c(now); });
    } else {
      options.post([batch = std::move(*ready), now]() mutable {
        for (Completion& c : batch) c(now);
      });
    }
    ready->clear();
  }

  // Consecutive queued Gets run in one read transaction (one snapshot, and
  // SQLite takes and releases its WAL read lock once for all of them rather
  // than once per Get). They were all queued before any later write, so one
  // snapshot is what running them back to back would see anyway.
  void BeginReadGroup() {
    if (!EnsureFileForRead().ok() || db == nullptr) return;
    begin_read.Use();
    read_group = StepDone(begin_read) == SQLITE_OK;
  }
  void EndReadGroup() {
    if (!read_group) return;
    read_group = false;
    commit.Use();
    if (StepDone(commit) != SQLITE_OK) RollbackIfOpen();
  }

  void Run() {
    std::deque<Task> local;
    std::vector<Completion> ready;
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      // Never beside a Get reading on its caller's thread (TryInlineGet):
      // the connection is one, opened without SQLite's mutex.
      cv.wait(lock, [&] { return !inline_active && (closing || !queue.empty()); });
      if (queue.empty()) return;  // closing and drained
      local.swap(queue);
      worker_active = true;
      lock.unlock();
      while (!local.empty()) {
        Task task = std::move(local.front());
        local.pop_front();
        const bool more_reads = !local.empty() && local.front().quick;
        if (!task.quick) {
          PostReady(&ready);
        } else if (!read_group && more_reads) {
          BeginReadGroup();
        }
        ready.push_back(task.run());
        queued.fetch_sub(1, std::memory_order_relaxed);
        const bool post = !task.quick || ready.size() >= kCompletionBatchMax;
        if (read_group && (!more_reads || post)) EndReadGroup();
        if (post) PostReady(&ready);
      }
      PostReady(&ready);
      lock.lock();
      worker_active = false;
    }
  }

  // A Get on the caller's thread, when that is safe and cheap: nothing is
  // queued or running on the worker (so call order holds and the worker's
  // state is quiescent), the connection is open, and the periodic
  // moved-file check is not due. The read never waits for another
  // process's lock: with the busy timeout lifted for its duration, a busy
  // database makes it give up. Returns false (nothing done; queue the Get)
  // in every other case (nullopt).
  //
  // Why: handing a Get to the worker and its completion back costs two
  // thread wake-ups, more than the indexed SELECT itself (issue #3 budget:
  // a cold hit within 1.3x of a raw prepared SELECT). The connection stays
  // the store's only one; the worker still runs every write, scan and
  // file check, and any read that would block.
  std::optional<Result<StoreRecord>> TryInlineGet(const std::string& key) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closing || worker_active || inline_active || !queue.empty() || db == nullptr) {
        return std::nullopt;
      }
      inline_active = true;
    }
    std::optional<Result<StoreRecord>> out;
    if (std::chrono::steady_clock::now() < next_read_check) {
      sqlite3_busy_timeout(db, 0);
      int rc = SQLITE_OK;
      Result<StoreRecord> r = ReadRow(key, &rc);
      sqlite3_busy_timeout(db, options.busy_timeout_ms);
      const int primary = rc & 0xff;
      if (primary != SQLITE_BUSY && primary != SQLITE_LOCKED) out.emplace(std::move(r));
    }
    bool wake = false;
    {
      std::lock_guard<std::mutex> lock(mu);
      inline_active = false;
      wake = !queue.empty() || closing;  // the worker, or a Close waiting for this read
    }
    if (wake) cv.notify_all();
    return out;
  }

  // Queues `work` (returning a Result<T>) to run on the worker, which then
  // posts done(op, now, result). When the store is closed or the queue is
  // full, posts done with kUnavailable instead. `done` is moved, never
  // copied, and nothing is built for the rejection unless it happens: this
  // is on every operation's path.
  template <typename T, typename Done, typename Work>
  void Submit(OpId op, bool quick, Done done, Work work) {
    Status rejected;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closing) {
        rejected = Status::Unavailable("store " + path + " is closed");
      } else if (queued.load(std::memory_order_relaxed) >= options.queue_max) {
        rejected = Status::Unavailable("store queue is full");
      } else {
        queued.fetch_add(1, std::memory_order_relaxed);
        queue.push_back(Task{quick, [op, done = std::move(done),
                                     work = std::move(work)]() mutable -> Completion {
                               return [op, done = std::move(done),
                                       result = Result<T>(work())](Instant now) mutable {
                                 done(op, now, std::move(result));
                               };
                             }});
      }
    }
    if (rejected.ok()) {
      cv.notify_one();
      return;
    }
    Instant now = options.clock();
    options.post(
        [done = std::move(done), op, now, result = Result<T>(std::move(rejected))]() mutable {
          done(op, now, std::move(result));
        });
  }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SqliteStore::~SqliteStore() { Close(); }

void SqliteStore::Close() {
  if (!impl_) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closing = true;
  }
  impl_->cv.notify_all();
  if (impl_->worker.joinable()) impl_->worker.join();
  {
    // A Get reading on its caller's thread (TryInlineGet) finishes on the
    // connection before it is closed.
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->cv.wait(lock, [this] { return !impl_->inline_active; });
  }
  impl_->CloseDb();
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path,
                                                       SqliteStoreOptions options) {
  if (path.empty()) return Status::InvalidArgument("empty database path");
  if (!options.post || !options.clock) {
    return Status::InvalidArgument("SqliteStoreOptions needs post and clock");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = std::move(options);

  Status s = impl->OpenOrReplace(&impl->report);
  if (!s.ok()) return s;
  if (impl->report.size() >= 2) impl->report.resize(impl->report.size() - 2);  // trailing "; "
  impl->next_read_check = std::chrono::steady_clock::now() + kReadCheckInterval;
  Impl* raw = impl.get();
  raw->worker = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

const std::string& SqliteStore::open_report() const { return impl_->report; }
const std::string& SqliteStore::path() const { return impl_->path; }
preheat::StoreUsage SqliteStore::usage() const { return impl_->Usage(); }
SqliteStoreHealth SqliteStore::health() const { return impl_->Health(); }

void SqliteStore::Get(OpId op, const std::string& key, GetDone done) {
  Impl* impl = impl_.get();
  if (auto read = impl->TryInlineGet(key)) {
    Instant now = impl->options.clock();
    impl->options.post(
        [done = std::move(done), op, now, result = std::move(*read)]() mutable {
          done(op, now, std::move(result));
        });
    return;
  }
  impl->Submit<StoreRecord>(op, true, std::move(done), [impl, key] { return impl->DoGet(key); });
}

void SqliteStore::Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) {
  Impl* impl = impl_.get();
  impl->Submit<StoreUsage>(op, false, std::move(done),
                           [impl, batch = std::move(batch)] { return impl->DoWrite(batch); });
}

void SqliteStore::RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) {
  Impl* impl = impl_.get();
  impl->Submit<uint64_t>(op, false, std::move(done),
                         [impl, selector] { return impl->DoRemoveMatching(selector); });
}

void SqliteStore::Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
                       uint32_t limit, ScanDone done) {
  Impl* impl = impl_.get();
  impl->Submit<std::vector<StoreRecordMeta>>(
      op, false, std::move(done), [impl, selector, start_after_key, limit] {
        return impl->DoScan(selector, start_after_key, limit);
      });
}

void SqliteStore::Evict(OpId op, uint64_t target_bytes, uint64_t target_entries,
                        EvictDone done) {
  Impl* impl = impl_.get();
  impl->Submit<StoreUsage>(op, false, std::move(done), [impl, target_bytes, target_entries] {
    return impl->DoEvict(target_bytes, target_entries);
  });
}

}  // namespace preheat_native

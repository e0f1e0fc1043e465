#include "preheat_native/sqlite_store.h"

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
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
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSqliteSchemaVersion,
              "one migration per schema version");

}  // namespace

struct SqliteStore::Impl {
  std::string path;
  SqliteStoreOptions options;
  std::string report;
  sqlite3* db = nullptr;

  Stmt get, get_tags, put, delete_tags, insert_tag, remove, touch, read_usage, begin, commit,
      rollback, lru;

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;  // guarded by mu
  bool closing = false;                     // guarded by mu
  std::thread worker;

  std::atomic<uint64_t> usage_bytes{0};
  std::atomic<uint64_t> usage_entries{0};

  ~Impl() { CloseDb(); }

  void CloseDb() {
    // Statements first: sqlite3_close_v2 would otherwise defer the close.
    for (Stmt* s : {&get, &get_tags, &put, &delete_tags, &insert_tag, &remove, &touch,
                    &read_usage, &begin, &commit, &rollback, &lru}) {
      s->Prepare(nullptr, nullptr);
    }
    if (db != nullptr) sqlite3_close_v2(db);
    db = nullptr;
  }

  // ---- Open ---------------------------------------------------------------

  // Opens and checks the file. Sets *corrupt when the file should be moved
  // aside rather than reported.
  Status TryOpen(bool* corrupt) {
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
      if (mode != "wal") report += "journal_mode is " + mode + " (WAL unsupported here); ";
    }
    rc = Exec(db, options.synchronous_full ? "PRAGMA synchronous=FULL"
                                           : "PRAGMA synchronous=NORMAL");
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "set synchronous on " + path);

    Status s = Migrate(corrupt);
    if (!s.ok()) return s;

    if (options.max_page_count > 0) {
      std::string sql = "PRAGMA max_page_count=" + std::to_string(options.max_page_count);
      rc = Exec(db, sql.c_str());
      if (rc != SQLITE_OK) return FromSqlite(rc, db, "set max_page_count");
    }
    s = PrepareStatements();
    if (!s.ok()) return s;
    return RefreshUsage();
  }

  int UserVersion(int* version) {
    Stmt v;
    int rc = v.Prepare(db, "PRAGMA user_version");
    if (rc == SQLITE_OK) rc = sqlite3_step(v.Use());
    if (rc != SQLITE_ROW) return rc;
    *version = sqlite3_column_int(v.get(), 0);
    return SQLITE_OK;
  }

  Status Migrate(bool* corrupt) {
    int version = 0;
    int rc = UserVersion(&version);
    if (rc != SQLITE_OK) {
      *corrupt = IsCorruptionCode(rc);
      return FromSqlite(rc, db, "read schema version of " + path);
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
        report += "migrated schema " + std::to_string(version) + " -> " +
                  std::to_string(version + 1) + "; ";
      }
    }
  }

  Status PrepareStatements() {
    struct {
      Stmt* stmt;
      const char* sql;
    } const all[] = {
        // One statement (one read transaction) for the row and its tags: the
        // tags match the value even when another process writes meanwhile,
        // and a hit costs one step instead of two statements.
        {&get,
         "SELECT e.value, e.last_access, t.tag FROM entries AS e LEFT JOIN tags AS t"
         " ON t.key = e.key WHERE e.key = ?1 ORDER BY t.tag"},
        {&get_tags, "SELECT tag FROM tags WHERE key = ?1 ORDER BY tag"},
        {&put,
         "INSERT INTO entries(key, value, last_access, charge) VALUES(?1, ?2, ?3, ?4)"
         " ON CONFLICT(key) DO UPDATE SET value = excluded.value,"
         " last_access = excluded.last_access, charge = excluded.charge"},
        {&delete_tags, "DELETE FROM tags WHERE key = ?1"},
        {&insert_tag, "INSERT OR IGNORE INTO tags(key, tag) VALUES(?1, ?2)"},
        {&remove, "DELETE FROM entries WHERE key = ?1"},
        {&touch, "UPDATE entries SET last_access = ?2 WHERE key = ?1"},
        {&read_usage, "SELECT bytes, entries FROM usage WHERE id = 0"},
        {&begin, "BEGIN IMMEDIATE"},
        {&commit, "COMMIT"},
        {&rollback, "ROLLBACK"},
        {&lru, "SELECT key FROM entries ORDER BY last_access, key LIMIT ?1"},
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

  // ---- Worker-side operations -------------------------------------------

  Status RefreshUsage() {
    sqlite3_stmt* s = read_usage.Use();
    int rc = sqlite3_step(s);
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

  Result<StoreRecord> DoGet(const std::string& key) {
    sqlite3_stmt* s = get.Use();
    BindText(s, 1, key);
    int rc = sqlite3_step(s);
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
    // One row per tag (one row with a NULL tag when there is none).
    do {
      if (sqlite3_column_type(s, 2) != SQLITE_NULL) record.tags.push_back(ColumnString(s, 2));
    } while ((rc = sqlite3_step(s)) == SQLITE_ROW);
    if (rc != SQLITE_DONE) {
      Status st = FromSqlite(rc, db, "get");
      sqlite3_reset(s);
      return st;
    }
    sqlite3_reset(s);
    return record;
  }

  Status ReadTags(const std::string& key, std::vector<std::string>* tags) {
    sqlite3_stmt* t = get_tags.Use();
    BindText(t, 1, key);
    int rc;
    while ((rc = sqlite3_step(t)) == SQLITE_ROW) tags->push_back(ColumnString(t, 0));
    sqlite3_reset(t);
    if (rc != SQLITE_DONE) return FromSqlite(rc, db, "read tags");
    return Status::Ok();
  }

  int ApplyOne(const StoreWrite& w) {
    const StoreRecord& r = w.record;
    switch (w.kind) {
      case StoreWrite::Kind::kPut: {
        sqlite3_stmt* s = put.Use();
        BindText(s, 1, r.key);
        BindBlob(s, 2, r.value);
        sqlite3_bind_int64(s, 3, r.last_access.unix_ms);
        sqlite3_bind_int64(s, 4, static_cast<sqlite3_int64>(r.ChargeBytes()));
        int rc = StepDone(put);
        if (rc != SQLITE_OK) return rc;
        BindText(delete_tags.Use(), 1, r.key);
        rc = StepDone(delete_tags);
        if (rc != SQLITE_OK) return rc;
        for (const std::string& tag : r.tags) {
          sqlite3_stmt* t = insert_tag.Use();
          BindText(t, 1, r.key);
          BindText(t, 2, tag);
          rc = StepDone(insert_tag);
          if (rc != SQLITE_OK) return rc;
        }
        return SQLITE_OK;
      }
      case StoreWrite::Kind::kRemove:
        BindText(remove.Use(), 1, r.key);
        return StepDone(remove);
      case StoreWrite::Kind::kTouch: {
        sqlite3_stmt* s = touch.Use();
        BindText(s, 1, r.key);
        sqlite3_bind_int64(s, 2, r.last_access.unix_ms);
        return StepDone(touch);
      }
    }
    return SQLITE_MISUSE;
  }

  Result<StoreUsage> DoWrite(const std::vector<StoreWrite>& batch) {
    begin.Use();
    int rc = StepDone(begin);
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin write batch");
    for (const StoreWrite& w : batch) {
      rc = ApplyOne(w);
      if (rc != SQLITE_OK) {
        Status st = FromSqlite(rc, db, "write batch");
        RollbackIfOpen();
        return st;
      }
    }
    commit.Use();
    rc = StepDone(commit);
    if (rc != SQLITE_OK) {
      Status st = FromSqlite(rc, db, "commit write batch");
      RollbackIfOpen();
      return st;
    }
    Status st = RefreshUsage();
    if (!st.ok()) return st;
    return Usage();
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

  Result<uint64_t> DoRemoveMatching(const StoreSelector& sel) {
    bool has_upper = false;
    std::string upper;
    std::string sql =
        "DELETE FROM entries AS e WHERE " + SelectorSql(sel, &has_upper, &upper);
    Stmt stmt;
    int rc = stmt.Prepare(db, sql.c_str());
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "prepare remove");
    BindSelector(stmt.Use(), sel, has_upper, upper);
    begin.Use();
    rc = StepDone(begin);
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin remove");
    rc = StepDone(stmt);
    if (rc == SQLITE_OK) {
      uint64_t removed = static_cast<uint64_t>(sqlite3_changes64(db));
      commit.Use();
      rc = StepDone(commit);
      if (rc == SQLITE_OK) {
        Status st = RefreshUsage();
        if (!st.ok()) return st;
        return removed;
      }
    }
    Status st = FromSqlite(rc, db, "remove");
    RollbackIfOpen();
    return st;
  }

  Result<std::vector<StoreRecordMeta>> DoScan(const StoreSelector& sel,
                                              const std::string& start_after, uint32_t limit) {
    bool has_upper = false;
    std::string upper;
    std::string sql = "SELECT e.key, e.last_access, e.charge FROM entries AS e WHERE " +
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
    // One read transaction, so tags match the rows listed.
    rc = Exec(db, "BEGIN");
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin scan");
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      StoreRecordMeta m;
      m.key = ColumnString(s, 0);
      m.last_access = Instant{sqlite3_column_int64(s, 1)};
      m.charge_bytes = static_cast<uint64_t>(sqlite3_column_int64(s, 2));
      metas.push_back(std::move(m));
    }
    sqlite3_reset(s);
    Status st = rc == SQLITE_DONE ? Status::Ok() : FromSqlite(rc, db, "scan");
    for (size_t i = 0; st.ok() && i < metas.size(); ++i) st = ReadTags(metas[i].key, &metas[i].tags);
    RollbackIfOpen();  // read-only transaction: rollback == commit
    if (!st.ok()) return st;
    return metas;
  }

  Result<StoreUsage> DoEvict(uint64_t target_bytes, uint64_t target_entries) {
    begin.Use();
    int rc = StepDone(begin);
    if (rc != SQLITE_OK) return FromSqlite(rc, db, "begin evict");
    Status st = RefreshUsage();
    // Least recently accessed first, a chunk at a time: keys are collected
    // before deleting because a table must not change under its own cursor.
    while (st.ok() && (usage_bytes.load() > target_bytes || usage_entries.load() > target_entries)) {
      std::vector<std::string> victims;
      sqlite3_stmt* s = lru.Use();
      sqlite3_bind_int64(s, 1, 256);
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) victims.push_back(ColumnString(s, 0));
      sqlite3_reset(s);
      if (rc != SQLITE_DONE) {
        st = FromSqlite(rc, db, "evict");
        break;
      }
      if (victims.empty()) break;
      for (const std::string& key : victims) {
        BindText(remove.Use(), 1, key);
        rc = StepDone(remove);
        if (rc != SQLITE_OK) break;
        st = RefreshUsage();
        if (!st.ok()) break;
        if (usage_bytes.load() <= target_bytes && usage_entries.load() <= target_entries) break;
      }
      if (rc != SQLITE_OK) st = FromSqlite(rc, db, "evict");
    }
    if (st.ok()) {
      commit.Use();
      rc = StepDone(commit);
      if (rc != SQLITE_OK) st = FromSqlite(rc, db, "commit evict");
    }
    if (!st.ok()) {
      RollbackIfOpen();
      RefreshUsage();  // the in-transaction totals were rolled back too
      return st;
    }
    return Usage();
  }

  // ---- Queue --------------------------------------------------------------

  void Run() {
    std::unique_lock<std::mutex> lock(mu);
    while (true) {
      cv.wait(lock, [&] { return closing || !queue.empty(); });
      if (queue.empty()) return;  // closing and drained
      std::function<void()> task = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  // Queues `work` (returning a Result<T>) to run on the worker, which then
  // posts done(op, now, result). When the store is closed or the queue is
  // full, posts done with kUnavailable instead. `done` is moved, never
  // copied, and nothing is built for the rejection unless it happens: this
  // is on every operation's path.
  template <typename T, typename Done, typename Work>
  void Submit(OpId op, Done done, Work work) {
    Status rejected;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closing) {
        rejected = Status::Unavailable("store " + path + " is closed");
      } else if (queue.size() >= options.queue_max) {
        rejected = Status::Unavailable("store queue is full");
      } else {
        queue.emplace_back([this, op, done = std::move(done), work = std::move(work)]() mutable {
          Deliver(std::move(done), op, Result<T>(work()));
        });
      }
    }
    if (rejected.ok()) {
      cv.notify_one();
      return;
    }
    Deliver(std::move(done), op, Result<T>(std::move(rejected)));
  }

  template <typename Done, typename T>
  void Deliver(Done done, OpId op, Result<T> result) {
    Instant now = options.clock();
    options.post([done = std::move(done), op, now, result = std::move(result)]() mutable {
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

  bool corrupt = false;
  Status s = impl->TryOpen(&corrupt);
  if (!s.ok() && corrupt && !impl->options.read_only) {
    impl->CloseDb();
    std::string moved_to;
    Status moved = impl->MoveAside(&moved_to);
    if (!moved.ok()) return moved;
    impl->report += "the cache database " + path + " was unreadable (" + s.message() +
                    "); moved it to " + moved_to + " and started a fresh one; ";
    s = impl->TryOpen(&corrupt);
  }
  if (!s.ok()) return s;
  if (!impl->report.empty() && impl->report.size() >= 2) {
    impl->report.resize(impl->report.size() - 2);  // trailing "; "
  }
  Impl* raw = impl.get();
  raw->worker = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

const std::string& SqliteStore::open_report() const { return impl_->report; }
const std::string& SqliteStore::path() const { return impl_->path; }
preheat::StoreUsage SqliteStore::usage() const { return impl_->Usage(); }

void SqliteStore::Get(OpId op, const std::string& key, GetDone done) {
  Impl* impl = impl_.get();
  impl->Submit<StoreRecord>(op, std::move(done), [impl, key] { return impl->DoGet(key); });
}

void SqliteStore::Write(OpId op, std::vector<StoreWrite> batch, WriteDone done) {
  Impl* impl = impl_.get();
  impl->Submit<StoreUsage>(op, std::move(done),
                           [impl, batch = std::move(batch)] { return impl->DoWrite(batch); });
}

void SqliteStore::RemoveMatching(OpId op, const StoreSelector& selector, RemoveDone done) {
  Impl* impl = impl_.get();
  impl->Submit<uint64_t>(op, std::move(done),
                         [impl, selector] { return impl->DoRemoveMatching(selector); });
}

void SqliteStore::Scan(OpId op, const StoreSelector& selector, const std::string& start_after_key,
                       uint32_t limit, ScanDone done) {
  Impl* impl = impl_.get();
  impl->Submit<std::vector<StoreRecordMeta>>(
      op, std::move(done), [impl, selector, start_after_key, limit] {
        return impl->DoScan(selector, start_after_key, limit);
      });
}

void SqliteStore::Evict(OpId op, uint64_t target_bytes, uint64_t target_entries,
                        EvictDone done) {
  Impl* impl = impl_.get();
  impl->Submit<StoreUsage>(op, std::move(done), [impl, target_bytes, target_entries] {
    return impl->DoEvict(target_bytes, target_entries);
  });
}

}  // namespace preheat_native

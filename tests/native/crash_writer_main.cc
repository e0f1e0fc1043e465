// Crash-safety helper for crash_test.sh.
//   crash_writer write DB FIRST   writes batches FIRST, FIRST+1, ... of
//                                 kBatchRecords records each through
//                                 SqliteStore, printing "committed N" once
//                                 batch N's Write has completed; runs until
//                                 killed.
//   crash_writer check DB LOG     after a SIGKILL: integrity_check is ok,
//                                 every batch LOG says was committed is
//                                 there in full, no batch is there in part,
//                                 and the usage totals equal the rows.
#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "preheat_native/sqlite_store.h"
#include "test_util.h"

namespace {

constexpr int kBatchRecords = 20;

int Write(const std::string& db, long first) {
  preheat_test::Inbox inbox;
  preheat_native::SqliteStoreOptions options;
  options.post = inbox.Post();
  options.clock = preheat_test::FixedClock;
  auto store = preheat_native::SqliteStore::Open(db, options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  for (long n = first;; ++n) {
    std::vector<preheat::StoreWrite> batch;
    for (int j = 0; j < kBatchRecords; ++j) {
      preheat::StoreWrite w;
      w.record.key = "b" + std::to_string(n) + "-" + std::to_string(j);
      w.record.value = std::string(2000 + j, static_cast<char>('a' + j));
      w.record.tags = {"batch" + std::to_string(n)};
      w.record.last_access = preheat::Instant{n};
      batch.push_back(std::move(w));
    }
    // Old batches go, so the file keeps changing shape (frees, reuse).
    if (n - first >= 5) {
      preheat::StoreWrite w;
      w.kind = preheat::StoreWrite::Kind::kRemove;
      w.record.key = "b" + std::to_string(n - 5) + "-0";
      batch.push_back(std::move(w));
    }
    bool done = false;
    bool ok = false;
    (*store)->Write(static_cast<preheat::OpId>(n), std::move(batch),
                    [&](preheat::OpId, preheat::Instant, preheat::Result<preheat::StoreUsage> u) {
                      done = true;
                      ok = u.ok();
                      if (!ok) std::fprintf(stderr, "write: %s\n", u.status().ToString().c_str());
                    });
    while (!done) inbox.RunOne();
    if (!ok) return 1;
    std::printf("committed %ld\n", n);
    std::fflush(stdout);
  }
}

int Check(const std::string& db, const std::string& log) {
  long last = -1;
  {
    std::ifstream in(log);
    std::string word;
    long n;
    while (in >> word >> n) last = n;
  }
  sqlite3* conn = nullptr;
  if (sqlite3_open_v2(db.c_str(), &conn, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "check: cannot open %s\n", db.c_str());
    return 1;
  }
  auto scalar = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    std::string out = "<error>";
    if (sqlite3_prepare_v2(conn, sql, -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(s);
    return out;
  };
  int failures = 0;
  std::string integrity = scalar("PRAGMA integrity_check");
  if (integrity != "ok") {
    std::fprintf(stderr, "check: integrity_check: %s\n", integrity.c_str());
    failures++;
  }
  if (scalar("SELECT bytes FROM usage") != scalar("SELECT COALESCE(SUM(charge), 0) FROM entries") ||
      scalar("SELECT entries FROM usage") != scalar("SELECT COUNT(*) FROM entries")) {
    std::fprintf(stderr, "check: usage totals differ from the rows\n");
    failures++;
  }
  // Records per batch, ignoring record 0 (removed five batches later).
  std::map<long, int> per_batch;
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(conn, "SELECT key FROM entries", -1, &s, nullptr);
  while (sqlite3_step(s) == SQLITE_ROW) {
    std::string key = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    size_t dash = key.find('-');
    if (key.substr(dash + 1) == "0") continue;
    per_batch[std::stol(key.substr(1, dash - 1))]++;
  }
  sqlite3_finalize(s);
  for (const auto& [batch, count] : per_batch) {
    if (count != kBatchRecords - 1) {
      std::fprintf(stderr, "check: batch %ld is partial (%d records)\n", batch, count);
      failures++;
    }
  }
  if (last >= 0 && per_batch.count(last) == 0) {
    std::fprintf(stderr, "check: committed batch %ld is missing\n", last);
    failures++;
  }
  sqlite3_close(conn);
  if (failures == 0) std::printf("ok last_committed=%ld batches=%zu\n", last, per_batch.size());
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "write") return Write(argv[2], std::atol(argv[3]));
  if (argc == 4 && std::string(argv[1]) == "check") return Check(argv[2], argv[3]);
  std::fprintf(stderr, "usage: crash_writer write DB FIRST | check DB LOG\n");
  return 2;
}

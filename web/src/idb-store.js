// IndexedDB driver for the engine's persistent tier (preheat::Store).
//
// Schema (database version 1):
//   entries  keyPath "key": {key, value: Uint8Array, tags: string[],
//            lastAccess: ms, charge: bytes}; indexes "lastAccess" and
//            "tags" (multiEntry).
//   sizes    out-of-line key = entry key -> charge (bytes). Lets a write learn
//            the size it replaces without reading the old value.
//   meta     "usage" -> {bytes, entries}, updated in the same transaction as
//            every change, so tabs sharing the database agree on the totals.
//
// The engine calls get/write/removeMatching/scan/evict with an op id; the
// driver completes each later through engine.store*Done(op, now, code, ...).
// Operations run one after another (FIFO) so their effects apply in the order
// they were started, also when a write is retried after a quota error.
// A write batch is one readwrite transaction. On QuotaExceededError the
// least recently used records are evicted and the batch is retried once;
// then it fails with kNoSpace and the engine degrades to memory-only.

export const Code = Object.freeze({
  ok: 0, notFound: 1, invalidArgument: 2, tooLarge: 3, corrupt: 4, unavailable: 5,
  ioError: 6, limitReached: 7, cancelled: 8, timeout: 9, noSpace: 10, httpError: 11,
  internal: 12,
});

const DB_VERSION = 1;
const ENTRIES = 'entries';
const SIZES = 'sizes';
const META = 'meta';
const USAGE = 'usage';

function isQuotaError(e) {
  return !!e && (e.name === 'QuotaExceededError' || e.code === 22);
}

function codeOf(e) {
  if (isQuotaError(e)) return Code.noSpace;
  if (e && (e.name === 'InvalidStateError' || e.name === 'UnknownError' && /closed/i.test(e.message))) {
    return Code.unavailable;
  }
  return Code.ioError;
}

function describe(e) {
  if (!e) return 'unknown error';
  return e.name ? `${e.name}: ${e.message}` : String(e);
}

// Resolves with the IDBDatabase or rejects with an Error saying why.
export function openDatabase(name, { indexedDB = globalThis.indexedDB, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    if (!indexedDB || typeof indexedDB.open !== 'function') {
      reject(new Error('IndexedDB is not available'));
      return;
    }
    let settled = false;
    const finish = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(value);
    };
    const timer = setTimeout(
      () => finish(reject, new Error(`IndexedDB open timed out after ${timeoutMs} ms`)), timeoutMs);
    let req;
    try {
      req = indexedDB.open(name, DB_VERSION);
    } catch (e) {
      finish(reject, new Error(`IndexedDB refused to open: ${describe(e)}`));
      return;
    }
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(ENTRIES)) {
        const entries = db.createObjectStore(ENTRIES, { keyPath: 'key' });
        entries.createIndex('lastAccess', 'lastAccess');
        entries.createIndex('tags', 'tags', { multiEntry: true });
      }
      if (!db.objectStoreNames.contains(SIZES)) db.createObjectStore(SIZES);
      if (!db.objectStoreNames.contains(META)) db.createObjectStore(META);
    };
    req.onsuccess = () => {
      if (settled) {
        req.result.close();
        return;
      }
      finish(resolve, req.result);
    };
    req.onerror = (ev) => {
      if (ev && ev.preventDefault) ev.preventDefault();
      finish(reject, new Error(`IndexedDB refused to open: ${describe(req.error)}`));
    };
    req.onblocked = () => {
      // Another tab holds an older version open; wait for the timeout.
    };
  });
}

// Runs `body(tx, stores)` in one transaction; resolves with what body's
// `result()` returns when the transaction commits, rejects with its error.
function transact(db, mode, names, body) {
  return new Promise((resolve, reject) => {
    let tx;
    try {
      tx = db.transaction(names, mode);
    } catch (e) {
      reject(e);
      return;
    }
    const stores = {};
    for (const n of names) stores[n] = tx.objectStore(n);
    let out;
    let failure = null;
    tx.oncomplete = () => resolve(out === undefined ? undefined : out());
    tx.onabort = () => reject(failure || tx.error || new Error('transaction aborted'));
    tx.onerror = (ev) => {
      // A failing request aborts the transaction; remember the first cause.
      if (!failure) failure = ev.target && ev.target.error;
    };
    const fail = (e) => {
      if (!failure) failure = e;
      try { tx.abort(); } catch (_) { /* already finished */ }
    };
    failures.set(tx, fail);
    try {
      out = body(tx, stores, fail);
    } catch (e) {
      failure = e;
      try { tx.abort(); } catch (_) { /* already finished */ }
    }
  });
}

// Sets a request's success handler. An exception thrown by the handler
// (e.g. a synchronous QuotaExceededError from put()) aborts the transaction
// with that exception as its cause.
function req(r, onsuccess) {
  r.onsuccess = () => {
    try {
      onsuccess(r.result);
    } catch (e) {
      const fail = r.transaction && failures.get(r.transaction);
      if (fail) fail(e);
      else throw e;
    }
  };
  return r;
}

const failures = new WeakMap();  // transaction -> fail(error)

function prefixRange(prefix) {
  if (prefix === '') return undefined;
  return IDBKeyRangeOf().bound(prefix, prefix + '\uffff', false, false);
}

function IDBKeyRangeOf() {
  return globalThis.IDBKeyRange;
}

export class IdbStore {
  // Opens (creating if needed) the database; rejects when IndexedDB is
  // missing or refuses to open.
  static async open(name, options = {}) {
    const db = await openDatabase(name, options);
    return new IdbStore(db, name);
  }

  constructor(db, name) {
    this.db = db;
    this.name = name;
    this.closed = false;
    this.engine = null;
    this.afterComplete = () => {};
    this.queue = Promise.resolve();
    this.quotaEvictions = 0;
    this.lastError = null;
    db.onversionchange = () => this.close();
    db.onclose = () => { this.closed = true; };
  }

  // The engine (an embind Engine) whose store*Done methods receive results;
  // `afterComplete` runs after every completion (the cache reschedules its
  // deadline timer there).
  attach(engine, afterComplete) {
    this.engine = engine;
    if (afterComplete) this.afterComplete = afterComplete;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try { this.db.close(); } catch (_) { /* ignore */ }
  }

  // ---- called by the engine (C++) ----------------------------------------

  get(op, key) {
    this.run((engine) => this.doGet(key).then(
      (rec) => rec ? engine.storeGetDone(op, Date.now(), 0, '', rec)
                   : engine.storeGetDone(op, Date.now(), Code.notFound, `no record for ${key}`, null),
      (e) => engine.storeGetDone(op, Date.now(), codeOf(e), describe(e), null)));
  }

  write(op, batch) {
    this.run((engine) => this.doWriteWithRetry(batch).then(
      (u) => engine.storeWriteDone(op, Date.now(), 0, '', u.bytes, u.entries),
      (e) => engine.storeWriteDone(op, Date.now(), codeOf(e), describe(e), 0, 0)));
  }

  removeMatching(op, kind, value) {
    this.run((engine) => this.doRemoveMatching(kind, value).then(
      (n) => engine.storeRemoveDone(op, Date.now(), 0, '', n),
      (e) => engine.storeRemoveDone(op, Date.now(), codeOf(e), describe(e), 0)));
  }

  scan(op, kind, value, startAfter, limit) {
    this.run((engine) => this.doScan(kind, value, startAfter, limit).then(
      (metas) => engine.storeScanDone(op, Date.now(), 0, '', metas),
      (e) => engine.storeScanDone(op, Date.now(), codeOf(e), describe(e), [])));
  }

  evict(op, targetBytes, targetEntries) {
    this.run((engine) => this.doEvict(targetBytes, targetEntries).then(
      (u) => engine.storeEvictDone(op, Date.now(), 0, '', u.bytes, u.entries),
      (e) => engine.storeEvictDone(op, Date.now(), codeOf(e), describe(e), 0, 0)));
  }

  // ---- implementation --------------------------------------------------------

  // FIFO: each operation starts when the previous one has completed.
  run(task) {
    const engine = this.engine;
    this.queue = this.queue.then(() => {
      if (this.closed) {
        const e = new Error('IndexedDB connection closed');
        e.name = 'InvalidStateError';
        return task(rejectingEngine(engine, e));
      }
      return task(engine);
    }).then(() => this.afterComplete(), (e) => {
      // A driver bug or an exception thrown by a completion: never wedge
      // the queue.
      this.lastError = e;
      this.afterComplete();
    });
  }

  // A read's result is final when its request succeeds: resolve then,
  // without waiting for the readonly transaction to report completion (one
  // more round trip to the browser's database process).
  doGet(key) {
    return new Promise((resolve, reject) => {
      let tx;
      try {
        tx = this.db.transaction([ENTRIES], 'readonly');
      } catch (e) {
        reject(e);
        return;
      }
      tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
      let r;
      try {
        r = tx.objectStore(ENTRIES).get(key);
      } catch (e) {
        reject(e);
        return;
      }
      r.onsuccess = () => resolve(r.result || null);
      r.onerror = () => reject(r.error);
    });
  }

  async doWriteWithRetry(batch) {
    try {
      return await this.doWrite(batch);
    } catch (e) {
      this.lastError = e;
      if (!isQuotaError(e)) throw e;
      // Make room: drop least recently used records worth at least the
      // batch (and a tenth of the store), then try once more.
      let need = 0;
      for (const w of batch) if (w.kind === 0) need += w.charge || 0;
      const usage = await this.doUsage();
      const target = Math.max(0, usage.bytes - Math.max(need, Math.ceil(usage.bytes / 10)));
      await this.doEvict(target, Number.MAX_SAFE_INTEGER);
      this.quotaEvictions++;
      return await this.doWrite(batch);
    }
  }

  doUsage() {
    let usage = { bytes: 0, entries: 0 };
    return transact(this.db, 'readonly', [META], (tx, s) => {
      req(s[META].get(USAGE), (u) => { if (u) usage = u; });
      return () => usage;
    });
  }

  // One transaction; every request is issued at once (requests of a
  // transaction run in the order they were made, so each sizes.get sees the
  // size its own put replaces) instead of waiting for each result: a round
  // trip per request would make a batch slower than separate transactions.
  doWrite(batch) {
    return transact(this.db, 'readwrite', [ENTRIES, SIZES, META], (tx, s, fail) => {
      const entries = s[ENTRIES];
      const sizes = s[SIZES];
      let usage = { bytes: 0, entries: 0 };
      req(s[META].get(USAGE), (u) => {
        if (u) usage = { bytes: u.bytes, entries: u.entries };
      });
      try {
        for (const w of batch) {
          if (w.kind === 2) {  // touch
            req(entries.get(w.key), (rec) => {
              if (rec && w.lastAccess > rec.lastAccess) {
                rec.lastAccess = w.lastAccess;
                entries.put(rec);
              }
            });
            continue;
          }
          req(sizes.get(w.key), (old) => {
            if (old !== undefined) {
              usage.bytes -= old;
              usage.entries -= 1;
            }
            if (w.kind === 0) {
              usage.bytes += w.charge || 0;
              usage.entries += 1;
            }
          });
          if (w.kind === 0) {  // put
            const charge = w.charge || 0;
            entries.put({ key: w.key, value: w.value, tags: w.tags || [],
                          lastAccess: w.lastAccess, charge });
            sizes.put(charge, w.key);
          } else {  // remove
            entries.delete(w.key);
            sizes.delete(w.key);
          }
        }
      } catch (e) {
        fail(e);  // e.g. DataCloneError, or a synchronous QuotaExceededError
        return () => usage;
      }
      // Runs after every request above has succeeded.
      req(s[META].get(USAGE), () => {
        usage.bytes = Math.max(0, usage.bytes);
        usage.entries = Math.max(0, usage.entries);
        s[META].put(usage, USAGE);
      });
      return () => usage;
    });
  }

  // Deletes `keys` (primary keys) and updates the usage, in one transaction.
  doDelete(keysOf) {
    return transact(this.db, 'readwrite', [ENTRIES, SIZES, META], (tx, s) => {
      let removed = 0;
      let usage = { bytes: 0, entries: 0 };
      req(s[META].get(USAGE), (u) => {
        if (u) usage = { bytes: u.bytes, entries: u.entries };
        keysOf(s, (keys) => {
          let i = 0;
          const step = () => {
            if (i >= keys.length) {
              usage.bytes = Math.max(0, usage.bytes);
              usage.entries = Math.max(0, usage.entries);
              s[META].put(usage, USAGE);
              return;
            }
            const key = keys[i++];
            req(s[SIZES].get(key), (old) => {
              if (old !== undefined) {
                usage.bytes -= old;
                usage.entries -= 1;
                removed++;
              }
              s[ENTRIES].delete(key);
              req(s[SIZES].delete(key), step);
            });
          };
          step();
        });
      });
      return () => removed;
    });
  }

  doRemoveMatching(kind, value) {
    if (kind === 3) {  // all
      return transact(this.db, 'readwrite', [ENTRIES, SIZES, META], (tx, s) => {
        let removed = 0;
        req(s[SIZES].count(), (n) => { removed = n; });
        s[ENTRIES].clear();
        s[SIZES].clear();
        s[META].put({ bytes: 0, entries: 0 }, USAGE);
        return () => removed;
      });
    }
    return this.doDelete((s, then) => {
      if (kind === 0) {
        then([value]);
      } else if (kind === 1) {
        req(s[ENTRIES].getAllKeys(prefixRange(value)), then);
      } else {
        req(s[ENTRIES].index('tags').getAllKeys(IDBKeyRangeOf().only(value)), then);
      }
    });
  }

  doScan(kind, value, startAfter, limit) {
    const metas = [];
    return transact(this.db, 'readonly', [ENTRIES], (tx, s) => {
      const KR = IDBKeyRangeOf();
      let range;
      if (kind === 0) {
        range = value > startAfter || startAfter === '' ? KR.only(value) : null;
      } else if (kind === 1 && value !== '') {
        const lower = startAfter > value ? startAfter : value;
        range = KR.bound(lower, value + '\uffff', lower === startAfter, false);
      } else if (startAfter !== '') {
        range = KR.lowerBound(startAfter, true);
      }
      if (range === null) return () => metas;
      const c = s[ENTRIES].openCursor(range);
      c.onsuccess = () => {
        const cursor = c.result;
        if (!cursor || metas.length >= limit) return;
        const r = cursor.value;
        if (kind !== 2 || (r.tags || []).includes(value)) {
          metas.push({ key: r.key, tags: r.tags || [], lastAccess: r.lastAccess, charge: r.charge || 0 });
        }
        cursor.continue();
      };
      return () => metas;
    });
  }

  // Removes least recently accessed records until both totals are within
  // the targets; one transaction.
  doEvict(targetBytes, targetEntries) {
    return transact(this.db, 'readwrite', [ENTRIES, SIZES, META], (tx, s) => {
      let usage = { bytes: 0, entries: 0 };
      req(s[META].get(USAGE), (u) => {
        if (u) usage = { bytes: u.bytes, entries: u.entries };
        const over = () => usage.bytes > targetBytes || usage.entries > targetEntries;
        if (!over()) return;
        const c = s[ENTRIES].index('lastAccess').openKeyCursor();
        c.onsuccess = () => {
          const cursor = c.result;
          if (!cursor || !over()) {
            usage.bytes = Math.max(0, usage.bytes);
            usage.entries = Math.max(0, usage.entries);
            s[META].put(usage, USAGE);
            return;
          }
          const key = cursor.primaryKey;
          req(s[SIZES].get(key), (old) => {
            if (old !== undefined) {
              usage.bytes -= old;
              usage.entries -= 1;
            }
            s[ENTRIES].delete(key);
            s[SIZES].delete(key);
            cursor.continue();
          });
        };
      });
      return () => usage;
    });
  }
}

// An engine stand-in that turns every success into the given error (used
// once the connection is closed).
function rejectingEngine(engine, error) {
  const code = Code.unavailable;
  const msg = describe(error);
  return {
    storeGetDone: (op, now) => engine.storeGetDone(op, now, code, msg, null),
    storeWriteDone: (op, now) => engine.storeWriteDone(op, now, code, msg, 0, 0),
    storeRemoveDone: (op, now) => engine.storeRemoveDone(op, now, code, msg, 0),
    storeScanDone: (op, now) => engine.storeScanDone(op, now, code, msg, []),
    storeEvictDone: (op, now) => engine.storeEvictDone(op, now, code, msg, 0, 0),
  };
}

// IndexedDB driver for the engine's persistent tier (preheat::Store): how
// it works, its schema and sizes: web/README.md (kept out of this file).

export const Code = Object.freeze({
  ok: 0, notFound: 1, invalidArgument: 2, tooLarge: 3, corrupt: 4, unavailable: 5,
  ioError: 6, limitReached: 7, cancelled: 8, timeout: 9, noSpace: 10, httpError: 11,
  internal: 12,
});

// For work deferred to a microtask (cheaper than queueMicrotask() in Chromium).
const RESOLVED = Promise.resolve();

const sleep0 = () => new Promise((r) => setTimeout(r, 0));

// A delay setTimeout keeps: it takes a signed 32-bit number, and fires a
// longer one (2^31 ms or more, Infinity) at once; those wait 24.8 days.
export const timerDelay = (ms) => Math.min(ms, 2 ** 31 - 1);

// What requestGet returns when no request could be made.
class RequestFailure {
  constructor(error) {
    this.error = error;
  }
}

const DB_VERSION = 1;
const ENTRIES = 'entries';
const SIZES = 'sizes';
const META = 'meta';
const USAGE = 'usage';
const LOG = 'log';
// Compact the log into a snapshot past max(LOG_MIN, 2 x live keys) changes.
const LOG_MIN = 4096;

function logRange(afterGen) {
  return IDBKeyRangeOf().bound([LOG, afterGen], [LOG, Infinity], true, false);
}

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

// Deletes database `name`; see IdbStore.destroy.
export function deleteDatabase(name, { indexedDB = globalThis.indexedDB, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`IndexedDB deletion blocked for ${timeoutMs} ms`)), timerDelay(timeoutMs));
    const done = (fn, value) => {
      clearTimeout(timer);
      fn(value);
    };
    try {
      const req = indexedDB.deleteDatabase(name);
      req.onsuccess = () => done(resolve);
      req.onerror = (ev) => {
        if (ev && ev.preventDefault) ev.preventDefault();
        done(reject, new Error(`IndexedDB refused to delete: ${describe(req.error)}`));
      };
    } catch (e) {
      done(reject, new Error(`IndexedDB refused to delete: ${describe(e)}`));
    }
  });
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
      () => finish(reject, new Error(`IndexedDB open timed out after ${timeoutMs} ms`)), timerDelay(timeoutMs));
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
    tx.onabort = () => reject(failure || tx.error || Object.assign(new Error('transaction aborted'), { name: 'AbortError' }));
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

// What removeMatching and scan select by (store.h, StoreSelector::Kind).
const SELECT = { key: 0, prefix: 1, tag: 2, all: 3 };

function prefixRange(prefix) {
  if (prefix === '') return undefined;
  return IDBKeyRangeOf().bound(prefix, prefix + '\uffff', false, false);
}

function IDBKeyRangeOf() {
  return globalThis.IDBKeyRange;
}

// After a failed reconnection, operations fail at once (the engine reads
// from the network) for this long before the next attempt.
const RECONNECT_BACKOFF_MS = 30000;

const LOST_REASONS = {
  deleted: 'IndexedDB database deleted by another tab or the browser',
  upgraded: 'IndexedDB database upgraded by another tab',
  closed: 'IndexedDB connection closed by the browser',
};

export class IdbStore {
  // Opens (creating if needed) the database; rejects when IndexedDB is
  // missing or refuses to open.
  static async open(name, options = {}) {
    const db = await openDatabase(name, options);
    return new IdbStore(db, name, options);
  }

  constructor(db, name, options = {}) {
    this.name = name;
    this.openOptions = { indexedDB: options.indexedDB, timeoutMs: options.timeoutMs };
    this.closed = false;  // by close(): for good
    this.engine = null;
    this.afterComplete = () => {};
    // Storage events for the cache: {type: 'lost' | 'reconnected' |
    // 'reconnect-failed' | 'write-failed' | 'remove-failed', reason}.
    this.onchange = null;
    this.queue = Promise.resolve();
    this.running = 0;  // operations started by run() or getNow() and not yet completed
    // Of those, evictions still looking at the totals (probeThenEvict):
    // reads do not wait for them.
    this.probing = 0;
    // getNow()'s read while it runs and nothing queued behind it: {wake,
    // promise} (see tail())
    this.direct = null;
    this.ahead = null;  // readAhead()'s {key, request} until get() or dropReadAhead()
    // A get that may answer from the record it reads (cache.js,
    // answerFromRecord): {key, op, answer(record, op, now)}, taken by the read of
    // its key that starts at once (getNow) while the engine's get runs.
    this.claim = null;
    // Engine completions of reads already answered that way: they run in a
    // microtask queued after the answer (after the first reaction to it),
    // or sooner when the cache calls the engine (runDeferred): the engine
    // sees them before anything else.
    this.deferred = [];
    this.runDeferredBound = () => this.runDeferred();
    // Written into records a cold read may answer from (`fast.stamp`): the
    // freshness rules their deadline holds under (bindings.cc PolicyStamp).
    this.stamp = 0;
    this.quotaEvictions = 0;
    this.lastError = null;
    // Why the connection went away (another tab deleted or upgraded the
    // database, or the browser closed it), until the next operation
    // reconnects; null while connected.
    this.lost = null;
    this.reconnects = 0;
    this.retryAt = 0;
    this.connect(db);
  }

  // On versionchange (another tab deletes or upgrades the database) the
  // connection closes at once; the next transaction reopens (web/README.md).
  connect(db) {
    this.db = db;
    this.sizes = null;
    this.sizesGen = -1;
    db.onversionchange = (ev) => this.disconnect(ev && ev.newVersion == null ? 'deleted' : 'upgraded');
    db.onclose = () => this.disconnect('closed');
  }

  disconnect(why) {
    if (this.closed || this.lost) return;
    this.lost = LOST_REASONS[why] || String(why);
    try { this.db.close(); } catch (_) { /* ignore */ }
    this.emit({ type: 'lost', reason: this.lost });
  }

  // Resolves when connected again; rejects (for RECONNECT_BACKOFF_MS, at
  // once) when the database cannot be opened.
  reconnect() {
    if (!this.reconnecting) {
      const now = Date.now();
      if (now < this.retryAt) {
        const e = new Error(`${this.lost}; reopening failed: ${describe(this.lastError)}`);
        e.name = 'InvalidStateError';
        return Promise.reject(e);
      }
      const open = () => openDatabase(this.name, this.openOptions);
      // Chromium aborts an open made while it force-closes (AbortError); the next one works.
      this.reconnecting = open().catch((e) => (/AbortError/.test(e.message) ? sleep0().then(open)
        : Promise.reject(e))).then((db) => {
        this.reconnecting = null;
        if (this.closed) {
          db.close();
          throw Object.assign(new Error('IndexedDB store closed'), { name: 'InvalidStateError' });
        }
        this.lost = null;
        this.reconnects++;
        this.connect(db);
        this.emit({ type: 'reconnected', reason: null });
      }, (e) => {
        this.reconnecting = null;
        this.lastError = e;
        this.retryAt = Date.now() + RECONNECT_BACKOFF_MS;
        this.emit({ type: 'reconnect-failed', reason: describe(e) });
        const err = new Error(`${this.lost}; reopening failed: ${describe(e)}`);
        err.name = 'InvalidStateError';
        throw err;
      });
    }
    return this.reconnecting;
  }

  emit(event) {
    if (typeof this.onchange !== 'function') return;
    try { this.onchange(event); } catch (_) { /* a listener's problem */ }
  }

  // The engine (an embind Engine) whose store*Done methods receive results;
  // `afterComplete` runs after every completion (the cache reschedules its
  // deadline timer there).
  attach(engine, afterComplete) {
    this.engine = engine;
    if (afterComplete) this.afterComplete = afterComplete;
  }

  // Removes every record whose key starts with `prefix` (a namespace's),
  // after what is queued, outside the engine: Cache.clear()'s retry on a
  // store the engine has given up on. Resolves with how many went; rejects
  // with IndexedDB's error.
  removePrefix(prefix) {
    return new Promise((resolve, reject) => {
      this.run(() => Promise.resolve().then(() => this.doRemoveMatching(SELECT.prefix, prefix)).then(resolve, reject));
    });
  }

  // Closes the connection for good and deletes the database: the last
  // resort of a logout's clear() that the store could not do. Resolves when
  // the database is gone; rejects when deleting failed, or was blocked past
  // timeoutMs by another connection that did not close (this package's
  // close at once: versionchange).
  destroy() {
    this.close();
    return deleteDatabase(this.name, this.openOptions);
  }

  close() {
    if (this.closed) return;
    this.runDeferred();
    this.closed = true;
    if (!this.lost) {
      try { this.db.close(); } catch (_) { /* ignore */ }
    }
  }

  // ---- called by the engine (C++) ----------------------------------------

  get(op, key) {
    if (this.readsNow()) {
      this.getNow(op, key);
      return;
    }
    // Completed from the request's success event (no promise hops).
    this.run((engine, finish) => new Promise((resolve) => {
      this.readThenComplete(engine, op, key, this.requestGet(key), finish, resolve);
    }));
  }

  // Whether a read starts at once: nothing queued or running but evictions
  // looking at the totals read-only (probeThenEvict), which change nothing
  // a read could see. The common cases: a cold get, and the first gets
  // after opening, beside the engine's start-up eviction.
  readsNow() {
    return this.running === this.probing && !this.closed && !this.lost;
  }

  // A read that starts at once (readsNow()): no promise at all unless
  // another operation queues behind it (tail()), which then also waits for
  // the evictions running beside it.
  // The request goes out first (or went out already: readAhead()); the
  // bookkeeping below runs while IndexedDB works. afterComplete follows in
  // a microtask, after the reactions of whatever the completion resolved.
  getNow(op, key) {
    const ahead = this.ahead;
    let request;
    if (ahead !== null && ahead.key === key) {
      this.ahead = null;
      request = ahead.request;
    } else {
      request = this.requestGet(key);  // another key's read ahead waits for dropReadAhead()
    }
    const claim = this.claim !== null && this.claim.key === key ? this.claim : null;
    if (claim !== null) {
      this.claim = null;
      claim.op = op;
    }
    const slot = { wake: null, promise: null, beside: this.running > 0 ? this.queue : null };
    this.direct = slot;
    this.running++;
    const release = () => {
      this.running--;
      if (this.direct === slot) this.direct = null;
      if (slot.wake) slot.wake();
    };
    this.readThenComplete(this.engine, op, key, request, release, () => RESOLVED.then(this.afterComplete),
                          claim);
  }

  // claim.answer(rec, op, now); false when it throws (the engine answers then).
  answer(claim, rec, op, now) {
    try {
      return claim.answer(rec, op, now);
    } catch (e) {
      this.lastError = e;
      return false;
    }
  }

  // Runs the deferred engine completions (see `deferred`) now.
  runDeferred() {
    while (this.deferred.length !== 0) {
      const list = this.deferred;
      this.deferred = [];
      for (const fn of list) fn();
    }
  }

  // Starts reading `key` before the engine asks (cache.js: a get that will
  // probably read the store), so that the engine's work before its get()
  // overlaps IndexedDB's: the engine's get(op, key) of the same key, while
  // nothing else runs, takes this request over. Only when a read would
  // start at once (readsNow()), one at a time; dropReadAhead() ends it.
  readAhead(key) {
    if (this.readsNow() && this.ahead === null) {
      this.ahead = { key, request: this.requestGet(key) };
    }
  }

  // Abandons a read readAhead() started that no get() took: its result is
  // never looked at (an error event is stopped there: it would abort nothing
  // but its own read-only transaction anyway).
  dropReadAhead() {
    const ahead = this.ahead;
    if (ahead === null) return;
    this.ahead = null;
    if (!(ahead.request instanceof RequestFailure)) ahead.request.onerror = (ev) => ev.preventDefault();
  }

  // Completes the engine's operation `op`, the read of `key` that `request`
  // (requestGet) started, from the request's event: release() first (the
  // next operation may start from the completion), then engine.storeGetDone,
  // then after().
  // With a `claim` whose answer() takes the record, the engine's completion
  // is deferred (see `deferred`).
  readThenComplete(engine, op, key, request, release, after, claim = null) {
    const done = (code, msg, rec) => {
      // An answered read completes at the answer's instant, however late its
      // deferred completion runs: the engine's verdict is then the answer's.
      const now = Date.now();
      const complete = () => {
        try {
          engine.storeGetDone(op, now, code, msg, rec);
        } catch (e) {
          this.lastError = e;
        }
        after();
      };
      release();
      if (claim !== null && code === 0 && typeof claim.answer === 'function' && !this.closed &&
          this.answer(claim, rec, op, now)) {
        this.deferred.push(complete);
        queueMicrotask(this.runDeferredBound);
      } else {
        complete();
      }
    };
    this.onGet(request, (rec) => (rec ? done(0, '', rec) : done(Code.notFound, `no record for ${key}`, null)),
               (e) => done(codeOf(e), describe(e), null));
  }

  // What the next operation queues behind: the last one started by run(),
  // or the read getNow() is running (and what ran beside it).
  tail() {
    const d = this.direct;
    if (d) {
      if (!d.promise) d.promise = new Promise((resolve) => { d.wake = resolve; });
      return d.beside ? Promise.all([d.promise, d.beside]) : d.promise;
    }
    return this.queue;
  }

  // transact() on the connection, reopened first if lost since run() began.
  transact(mode, names, body) {
    return this.lost && !this.closed ? this.reconnect().then(() => transact(this.db, mode, names, body))
      : transact(this.db, mode, names, body);
  }

  // Runs fn() again after an abort of no cause of its own (Abort- or
  // UnknownError) if the connection is lost a task later (a forced close).
  retryLost(fn) {
    return fn().catch((e) => (!/^(Abort|Unknown)Error$/.test(e && e.name) || this.closed ? Promise.reject(e)
      : sleep0().then(() => {
        if (!this.lost) throw e;
        return fn();
      })));
  }

  write(op, batch) {
    this.run((engine) => this.retryLost(() => this.doWriteWithRetry(batch)).then(
      (u) => engine.storeWriteDone(op, Date.now(), 0, '', u.bytes, u.entries),
      (e) => {
        engine.storeWriteDone(op, Date.now(), codeOf(e), describe(e), 0, 0);
        this.emit({ type: 'write-failed', reason: describe(e) });
      }));
  }

  removeMatching(op, kind, value) {
    this.run((engine) => this.retryLost(() => this.doRemoveMatching(kind, value)).then(
      (n) => engine.storeRemoveDone(op, Date.now(), 0, '', n),
      (e) => {
        engine.storeRemoveDone(op, Date.now(), codeOf(e), describe(e), 0);
        this.emit({ type: 'remove-failed', reason: describe(e) });
      }));
  }

  scan(op, kind, value, startAfter, limit) {
    this.run((engine) => this.doScan(kind, value, startAfter, limit).then(
      (metas) => engine.storeScanDone(op, Date.now(), 0, '', metas),
      (e) => engine.storeScanDone(op, Date.now(), codeOf(e), describe(e), [])));
  }

  evict(op, targetBytes, targetEntries) {
    this.run((engine) => this.probeThenEvict(targetBytes, targetEntries).then(
      (u) => engine.storeEvictDone(op, Date.now(), 0, '', u.bytes, u.entries),
      (e) => engine.storeEvictDone(op, Date.now(), codeOf(e), describe(e), 0, 0)));
  }

  // ---- implementation --------------------------------------------------------

  // FIFO: each operation starts when the previous one has completed. With
  // nothing queued or running, it starts at once (its IndexedDB request goes
  // out before the caller's synchronous work ends); completions always come
  // later, from IndexedDB events or promise reactions, never inside the
  // engine call that started the operation.
  run(task) {
    const engine = this.engine;
    let finished = false;
    // Counts the operation out of `running` (once): when its promise settles,
    // or earlier when the task says its work is over.
    const finish = () => {
      if (finished) return;
      finished = true;
      this.running--;
    };
    const start = () => {
      if (this.closed) {
        const e = new Error('IndexedDB connection closed');
        e.name = 'InvalidStateError';
        return task(rejectingEngine(engine, e), finish);
      }
      if (this.lost) {
        return this.reconnect().then(() => task(engine, finish),
                                     (e) => task(rejectingEngine(engine, e), finish));
      }
      return task(engine, finish);
    };
    let p;
    const idle = this.running === 0;
    this.running++;
    if (idle) {
      try {
        p = Promise.resolve(start());
      } catch (e) {
        p = Promise.reject(e);
      }
    } else {
      p = this.tail().then(start);
      // The next operation queues behind this one (this.queue), which waits
      // for the read: were it to wait for the read too, both would start
      // together when it completes.
      this.direct = null;
    }
    this.queue = p.then(() => {
      finish();
      this.afterComplete();
    }, (e) => {
      // A driver bug or an exception thrown by a completion: never wedge
      // the queue.
      finish();
      this.lastError = e;
      this.afterComplete();
    });
  }

  // Starts reading one record: its get request, or a RequestFailure with
  // the error that prevented one (a closing or lost database, a bad key).
  requestGet(key) {
    try {
      // No abort handler (onGet): an aborting transaction fails its pending
      // request (an error event with an AbortError).
      return this.db.transaction(ENTRIES, 'readonly').objectStore(ENTRIES).get(key);
    } catch (e) {
      return new RequestFailure(e);
    }
  }

  // ok(record or null) from the success event of `request` (requestGet's;
  // final then: no need to wait for the readonly transaction to complete),
  // fail(e) from its error event or, for a RequestFailure, a microtask.
  onGet(request, ok, fail) {
    if (request instanceof RequestFailure) {
      queueMicrotask(() => fail(request.error));
      return;
    }
    let settled = false;
    const once = (fn, v) => {
      if (settled) return;
      settled = true;
      fn(v);
    };
    request.onsuccess = () => once(ok, request.result || null);
    request.onerror = () => once(fail, request.error);
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

  // Evicts down to the targets after a read-only look at the totals: within
  // them (nearly every start-up) no readwrite transaction opens, which reads
  // would queue behind; reads run beside the look (readsNow()). Else, for
  // first-release records or a failed look: doEvict.
  probeThenEvict(targetBytes, targetEntries) {
    this.probing++;
    return this.usageRecord().then((u) => {
      this.probing--;
      if (!u) return { bytes: 0, entries: 0 };  // nothing written yet (sync())
      if (typeof u.gen === 'number' && u.bytes <= targetBytes && u.entries <= targetEntries) {
        return { bytes: u.bytes, entries: u.entries };
      }
      return this.doEvict(targetBytes, targetEntries);
    }, () => {
      this.probing--;
      return this.doEvict(targetBytes, targetEntries);
    });
  }

  // The usage record as stored (undefined: none yet), read-only.
  usageRecord() {
    let record;
    return this.transact('readonly', [META], (tx, s) => {
      req(s[META].get(USAGE), (u) => { record = u; });
      return () => record;
    });
  }

  doUsage() {
    return this.usageRecord().then((u) => (u ? { bytes: u.bytes, entries: u.entries }
                                             : { bytes: 0, entries: 0 }));
  }

  // ---- the size mirror ---------------------------------------------------------

  // In a readwrite transaction: syncs the mirror, then then(ctx); ctx holds
  // this transaction's changes, finish() records them, commit() (after
  // completion) applies them to the mirror.
  sync(s, then) {
    req(s[META].get(USAGE), (u) => {
      const ctx = {
        usage: { bytes: u ? u.bytes || 0 : 0, entries: u ? u.entries || 0 : 0 },
        gen: u && typeof u.gen === 'number' ? u.gen : 0,
        logChanges: u && u.logChanges ? u.logChanges : 0,
        base: this.sizes,
        changes: new Map(),
        snapshot: false,
      };
      const done = () => {
        if (ctx.base.size !== ctx.usage.entries) {
          this.recount(s, ctx, then);
          return;
        }
        then(ctx);
      };
      if (!u) {
        // A new database: nothing stored yet.
        this.maxLogGen(s, ctx, () => {
          ctx.base = new Map();
          ctx.snapshot = true;
          done();
        });
      } else if (typeof u.gen !== 'number') {
        // Written by the first release (per-key `sizes`): recount.
        this.recount(s, ctx, then);
      } else if (this.sizes && this.sizesGen === u.gen) {
        done();
      } else {
        const after = this.sizes ? this.sizesGen : -Infinity;
        req(s[META].getAll(logRange(after)), (records) => {
          // Committed changes: applied to the mirror in place.
          let base = this.sizes;
          let gen = this.sizes ? this.sizesGen : null;
          for (const rec of records) {
            if (rec.snapshot) {
              base = new Map();
            } else if (base === null || rec.gen !== gen + 1) {
              base = null;  // a gap: recount below
              break;
            }
            for (let i = 0; i < rec.keys.length; i++) {
              if (rec.charges[i] < 0) base.delete(rec.keys[i]);
              else base.set(rec.keys[i], rec.charges[i]);
            }
            gen = rec.gen;
          }
          if (base === null || gen !== u.gen) {
            this.sizes = null;
            this.sizesGen = -1;
            this.recount(s, ctx, then);
            return;
          }
          this.sizes = base;
          this.sizesGen = gen;
          ctx.base = base;
          // Records of no change (older releases kept them): compact.
          if (records.length > LOG_MIN) ctx.snapshot = true;
          done();
        });
      }
    });
  }

  // Rebuilds the charges from `entries` (reads every value: first-release
  // databases, failed self-checks) and empties `sizes`.
  recount(s, ctx, then) {
    const base = new Map();
    let bytes = 0;
    this.maxLogGen(s, ctx, () => {});
    const c = s[ENTRIES].openCursor();
    req(c, (cursor) => {
      if (cursor) {
        const charge = cursor.value.charge || 0;
        base.set(cursor.primaryKey, charge);
        bytes += charge;
        cursor.continue();
        return;
      }
      s[SIZES].clear();
      ctx.base = base;
      ctx.usage = { bytes, entries: base.size };
      ctx.snapshot = true;
      then(ctx);
    });
  }

  // Generations only grow (past every log record other tabs synced to).
  maxLogGen(s, ctx, then) {
    req(s[META].getAllKeys(logRange(-Infinity)), (keys) => {
      if (keys.length) ctx.gen = Math.max(ctx.gen, keys[keys.length - 1][1]);
      then();
    });
  }

  // The charge of `key` as this transaction sees it (-1: absent).
  chargeOf(ctx, key) {
    const c = ctx.changes.get(key);
    if (c !== undefined) return c;
    const b = ctx.base.get(key);
    return b === undefined ? -1 : b;
  }

  setCharge(ctx, key, charge) {
    const old = this.chargeOf(ctx, key);
    if (old >= 0) {
      ctx.usage.bytes -= old;
      ctx.usage.entries -= 1;
    }
    if (charge >= 0) {
      ctx.usage.bytes += charge;
      ctx.usage.entries += 1;
    }
    if (old !== charge) ctx.changes.set(key, charge);
    return old;
  }

  // Writes this transaction's log record and the new totals; nothing when
  // no charge changed (touches, same-size puts): the log stays bounded.
  finish(s, ctx) {
    if (!ctx.changes.size && !ctx.snapshot) return;
    ctx.usage.bytes = Math.max(0, ctx.usage.bytes);
    ctx.usage.entries = Math.max(0, ctx.usage.entries);
    ctx.newGen = ctx.gen + 1;
    let logChanges = ctx.logChanges + ctx.changes.size;
    if (!ctx.snapshot && logChanges > Math.max(LOG_MIN, 2 * ctx.usage.entries)) ctx.snapshot = true;
    if (ctx.snapshot) {
      const keys = [];
      const charges = [];
      for (const [k, c] of ctx.base) {
        if (!ctx.changes.has(k)) {
          keys.push(k);
          charges.push(c);
        }
      }
      for (const [k, c] of ctx.changes) {
        if (c >= 0) {
          keys.push(k);
          charges.push(c);
        }
      }
      s[META].delete(IDBKeyRangeOf().bound([LOG, -Infinity], [LOG, ctx.newGen], false, true));
      s[META].put({ gen: ctx.newGen, snapshot: true, keys, charges }, [LOG, ctx.newGen]);
      logChanges = 0;
    } else {
      s[META].put({ gen: ctx.newGen, snapshot: false, keys: [...ctx.changes.keys()],
                    charges: [...ctx.changes.values()] }, [LOG, ctx.newGen]);
    }
    s[META].put({ bytes: ctx.usage.bytes, entries: ctx.usage.entries, gen: ctx.newGen, logChanges },
                USAGE);
    ctx.finished = true;
  }

  // After the transaction committed: the mirror becomes its result.
  commit(ctx) {
    if (!ctx || !ctx.finished) return;
    let base = ctx.base;
    if (base === this.sizes && this.sizesGen !== ctx.gen) base = new Map(base);
    for (const [k, c] of ctx.changes) {
      if (c < 0) base.delete(k);
      else base.set(k, c);
    }
    this.sizes = base;
    this.sizesGen = ctx.newGen;
  }

  // One transaction: one request per entry (+3, see the header).
  doWrite(batch) {
    let ctx = null;
    return this.transact('readwrite', [ENTRIES, SIZES, META], (tx, s) => {
      const entries = s[ENTRIES];
      this.sync(s, (c) => {
        ctx = c;
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
          if (w.kind === 0) {  // put
            // The engine's charge, and what `fast` repeats of the value
            // (its header fields and tags, a few numbers).
            const fast = w.fast;
            const charge = (w.charge || 0) + (fast ? fast.meta.length + fast.tags.join().length + 64 : 0);
            const rec = { key: w.key, value: w.value, tags: w.tags || [],
                          lastAccess: w.lastAccess, charge };
            if (fast) {
              fast.stamp = this.stamp;
              rec.fast = fast;
            }
            entries.put(rec);
            this.setCharge(ctx, w.key, charge);
          } else {  // remove
            this.setCharge(ctx, w.key, -1);
            entries.delete(w.key);
          }
        }
        this.finish(s, ctx);
      });
      return () => {
        this.commit(ctx);
        return ctx ? ctx.usage : { bytes: 0, entries: 0 };
      };
    });
  }

  // Deletes `keys` (primary keys) and updates the usage, in one transaction.
  doDelete(keysOf) {
    let ctx = null;
    let removed = 0;
    return this.transact('readwrite', [ENTRIES, SIZES, META], (tx, s) => {
      this.sync(s, (c) => {
        ctx = c;
        keysOf(s, (keys) => {
          for (const key of keys) {
            if (this.setCharge(ctx, key, -1) >= 0) removed++;
            s[ENTRIES].delete(key);
          }
          this.finish(s, ctx);
        });
      });
      return () => {
        this.commit(ctx);
        return removed;
      };
    });
  }

  doRemoveMatching(kind, value) {
    if (kind === SELECT.all) {
      let ctx = null;
      let removed = 0;
      return this.transact('readwrite', [ENTRIES, SIZES, META], (tx, s) => {
        req(s[META].get(USAGE), (u) => {
          ctx = {
            usage: { bytes: 0, entries: 0 }, gen: u && typeof u.gen === 'number' ? u.gen : 0,
            logChanges: 0, base: new Map(), changes: new Map(), snapshot: true,
          };
          this.maxLogGen(s, ctx, () => {
            req(s[ENTRIES].count(), (n) => { removed = n; });
            s[ENTRIES].clear();
            s[SIZES].clear();
            this.finish(s, ctx);
          });
        });
        return () => {
          this.commit(ctx);
          return removed;
        };
      });
    }
    return this.doDelete((s, then) => {
      if (kind === SELECT.key) {
        then([value]);
      } else if (kind === SELECT.prefix) {
        req(s[ENTRIES].getAllKeys(prefixRange(value)), then);
      } else {
        req(s[ENTRIES].index('tags').getAllKeys(IDBKeyRangeOf().only(value)), then);
      }
    });
  }

  doScan(kind, value, startAfter, limit) {
    const metas = [];
    return this.transact('readonly', [ENTRIES], (tx, s) => {
      const KR = IDBKeyRangeOf();
      let range;
      if (kind === SELECT.key) {
        range = value > startAfter || startAfter === '' ? KR.only(value) : null;
      } else if (kind === SELECT.prefix && value !== '') {
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
        if (kind !== SELECT.tag || (r.tags || []).includes(value)) {
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
    let ctx = null;
    return this.transact('readwrite', [ENTRIES, SIZES, META], (tx, s) => {
      this.sync(s, (c) => {
        ctx = c;
        const over = () => ctx.usage.bytes > targetBytes || ctx.usage.entries > targetEntries;
        if (!over()) return;  // nothing changes: no log record
        const cursor = s[ENTRIES].index('lastAccess').openKeyCursor();
        req(cursor, (cur) => {
          if (!cur || !over()) {
            this.finish(s, ctx);
            return;
          }
          const key = cur.primaryKey;
          this.setCharge(ctx, key, -1);
          s[ENTRIES].delete(key);
          cur.continue();
        });
      });
      return () => {
        this.commit(ctx);
        return ctx ? ctx.usage : { bytes: 0, entries: 0 };
      };
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

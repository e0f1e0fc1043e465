// The cache API over the WebAssembly engine, independent of how the module
// is loaded: index.js passes the browser ES module build, Node tests pass
// the CommonJS build.

import { IdbStore, Code } from './idb-store.js';
import { FetchDriver } from './fetch-driver.js';

export { Code };

const CODE_NAMES = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));

export class PreheatError extends Error {
  constructor(code, message, codeName) {
    super(message || codeName || CODE_NAMES[code] || 'error');
    this.name = 'PreheatError';
    this.code = code;
    this.codeName = codeName || snake(CODE_NAMES[code] || 'unknown');
  }
}

function snake(s) {
  return s.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function errorOf(r) {
  return new PreheatError(r.code, r.message, r.codeName);
}

// absolute(), or a PreheatError for what is not a URL (to reject with).
function absoluteOrError(url) {
  try {
    return absolute(url);
  } catch (_) {
    return new PreheatError(Code.invalidArgument, `not a URL: ${String(url)}`);
  }
}

const INVALIDATE_KIND = { url: 0, prefix: 1, tag: 2, all: 3 };
const INVALIDATE_MODE = { stale: 0, remove: 1 };

function headerPairs(headers) {
  if (!headers) return [];
  if (Array.isArray(headers)) return headers.map(([n, v]) => [String(n), String(v)]);
  if (typeof headers.entries === 'function' && typeof headers.get === 'function') return [...headers.entries()];
  return Object.entries(headers).map(([n, v]) => [n, String(v)]);
}

const textDecoder = new TextDecoder();
// Whether a driver request reads (GET, HEAD): what revalidates an entry.
const isRead = (request) => request.method === 'GET' || request.method === 'HEAD';

// The `revalidation` of a result that starts none (settled: safe to share).
const RESOLVED_NULL = Promise.resolve(null);
const textEncoder = new TextEncoder();

// Decodes a body by its content type: JSON -> value, text -> string,
// anything else -> the bytes.
export function decodeBody(body, headers) {
  const type = (headers['content-type'] || '').toLowerCase();
  if (/[/+]json\b/.test(type)) {
    try {
      return JSON.parse(textDecoder.decode(body));
    } catch (_) {
      return undefined;
    }
  }
  if (type.startsWith('text/') || /xml|javascript|ecmascript/.test(type)) return textDecoder.decode(body);
  return body;
}

function encodeValue(value, headers) {
  if (value instanceof Uint8Array) return { body: value, type: null };
  if (value instanceof ArrayBuffer) return { body: new Uint8Array(value), type: null };
  if (typeof value === 'string') return { body: textEncoder.encode(value), type: 'text/plain;charset=utf-8' };
  return { body: textEncoder.encode(JSON.stringify(value)), type: 'application/json' };
}

function baseUrl() {
  const d = globalThis.document, loc = globalThis.location;
  return d && d.baseURI || (loc && loc.href) || undefined;
}

// The page's origin never changes (history.pushState keeps it), and a URL
// starting with "/" resolves the same against it as against the document's
// base URL (a slow getter) while no <base> element may name another origin;
// absolute URLs need no base at all.
const pageOrigin = (() => {
  const loc = globalThis.location;
  const o = loc && loc.origin;
  return typeof o === 'string' && o !== 'null' && /^[a-z][a-z0-9+.-]*:\/\/[^/]+$/i.test(o) ? o : undefined;
})();
// The document's <base> elements (a live collection: its length is cheap).
const baseElements = globalThis.document && typeof globalThis.document.getElementsByTagName === 'function'
  ? globalThis.document.getElementsByTagName('base') : null;
const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;  // with an authority: the base plays no part

// Resolved URLs, memoized per (base, url).
const absoluteMemo = new Map();
let absoluteBase;
const fixedMemo = new Map();  // root-relative (with pageOrigin) and absolute URLs
const ABSOLUTE_MEMO_MAX = 1024;
// URLs a cache remembers as fetched or served beyond its memo (Cache._seen).
const SEEN_MAX = 4096;

function absolute(url) {
  const s = String(url);
  let href;
  const c1 = s.charCodeAt(1);
  const rooted = s.charCodeAt(0) === 47 && c1 !== 47 && c1 !== 92;  // "/x", not "//" or "/\"
  // A rooted URL goes by the base's origin when a <base> is present.
  if (!rooted || pageOrigin !== undefined && !(baseElements && baseElements.length)) {
    href = fixedMemo.get(s);
    if (href !== undefined) return href;
    href = rooted ? new URL(s, pageOrigin).href : SCHEME.test(s) ? new URL(s).href : undefined;
    if (href !== undefined) {
      if (fixedMemo.size >= ABSOLUTE_MEMO_MAX) fixedMemo.clear();
      fixedMemo.set(s, href);
      return href;
    }
  }
  const base = baseUrl();
  if (base !== absoluteBase) {
    absoluteMemo.clear();
    absoluteBase = base;
  }
  href = absoluteMemo.get(s);
  if (href === undefined) {
    href = new URL(s, base).href;
    if (absoluteMemo.size >= ABSOLUTE_MEMO_MAX) absoluteMemo.clear();
    absoluteMemo.set(s, href);
  }
  return href;
}

// Headers as the engine takes them: null when there are none (no crossing).
function requestHeaders(headers) {
  return headers ? headerPairs(headers) : null;
}

// Decoded-data memo (per cache): URL -> fields of its last result, named by
// the engine's entry token. While the entry is unchanged the engine answers
// `same: true` (no body/strings) and data, body, headers, tags are reused:
// results of one representation share them (treat as read-only).
const MEMO_MAX_ENTRIES = 256;
const MEMO_MAX_BYTES = 8 << 20;

function defaultSeed() {
  const a = new Uint32Array(2);
  if (globalThis.crypto && globalThis.crypto.getRandomValues) globalThis.crypto.getRandomValues(a);
  else a[0] = Date.now() >>> 0;
  return a[0] * 2 ** 21 + (a[1] >>> 11);
}

const INTENT_KIND = { hoverstart: 0, hoverend: 1, pointerdown: 2, touchstart: 3, focus: 4 };

// The module's fast read path (bindings.cc: preheat_get & co.): plain
// exports, results through Module.preheatDeliver(id, result). One per module.
const FAST_LANE = Object.assign(Object.create(null), { navigate: 0, revalidate: 1, preheat: 2 });

function fastPathOf(Module) {
  if (Module.preheatFast !== undefined) return Module.preheatFast;
  let f = null;
  if (typeof Module._preheat_get === 'function') {
    const pending = new Map();  // id -> {fn, owner}
    // A result delivered from inside the preheat_get call that asked for it
    // (a memory hit, an immediate error) is left in f.syncResult; get()
    // registers in `pending` only after the call, so that a store read is
    // on its way before the promise machinery is built.
    Module.preheatDeliver = (id, r) => {
      if (id === f.syncId) {
        f.syncResult = r;
        return;
      }
      const p = pending.get(id);
      pending.delete(id);
      if (p) p.fn(r);
    };
    f = { Module, pending, nextId: 1, scratch: 0, scratchBytes: 0, syncId: 0, syncResult: null };
  }
  Module.preheatFast = f;
  return f;
}

// Writes an ASCII string (as absolute() returns) into the module's scratch
// buffer; -1 for any other (embind's path then).
function toScratch(f, s) {
  const n = s.length;
  if (n > f.scratchBytes) {
    f.scratchBytes = Math.max(256, n);
    f.scratch = f.Module._preheat_scratch(f.scratchBytes);
  }
  const heap = f.Module.HEAPU8;  // after any growth
  const p = f.scratch;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 127) return -1;
    heap[p + i] = c;
  }
  return n;
}

// What the store driver completes operations on (IdbStore.attach): the
// engine, with successful reads through the fast path until `dead` (the
// engine deleted: embind's methods then throw instead).
function storeTarget(f, engine, ptr) {
  if (!f) return engine;
  const T = f.Module.preheatText;
  // The engine's record slot (bindings.cc: RecordSlot): f64 op, u32 buffer,
  // u32 capacity, in the heap at a fixed address.
  const slotAt = f.Module._preheat_record_slot(ptr);
  return {
    dead: false,
    // The read whose value toHeap() copied: [op, address, length].
    held: null,
    // Copies the value of read `op` into the engine's record buffer, where
    // its completion (storeGetDone) then finds it, and returns its address:
    // the engine decodes those bytes even if the caller's reactions to an
    // answer made from the record detach or change the value in between.
    toHeap(op, value) {
      const M = f.Module;
      const len = value.length;
      // The buffer sized when the read started (bindings.cc: JsStore::Get),
      // else one sized now. Either is consumed by the completion.
      const words = M.HEAPU32;
      const at = M.HEAPF64[slotAt >> 3] === op && len <= words[(slotAt >> 2) + 3]
        ? words[(slotAt >> 2) + 2] : M._preheat_record_buffer(ptr, len);
      M.HEAPU8.set(value, at);  // the heap after any growth
      this.held = [op, at, len];
      return at;
    },
    storeGetDone(op, now, code, msg, rec) {
      if (code !== 0 || this.dead) return engine.storeGetDone(op, now, code, msg, rec);
      const M = f.Module;
      const value = rec.value;
      // One crossing: the value straight into the engine's record buffer
      // (the record's tags stay behind: the engine reads an entry's tags
      // from its value). A value that is not a Uint8Array takes the general
      // path.
      if (!(value instanceof Uint8Array)) {
        T.rec = rec;
        M._preheat_store_get_done(ptr, op, now);
        return;
      }
      const held = this.held !== null && this.held[0] === op ? this.held : null;
      this.held = null;
      const at = held !== null ? held[1] : this.toHeap(op, value);
      const len = held !== null ? held[2] : value.length;
      const outer = T.recValue;
      // Results view their bodies in it (a detached value: in a copy).
      T.recValue = value.length === len ? value : M.HEAPU8.slice(at, at + len);
      try {
        M._preheat_store_get_done_in_heap(ptr, op, now, +rec.lastAccess || 0, len);
      } finally {
        T.recValue = outer;
      }
    },
    storeWriteDone: (...a) => engine.storeWriteDone(...a),
    storeRemoveDone: (...a) => engine.storeRemoveDone(...a),
    storeScanDone: (...a) => engine.storeScanDone(...a),
    storeEvictDone: (...a) => engine.storeEvictDone(...a),
  };
}

// Save-Data or a 2G connection: the preheater then acts on strong intents only.
function slowConnection() {
  const c = globalThis.navigator && globalThis.navigator.connection;
  return !!c && (!!c.saveData || c.effectiveType === 'slow-2g' || c.effectiveType === '2g');
}

/**
 * Creates a cache from an Emscripten module factory (the default export of
 * preheat.mjs, or the CommonJS build in Node).
 */
export async function createCacheWith(factory, options = {}) {
  const name = options.name ?? 'default';
  const namespace = options.namespace ?? '';
  const moduleArgs = options.moduleArgs ?? {};
  // The database opens while the module compiles and instantiates (on a
  // page load, both take milliseconds: the first paint waits for the
  // longer, not for their sum).
  const opening = options.storage === 'memory' ? null
    : IdbStore.open(`preheat:${name}`, {
      indexedDB: 'indexedDB' in options ? options.indexedDB : globalThis.indexedDB,
      timeoutMs: options.openTimeoutMs ?? 5000,
    }).then((s) => ({ store: s, error: null }), (e) => ({ store: null, error: e }));
  let Module;
  try {
    Module = await factory(moduleArgs);
  } catch (e) {
    if (opening) opening.then((o) => o.store && o.store.close());
    throw e;
  }

  // Persistent tier: IndexedDB, else memory-only (reported in stats()).
  let store = null;
  const storage = { kind: 'memory', reason: null, quotaEvictions: 0 };
  if (!opening) {
    storage.reason = 'memory-only by option';
  } else {
    const o = await opening;
    if (o.store) {
      store = o.store;
      storage.kind = 'indexeddb';
    } else {
      storage.reason = o.error && o.error.message ? o.error.message : String(o.error);
    }
  }

  const fetcher = new FetchDriver({
    fetch: options.fetch,
    credentials: options.credentials,
    prefetchHeaders: options.prefetchHeaders,
  });
  if (!fetcher.fetch) fetcher.fetch = globalThis.fetch.bind(globalThis);

  const engineOptions = { ...(options.engine || {}) };
  if (options.maxBytes != null) engineOptions.storeMaxBytes = options.maxBytes;
  if (options.maxEntries != null) engineOptions.storeMaxEntries = options.maxEntries;
  if (options.memoryMaxBytes != null) engineOptions.memoryMaxBytes = options.memoryMaxBytes;
  if (options.memoryMaxEntries != null) engineOptions.memoryMaxEntries = options.memoryMaxEntries;
  if (options.routes) engineOptions.routes = options.routes;
  if (options.defaultPolicy) engineOptions.defaultPolicy = options.defaultPolicy;
  if (options.tagHeader) engineOptions.tagHeader = options.tagHeader;
  if (options.requestTimeoutMs != null) engineOptions.requestTimeoutMs = options.requestTimeoutMs;
  if (options.writeDelayMs != null) engineOptions.writeDelayMs = options.writeDelayMs;

  const engine = new Module.Engine(JSON.stringify(engineOptions), store, fetcher,
                                   options.seed ?? defaultSeed());
  // A namespace the engine refuses would fail every call of the cache
  // (clear() and invalidate() by throwing): refused here instead.
  const status = engine.status().code !== 0 ? engine.status()
    : Module.Engine.keyFor('http://n/', String(namespace));
  if (status.code !== 0) {
    engine.delete();
    if (store) store.close();
    throw errorOf(status);
  }
  const cache = new Cache(Module, engine, store, fetcher, { name, namespace, storage, options });
  engine.start(Date.now());
  if (options.preheat) {
    const p = { ...options.preheat };
    if (p.requestHeaders) p.requestHeaders = headerPairs(p.requestHeaders);
    const s = engine.enablePreheat(JSON.stringify(p), namespace, Date.now());
    if (s.code !== 0) {
      await cache.close();
      throw errorOf(s);
    }
    if (p.saveData ?? slowConnection()) engine.setSaveData(true);
  }
  cache._schedule();
  return cache;
}

class Cache {
  constructor(Module, engine, store, fetcher, { name, namespace, storage, options }) {
    this._module = Module;
    this._engine = engine;
    this._store = store;
    this._fetcher = fetcher;
    this.name = name;
    this.namespace = namespace;
    this._storage = storage;
    this._decode = options.decode || decodeBody;
    this._timer = null;
    this._timerAt = -1;
    this._closed = false;
    this._storeDeleted = null;  // why clear() deleted the database (_clearDegraded)
    this._subs = new Map();        // key -> Set<fn>
    this._engineSubs = new Map();  // key -> engine subscription id
    this._revalWaiters = new Map();  // normalised url -> Set<{key, resolve}>
    this._revalKeys = new Map();     // key -> number of revalidation waiters
    this._memo = new Map();          // normalised url -> fields (see MEMO_MAX_*)
    this._openGets = new Set();      // reject() of embind-path gets not answered yet
    this._peerRefreshes = new Map();  // key -> refreshes on another tab's word (_notify)
    this._closing = null;
    this._memoBytes = 0;
    this._recordAnswers = 0;  // gets answered by _answerFromRecord
    // URLs fetched or served in this session that the memo does not hold
    // (bodies too big for it, evicted from it): the memory tier may hold
    // them, so get() reads no store ahead of the engine for them (_fastGet).
    // Bounded: forgetting one costs a read-ahead at most.
    this._seen = new Set();
    this._fast = typeof namespace === 'string' ? fastPathOf(Module) : null;
    this._fastNs = namespace;
    this._fastPtr = this._fast ? engine.fastHandle(namespace) : 0;
    this._keyPrefix = `${namespace} `;  // a store key: namespace, space, URL
    const after = () => this._schedule();
    // 'storagechange' events (addEventListener): the database was lost
    // (deleted or upgraded by another tab, closed by the browser), reopened,
    // or the cache went memory-only.
    this._events = typeof globalThis.EventTarget === 'function' ? new EventTarget() : null;
    this._degraded = false;
    if (store) {
      if (this._fast) store.stamp = this._fast.Module._preheat_policy_stamp(this._fastPtr);
      this._storeTarget = storeTarget(this._fast, engine, this._fastPtr);
      store.attach(this._storeTarget, after);
      store.onchange = (e) => this._storageChanged(e.type, e.reason);
    }
    fetcher.attach(engine, (request, code) => {
      this._noteSeen(request.url);  // in the memory tier now (a preheat's too)
      this._onFetchComplete(request, code);
      this._schedule();
    });
    // Cross-tab: invalidations, clears and updates of subscribed keys.
    this._channel = null;
    if (options.crossTab !== false && typeof globalThis.BroadcastChannel === 'function') {
      this._channel = new BroadcastChannel(`preheat:${name}`);
      this._channel.onmessage = (ev) => this._onMessage(ev.data);
      if (typeof this._channel.unref === 'function') this._channel.unref();  // Node
    }
  }

  // ---- reads -------------------------------------------------------------

  /** Synchronous memory-tier read; null when nothing usable is in memory. */
  peek(url, { headers } = {}) {
    this._check();
    const abs = absolute(url);
    const known = this._memo.get(abs);
    const r = this._engine.peekKnown(abs, this.namespace, requestHeaders(headers), Date.now(),
                                     known ? known.token : null);
    if (r.code === Code.notFound) return null;
    if (r.code !== 0) throw errorOf(r);
    return this._result(r, false, abs, known);
  }

  /**
   * Memory, else IndexedDB, else network; serves stale and revalidates.
   * `cache`: how the tiers may be used, as fetch()'s option of that name
   * (index.d.ts, CacheMode).
   */
  get(url, { headers, lane = 'navigate', cache = 'default' } = {}) {
    if (this._closed) return Promise.reject(this._closedError());
    this._catchUp();
    const abs = absoluteOrError(url);
    if (abs instanceof PreheatError) return Promise.reject(abs);
    const laneId = typeof lane === 'string' ? FAST_LANE[lane] : undefined;
    if (laneId === undefined) {
      return Promise.reject(new PreheatError(Code.invalidArgument,
                                             `lane must be 'navigate', 'revalidate' or 'preheat', not ${String(lane)}`));
    }
    const known = this._memo.get(abs);
    const f = this._fast;
    if (f !== null && !headers && cache === 'default' &&
        this.namespace === this._fastNs) {
      try {
        const p = this._fastGet(f, laneId, abs, known);
        if (p !== null) return p;
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      const open = this._openGets;  // settled by close() if the engine never answers
      open.add(reject);
      const done = (r) => {
        open.delete(reject);
        this._settle(r, abs, known, resolve, reject);
      };
      try {
        this._engine.getKnown(abs, this.namespace, requestHeaders(headers), lane, String(cache),
                              Date.now(), done,
                              known ? known.token : null);
      } catch (e) {  // an argument embind refuses
        open.delete(reject);
        throw e;
      }
      this._schedule();
    });
  }

  // Settles a get() with the engine's answer `r`, inside the module's call:
  // a throwing `decode` rejects instead of unwinding through the engine.
  _settle(r, abs, known, resolve, reject) {
    if (r.code !== 0) {
      reject(errorOf(r));
      return;
    }
    try {
      resolve(this._result(r, true, abs, known));
    } catch (e) {
      reject(e);
    }
  }

  // get() through the fast path (null for a non-ASCII URL). A likely store
  // read starts before the call, the promise is built after it.
  _fastGet(f, laneId, abs, known) {
    const n = toScratch(f, abs);
    if (n < 0) return null;
    const key = this._keyPrefix + abs;  // the store key, unless normalising changes the URL
    // Not decoded, fetched or served in this session: the engine will read
    // the store; the read starts first (IdbStore.readAhead).
    const store = known === undefined && !this._seen.has(abs) ? this._store : null;
    const id = f.nextId++;
    // The store read may answer this get itself (answerFromRecord).
    const claim = store !== null ? { key, op: -1, answer: null } : null;
    if (store !== null) {
      store.readAhead(key);
      store.claim = claim;
    }
    const token = known && typeof known.token === 'number' ? known.token : 0;
    const outerId = f.syncId;
    const outerResult = f.syncResult;
    const T = f.Module.preheatText;
    const outerKey = T.fastKey;
    f.syncId = id;
    f.syncResult = null;
    T.fastKey = key;
    let r;
    let at;
    try {
      at = f.Module._preheat_get(this._fastPtr, n, laneId, Date.now(), token, id);
    } finally {
      if (store !== null) {
        store.dropReadAhead();
        store.claim = null;
      }
      r = f.syncResult;
      f.syncId = outerId;
      f.syncResult = outerResult;
      T.fastKey = outerKey;
    }
    let p;
    if (r !== null) {
      p = new Promise((resolve, reject) => this._settle(r, abs, known, resolve, reject));
    } else {
      p = new Promise((resolve, reject) => {
        const pending = { fn: (v) => this._settle(v, abs, known, resolve, reject), owner: this };
        f.pending.set(id, pending);
        if (claim !== null && claim.op >= 0) {
          claim.answer = (rec, op, now) => this._answerFromRecord(f, rec, op, now, abs, key, pending, resolve, id);
        }
      });
    }
    this._scheduleAt(at);
    return p;
  }

  // Answers a cold get from the store record `rec` its read `op` brought at
  // `now` (the instant the engine's deferred completion is given), before
  // the engine sees it, when the engine would answer the same: the
  // record carries a freshness deadline its writer computed
  // (StoreWrite::fresh_until) under these options, not yet passed; the
  // its checksum holds; the engine says nothing superseded the read
  // (preheat_read_serves_record), also not the app's decode. The engine's completion follows in a microtask
  // (IdbStore.deferred): memory, counters and the touch then follow the
  // answer instead of preceding it, and its result only updates the memo.
  // Returns false, answering nothing, otherwise.
  _answerFromRecord(f, rec, op, now, abs, key, pending, resolve, id) {
    const fast = rec !== null ? rec.fast : undefined;
    if (fast === undefined || fast === null || fast.stamp !== this._store.stamp) return false;
    const value = rec.value;
    const meta = fast.meta;
    const at = fast.bodyAt;
    const n = fast.bodyLength;
    if (!(now < fast.freshUntil) || !(value instanceof Uint8Array) ||
        typeof meta !== 'string' || meta.length < 16 || !Array.isArray(fast.tags) ||
        !(at >= 0 && n >= 0 && at + n <= value.length - 8) ||
        // In the module (a JS loop over 10 KB costs tens of microseconds
        // until the JIT has optimised it), on the copy the engine decodes.
        f.Module._preheat_record_checksum_ok(this._storeTarget.toHeap(op, value), value.length) !== 1) {
      return false;
    }
    const headers = f.Module.preheatText.headers(meta.substring(16));
    // A view of the record: the engine decodes its copy (toHeap).
    const body = value.subarray(at, at + n);
    let data;
    try {
      data = this._decode(body, headers);
    } catch (_) {
      return false;  // the engine's answer rejects with it
    }
    // Asked last: the app's decode may have called the cache (an
    // invalidation of this URL supersedes the read).
    if (f.Module._preheat_read_serves_record(this._fastPtr, op) !== 1) return false;
    const tags = fast.tags;
    const fields = {
      token: null, data, status: fast.status, headers, body, url: abs, key, tags,
      bodyHash: meta.substring(0, 16),
    };
    pending.fn = (r) => this._adoptAnswered(r, abs, fields);
    // The engine's answer to it carries only what names the entry
    // (bindings.cc preheat_js_result).
    f.Module.preheatText.answered = id;
    this._recordAnswers++;
    resolve({
      data, state: 'fresh', source: 'store',
      age: Math.max(0, fast.initialAge + Math.max(0, now - fast.responseTime)),
      status: fields.status, headers, body, url: abs, key, tags, stored: true,
      revalidating: false, bodyHash: fields.bodyHash, revalidation: RESOLVED_NULL,
    });
    return true;
  }

  // The engine's answer to a get answerFromRecord answered (its token,
  // status and body hash; a whole result when it came later than the
  // completion): the memo keeps the fields the caller has (the same data
  // object on the next read) when the engine served that entry, else a
  // whole result's.
  _adoptAnswered(r, abs, fields) {
    if (r.code !== 0 || !r.token) return;
    if (r.bodyHash === fields.bodyHash && r.status === fields.status) {
      fields.token = r.token;
      this._remember(abs, fields);
    } else if (r.key !== undefined) {
      this._result(r, false, abs, undefined);
    }
  }

  // Runs the engine's completions of reads answered from their records
  // (IdbStore.deferred) before anything else reaches the engine.
  _catchUp() {
    const s = this._store;
    if (s !== null && s.deferred.length !== 0) s.runDeferred();
  }

  /**
   * Fetches URLs at the lowest priority (preheat lane) unless they are cached
   * (memory or IndexedDB, at any age: no revalidation) or in flight.
   * Resolves with how many went to the network.
   */
  preheat(urls, { headers } = {}) {
    if (this._closed) return Promise.reject(this._closedError());
    this._catchUp();
    const list = Array.isArray(urls) ? urls : [urls];
    const started = [];
    for (const u of list) {
      const url = absoluteOrError(u);
      if (url instanceof PreheatError) continue;  // as a URL the engine refuses
      const key = this._module.Engine.keyFor(url, this.namespace);
      if (key.code !== 0 || this._engine.hasInMemoryOrInflight(key.key)) continue;
      started.push(new Promise((resolve) => {
        this._engine.prefetch(url, this.namespace, requestHeaders(headers), Date.now(),
                              (r) => resolve(r.source === 'network' ? 1 : 0));
        this._schedule();
      }));
    }
    return Promise.all(started).then((n) => n.reduce((a, b) => a + b, 0));
  }

  // ---- the preheater (createCache({ preheat: {...} })) ----------------------

  /**
   * The user is on pageUrl, whose references are refs (URLs or
   * {url, position?, hinted?}); the best uncached ones are preheated.
   */
  surface(pageUrl, refs = []) {
    if (!this._preheating()) return;
    let flat = '';
    refs.forEach((r, i) => {
      const o = typeof r === 'object' && r !== null ? r : { url: r };
      flat += `${o.position ?? i}\0${o.hinted ? 1 : 0}\0${absolute(o.url)}\0`;
    });
    this._engine.surface(absolute(pageUrl), flat, Date.now());
    this._schedule();
  }

  /** kind: 'hoverstart' | 'hoverend' | 'pointerdown' | 'touchstart' | 'focus'. */
  intent(url, kind) {
    if (!this._preheating()) return;
    const k = INTENT_KIND[kind];
    if (k === undefined) throw new TypeError(`intent: unknown kind ${kind}`);
    this._engine.intent(absolute(url), k, Date.now());
    this._schedule();
  }

  /** A navigation from one URL to another (teaches the model, counts preheats used). */
  navigated(from, to) {
    if (!this._preheating()) return;
    this._engine.navigated(from ? absolute(from) : '', absolute(to), Date.now());
    this._schedule();
  }

  /** Visibility of a reference of the current surface. */
  visible(url, isVisible) {
    if (!this._preheating()) return;
    this._engine.visible(absolute(url), !!isVisible, Date.now());
    this._schedule();
  }

  /** Only strong intents preheat while on (Save-Data, slow connections). */
  setSaveData(on) {
    if (this._preheating()) this._engine.setSaveData(!!on);
  }

  /** The preheater's counters (snake_case, as the core exports them), or null without one. */
  preheatStats() {
    this._check();
    return JSON.parse(this._engine.preheatStats(Date.now()));
  }

  _preheating() {
    this._check();
    return this._engine.hasPreheater();
  }

  /** Calls fn(result) whenever the entry for url changes. Returns unsubscribe. */
  subscribe(url, fn) {
    this._check();
    const key = this._key(url);
    let set = this._subs.get(key);
    if (!set) {
      const r = this._engineSubscribe(key);
      if (r) throw errorOf(r);
      set = new Set();
      this._subs.set(key, set);
    }
    const entry = { fn };
    set.add(entry);
    return () => {
      if (!set.delete(entry) || set.size) return;
      this._subs.delete(key);
      this._engineRelease(key);
    };
  }

  // ---- writes ------------------------------------------------------------

  /**
   * Marks entries stale (mode 'stale', default) or removes them ('remove'),
   * here and in other tabs. selector: {url} | {key} | {prefix} | {tag} | {all: true}.
   */
  invalidate(selector, { mode = 'stale' } = {}) {
    this._check();
    const sel = this._selector(selector);
    const count = this._invalidate(sel, mode);
    this._post({ type: 'invalidate', selector: sel, mode });
    return count;
  }

  /**
   * Optimistic update: `value` is served for url at once; `write` (default
   * {method: 'PATCH', url, body: value}) is sent to the origin; on failure
   * (network error or non-2xx) the previous entry is restored. Resolves when
   * the write succeeded; rejects with a PreheatError after a rollback.
   */
  mutate(url, value, { write = {}, headers, status = 200, contentType, rollbackOn = 'failure' } = {}) {
    if (this._closed) return Promise.reject(this._closedError());
    this._catchUp();
    if (rollbackOn !== 'failure') {
      return Promise.reject(new TypeError("mutate: only rollbackOn: 'failure' is supported"));
    }
    const target = absoluteOrError(url);
    if (target instanceof PreheatError) return Promise.reject(target);
    const writeUrl = absoluteOrError(write.url || target);
    if (writeUrl instanceof PreheatError) return Promise.reject(writeUrl);
    this._noteSeen(target);
    const enc = encodeValue(value);
    const optimisticHeaders = headerPairs(headers);
    const type = contentType || enc.type;
    if (type && !optimisticHeaders.some(([n]) => n.toLowerCase() === 'content-type')) {
      optimisticHeaders.push(['content-type', type]);
    }
    const wenc = write.body === undefined ? { body: enc.body, type } : encodeValue(write.body);
    const writeBody = wenc.body;
    const writeHeaders = headerPairs(write.headers);
    if (wenc.type && !writeHeaders.some(([n]) => n.toLowerCase() === 'content-type')) {
      writeHeaders.push(['content-type', wenc.type]);
    }
    return new Promise((resolve, reject) => {
      this._engine.mutate(target, this.namespace, [],
        { status, headers: optimisticHeaders, body: enc.body },
        { method: write.method || 'PATCH', url: writeUrl, headers: writeHeaders, body: writeBody },
        Date.now(), (s) => (s.code === 0 ? resolve() : reject(errorOf(s))));
      this._schedule();
    });
  }

  /**
   * Removes every entry of this cache's namespace, here and in other tabs.
   * The memory tier forgets at once; the promise settles when IndexedDB's
   * removal has (a flush): await it before a logout navigates away, or the
   * next session may still find the entries. When the store cannot do it
   * (its removal failed every attempt, or it was degraded already), the
   * database is deleted instead and the session goes on memory-only;
   * rejects with the store's error only when that fails too.
   */
  clear() {
    if (this._closed) return Promise.reject(this._closedError());
    this._catchUp();
    const s = this._engine.clear(this.namespace, Date.now());
    this._schedule();
    this._resolveAllRevalidations();
    if (s.code !== 0) throw errorOf(s);
    this._post({ type: 'clear' });
    // kLimitReached: the flush settled, and reports writes dropped earlier
    // (more than pendingWritesMax waited): lost to the cache, not to the
    // clear, whose removal is durable.
    return this.flush().catch((e) => (e.code === Code.limitReached ? undefined : this._clearDegraded(e)));
  }

  // clear()'s fallback on a degraded store: the namespace removed once more
  // through the driver, else the whole database deleted (web/README.md).
  _clearDegraded(e) {
    const store = this._store;
    if (!store || this._closed || !JSON.parse(this._engine.metricsJson()).store_degraded) throw e;
    return store.removePrefix(this._keyPrefix).then(() => undefined, () => store.destroy().then(() => {
      this._storeDeleted = `database deleted: a clear() it could not do (${e.message})`;
    }, () => {
      throw e;
    }));
  }

  /** Writes pending writes to IndexedDB now; settles when they and the removals started before are done. */
  flush() {
    if (this._closed) return Promise.reject(this._closedError());
    this._catchUp();
    return new Promise((resolve, reject) => {
      this._engine.flush(Date.now(), (s) => (s.code === 0 ? resolve() : reject(errorOf(s))));
      this._schedule();
    });
  }

  /** Engine metrics (snake_case, as the core exports them) plus storage state. */
  stats() {
    this._check();
    const m = JSON.parse(this._engine.metricsJson());
    return { ...m, storage: this._storageState(m), inflight: this._inflight(),
             recordAnswers: this._recordAnswers };
  }

  addEventListener(type, listener, options) {
    if (this._events) this._events.addEventListener(type, listener, options);
  }

  removeEventListener(type, listener, options) {
    if (this._events) this._events.removeEventListener(type, listener, options);
  }

  _storageState(m) {
    const degraded = !!m.store_degraded;
    const store = this._store;
    return {
      kind: this._storage.kind === 'indexeddb' && !degraded ? 'indexeddb' : 'memory',
      persistent: this._storage.kind === 'indexeddb' && !degraded,
      reason: this._storeDeleted || (degraded ? m.store_degraded_reason : this._storage.reason),
      quotaEvictions: store ? store.quotaEvictions : 0,
      lost: store && !degraded ? store.lost : null,
      reconnects: store ? store.reconnects : 0,
    };
  }

  // A store event (see IdbStore.onchange), or a write failure that made the
  // engine memory-only: one 'storagechange' event with {type, reason,
  // storage} as `detail`, after the engine has taken the completion.
  _storageChanged(type, reason) {
    queueMicrotask(() => {
      if (this._closed || !this._events) return;
      let storage;
      try {
        storage = this._storageState(JSON.parse(this._engine.metricsJson()));
      } catch (_) {
        return;
      }
      this._emit({ type, reason, storage });
      if (!this._degraded && storage.kind === 'memory' && this._storage.kind === 'indexeddb') {
        this._degraded = true;
        this._emit({ type: 'memory-only', reason: storage.reason, storage });
      }
    });
  }

  _emit(detail) {
    const ev = new Event('storagechange');
    ev.detail = detail;
    this._events.dispatchEvent(ev);
  }

  _inflight() {
    return {
      navigate: this._engine.inflightCount('navigate'),
      revalidate: this._engine.inflightCount('revalidate'),
      preheat: this._engine.inflightCount('preheat'),
    };
  }

  /** Flushes, then releases the engine, the database and the channel (once). */
  close() {
    if (!this._closing) this._closing = this._close();
    return this._closing;
  }

  async _close() {
    try { await this.flush(); } catch (_) { /* degraded: nothing to keep */ }
    this._closed = true;
    clearTimeout(this._timer);
    if (this._channel) this._channel.close();
    this._fetcher.abortAll();
    this._fetcher.engine = null;
    this._resolveAllRevalidations();
    // Let queued store completions drain before the engine goes away.
    if (this._store) {
      await this._store.tail();
      this._store.close();
    }
    // A get() the engine has not answered (its fetch aborted above, say)
    // would otherwise never settle: it is rejected as cancelled.
    const closed = { code: Code.cancelled, message: 'cache closed before the answer', codeName: 'cancelled' };
    if (this._fast) {
      for (const [id, p] of this._fast.pending) {
        if (p.owner !== this) continue;
        this._fast.pending.delete(id);
        p.fn(closed);
      }
      if (this._storeTarget) this._storeTarget.dead = true;
    }
    for (const reject of [...this._openGets]) reject(errorOf(closed));
    this._openGets.clear();
    // The engine answers the rest (preheats, mutations).
    this._engine.cancelAll(Date.now());
    this._engine.delete();
  }

  // ---- internals -----------------------------------------------------------

  // A call on a closed cache: the synchronous ones throw this error, those
  // that return a promise reject with it (index.d.ts, close()).
  _closedError() {
    return new PreheatError(Code.unavailable, 'cache is closed', 'unavailable');
  }

  // Throws on a closed cache; else brings the engine up to date (_catchUp).
  _check() {
    if (this._closed) throw this._closedError();
    this._catchUp();
  }

  _key(url) {
    const k = this._module.Engine.keyFor(absolute(url), this.namespace);
    if (k.code !== 0) throw errorOf(k);
    return k.key;
  }

  _selector(selector) {
    if (!selector || typeof selector !== 'object') throw new TypeError('invalidate: selector object expected');
    if (selector.url != null) return { kind: 'url', value: absolute(selector.url) };
    if (selector.key != null) return { kind: 'url', value: String(selector.key).replace(/^[^ ]* /, '') };
    if (selector.prefix != null) return { kind: 'prefix', value: this._key(selector.prefix).slice(this._keyPrefix.length) };
    if (selector.tag != null) return { kind: 'tag', value: String(selector.tag) };
    if (selector.all) return { kind: 'all', value: '' };
    throw new TypeError('invalidate: one of url, key, prefix, tag or all expected');
  }

  // peer: another tab changed the shared store already (memory only).
  _invalidate(sel, mode, peer = false) {
    if (!(mode in INVALIDATE_MODE)) throw new TypeError(`invalidate: unknown mode ${mode}`);
    const r = this._engine.invalidate(INVALIDATE_KIND[sel.kind], sel.value, this.namespace,
                                      INVALIDATE_MODE[mode], peer, Date.now());
    this._schedule();
    if (r.code !== 0) throw errorOf(r);
    return r.count;
  }

  // `abs`: the URL the result answers (memo key); `known`: the memo fields
  // whose token was passed to the engine (reused when r.same).
  _result(r, withRevalidation, abs, known) {
    let f;
    if (r.same && known && known.token === r.token) {
      f = known;
      // Most recently used last.
      if (this._memo.get(abs) === known) {
        this._memo.delete(abs);
        this._memo.set(abs, known);
      }
    } else {
      // The module's fresh object doubles as the memo record (its fields
      // token, data, status, headers, body, url, key, tags, bodyHash).
      f = r;
      if (!f.headers) f.headers = {};  // an object already (bindings.cc)
      f.data = f.body ? this._decode(f.body, f.headers) : undefined;
      if (abs !== undefined && r.token != null) this._remember(abs, f);
    }
    const out = {
      data: f.data,
      state: r.state,
      source: r.source,
      age: r.age,
      status: f.status,
      headers: f.headers,
      body: f.body,
      url: f.url,
      key: f.key,
      tags: f.tags,
      stored: r.stored,
      revalidating: r.revalidating,
      bodyHash: f.bodyHash,
    };
    if (withRevalidation) {
      out.revalidation = r.revalidating && !this._closed ? this._waitRevalidation(f.url, f.key) : RESOLVED_NULL;
    }
    return out;
  }

  _remember(abs, f) {
    const old = this._memo.get(abs);
    if (old) {
      this._memoBytes -= old.body ? old.body.length : 0;
      this._memo.delete(abs);
    }
    const bytes = f.body ? f.body.length : 0;
    if (bytes > MEMO_MAX_BYTES / 4) {
      this._noteSeen(abs);
      return;
    }
    this._memo.set(abs, f);
    this._memoBytes += bytes;
    if (this._memo.size <= MEMO_MAX_ENTRIES && this._memoBytes <= MEMO_MAX_BYTES) return;
    for (const [u, m] of this._memo) {
      if (this._memo.size <= MEMO_MAX_ENTRIES && this._memoBytes <= MEMO_MAX_BYTES) break;
      this._memo.delete(u);
      this._memoBytes -= m.body ? m.body.length : 0;
      this._noteSeen(u);
    }
  }

  _noteSeen(url) {
    if (this._seen.size >= SEEN_MAX) this._seen.clear();
    this._seen.add(url);
  }

  // One engine subscription per key, for application subscribers and
  // revalidation waiters. Returns an error object, or null.
  _engineSubscribe(key) {
    if (this._engineSubs.has(key)) return null;
    const r = this._engine.subscribe(key, (res) => this._notify(key, res));
    if (r.code !== 0) return r;
    this._engineSubs.set(key, r.id);
    return null;
  }

  _engineRelease(key) {
    if (this._subs.has(key) || this._revalKeys.has(key)) return;
    const id = this._engineSubs.get(key);
    this._engineSubs.delete(key);
    if (id != null && !this._closed) this._engine.unsubscribe(id);
  }

  // Resolves with the new result when the background revalidation changed
  // the entry (the key is subscribed while waited for: the engine notifies
  // before the fetch completion is reported), null when unchanged/failed.
  _waitRevalidation(url, key) {
    return new Promise((resolve) => {
      let set = this._revalWaiters.get(url);
      if (!set) {
        set = new Set();
        this._revalWaiters.set(url, set);
      }
      set.add({ key, resolve });
      this._revalKeys.set(key, (this._revalKeys.get(key) || 0) + 1);
      // Past subscribersMax: no notification, the waiter settles with null.
      this._engineSubscribe(key);
    });
  }

  _settleWaiter(w, value) {
    const n = (this._revalKeys.get(w.key) || 1) - 1;
    if (n > 0) this._revalKeys.set(w.key, n);
    else this._revalKeys.delete(w.key);
    this._engineRelease(w.key);
    w.resolve(value);
  }

  _onFetchComplete(request) {
    if (!isRead(request)) return;  // a mutate's write to the same URL
    const set = this._revalWaiters.get(request.url);
    if (!set) return;
    this._revalWaiters.delete(request.url);
    for (const w of set) this._settleWaiter(w, null);  // changed ones were resolved in _notify
  }

  _resolveAllRevalidations() {
    const all = [...this._revalWaiters.values()];
    this._revalWaiters.clear();
    for (const set of all) for (const w of set) this._settleWaiter(w, null);
  }

  _notify(key, raw) {
    if (this._closed) return;
    // Inside the engine's call (see _settle): a `decode` that throws is
    // reported as an uncaught error, and the update skipped here.
    let result = null;
    try {
      if (raw.token != null) result = this._result(raw, false, undefined, undefined);
    } catch (e) {
      queueMicrotask(() => { throw e; });
      return;
    }
    const url = key.slice(key.indexOf(' ') + 1);
    // Only a read's answer ends a revalidation: a mutate's optimistic value
    // or rollback, an invalidation, is no outcome of it.
    const completing = this._fetcher.completing;
    const waiters = completing && completing.url === url && isRead(completing)
      ? this._revalWaiters.get(url) : undefined;
    if (waiters) {
      for (const w of [...waiters]) {
        if (w.key === key) {
          waiters.delete(w);
          this._settleWaiter(w, result);
        }
      }
      if (!waiters.size) this._revalWaiters.delete(url);
    }
    if (this._tell(key, result)) {
      // Other tabs hear of changes to keys subscribed here, unless told by
      // one (else two would bounce an ever-changing resource forever).
      if (!this._peerRefreshes.has(key)) {
        this._post({ type: 'update', url, key, bodyHash: result && result.bodyHash });
      }
    }
  }

  // Calls the subscribers of `key` with `result` (a throw is reported as an
  // uncaught error); false when there are none.
  _tell(key, result) {
    const set = this._subs.get(key);
    if (!set) return false;
    for (const entry of [...set]) {
      if (!set.has(entry)) continue;  // unsubscribed by an earlier subscriber
      try { entry.fn(result); } catch (e) { queueMicrotask(() => { throw e; }); }
    }
    return true;
  }

  // Refreshes `url` on another tab's word (`hash`: its body's); its
  // notifications stay here. Not `held` here: subscribers are told here of
  // the other's version (an older one read is revalidated first).
  _refreshForPeer(url, key, hash, held) {
    const refreshes = this._peerRefreshes;
    refreshes.set(key, (refreshes.get(key) || 0) + 1);
    const done = () => {
      const n = refreshes.get(key) - 1;
      if (n > 0) refreshes.set(key, n);
      else refreshes.delete(key);
    };
    const get = () => this.get(url, { lane: 'revalidate' });
    get().then((r) => {
      if (held) return r.revalidation;
      if (r.bodyHash !== hash) {
        this._invalidate({ kind: 'url', value: url }, 'stale', true);
        return get().then((q) => q.revalidation);
      }
      this._tell(key, r);
      return r.revalidation;
    }).then(done, done);
  }

  _post(msg) {
    if (!this._channel) return;
    try {
      this._channel.postMessage({ ...msg, namespace: this.namespace });
    } catch (_) { /* closed */ }
  }

  _onMessage(msg) {
    if (this._closed || !msg || msg.namespace !== this.namespace) return;
    this._catchUp();
    try {
      if (msg.type === 'invalidate') {
        this._invalidate(msg.selector, msg.mode, true);
      } else if (msg.type === 'clear') {
        this._engine.clear(this.namespace, Date.now());
        this._resolveAllRevalidations();
        this._schedule();
      } else if (msg.type === 'update') {
        // Another tab saw a new representation. Act only when ours differs
        // (this also stops echoes): mark it stale, and refresh it at once
        // when someone here is subscribed. Ours is read without a peek (the
        // app's peek counters are the app's).
        const held = this._engine.memoryBodyHash(msg.key);
        const differs = held !== null && held !== msg.bodyHash;
        if (!differs && !(held === null && this._subs.has(msg.key))) return;
        if (differs) this._invalidate({ kind: 'url', value: msg.url }, 'stale', true);
        if (this._subs.has(msg.key)) this._refreshForPeer(msg.url, msg.key, msg.bodyHash, held !== null);
      }
    } catch (_) {
      // A malformed message from another version of the package: ignore.
    }
  }

  // Keeps one timer at the engine's (and preheater's) next deadline.
  _schedule() {
    if (this._closed) return;
    this._scheduleAt(this._fast ? this._fast.Module._preheat_next_deadline(this._fastPtr)
      : this._engine.nextDeadline());
  }

  // Arms the timer for the engine's deadline `at` (ms since the epoch, -1: none).
  _scheduleAt(at) {
    if (this._closed) return;
    if (at < 0) {
      if (this._timer) clearTimeout(this._timer);
      this._timer = null;
      this._timerAt = -1;
      return;
    }
    if (this._timer && this._timerAt === at) return;
    if (this._timer) clearTimeout(this._timer);
    this._timerAt = at;
    this._timer = setTimeout(() => {
      this._timer = null;
      this._timerAt = -1;
      if (this._closed) return;
      this._engine.onDeadline(Date.now());
      this._schedule();
    }, Math.min(2 ** 31 - 1, Math.max(0, at - Date.now())));
  }
}

// In-page half of the budgets benchmark (tests/web/bench.mjs drives it
// with Playwright). Every measurement compares the package with a plain
// JavaScript / IndexedDB baseline in the same page, alternating the two so
// drift hits both; the driver reports medians and ratios, never a single
// absolute time. Times are performance.now() milliseconds (the page is
// cross-origin isolated, so the clock is fine-grained).
import * as preheat from '/pkg/src/index.js';
import { fakeFetch, noNetwork, openRaw, rawGet, seedRecords } from './bench-shared.mjs';

const now = () => performance.now();
const encoder = new TextEncoder();

// One readwrite transaction holding one put(), resolved when it commits.
function rawPut(db, record) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction('entries', 'readwrite');
    tx.objectStore('entries').put(record);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('aborted'));
  });
}

// Resolves in a task after every task already queued (setTimeout's order).
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * (b) A 10 KB entry read with the memory tier cold (a new cache on the
 * persisted database: IndexedDB -> wasm -> result object -> decoded body)
 * vs a raw IndexedDB get of the same record, each read starting after a
 * task boundary. settleMs: a wait between writing the records and reading
 * them (bench.mjs --settle-ms).
 */
async function readCold({ entries = 20, rounds = 8, size = 10 * 1024, settleMs = 0 } = {}) {
  const name = 'bench-read';
  const { urls, keys, options } = await seedRecords(preheat.createCache,
                                                    { name, prefix: '/bench/read/', entries, size });
  if (settleMs > 0) await new Promise((r) => setTimeout(r, settleMs));

  const db = await openRaw(`preheat:${name}`, false);
  const record = await rawGet(db, keys[0]);
  const recordBytes = record && record.value ? record.value.length : 0;
  const cache = [];
  const raw = [];
  // Round 0 apart: the first reads after the page loaded, in the engines'
  // first tiers (V8's interpreter and baseline compilers); reported, not
  // part of the budget's medians.
  const firstCache = [];
  const firstRaw = [];
  const sources = new Set();
  // Each read to the end of the task after it (see below).
  const cacheTotal = [];
  const rawTotal = [];
  let answered = 0;  // gets answered from their records (stats().recordAnswers)
  for (let round = 0; round < rounds; round++) {
    // A new engine: its memory tier is empty, the database is not.
    const c = await preheat.createCache({ ...options, fetch: noNetwork });
    await nextTask();
    for (let i = 0; i < entries; i++) {
      const order = (round + i) % 2;
      for (let k = 0; k < 2; k++) {
        // Each read starts after a task boundary (as a navigation does):
        // the previous read's leftovers, the module's engine completion
        // (cache.js _answerFromRecord) or IndexedDB's, have run by then
        // and count for the read that left them, in its `total`.
        if ((k ^ order) === 0) {
          const t0 = now();
          const r = await c.get(urls[i]);
          const dt = now() - t0;
          await nextTask();
          const total = now() - t0;
          if (r.data.length !== size) throw new Error(`bench: body ${r.data.length} bytes`);
          sources.add(r.source);
          (round > 0 ? cache : firstCache).push(dt);
          if (round > 0) cacheTotal.push(total);
        } else {
          const t0 = now();
          const rec = await rawGet(db, keys[i]);
          const dt = now() - t0;
          await nextTask();
          const total = now() - t0;
          if (!rec || !rec.value) throw new Error('bench: raw record missing');
          (round > 0 ? raw : firstRaw).push(dt);
          if (round > 0) rawTotal.push(total);
        }
      }
    }
    answered += c.stats().recordAnswers;
    await c.close();
  }
  db.close();
  return { cache, raw, firstCache, firstRaw, cacheTotal, rawTotal, sources: [...sources], recordBytes,
           bodyBytes: size, answered, gets: rounds * entries };
}

/**
 * (c) 200 entries written through the engine's batched store (pending
 * write-behind writes, one flush) vs the same records written as 200
 * readwrite transactions of one put each, one after another (what the
 * driver's FIFO would do without batching), as 200 transactions started
 * at once and as one raw transaction of the 200 puts, the floor
 * (informational both).
 */
async function writeBatch({ count = 200, rounds = 8, size = 1024 } = {}) {
  const cache = await preheat.createCache({
    name: 'bench-write', crossTab: false, fetch: fakeFetch(size),
    writeDelayMs: 600000, engine: { writeBatchMax: count + 1 },  // one batch, started by flush()
  });
  const rawName = 'bench-raw-write';
  const db = await openRaw(rawName, true);
  const store = await openRaw('preheat:bench-write', false);
  const batched = [];
  const sequential = [];
  const concurrent = [];
  const oneTx = [];
  let records = null;
  let batchesPerFlush = 0;
  for (let round = 0; round < rounds; round++) {
    const runBatched = async () => {
      for (let i = 0; i < count; i++) await cache.get(`/bench/write/${round}/${i}`);
      const before = cache.stats();
      if (before.store.pending_writes !== count) {
        throw new Error(`bench: ${before.store.pending_writes} pending writes, ${count} expected`);
      }
      const t0 = now();
      await cache.flush();
      const dt = now() - t0;
      const after = cache.stats();
      if (after.store.pending_writes !== 0) throw new Error('bench: flush left pending writes');
      batchesPerFlush = after.batches_written - before.batches_written;
      if (!records) {
        // The engine's own records, reused (under new keys) by the baselines.
        records = await new Promise((resolve, reject) => {
          const r = store.transaction('entries', 'readonly').objectStore('entries').getAll();
          r.onsuccess = () => resolve(r.result.slice(0, count));
          r.onerror = () => reject(r.error);
        });
        if (records.length !== count) throw new Error(`bench: ${records.length} records stored`);
      }
      return dt;
    };
    const runSequential = async () => {
      const t0 = now();
      for (let i = 0; i < count; i++) {
        await rawPut(db, { ...records[i], key: `seq/${round}/${i}` });
      }
      return now() - t0;
    };
    // The floor: the same 200 puts in one raw readwrite transaction.
    const runOneTx = async () => {
      const t0 = now();
      await new Promise((resolve, reject) => {
        const tx = db.transaction('entries', 'readwrite');
        const os = tx.objectStore('entries');
        records.forEach((r, i) => os.put({ ...r, key: `one/${round}/${i}` }));
        tx.oncomplete = () => resolve();
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error || new Error('aborted'));
      });
      return now() - t0;
    };
    const runConcurrent = async () => {
      const t0 = now();
      await Promise.all(records.map((r, i) => rawPut(db, { ...r, key: `con/${round}/${i}` })));
      return now() - t0;
    };
    // The batched run goes first in round 0 (it produces the records).
    const steps = round % 2 === 0 ? [runBatched, runSequential, runConcurrent, runOneTx]
                                   : [runOneTx, runConcurrent, runSequential, runBatched];
    const times = [];
    for (const step of steps) times.push(await step());
    const [b, s, c, o] = round % 2 === 0 ? times : [times[3], times[2], times[1], times[0]];
    if (round > 0) {  // round 0 warms up
      batched.push(b);
      sequential.push(s);
      concurrent.push(c);
      oneTx.push(o);
    }
  }
  const storedEntries = cache.stats().store.entries;
  await cache.close();
  db.close();
  store.close();
  return {
    batched, sequential, concurrent, oneTx, count, recordBytes: records[0].value.length,
    storedEntries, batchesPerFlush,
  };
}

/**
 * (d) peek() of a 4 KB entry (memory tier, decoded to a string) vs
 * Map.get of the same string. Per-operation times from timed loops.
 */
async function peekVsMap({ batches = 15, peeks = 400, mapGets = 200000, size = 4096 } = {}) {
  const cache = await preheat.createCache({
    name: 'bench-peek', crossTab: false, storage: 'memory', fetch: fakeFetch(size),
  });
  const url = '/bench/peek/4k';
  await cache.get(url);
  const value = cache.peek(url).data;
  if (typeof value !== 'string' || value.length !== size) throw new Error('bench: peek value');
  const map = new Map([[url, value]]);
  const engine = cache._engine;  // the embind call alone (diagnostic row)
  const abs = new URL(url, location.href).href;
  const peek = [];
  const enginePeek = [];
  const mapGet = [];
  const embindCall = [];
  let sink = 0;
  for (let b = 0; b < batches + 1; b++) {
    let t0 = now();
    for (let i = 0; i < peeks; i++) sink += cache.peek(url).data.length;
    const p = (now() - t0) / peeks;
    t0 = now();
    for (let i = 0; i < peeks; i++) sink += engine.peek(abs, '', [], Date.now()).body.length;
    const e = (now() - t0) / peeks;
    t0 = now();
    for (let i = 0; i < mapGets; i++) sink += map.get(url).length;
    const m = (now() - t0) / mapGets;
    t0 = now();
    for (let i = 0; i < peeks; i++) sink += engine.nextDeadline();
    const c = (now() - t0) / peeks;
    if (b > 0) {
      embindCall.push(c);
      peek.push(p);
      enginePeek.push(e);
      mapGet.push(m);
    }
  }
  await cache.close();
  return { peek, enginePeek, mapGet, embindCall, sink, size };
}

/**
 * Where (b)'s time goes (tests/web/read-phases.mjs): the same cold reads,
 * through the module and raw, plus raw reads with `busyUs` microseconds of
 * busy work right after the request (what the module's own work after the
 * request costs a read). IDBObjectStore.prototype.get is wrapped for the
 * call (and restored after) to time each read's phases from its start t0:
 *   pre   t0 -> the get request made (transaction and store lookup included)
 *   wait  -> its success event (the first listener, added at the request)
 *   post  -> the caller's continuation (the completion, result, promise)
 *   sync  -> the read's call returning, after its request (for the
 *         module, the engine's work while IndexedDB works; for raw, the
 *         handlers set)
 * The wrapper's own cost falls on every kind alike. All times by kind, in
 * ms, round 0 left out (the driver takes trimmed means).
 */
async function readPhases({ entries = 20, rounds = 8, size = 10 * 1024, busyUs = 25 } = {}) {
  const name = 'bench-phases';
  const { urls, keys, options } = await seedRecords(preheat.createCache,
                                                    { name, prefix: '/bench/phases/', entries, size });
  const db = await openRaw(`preheat:${name}`, false);
  const kinds = ['cache', 'raw', 'rawBusy'];
  const out = Object.fromEntries(kinds.map((k) => [k, { pre: [], wait: [], post: [], total: [], sync: [] }]));
  let issuedAt = 0;
  let succeededAt = 0;
  const get = IDBObjectStore.prototype.get;
  IDBObjectStore.prototype.get = function (key) {
    issuedAt = now();
    const request = get.call(this, key);
    request.addEventListener('success', () => { succeededAt = now(); });
    return request;
  };
  const busy = (us) => {
    const end = now() + us / 1000;
    while (now() < end) { /* busy */ }
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const c = await preheat.createCache({ ...options, fetch: noNetwork });
      for (let i = 0; i < entries; i++) {
        for (let k = 0; k < kinds.length; k++) {
          const kind = kinds[(round + i + k) % kinds.length];
          let sync = NaN;
          const t0 = now();
          if (kind === 'cache') {
            const pending = c.get(urls[i]);
            sync = now() - issuedAt;
            const r = await pending;
            if (r.source !== 'store' || r.data.length !== size) throw new Error(`bench: ${r.source} read`);
          } else {
            const rec = await new Promise((resolve, reject) => {
              const r = db.transaction('entries', 'readonly').objectStore('entries').get(keys[i]);
              r.onsuccess = () => resolve(r.result);
              r.onerror = () => reject(r.error);
              sync = now() - issuedAt;
              if (kind === 'rawBusy') busy(busyUs);
            });
            if (!rec || !rec.value) throw new Error('bench: raw record missing');
          }
          const t1 = now();
          if (round === 0) continue;  // the JIT's first tiers, as in readCold
          const o = out[kind];
          o.pre.push(issuedAt - t0);
          o.wait.push(succeededAt - issuedAt);
          o.post.push(t1 - succeededAt);
          o.total.push(t1 - t0);
          o.sync.push(sync);
        }
      }
      await c.close();
    }
  } finally {
    IDBObjectStore.prototype.get = get;
    db.close();
  }
  return out;
}

/**
 * Whether (b)'s ratio comes from how its reads are laid out
 * (tests/web/read-layouts.mjs): the same cold reads in one `layout`:
 *   interleaved  (b) itself: one raw connection, opened before any cache;
 *                a new cache each round; module and raw reads one for one
 *   alternating  a new raw connection and a new cache each round, the two
 *                opened in turns (raw first in even rounds); one for one
 *   solo         rounds take turns: a new cache alone, or a new raw
 *                connection alone (each then the page's only connection);
 *                reads back to back
 *   rawOrder     the control, no module: two new raw connections each
 *                round, one for one; `cache` holds the reads through the
 *                one opened second, `raw` through the one opened first
 * With gapMs > 0, each read first waits that long (a timer): the work the
 * read before it left (its transaction's completion, the engine's
 * bookkeeping) is then not part of it. Times in ms, round 0 left out.
 */
async function readLayout({ layout, gapMs = 0, entries = 20, rounds = 11, size = 10 * 1024 } = {}) {
  const name = `bench-layout-${layout}`;
  const { urls, keys, options } = await seedRecords(preheat.createCache,
                                                    { name, prefix: '/bench/layout/', entries, size });
  const dbName = `preheat:${name}`;
  const out = { cache: [], raw: [] };
  const pause = () => new Promise((resolve) => setTimeout(resolve, gapMs));
  const viaCache = async (c, i, keep) => {
    if (gapMs > 0) await pause();
    const t0 = now();
    const r = await c.get(urls[i]);
    const dt = now() - t0;
    if (r.source !== 'store' || r.data.length !== size) throw new Error(`bench: ${r.source} read`);
    if (keep) out.cache.push(dt);
  };
  const viaRaw = (into) => async (db, i, keep) => {
    if (gapMs > 0) await pause();
    const t0 = now();
    const rec = await rawGet(db, keys[i]);
    const dt = now() - t0;
    if (!rec || !rec.value) throw new Error('bench: raw record missing');
    if (keep) into.push(dt);
  };
  const open = () => openRaw(dbName, false);
  const newCache = () => preheat.createCache({ ...options, fetch: noNetwork });
  const first = layout === 'interleaved' ? await open() : null;
  for (let round = 0; round < rounds; round++) {
    const keep = round > 0;
    if (layout === 'solo') {
      const alone = round % 2 === 0 ? await newCache() : await open();
      for (let i = 0; i < entries; i++) {
        if (round % 2 === 0) await viaCache(alone, i, keep);
        else await viaRaw(out.raw)(alone, i, keep);
      }
      await alone.close();
      continue;
    }
    let a;  // the module's cache, or in rawOrder the second connection
    let b;  // the raw connection (in rawOrder the first)
    if (layout === 'interleaved') {
      b = first;
      a = await newCache();
    } else if (layout === 'rawOrder') {
      b = await open();
      a = await open();
    } else if (layout === 'alternating') {
      if (round % 2 === 0) {
        b = await open();
        a = await newCache();
      } else {
        a = await newCache();
        b = await open();
      }
    } else {
      throw new Error(`bench: unknown layout ${layout}`);
    }
    const readA = layout === 'rawOrder' ? viaRaw(out.cache) : viaCache;
    const readB = viaRaw(out.raw);
    for (let i = 0; i < entries; i++) {
      const order = (round + i) % 2;
      for (let k = 0; k < 2; k++) {
        if ((k ^ order) === 0) await readA(a, i, keep);
        else await readB(b, i, keep);
      }
    }
    await a.close();
    if (b !== first) b.close();
  }
  if (first) first.close();
  return out;
}

/**
 * What another record layout could do for (b) (tests/web/read-record-layout.mjs).
 * The module stores a record as one byte string (fields, headers, body,
 * checksum) that its reads copy into WebAssembly, check and decode. Here
 * the same responses are also stored as structured-clone fields, as a
 * redesign could: the body as a string, the headers as an array, and the
 * engine's freshness decision made at write time as a deadline
 * (freshUntilMs; stood in for here by max-age from the write time). IndexedDB
 * then decodes everything while it deserialises, which a raw get pays too.
 * Kinds, one for one in rotation, a new cache and a new connection for the
 * field reader each round (as a cache has):
 *   module       the package's get() (as (b))
 *   rawBytes     a raw get of the module's record (as (b)'s baseline)
 *   rawFields    a raw get of the structured-clone record
 *   fields       a get() answering from the structured-clone record in
 *                JavaScript: the URL normalised, the deadline compared, the
 *                result built with its headers object; the engine is not
 *                called (a redesign would hand it the record afterwards)
 *   fieldsHashed the same, and the body's hash checked (FNV-1a over its
 *                UTF-16 units) as the module checks its record
 * No module code reads these records; this measures a design, not the
 * package. Times in ms, round 0 left out.
 */
async function readRecordLayout({ entries = 20, rounds = 9, size = 10 * 1024 } = {}) {
  const name = 'bench-record-layout';
  const { urls, options } = await seedRecords(preheat.createCache,
                                              { name, prefix: '/bench/record/', entries, size });
  const keys = await (async () => {
    const c = await preheat.createCache({ ...options, fetch: noNetwork });
    const k = [];
    for (const u of urls) k.push((await c.get(u)).key);
    await c.close();
    return k;
  })();
  const hrefs = urls.map((u) => new URL(u, location.href).href);
  const hashText = (text) => {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h >>> 0;
  };
  const writtenMs = Date.now();
  const body = 'x'.repeat(size);
  const fieldsName = 'bench-record-fields';
  const seedDb = await openRaw(fieldsName, true);
  await new Promise((resolve, reject) => {
    const tx = seedDb.transaction('entries', 'readwrite');
    for (const key of hrefs) {
      tx.objectStore('entries').put({
        key, tags: [], lastAccess: writtenMs, charge: size + 512, status: 200,
        headers: ['cache-control', 'max-age=86400', 'content-type', 'text/plain',
                  'date', new Date(writtenMs).toUTCString(), 'etag', '"v1"',
                  'last-modified', new Date(writtenMs - 86400000).toUTCString()],
        ageBaseMs: writtenMs, freshUntilMs: writtenMs + 86400000,
        bodyLength: size, bodyHash: hashText(body), body,
      });
    }
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
  seedDb.close();
  const fieldReader = (db, hashed) => (url) => {
    const key = new URL(url, location.href).href;
    return new Promise((resolve, reject) => {
      const request = db.transaction('entries', 'readonly').objectStore('entries').get(key);
      request.onsuccess = () => {
        const rec = request.result;
        if (!rec || rec.key !== key || typeof rec.body !== 'string' || rec.body.length !== rec.bodyLength ||
            (hashed && hashText(rec.body) !== rec.bodyHash)) {
          reject(new Error('bench: bad field record'));
          return;
        }
        const t = Date.now();
        const headers = {};
        for (let i = 0; i < rec.headers.length; i += 2) headers[rec.headers[i]] = rec.headers[i + 1];
        resolve({ key, data: rec.body, status: rec.status, headers, source: 'store',
                  state: t < rec.freshUntilMs ? 'fresh' : 'stale', ageMs: t - rec.ageBaseMs,
                  revalidation: null });
      };
      request.onerror = () => reject(request.error);
    });
  };
  const bytesDb = await openRaw(`preheat:${name}`, false);
  const fieldsDb = await openRaw(fieldsName, false);
  const kinds = ['module', 'rawBytes', 'rawFields', 'fields', 'fieldsHashed'];
  const out = Object.fromEntries(kinds.map((k) => [k, []]));
  for (let round = 0; round < rounds; round++) {
    const cache = await preheat.createCache({ ...options, fetch: noNetwork });
    const own = await openRaw(fieldsName, false);
    const reads = {
      module: (i) => cache.get(urls[i]).then((r) => r.data.length === size && r.source === 'store'),
      rawBytes: (i) => rawGet(bytesDb, keys[i]).then((r) => !!(r && r.value)),
      rawFields: (i) => rawGet(fieldsDb, hrefs[i]).then((r) => !!r && r.body.length === size),
      fields: ((get) => (i) => get(urls[i]).then((r) => r.data.length === size && r.state === 'fresh'))(fieldReader(own, false)),
      fieldsHashed: ((get) => (i) => get(urls[i]).then((r) => r.data.length === size && r.state === 'fresh'))(fieldReader(own, true)),
    };
    for (let i = 0; i < entries; i++) {
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round + i) % kinds.length];
        const t0 = now();
        const ok = await reads[kind](i);
        const dt = now() - t0;
        if (!ok) throw new Error(`bench: bad ${kind} read`);
        if (round > 0) out[kind].push(dt);
      }
    }
    await cache.close();
    own.close();
  }
  bytesDb.close();
  fieldsDb.close();
  return out;
}

window.bench = { readCold, readPhases, readLayout, readRecordLayout, writeBatch, peekVsMap };
window.benchInfo = () => ({
  crossOriginIsolated: globalThis.crossOriginIsolated === true,
  userAgent: navigator.userAgent,
});
window.benchReady = true;

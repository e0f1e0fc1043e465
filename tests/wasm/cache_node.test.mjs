// Node tests of the browser build: the CommonJS WebAssembly module + the
// web/src JS glue, with fake-indexeddb as IndexedDB and a real HTTP origin on
// 127.0.0.1. Run: node --test tests/wasm/
import test from 'node:test';
import assert from 'node:assert/strict';
import { requireDev, loadFactory, cacheModuleUrl, startOrigin, sleep, until } from './helpers.mjs';

requireDev('fake-indexeddb/auto');
const { IDBFactory } = requireDev('fake-indexeddb');
const { createCacheWith, PreheatError, Code, decodeBody } = await import(cacheModuleUrl);
const factory = loadFactory();

let dbCounter = 0;
const uniqueName = (base) => `${base}-${process.pid}-${++dbCounter}`;

// A cache's IndexedDB database (idb-store.js: `preheat:<name>`), opened raw.
const openCacheDb = (name) => new Promise((resolve, reject) => {
  const req = indexedDB.open(`preheat:${name}`);
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

const json = (obj, extra = {}) => ({
  status: 200,
  headers: { 'content-type': 'application/json', ...extra },
  body: JSON.stringify(obj),
});

test('get: miss from the network, then memory hits; peek is synchronous', async (t) => {
  const origin = await startOrigin({ '/a': json({ n: 1 }, { 'cache-control': 'max-age=60', etag: '"a1"' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('get') });
  t.after(async () => { await cache.close(); await origin.close(); });

  assert.equal(cache.peek(`${origin.origin}/a`), null);
  const first = await cache.get(`${origin.origin}/a`);
  assert.deepEqual(first.data, { n: 1 });
  assert.equal(first.state, 'miss');
  assert.equal(first.source, 'network');
  assert.equal(first.status, 200);
  assert.equal(first.headers.etag, '"a1"');
  assert.equal(await first.revalidation, null);

  const peeked = cache.peek(`${origin.origin}/a`);
  assert.ok(peeked, 'peek answers after the get');
  assert.equal(peeked.state, 'fresh');
  assert.equal(peeked.source, 'memory');
  assert.deepEqual(peeked.data, { n: 1 });

  const second = await cache.get(`${origin.origin}/a`);
  assert.equal(second.state, 'fresh');
  assert.equal(second.source, 'memory');
  assert.equal(origin.count('/a'), 1);
  assert.equal(cache.stats().storage.kind, 'indexeddb');
});

test('get: an error the engine answers at once rejects, and later gets still settle', async (t) => {
  // The fast path's synchronous answers (cache.js: _fastGet's syncResult):
  // an error, then a memory hit, each settles its own promise.
  const origin = await startOrigin({ '/ok': json({ ok: true }, { 'cache-control': 'max-age=60' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('sync') });
  t.after(async () => { await cache.close(); await origin.close(); });
  await assert.rejects(cache.get('ftp://example.com/x'),
                       (e) => e instanceof PreheatError && e.code === Code.invalidArgument);
  assert.deepEqual((await cache.get(`${origin.origin}/ok`)).data, { ok: true });
  const [bad, hit] = await Promise.allSettled([cache.get('ftp://example.com/y'), cache.get(`${origin.origin}/ok`)]);
  assert.equal(bad.status, 'rejected');
  assert.equal(hit.status, 'fulfilled');
  assert.equal(hit.value.source, 'memory');
  assert.equal(origin.count('/ok'), 1);
});

test('a decode that throws rejects its get(); the engine and the other reads carry on', async (t) => {
  // The application's decoder runs inside the engine's completion: its
  // exception must become the rejection, not unwind through the engine
  // (which would leave the key's other waiters and the read unfinished).
  const origin = await startOrigin({
    '/good': json({ g: 1 }, { 'cache-control': 'max-age=600' }),
    '/bad': json({ b: 1 }, { 'cache-control': 'max-age=600', 'x-bad': '1' }),
  });
  t.after(() => origin.close());
  const decode = (body, headers) => {
    if (headers['x-bad']) throw new Error('schema says no');
    return decodeBody(body, headers);
  };
  const refused = (r) => r.status === 'rejected' && r.reason.message === 'schema says no';
  const good = `${origin.origin}/good`;
  const bad = `${origin.origin}/bad`;
  const name = uniqueName('decode-throws');
  const one = await createCacheWith(factory, { name, decode });
  // From the network: two waiters of the bad key (one fetch), and a good one.
  const fromNetwork = await Promise.allSettled([one.get(bad), one.get(bad), one.get(good)]);
  assert.ok(refused(fromNetwork[0]) && refused(fromNetwork[1]), 'both waiters of the bad key');
  assert.deepEqual(fromNetwork[2].value.data, { g: 1 });
  // From memory (answered inside the call), and peek.
  assert.ok(refused((await Promise.allSettled([one.get(bad)]))[0]));
  assert.throws(() => one.peek(bad), /schema says no/);
  await one.flush();
  await one.close();
  // From the store, then a read of the other record on the same store.
  const two = await createCacheWith(factory, { name, decode });
  t.after(() => two.close());
  const fromStore = await Promise.allSettled([two.get(bad), two.get(bad)]);
  assert.ok(refused(fromStore[0]) && refused(fromStore[1]));
  const after = await two.get(good);
  assert.equal(after.source, 'store');
  assert.deepEqual(after.data, { g: 1 });
  assert.equal(origin.count('/bad'), 1);
  assert.equal(origin.count('/good'), 1);
});

test('close() rejects a get() still waiting for its answer, with code cancelled', async (t) => {
  const origin = await startOrigin({
    '/slow': { status: 200, headers: { 'cache-control': 'max-age=60' }, body: 'late', delayMs: 3000 },
  });
  t.after(() => origin.close());
  const cache = await createCacheWith(factory, { name: uniqueName('close-pending') });
  const url = `${origin.origin}/slow`;
  const fast = cache.get(url);
  const withHeaders = cache.get(`${url}?h`, { headers: { accept: 'text/plain' } });  // the embind path
  await until(() => origin.count('/slow') === 2);
  await cache.close();
  const cancelled = (e) => e instanceof PreheatError && e.code === Code.cancelled;
  await assert.rejects(fast, cancelled);
  await assert.rejects(withHeaders, cancelled);
});

test('close() settles preheat() and mutate() still waiting; a second close() is the same', async (t) => {
  const origin = await startOrigin({
    '/slow': { status: 200, headers: { 'cache-control': 'max-age=60' }, body: 'x', delayMs: 3000 },
    '/write': { status: 200, headers: {}, body: 'ok', delayMs: 3000 },
  });
  t.after(() => origin.close());
  const cache = await createCacheWith(factory, { name: uniqueName('close-calls') });
  const preheated = cache.preheat(`${origin.origin}/slow`);
  const mutated = cache.mutate(`${origin.origin}/m`, { a: 1 }, { write: { url: `${origin.origin}/write`, method: 'POST' } });
  await until(() => origin.count('/slow') === 1 && origin.count('/write') === 1);
  const first = cache.close();
  const second = cache.close();
  assert.equal(second, first);
  await Promise.all([first, second]);
  assert.equal(await preheated, 0, 'no request answered before the close');
  await assert.rejects(mutated, (e) => e instanceof PreheatError && e.code === Code.cancelled);
});

test('after close(), the calls that return promises reject with code unavailable instead of throwing', async () => {
  // A get() racing the app's close() (a logout) with .catch() attached:
  // it used to throw synchronously, past the handler.
  const cache = await createCacheWith(factory, { name: uniqueName('closed-calls'), storage: 'memory' });
  await cache.close();
  const unavailable = (e) => e instanceof PreheatError && e.code === Code.unavailable;
  const calls = {
    get: () => cache.get('http://127.0.0.1:1/x'),
    mutate: () => cache.mutate('http://127.0.0.1:1/x', { a: 1 }),
    preheat: () => cache.preheat(['http://127.0.0.1:1/x']),
    flush: () => cache.flush(),
    clear: () => cache.clear(),
  };
  for (const [name, call] of Object.entries(calls)) {
    let pending;
    assert.doesNotThrow(() => { pending = call(); }, `${name}() throws`);
    await assert.rejects(pending, unavailable, `${name}() rejects with unavailable`);
  }
  assert.throws(() => cache.peek('http://127.0.0.1:1/x'), unavailable, 'a synchronous call still throws');
});

test('close() starts no request: gets queued behind a lane limit are cancelled, never fetched', async (t) => {
  const origin = await startOrigin({
    '/q1': { status: 200, headers: { 'cache-control': 'max-age=60' }, body: '1', delayMs: 3000 },
    '/q2': { status: 200, headers: { 'cache-control': 'max-age=60' }, body: '2' },
    '/q3': { status: 200, headers: { 'cache-control': 'max-age=60' }, body: '3' },
  });
  t.after(() => origin.close());
  const cache = await createCacheWith(factory, {
    name: uniqueName('close-queued'), crossTab: false, engine: { lanes: [{ inflightMax: 1 }] },
  });
  const gets = ['/q1', '/q2', '/q3'].map((p) => cache.get(`${origin.origin}${p}`));
  await until(() => origin.count('/q1') === 1);
  await sleep(50);
  assert.equal(origin.count('/q2') + origin.count('/q3'), 0, 'the lane holds one request at a time');
  await cache.close();
  for (const g of gets) await assert.rejects(g, (e) => e instanceof PreheatError && e.code === Code.cancelled);
  await sleep(200);
  assert.equal(origin.count('/q2') + origin.count('/q3'), 0, 'no request after close()');
});

test('calls that return promises reject a string that is not a URL; preheat() skips it', async (t) => {
  const origin = await startOrigin({ '/ok': json({ ok: true }, { 'cache-control': 'max-age=60' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('bad-url') });
  t.after(async () => { await cache.close(); await origin.close(); });
  const invalid = (e) => e instanceof PreheatError && e.code === Code.invalidArgument;
  let pending;
  assert.doesNotThrow(() => { pending = cache.get('http://exa mple.com/'); });
  await assert.rejects(pending, invalid);
  assert.doesNotThrow(() => { pending = cache.mutate('http://exa mple.com/', 1); });
  await assert.rejects(pending, invalid);
  assert.equal(await cache.preheat(['http://exa mple.com/', `${origin.origin}/ok`]), 1);
});

test('entries persist in IndexedDB across cache instances', async (t) => {
  const origin = await startOrigin({ '/p': json({ persisted: true }, { 'cache-control': 'max-age=600' }) });
  t.after(() => origin.close());
  const name = uniqueName('persist');
  const one = await createCacheWith(factory, { name });
  await one.get(`${origin.origin}/p`);
  await one.flush();
  assert.equal(one.stats().store.entries, 1);
  await one.close();

  const two = await createCacheWith(factory, { name });
  t.after(() => two.close());
  assert.equal(two.peek(`${origin.origin}/p`), null, 'a new instance starts with an empty memory tier');
  const r = await two.get(`${origin.origin}/p`);
  assert.equal(r.source, 'store');
  assert.equal(r.state, 'fresh');
  assert.deepEqual(r.data, { persisted: true });
  assert.equal(origin.count('/p'), 1, 'served without the network');
  // The totals come from the start-up check, which reads do not wait for.
  await until(() => two._store.running === 0);
  const s = two.stats();
  assert.equal(s.store.entries, 1);
  assert.ok(s.store.bytes > 0);
});

test('stale-while-revalidate: serves stale, revalidates, notifies once', async (t) => {
  let version = 1;
  const origin = await startOrigin({
    '/swr': () => json({ version }, { etag: `"v${version}"` }),
  });
  const cache = await createCacheWith(factory, {
    name: uniqueName('swr'),
    routes: [{ pattern: '/swr', maxAgeMs: 30, staleWhileRevalidateMs: 60000 }],
  });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/swr`;

  await cache.get(url);
  const seen = [];
  cache.subscribe(url, (r) => seen.push(r));
  await sleep(50);
  version = 2;

  const stale = await cache.get(url);
  assert.equal(stale.state, 'stale');
  assert.deepEqual(stale.data, { version: 1 }, 'the stale body is served at once');
  assert.equal(stale.revalidating, true);
  const updated = await stale.revalidation;
  assert.ok(updated, 'revalidation reports the change');
  assert.deepEqual(updated.data, { version: 2 });
  assert.equal(seen.length, 1, 'subscriber fired once');
  assert.deepEqual(seen[0].data, { version: 2 });
  assert.deepEqual(cache.peek(url).data, { version: 2 });
  assert.equal(origin.requests.at(-1).headers['if-none-match'], '"v1"', 'conditional revalidation');
});

test('stale-while-revalidate: a 304 keeps the entry and notifies nobody', async (t) => {
  const origin = await startOrigin({
    '/nm': (req) => (req.headers['if-none-match'] === '"same"'
      ? { status: 304, headers: { etag: '"same"' } }
      : json({ same: true }, { etag: '"same"' })),
  });
  const cache = await createCacheWith(factory, {
    name: uniqueName('nm'),
    // Long enough to still be fresh right after the 304 on a loaded machine.
    routes: [{ pattern: '/nm', maxAgeMs: 400, staleWhileRevalidateMs: 60000 }],
  });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/nm`;
  await cache.get(url);
  let calls = 0;
  cache.subscribe(url, () => calls++);
  await sleep(450);
  const stale = await cache.get(url);
  assert.equal(stale.state, 'stale');
  assert.equal(await stale.revalidation, null);
  assert.equal(calls, 0);
  assert.equal(origin.count('/nm'), 2);
  assert.equal(cache.stats().not_modified, 1);
  assert.equal(cache.peek(url).state, 'fresh');
});

test('invalidate by tag and by prefix; clear', async (t) => {
  const origin = await startOrigin({
    '/t/1': json({ id: 1 }, { 'cache-control': 'max-age=600, stale-while-revalidate=600', 'cache-tag': 'issues' }),
    '/t/2': json({ id: 2 }, { 'cache-control': 'max-age=600, stale-while-revalidate=600', 'cache-tag': 'other' }),
  });
  const cache = await createCacheWith(factory, { name: uniqueName('inv') });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/t/1`);
  await cache.get(`${origin.origin}/t/2`);
  assert.equal(cache.invalidate({ tag: 'issues' }), 1);
  const r1 = await cache.get(`${origin.origin}/t/1`);
  assert.equal(r1.state, 'stale');
  await r1.revalidation;
  assert.equal(origin.count('/t/1'), 2);
  assert.equal((await cache.get(`${origin.origin}/t/2`)).state, 'fresh');

  assert.equal(cache.invalidate({ prefix: `${origin.origin}/t/` }, { mode: 'remove' }), 2);
  assert.equal(cache.peek(`${origin.origin}/t/2`), null);

  await cache.get(`${origin.origin}/t/2`);
  cache.clear();
  assert.equal(cache.peek(`${origin.origin}/t/2`), null);
  assert.throws(() => cache.invalidate({}), TypeError);
});

test('mutate: optimistic value, confirmed; rolled back on failure', async (t) => {
  let serverValue = { title: 'old' };
  let failWrites = false;
  const origin = await startOrigin({
    '/m': (req, rec) => {
      if (req.method === 'PATCH') {
        if (failWrites) return { status: 500, body: 'nope' };
        serverValue = JSON.parse(rec.body);
        return { status: 204 };
      }
      return json(serverValue, { 'cache-control': 'max-age=600' });
    },
  });
  const cache = await createCacheWith(factory, { name: uniqueName('mut') });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/m`;
  await cache.get(url);
  const seen = [];
  cache.subscribe(url, (r) => seen.push(r.data));

  const p = cache.mutate(url, { title: 'new' });
  assert.deepEqual(cache.peek(url).data, { title: 'new' }, 'optimistic value at once');
  await p;
  await until(() => seen.length >= 1);
  assert.deepEqual(serverValue, { title: 'new' });
  const patch = origin.requests.find((r) => r.method === 'PATCH');
  assert.equal(patch.headers['content-type'], 'application/json');

  failWrites = true;
  await assert.rejects(cache.mutate(url, { title: 'rejected' }), (e) => e instanceof PreheatError);
  assert.deepEqual(cache.peek(url).data, { title: 'new' }, 'rolled back');
  assert.equal(cache.stats().rollbacks, 1);
});

test('IndexedDB unavailable: memory-only, reported, still serving', async (t) => {
  const origin = await startOrigin({ '/mo': json({ ok: 1 }, { 'cache-control': 'max-age=60' }) });
  const refusing = { open() { throw Object.assign(new Error('denied'), { name: 'SecurityError' }); } };
  const a = await createCacheWith(factory, { name: uniqueName('mo'), indexedDB: refusing });
  const b = await createCacheWith(factory, { name: uniqueName('mo'), indexedDB: null });
  t.after(async () => { await a.close(); await b.close(); await origin.close(); });
  for (const cache of [a, b]) {
    const s = cache.stats().storage;
    assert.equal(s.kind, 'memory');
    assert.equal(s.persistent, false);
    assert.match(s.reason, /IndexedDB/);
    const r = await cache.get(`${origin.origin}/mo`);
    assert.deepEqual(r.data, { ok: 1 });
    assert.equal(cache.peek(`${origin.origin}/mo`).source, 'memory');
    await cache.flush();
  }
});

test('openTimeoutMs past the timers\' 32-bit range (or Infinity) does not time the open out at once', async (t) => {
  // setTimeout fires a delay of 2^31 ms or more at once: an open slower
  // than a millisecond made the cache memory-only ("timed out").
  const real = new IDBFactory();
  const slow = { open(...args) {
    const req = real.open(...args);
    const late = {};
    req.onsuccess = () => setTimeout(() => { late.result = req.result; late.onsuccess(); }, 20);
    req.onupgradeneeded = () => { late.result = req.result; late.onupgradeneeded(); };
    req.onerror = (ev) => late.onerror(ev);
    return late;
  } };
  for (const openTimeoutMs of [2 ** 31, Infinity]) {
    const cache = await createCacheWith(factory, { name: uniqueName('open-timeout'), indexedDB: slow, openTimeoutMs });
    t.after(() => cache.close());
    const s = cache.stats().storage;
    assert.equal(s.kind, 'indexeddb', `openTimeoutMs ${openTimeoutMs}: ${s.reason}`);
  }
});

test('createCache opens IndexedDB while the module loads, and closes it when the module fails', async () => {
  const idb = new IDBFactory();
  const events = [];
  // IndexedDB as the cache sees it: open() logged, and the connection's close().
  const watching = {
    open(...args) {
      events.push('open');
      const req = idb.open(...args);
      req.addEventListener('success', () => {
        const db = req.result;
        const close = db.close.bind(db);
        db.close = () => { events.push('close'); close(); };
      });
      return req;
    },
    deleteDatabase: (...args) => idb.deleteDatabase(...args),
    cmp: (a, b) => idb.cmp(a, b),
  };
  const gated = (fail) => {
    let release;
    const gate = new Promise((resolve) => { release = resolve; });
    const f = async (args) => {
      events.push('module');
      await gate;
      if (fail) throw new Error('no WebAssembly here');
      return factory(args);
    };
    return { f, release };
  };

  const ok = gated(false);
  const creating = createCacheWith(ok.f, { name: uniqueName('parallel'), indexedDB: watching, crossTab: false });
  await sleep(20);
  assert.deepEqual(events, ['open', 'module'], 'the database opened before the module was ready');
  ok.release();
  const cache = await creating;
  assert.equal(cache.stats().storage.kind, 'indexeddb');
  await cache.close();

  events.length = 0;
  const failing = gated(true);
  const doomed = createCacheWith(failing.f, { name: uniqueName('parallel'), indexedDB: watching, crossTab: false });
  await sleep(20);
  failing.release();
  await assert.rejects(doomed, /no WebAssembly here/);
  await until(() => events.includes('close'), 2000, 'the connection opened meanwhile to be closed');
  assert.deepEqual(events, ['open', 'module', 'close']);
});

test('createCache refuses a namespace the engine does not take, and closes the database it opened', async () => {
  // Such a cache used to be created, then failed every call: gets rejected,
  // invalidate() and even clear() (documented to return a promise) threw.
  const idb = new IDBFactory();
  let closed = 0;
  const watching = {
    open(...args) {
      const req = idb.open(...args);
      req.addEventListener('success', () => {
        const close = req.result.close.bind(req.result);
        req.result.close = () => { closed++; close(); };
      });
      return req;
    },
    deleteDatabase: (...args) => idb.deleteDatabase(...args),
    cmp: (a, b) => idb.cmp(a, b),
  };
  for (const namespace of ['user@example.com', 'a b', 'x'.repeat(65)]) {
    await assert.rejects(
      createCacheWith(factory, { name: uniqueName('bad-ns'), namespace, indexedDB: watching, crossTab: false }),
      (e) => e instanceof PreheatError && e.code === Code.invalidArgument && /namespace/.test(e.message));
  }
  assert.equal(closed, 3, 'each connection opened was closed');
  const ok = await createCacheWith(factory, { name: uniqueName('ok-ns'), namespace: 'user-1.x_y', storage: 'memory' });
  assert.equal(ok.namespace, 'user-1.x_y');
  await ok.close();
});

test('clear(): a removal the store cannot do, and a database that cannot be deleted either, rejects', async (t) => {
  const origin = await startOrigin({ '/uc': json({ ok: 1 }, { 'cache-control': 'max-age=60' }) });
  const idb = new IDBFactory();
  const undeletable = {
    open: (...args) => idb.open(...args),
    cmp: (a, b) => idb.cmp(a, b),
    deleteDatabase() { throw new DOMException('not here', 'SecurityError'); },
  };
  const cache = await createCacheWith(factory, { name: uniqueName('uc'), indexedDB: undeletable, crossTab: false });
  const { IDBObjectStore } = requireDev('fake-indexeddb');
  const del = IDBObjectStore.prototype.delete;
  t.after(async () => {
    IDBObjectStore.prototype.delete = del;
    await cache.close();
    await origin.close();
  });
  await cache.get(`${origin.origin}/uc`);
  await cache.flush();
  IDBObjectStore.prototype.delete = function () { throw new DOMException('injected', 'UnknownError'); };
  await assert.rejects(cache.clear(), (e) => e instanceof PreheatError && e.codeName !== 'ok');
  const s = cache.stats();
  assert.equal(s.store_degraded, true);
  assert.equal(s.storage.kind, 'memory');
  assert.doesNotMatch(s.storage.reason, /database deleted/);
});

test('clear() resolves once the removal is durable, even after writes were dropped (a flush would report them)', async (t) => {
  const origin = await startOrigin({
    '/dw/1': json({ i: 1 }, { 'cache-control': 'max-age=60' }),
    '/dw/2': json({ i: 2 }, { 'cache-control': 'max-age=60' }),
    '/dw/3': json({ i: 3 }, { 'cache-control': 'max-age=60' }),
  });
  const name = uniqueName('dw');
  const cache = await createCacheWith(factory, {
    name, crossTab: false, writeDelayMs: 600000, engine: { pendingWritesMax: 1 },
  });
  t.after(async () => {
    await cache.close();
    await origin.close();
  });
  await cache.get(`${origin.origin}/dw/1`);
  await cache.flush();
  for (const i of [2, 3]) await cache.get(`${origin.origin}/dw/${i}`);  // one waits, one is dropped
  await cache.clear();
  assert.equal(cache.peek(`${origin.origin}/dw/1`), null);
  const next = await createCacheWith(factory, { name, crossTab: false });
  const r = await next.get(`${origin.origin}/dw/1`);
  await next.close();
  assert.equal(r.source, 'network', 'the cleared entry was still stored');
});

// A second cache instance on the database a first one filled with `urls`
// (fetched, flushed, closed): its memory tier is cold, IndexedDB is not.
async function reopenedAfterStoring(t, name, urls) {
  const one = await createCacheWith(factory, { name });
  for (const url of urls) await one.get(url);
  await one.flush();
  await one.close();
  const two = await createCacheWith(factory, { name });
  t.after(() => two.close());
  return two;
}

function quotaError() {
  const e = new Error('The quota has been exceeded.');
  e.name = 'QuotaExceededError';
  return e;
}

test('a removal that fails every attempt makes the cache memory-only and says so in events', async (t) => {
  const origin = await startOrigin({ '/d': json({ d: 1 }, { 'cache-control': 'max-age=600' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('remove-fails'), indexedDB: new IDBFactory() });
  const proto = globalThis.IDBObjectStore.prototype;
  const getAllKeys = proto.getAllKeys;
  t.after(async () => { proto.getAllKeys = getAllKeys; await cache.close(); await origin.close(); });
  const events = [];
  cache.addEventListener('storagechange', (e) => events.push(e.detail.type));
  await cache.get(`${origin.origin}/d`);
  await cache.flush();
  proto.getAllKeys = function (...args) {
    if (this.name !== 'entries') return getAllKeys.apply(this, args);
    const e = new Error('disk I/O');
    e.name = 'UnknownError';
    throw e;
  };
  cache.invalidate({ prefix: `${origin.origin}/` }, { mode: 'remove' });
  await assert.rejects(cache.flush());
  proto.getAllKeys = getAllKeys;
  await until(() => events.includes('memory-only'), 2000, 'the memory-only event');
  assert.equal(events[0], 'remove-failed');
  assert.equal(events.filter((e) => e === 'memory-only').length, 1);
  assert.equal(cache.stats().storage.kind, 'memory');
});

test('QuotaExceededError: evicts the LRU batch and retries once', async (t) => {
  const idb = new IDBFactory();
  const origin = await startOrigin({
    '/q/1': json({ q: 1 }, { 'cache-control': 'max-age=600' }),
    '/q/2': json({ q: 2 }, { 'cache-control': 'max-age=600' }),
  });
  const cache = await createCacheWith(factory, { name: uniqueName('quota'), indexedDB: idb });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/q/1`);
  await cache.flush();

  const storeProto = globalThis.IDBObjectStore.prototype;
  const put = storeProto.put;
  let failures = 1;
  storeProto.put = function (...args) {
    if (this.name === 'entries' && failures > 0) {
      failures--;
      throw quotaError();
    }
    return put.apply(this, args);
  };
  t.after(() => { storeProto.put = put; });

  await cache.get(`${origin.origin}/q/2`);
  await cache.flush();
  const s = cache.stats();
  assert.equal(s.storage.quotaEvictions, 1);
  assert.equal(s.storage.persistent, true, 'not degraded after a successful retry');
  assert.equal(s.store.entries, 1, 'the older entry was evicted to make room');
});

test('QuotaExceededError twice: kNoSpace, memory-only from then on', async (t) => {
  const idb = new IDBFactory();
  const origin = await startOrigin({ '/qq': json({ q: 1 }, { 'cache-control': 'max-age=600' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('quota2'), indexedDB: idb });
  t.after(async () => { await cache.close(); await origin.close(); });
  const storeProto = globalThis.IDBObjectStore.prototype;
  const put = storeProto.put;
  storeProto.put = function (...args) {
    if (this.name === 'entries') throw quotaError();
    return put.apply(this, args);
  };
  t.after(() => { storeProto.put = put; });

  await cache.get(`${origin.origin}/qq`);
  await assert.rejects(cache.flush(), (e) => e.code === Code.noSpace);
  const s = cache.stats();
  assert.equal(s.store_degraded, true);
  assert.equal(s.storage.kind, 'memory');
  assert.match(s.storage.reason, /no_space/);
  assert.equal((await cache.get(`${origin.origin}/qq`)).source, 'memory', 'memory keeps serving');
});

test('preheat lane: low priority requests carry Sec-Purpose: prefetch', async (t) => {
  const origin = await startOrigin({
    '/h/1': json({ h: 1 }, { 'cache-control': 'max-age=60' }),
    '/h/2': json({ h: 2 }, { 'cache-control': 'max-age=60' }),
  });
  const cache = await createCacheWith(factory, { name: uniqueName('preheat') });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/h/1`);
  const started = await cache.preheat([`${origin.origin}/h/1`, `${origin.origin}/h/2`]);
  assert.equal(started, 1, 'already cached URLs are skipped');
  const req = origin.requests.find((r) => r.path === '/h/2');
  assert.equal(req.headers['sec-purpose'], 'prefetch');
  assert.equal(req.headers.purpose, 'prefetch');
  assert.equal(origin.requests.find((r) => r.path === '/h/1').headers['sec-purpose'], undefined);
  assert.equal(cache.peek(`${origin.origin}/h/2`).state, 'fresh');
  assert.equal(cache.stats().requests_by_lane.preheat, 1);
});

test('preheat skips entries stored in IndexedDB, even stale ones: no revalidation', async (t) => {
  const origin = await startOrigin({
    '/s': json({ s: 1 }, { 'cache-control': 'max-age=0, stale-while-revalidate=600' }),
    '/n': json({ n: 1 }, { 'cache-control': 'max-age=0, stale-while-revalidate=600' }),
  });
  t.after(() => origin.close());
  const two = await reopenedAfterStoring(t, uniqueName('prestored'), [`${origin.origin}/s`]);
  assert.equal(two.peek(`${origin.origin}/s`), null, 'memory tier cold');
  const started = await two.preheat([`${origin.origin}/s`, `${origin.origin}/n`]);
  assert.equal(started, 1, 'only the URL missing from both tiers went to the network');
  assert.equal(origin.count('/s'), 1, 'the stored, stale entry was not revalidated by a preheat');
  assert.equal(origin.count('/n'), 1);
  // A navigation still revalidates the stale entry as usual.
  const nav = await two.get(`${origin.origin}/s`);
  assert.equal(nav.state, 'stale');
  await nav.revalidation;
  assert.equal(origin.count('/s'), 2);
});

test('network failure: kUnavailable; stale-if-error serves the stored copy', async (t) => {
  let up = true;
  const origin = await startOrigin({
    '/e': () => (up ? json({ e: 1 }, { 'cache-control': 'max-age=0, stale-if-error=600' })
                    : { status: 503, body: 'down' }),
  });
  const cache = await createCacheWith(factory, { name: uniqueName('err'), requestTimeoutMs: 2000 });
  t.after(async () => { await cache.close(); await origin.close(); });
  await assert.rejects(cache.get('http://127.0.0.1:1/nothing-listens'),
                       (e) => e instanceof PreheatError && e.code === Code.unavailable);
  await cache.get(`${origin.origin}/e`);
  up = false;
  const r = await cache.get(`${origin.origin}/e`);
  assert.equal(r.state, 'stale-if-error');
  assert.deepEqual(r.data, { e: 1 });
});

test('request timeout: kTimeout', async (t) => {
  const origin = await startOrigin({ '/slow': { ...json({}), delayMs: 1500 } });
  const cache = await createCacheWith(factory, { name: uniqueName('timeout'), requestTimeoutMs: 100 });
  t.after(async () => { await cache.close(); await origin.close(); });
  await assert.rejects(cache.get(`${origin.origin}/slow`), (e) => e.code === Code.timeout);
});

test('cross-instance (cross-tab) invalidation over BroadcastChannel', async (t) => {
  const origin = await startOrigin({
    '/x': json({ x: 1 }, { 'cache-control': 'max-age=600, stale-while-revalidate=600' }),
  });
  const name = uniqueName('tabs');
  const a = await createCacheWith(factory, { name });
  const b = await createCacheWith(factory, { name });
  t.after(async () => { await a.close(); await b.close(); await origin.close(); });
  const url = `${origin.origin}/x`;
  await a.get(url);
  await b.get(url);
  assert.equal(b.peek(url).state, 'fresh');
  a.invalidate({ url });
  await until(() => b.peek(url)?.state === 'stale', 2000, 'b to see the invalidation');
  a.clear();
  await until(() => b.peek(url) === null, 2000, 'b to see the clear');
});

test('two instances subscribed to a resource that changes on every request do not refetch it back and forth', async (t) => {
  let n = 0;
  const origin = await startOrigin({
    '/feed': () => json({ n: ++n }, { 'cache-control': 'max-age=600' }),
  });
  const name = uniqueName('pingpong');
  const a = await createCacheWith(factory, { name, storage: 'memory' });
  const b = await createCacheWith(factory, { name, storage: 'memory' });
  t.after(async () => { await a.close(); await b.close(); await origin.close(); });
  const url = `${origin.origin}/feed`;
  await a.get(url);
  await b.get(url);
  let seenByA = 0;
  let seenByB = 0;
  a.subscribe(url, () => seenByA++);
  b.subscribe(url, () => seenByB++);
  a.invalidate({ url });           // both mark it stale
  const r = await a.get(url);      // a revalidates: a new version, told to b
  await r.revalidation;
  await until(() => seenByB === 1, 2000, 'b to refresh on a\'s word');
  await sleep(300);                // a bounce would show as more requests by now
  assert.equal(origin.count('/feed'), 4, 'two first gets, a\'s revalidation, b\'s refresh');
  assert.equal(seenByA, 1);
  assert.equal(seenByB, 1);
});

test('a stale read whose revalidation the full lane refused: revalidating false, its revalidation settles null', async (t) => {
  let v = 0;
  const route = () => ({ ...json({ v: ++v }, { 'cache-control': 'max-age=600, stale-while-revalidate=600' }), delayMs: 300 });
  const origin = await startOrigin({ '/r/1': route, '/r/2': route, '/r/3': route });
  const cache = await createCacheWith(factory, {
    name: uniqueName('lane-full'), storage: 'memory',
    engine: { lanes: [{}, { inflightMax: 1, queueMax: 1 }, {}] },
  });
  t.after(async () => { await cache.close(); await origin.close(); });
  const urls = [1, 2, 3].map((i) => `${origin.origin}/r/${i}`);
  for (const u of urls) await cache.get(u);
  cache.invalidate({ all: true });
  const results = await Promise.all(urls.map((u) => cache.get(u)));
  assert.deepEqual(results.map((r) => r.revalidating), [true, true, false]);
  const settled = await Promise.all(results.map((r) => r.revalidation));
  assert.ok(settled[0] && settled[1], 'the two revalidations made bring new data');
  assert.equal(settled[2], null);
  assert.equal(cache.stats().queue_rejected, 1);
});

test('a subscriber unsubscribed by another during a notification is not called', async (t) => {
  let version = 1;
  const origin = await startOrigin({
    '/s': () => json({ version }, { 'cache-control': 'max-age=0, stale-while-revalidate=600' }),
  });
  const cache = await createCacheWith(factory, { name: uniqueName('unsub') });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/s`;
  await cache.get(url);
  const calls = [];
  let offB = null;
  cache.subscribe(url, () => { calls.push('A'); offB(); });
  offB = cache.subscribe(url, () => calls.push('B'));
  version = 2;
  await (await cache.get(url)).revalidation;
  assert.deepEqual(calls, ['A']);
});

test('revalidation resolves with the new data without any subscriber; null when unchanged', async (t) => {
  let version = 1;
  let etag = '"e1"';
  const origin = await startOrigin({
    '/rv': (req) => (req.headers['if-none-match'] === etag
      ? { status: 304, headers: { etag } }
      : json({ version }, { etag })),
  });
  const cache = await createCacheWith(factory, {
    name: uniqueName('reval'),
    routes: [{ pattern: '/rv', maxAgeMs: 20, staleWhileRevalidateMs: 60000 }],
  });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/rv`;
  await cache.get(url);

  // Changed: the promise carries the new data (nobody subscribed).
  await sleep(40);
  version = 2;
  etag = '"e2"';
  const stale = await cache.get(url);
  assert.equal(stale.state, 'stale');
  assert.equal(stale.revalidating, true);
  const updated = await stale.revalidation;
  assert.ok(updated, 'a changed revalidation resolves with the new result');
  assert.deepEqual(updated.data, { version: 2 });
  assert.deepEqual(cache.peek(url).data, { version: 2 });

  // Unchanged (304): null.
  await sleep(40);
  const again = await cache.get(url);
  assert.equal(again.revalidating, true);
  assert.equal(await again.revalidation, null);
  assert.equal(cache._engineSubs.size, 0, 'internal subscriptions are released');
});

test('peek: an unchanged entry reuses its decoded data; a changed one does not', async (t) => {
  let n = 1;
  const origin = await startOrigin({ '/memo': () => json({ n }, { 'cache-control': 'max-age=600' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('memo') });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/memo`;
  const got = await cache.get(url);
  const a = cache.peek(url);
  const b = cache.peek(url);
  assert.deepEqual(a.data, { n: 1 });
  assert.equal(a.data, b.data, 'same representation: the decoded value is shared');
  assert.equal(a.body, b.body);
  assert.equal(a.bodyHash, got.bodyHash);
  assert.equal(b.key, got.key);
  assert.equal(b.headers['content-type'], 'application/json');
  n = 2;
  cache.invalidate({ url }, { mode: 'remove' });
  assert.equal(cache.peek(url), null);
  await cache.get(url);
  const c = cache.peek(url);
  assert.deepEqual(c.data, { n: 2 });
  assert.notEqual(c.bodyHash, a.bodyHash);
  // Many URLs: the memo stays bounded.
  assert.ok(cache._memo.size <= 256);
});

test('IndexedDB usage totals stay exact when two instances write the same database', async (t) => {
  const idb = new IDBFactory();
  const routes = {};
  for (let i = 0; i < 6; i++) routes[`/u/${i}`] = () => json({ i, pad: 'x'.repeat(100 * (i + 1)) }, { 'cache-control': 'max-age=600' });
  const origin = await startOrigin(routes);
  const name = uniqueName('usage');
  const a = await createCacheWith(factory, { name, indexedDB: idb, crossTab: false });
  const b = await createCacheWith(factory, { name, indexedDB: idb, crossTab: false });
  t.after(async () => { await a.close(); await b.close(); await origin.close(); });
  const u = (i) => `${origin.origin}/u/${i}`;
  // Interleaved writers, overlapping keys (b rewrites a's /u/1 and /u/2).
  for (const i of [0, 1, 2]) await a.get(u(i));
  await a.flush();
  for (const i of [1, 2, 3, 4]) await b.get(u(i));
  await b.flush();
  await a.get(u(5));
  await a.flush();
  b.invalidate({ url: u(0) }, { mode: 'remove' });
  await b.flush();

  // The truth: the records themselves.
  const truth = await new Promise((resolve, reject) => {
    const open = idb.open(`preheat:${name}`);
    open.onsuccess = () => {
      const db = open.result;
      const r = db.transaction('entries').objectStore('entries').getAll();
      r.onsuccess = () => {
        db.close();
        resolve({ entries: r.result.length, bytes: r.result.reduce((n, x) => n + x.charge, 0) });
      };
      r.onerror = () => reject(r.error);
    };
    open.onerror = () => reject(open.error);
  });
  assert.ok(truth.entries >= 5);
  for (const cache of [a, b]) await cache._store.doUsage().then((usage) => assert.deepEqual(usage, truth));
  assert.equal(b.stats().store.entries, truth.entries, "b's engine heard the shared count");
});

test('IndexedDB: a database written by the first release (per-key sizes) is taken over', async (t) => {
  const idb = new IDBFactory();
  const name = uniqueName('legacy');
  // The first release's layout: entries + sizes + meta usage without gen.
  await new Promise((resolve, reject) => {
    const open = idb.open(`preheat:${name}`, 1);
    open.onupgradeneeded = () => {
      const db = open.result;
      const e = db.createObjectStore('entries', { keyPath: 'key' });
      e.createIndex('lastAccess', 'lastAccess');
      e.createIndex('tags', 'tags', { multiEntry: true });
      db.createObjectStore('sizes');
      db.createObjectStore('meta');
    };
    open.onsuccess = () => {
      const db = open.result;
      const tx = db.transaction(['entries', 'sizes', 'meta'], 'readwrite');
      tx.objectStore('entries').put({ key: 'old', value: new Uint8Array(10), tags: [], lastAccess: 1, charge: 500 });
      tx.objectStore('sizes').put(500, 'old');
      tx.objectStore('meta').put({ bytes: 500, entries: 1 }, 'usage');
      tx.oncomplete = () => { db.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  });
  const origin = await startOrigin({ '/l': json({ l: 1 }, { 'cache-control': 'max-age=600' }) });
  const cache = await createCacheWith(factory, { name, indexedDB: idb, crossTab: false });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/l`);
  await cache.flush();
  const usage = await cache._store.doUsage();
  assert.equal(usage.entries, 2);
  assert.ok(usage.bytes > 500);
  assert.equal(cache.stats().store.entries, 2);
});

test('IndexedDB deleted by another instance: closes at once, re-creates on the next write', async (t) => {
  const origin = await startOrigin({
    '/d/1': json({ d: 1 }, { 'cache-control': 'max-age=600' }),
    '/d/2': json({ d: 2 }, { 'cache-control': 'max-age=600' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('deleted');
  const cache = await createCacheWith(factory, { name });
  t.after(() => cache.close());
  const events = [];
  cache.addEventListener('storagechange', (e) => events.push(e.detail.type));
  await cache.get(`${origin.origin}/d/1`);
  await cache.flush();
  await new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(`preheat:${name}`);
    req.onsuccess = resolve;
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error('delete blocked'));
  });
  assert.match(cache.stats().storage.lost, /deleted/);
  assert.equal(cache.peek(`${origin.origin}/d/1`).source, 'memory');
  assert.equal((await cache.get(`${origin.origin}/d/2`)).source, 'network');
  await cache.flush();
  await sleep(0);
  const s = cache.stats();
  assert.equal(s.store_degraded, false);
  assert.equal(s.storage.lost, null);
  assert.equal(s.storage.reconnects, 1);
  assert.deepEqual(events, ['lost', 'reconnected']);
  assert.equal(s.store.entries, 1, 'only the write made after the deletion');
});

test('a body read from IndexedDB has the stored bytes (a view of the record, no copy)', async (t) => {
  const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7 + 3) & 255));
  const origin = await startOrigin({
    '/bin': { status: 200, headers: { 'content-type': 'application/octet-stream', 'cache-control': 'max-age=600' }, body: bytes },
  });
  t.after(() => origin.close());
  const two = await reopenedAfterStoring(t, uniqueName('bytes'), [`${origin.origin}/bin`]);
  const r = await two.get(`${origin.origin}/bin`);
  assert.equal(r.source, 'store');
  assert.ok(r.body instanceof Uint8Array);
  assert.equal(r.body.length, bytes.length);
  assert.equal(Buffer.compare(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength), bytes), 0);
  assert.equal(r.data, r.body);
  // The memory tier's copy (peek) has the same bytes.
  const p = two.peek(`${origin.origin}/bin`);
  assert.equal(Buffer.compare(Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength), bytes), 0);
});

test('a record read from IndexedDB keeps its tags and headers; unusual records still decode', async (t) => {
  const origin = await startOrigin({
    '/r/1': json({ r: 1 }, { 'cache-control': 'max-age=600', 'cache-tag': 'alpha, beta', constructor: 'yes' }),
    '/r/2': json({ r: 2 }, { 'cache-control': 'max-age=600', 'cache-tag': 'beta' }),
    '/r/3': json({ r: 3 }, { 'cache-control': 'max-age=600' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('intake');
  const urls = ['/r/1', '/r/2', '/r/3'].map((p) => `${origin.origin}${p}`);
  const one = await createCacheWith(factory, { name });
  const keys = [];
  for (const url of urls) keys.push((await one.get(url)).key);
  await one.flush();
  await one.close();
  // Record 2: a non-ASCII tag in the store's index field (a read takes an
  // entry's tags from its value, not from that field); record 3: its value
  // as an ArrayBuffer (the general path). Both still decode.
  const db = await openCacheDb(name);
  await new Promise((resolve, reject) => {
    const tx = db.transaction('entries', 'readwrite');
    const entries = tx.objectStore('entries');
    const r2 = entries.get(keys[1]);
    r2.onsuccess = () => entries.put({ ...r2.result, tags: ['béta', 'beta'] });
    const r3 = entries.get(keys[2]);
    r3.onsuccess = () => {
      const v = r3.result.value;
      entries.put({ ...r3.result, value: v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength) });
    };
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();

  const two = await createCacheWith(factory, { name });
  t.after(() => two.close());
  const [r1, r2, r3] = await Promise.all(urls.map((u) => two.get(u)));
  for (const r of [r1, r2, r3]) assert.equal(r.source, 'store');
  assert.deepEqual(r1.data, { r: 1 });
  assert.deepEqual(r1.tags, ['alpha', 'beta']);
  assert.equal(r1.headers.constructor, 'yes', 'a field named like an Object.prototype member');
  assert.ok(Object.prototype.hasOwnProperty.call(r1.headers, 'constructor'));
  assert.equal(r1.headers['content-type'], 'application/json');
  assert.deepEqual(r2.data, { r: 2 });
  assert.deepEqual(r2.tags, ['beta']);
  assert.deepEqual(r3.data, { r: 3 });
  assert.equal(two.invalidate({ tag: 'beta' }), 2, 'tags of records read from the store');
  assert.equal(origin.count('/r/1') + origin.count('/r/2') + origin.count('/r/3'), 3);
});

test('store reads started together, small and large, each get their own record bytes', async (t) => {
  // A read's record buffer is reserved when the read starts (bindings.cc:
  // JsStore::Get) and used by whichever completion owns it; reads started
  // together must neither share nor reuse a consumed buffer.
  const sizes = [100, 900, 3000, 20000, 50, 2500];
  const text = (i, n) => String.fromCharCode(97 + i).repeat(n);
  const routes = {};
  sizes.forEach((n, i) => {
    routes[`/s/${i}`] = { status: 200, headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }, body: text(i, n) };
  });
  const origin = await startOrigin(routes);
  t.after(() => origin.close());
  const name = uniqueName('slots');
  const urls = sizes.map((_, i) => `${origin.origin}/s/${i}`);
  const one = await createCacheWith(factory, { name });
  for (const url of urls) await one.get(url);
  await one.flush();
  await one.close();
  const check = (results) => results.forEach((r, i) => {
    assert.equal(r.source, 'store', `read ${i}`);
    assert.equal(r.data, text(i, sizes[i]), `read ${i}`);
  });
  // Together, twice (the second time with the last record's size as hint).
  for (let round = 0; round < 2; round++) {
    const two = await createCacheWith(factory, { name });
    check(await Promise.all(urls.map((u) => two.get(u))));
    await two.close();
  }
  // One after another.
  const three = await createCacheWith(factory, { name });
  t.after(() => three.close());
  const each = [];
  for (const u of urls) each.push(await three.get(u));
  check(each);
  assert.equal(three.stats().store_errors, 0);
  sizes.forEach((_, i) => assert.equal(origin.count(`/s/${i}`), 1));
});

// Counts the read-only transactions a cache's IndexedDB store starts.
function countReads(cache) {
  const db = cache._store.db;
  const transaction = db.transaction.bind(db);
  const counter = { reads: 0 };
  db.transaction = (names, mode) => {
    if ((mode || 'readonly') === 'readonly') counter.reads++;
    return transaction(names, mode);
  };
  return counter;
}

test('a cold get reads the store once: the read started ahead of the engine is the engine\'s', async (t) => {
  // get() starts the store read before the engine's lookups (cache.js:
  // _fastGet, IdbStore.readAhead) when the URL is new to the cache; the
  // engine's read of the same key takes that request over. A URL the engine
  // normalises (its fragment dropped) is read under another key: the read
  // ahead is dropped and the engine's own read finds the record.
  const origin = await startOrigin({
    '/a/1': json({ a: 1 }, { 'cache-control': 'max-age=600' }),
    '/a/2': json({ a: 2 }, { 'cache-control': 'max-age=600' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('ahead');
  const [u1, u2] = ['/a/1', '/a/2'].map((p) => `${origin.origin}${p}`);
  for (const namespace of ['', 'tenant-7']) {
    const one = await createCacheWith(factory, { name, namespace });
    await one.get(u1);
    await one.get(u2);
    await one.flush();
    await one.close();

    const two = await createCacheWith(factory, { name, namespace });
    // The engine's start-up eviction is still looking at the totals; reads
    // do not wait for it (IdbStore.readsNow), nor does a read ahead.
    assert.equal(two._store.probing, 1, 'the start-up eviction is still running');
    const counter = countReads(two);
    const r1 = await two.get(u1);
    assert.equal(r1.source, 'store', namespace);
    assert.deepEqual(r1.data, { a: 1 });
    assert.equal(counter.reads, 1, `one read for a cold get (namespace '${namespace}')`);
    const r2 = await two.get(`${u2}#section`);
    assert.equal(r2.source, 'store', namespace);
    assert.deepEqual(r2.data, { a: 2 });
    assert.equal(r2.url, u2);
    assert.equal(counter.reads, 3, 'the read under the un-normalised key, then the engine\'s');
    // In memory now: no store read at all.
    assert.equal((await two.get(u1)).source, 'memory');
    assert.equal(counter.reads, 3);
    await two.close();
  }
  assert.equal(origin.count('/a/1') + origin.count('/a/2'), 4, 'each namespace fetched each once');
});

test('a get of a URL in the memory tier but not yet served reads no store ahead', async (t) => {
  // A preheat puts entries into the memory tier without a get(): the cache
  // remembers the URLs it fetched, and get() then starts no store read.
  const origin = await startOrigin({
    '/p/1': json({ p: 1 }, { 'cache-control': 'max-age=600' }),
  });
  t.after(() => origin.close());
  const cache = await createCacheWith(factory, { name: uniqueName('seen') });
  t.after(() => cache.close());
  const url = `${origin.origin}/p/1`;
  assert.equal(await cache.preheat([url]), 1);
  // Not peek(): that would put the URL in the cache's decoded-data memo.
  await until(() => cache.stats().memory.entries === 1);
  const counter = countReads(cache);
  const r = await cache.get(url);
  assert.equal(r.source, 'memory');
  assert.equal(counter.reads, 0);
  assert.equal(origin.count('/p/1'), 1);
});

test('IdbStore: a read on an idle store runs at once; later operations start after it completes', async (t) => {
  const { IdbStore, Code: StoreCode } = await import(new URL('../../web/src/idb-store.js', import.meta.url).href);
  const store = await IdbStore.open(uniqueName('fifo'), { indexedDB: new IDBFactory() });
  t.after(() => store.close());
  const events = [];
  const transaction = store.db.transaction.bind(store.db);
  store.db.transaction = (names, mode) => {
    events.push(`tx ${mode || 'readonly'}`);
    return transaction(names, mode);
  };
  let completions = 0;
  store.attach({
    storeGetDone: (op, now, code, msg, rec) => {
      completions++;
      events.push(`get ${op} ${code === StoreCode.notFound ? 'missing' : rec.value[0]}`);
    },
    storeWriteDone: (op, now, code) => { completions++; events.push(`write ${op} ${code}`); },
  }, () => events.push('after'));
  store.get(1, 'k');
  assert.deepEqual(events, ['tx readonly'], 'an idle store starts a read at once');
  store.write(2, [{ kind: 0, key: 'k', value: new Uint8Array([7]), tags: [], lastAccess: 1, charge: 10 }]);
  store.get(3, 'k');
  assert.deepEqual(events, ['tx readonly'], 'nothing else starts before the read completes');
  await until(() => completions === 3);
  await store.tail();
  assert.deepEqual(events.slice(0, 2), ['tx readonly', 'get 1 missing'],
                   'no transaction of a later operation before the read completed');
  assert.deepEqual(events.filter((e) => /^(get|write) /.test(e)), ['get 1 missing', 'write 2 0', 'get 3 7']);
  assert.ok(events.includes('after'), 'afterComplete ran');
});

// An IdbStore whose transactions (mode and object stores) and completions
// are recorded in `events`.
async function recordedStore(t, name) {
  const { IdbStore } = await import(new URL('../../web/src/idb-store.js', import.meta.url).href);
  const store = await IdbStore.open(uniqueName(name), { indexedDB: new IDBFactory() });
  t.after(() => store.close());
  const events = [];
  const transaction = store.db.transaction.bind(store.db);
  store.db.transaction = (names, mode) => {
    events.push(`tx ${mode || 'readonly'} ${[].concat(names).join(',')}`);
    return transaction(names, mode);
  };
  const done = { count: 0 };
  store.attach({
    storeGetDone: (op, now, code, msg, rec) => {
      done.count++;
      events.push(`get ${op} ${code === 0 ? rec.value[0] : 'missing'}`);
    },
    storeWriteDone: (op, now, code, msg, bytes, entries) => {
      done.count++;
      events.push(`write ${op} ${code} ${entries}`);
    },
    storeEvictDone: (op, now, code, msg, bytes, entries) => {
      done.count++;
      events.push(`evict ${op} ${code} ${bytes}/${entries}`);
    },
  }, () => {});
  return { store, events, done };
}

const put = (key, byte, lastAccess) =>
  ({ kind: 0, key, value: new Uint8Array([byte]), tags: [], lastAccess, charge: 10 });

test('IdbStore: an eviction within its targets only reads the totals; reads run beside it, writes after it', async (t) => {
  // The engine evicts to its budget at start-up (Engine::Start): with the
  // store within it, no readwrite transaction opens, and the first gets do
  // not queue behind one.
  const { store, events, done } = await recordedStore(t, 'probe');
  store.write(1, [put('a', 7, 1), put('b', 8, 2)]);
  await until(() => done.count === 1);
  await store.tail();
  events.length = 0;

  store.evict(2, 1000, 1000);
  assert.deepEqual(events, ['tx readonly meta'], 'a read-only look at the totals');
  store.get(3, 'a');
  assert.deepEqual(events, ['tx readonly meta', 'tx readonly entries'], 'the read starts at once');
  store.write(4, [put('c', 9, 3)]);
  store.get(5, 'c');
  assert.equal(events.length, 2, 'a write waits for the eviction and the read');
  await until(() => done.count === 5);
  await store.tail();
  const completions = events.filter((e) => !e.startsWith('tx '));
  assert.ok(completions.indexOf('evict 2 0 20/2') >= 0, completions.join('; '));
  assert.ok(completions.indexOf('get 3 7') >= 0, completions.join('; '));
  assert.deepEqual(completions.slice(2), ['write 4 0 3', 'get 5 9']);
  const writeTx = events.indexOf('tx readwrite entries,sizes,meta');
  assert.ok(writeTx > events.indexOf('evict 2 0 20/2') && writeTx > events.indexOf('get 3 7'),
            'the write started after both completed');
  assert.equal(events.filter((e) => e.startsWith('tx readwrite')).length, 1, "only the write's");
});

test('IdbStore: operations queued behind a read run one after another, not all at once when it completes', async (t) => {
  // FIFO (web/README.md): a write retried after a quota error lands before
  // a removal started after it. Every operation queued while a read that
  // started at once (getNow) ran used to wait for that read only, and all
  // started together when it completed: the removal committed between the
  // write's failed attempt and its retry, which then stored the record the
  // engine had removed.
  const { store } = await recordedStore(t, 'fifo-behind-read');
  const done = [];
  store.attach({
    storeGetDone: (op, now, code) => done.push(`get ${op} ${code}`),
    storeWriteDone: (op, now, code) => done.push(`write ${op} ${code}`),
    storeRemoveDone: (op, now, code, msg, n) => done.push(`remove ${op} ${code} ${n}`),
  }, () => {});
  store.write(1, [put('k', 1, 1), put('old', 2, 0)]);
  await until(() => done.length === 1);
  await store.tail();

  const proto = globalThis.IDBObjectStore.prototype;
  const origPut = proto.put;
  let quota = 1;
  proto.put = function (...args) {
    if (this.name === 'entries' && quota-- > 0) throw quotaError();
    return origPut.apply(this, args);
  };
  t.after(() => { proto.put = origPut; });
  store.get(2, 'x');                             // starts at once
  store.write(3, [put('k', 3, 5)]);              // quota error, eviction, retry
  store.removeMatching(4, 0, 'k');               // then k removed
  await until(() => done.length === 4);
  await store.tail();
  proto.put = origPut;
  assert.deepEqual(done.slice(1), ['get 2 1', 'write 3 0', 'remove 4 0 1']);
  assert.equal(store.quotaEvictions, 1);
  const got = [];
  store.attach({ storeGetDone: (op, now, code) => got.push(code) }, () => {});
  store.get(5, 'k');
  await until(() => got.length === 1);
  assert.equal(got[0], 1, 'k stays removed (notFound)');
});

test('IdbStore: an eviction over its targets removes the least recently used records after the look', async (t) => {
  const { store, events, done } = await recordedStore(t, 'probe-over');
  store.write(1, [put('a', 7, 1), put('b', 8, 2), put('c', 9, 3)]);
  await until(() => done.count === 1);
  await store.tail();
  events.length = 0;

  store.evict(2, 1000, 1);
  await until(() => done.count === 2);
  await store.tail();
  assert.deepEqual(events, ['tx readonly meta', 'tx readwrite entries,sizes,meta', 'evict 2 0 10/1']);
  store.get(3, 'a');
  store.get(4, 'c');
  await until(() => done.count === 4);
  assert.deepEqual(events.filter((e) => e.startsWith('get ')), ['get 3 missing', 'get 4 9'],
                   'the most recently used record stays');
  assert.deepEqual(await store.doUsage(), { bytes: 10, entries: 1 });
});

test('IdbStore: an eviction on a database never written reports it empty without a readwrite transaction', async (t) => {
  const { store, events, done } = await recordedStore(t, 'probe-empty');
  store.evict(1, 1000, 1000);
  await until(() => done.count === 1);
  await store.tail();
  assert.deepEqual(events, ['tx readonly meta', 'evict 1 0 0/0']);
});

// ---- review fixes: size log, forced close, multi-transaction operations, fetch driver ----

const storeModuleUrl = new URL('../../web/src/idb-store.js', import.meta.url).href;
const logRecords = (db) => new Promise((resolve) => {
  const r = db.transaction('meta').objectStore('meta').count(IDBKeyRange.bound(['log', -Infinity], ['log', Infinity]));
  r.onsuccess = () => resolve(r.result);
});

test('IdbStore: transactions that change no size (touches, same-size puts, removals of nothing) add no size-log record', async (t) => {
  // Every such record used to stay: the log only compacts by counted changes,
  // and a session's first write reads all of it.
  const { IdbStore } = await import(storeModuleUrl);
  const idb = new IDBFactory();
  const name = uniqueName('log-bound');
  const store = await IdbStore.open(name, { indexedDB: idb });
  t.after(() => store.close());
  let done = 0;
  store.attach({ storeWriteDone: () => done++, storeRemoveDone: () => done++ }, () => {});
  store.write(0, [put('a', 1, 1), put('b', 1, 1)]);
  const N = 300;
  for (let i = 1; i <= N; i++) {
    if (i % 3 === 0) store.write(i, [{ kind: 2, key: 'a', lastAccess: 10 + i }]);
    else if (i % 3 === 1) store.write(i, [put('b', i & 255, 10 + i)]);
    else store.removeMatching(i, 2, 'no-such-tag');
  }
  await until(() => done === N + 1, 20000);
  await store.tail();
  assert.equal(await logRecords(store.db), 1, 'only the first write\'s record');
  const u = await store.usageRecord();
  assert.deepEqual([u.bytes, u.entries, u.gen], [20, 2, 1]);
  // Another tab's mirror still syncs: its write sees exact totals.
  const other = await IdbStore.open(name, { indexedDB: idb });
  t.after(() => other.close());
  let totals = null;
  other.attach({ storeWriteDone: (op, now, code, msg, bytes, entries) => { totals = [code, bytes, entries]; } }, () => {});
  other.write(1, [put('c', 3, 3)]);
  await until(() => totals);
  assert.deepEqual(totals, [0, 30, 3]);
});

test('IdbStore: a log left long by an earlier release (records of no change) is compacted by the next write', async (t) => {
  const { IdbStore } = await import(storeModuleUrl);
  const idb = new IDBFactory();
  const name = uniqueName('log-old');
  const old = await IdbStore.open(name, { indexedDB: idb });
  let done = 0;
  old.attach({ storeWriteDone: () => done++ }, () => {});
  old.write(1, [put('a', 1, 1), put('b', 1, 1)]);
  await until(() => done === 1);
  const records = 5000;
  await new Promise((resolve) => {
    const tx = old.db.transaction('meta', 'readwrite');
    const m = tx.objectStore('meta');
    for (let g = 2; g <= records + 1; g++) m.put({ gen: g, snapshot: false, keys: [], charges: [] }, ['log', g]);
    m.put({ bytes: 20, entries: 2, gen: records + 1, logChanges: 0 }, 'usage');
    tx.oncomplete = resolve;
  });
  old.close();
  const store = await IdbStore.open(name, { indexedDB: idb });  // a new session
  t.after(() => store.close());
  let totals = null;
  store.attach({ storeWriteDone: (op, now, code, msg, bytes, entries) => { totals = [code, bytes, entries]; } }, () => {});
  store.write(1, [{ kind: 2, key: 'a', lastAccess: 5 }]);  // a touch: no change of its own
  await until(() => totals);
  await store.tail();
  assert.deepEqual(totals, [0, 20, 2]);
  assert.equal(await logRecords(store.db), 1, 'one snapshot replaced them');
});

// Captures the store's next readwrite transaction; aborts it (no cause of its
// own) and closes the connection a task later, as Chromium does when site
// data is cleared (fake-indexeddb's forceCloseDatabase aborts nothing), and
// as there, the first reopening fails with AbortError.
function forceCloseDuringNextWrite(store) {
  const { forceCloseDatabase } = requireDev('fake-indexeddb');
  const db = store.db;
  const open = db.transaction.bind(db);
  db.transaction = (names, mode) => {
    const tx = open(names, mode);
    if (mode === 'readwrite') {
      db.transaction = open;
      tx.addEventListener('abort', () => setTimeout(() => forceCloseDatabase(db), 0));
      queueMicrotask(() => tx.abort());
    }
    return tx;
  };
  const idb = store.openOptions.indexedDB;
  store.openOptions.indexedDB = {
    open(...args) {
      store.openOptions.indexedDB = idb;
      const req = {};
      setTimeout(() => {
        req.error = new DOMException('The connection was closed.', 'AbortError');
        req.onerror({ preventDefault() {} });
      }, 0);
      return req;
    },
  };
}

test('a forced close of the connection during a write: reconnects and retries the batch, the cache stays persistent', async (t) => {
  const origin = await startOrigin({ '/f/1': json({ f: 1 }, { 'cache-control': 'max-age=600' }) });
  const name = uniqueName('forced');
  const cache = await createCacheWith(factory, { name, indexedDB: new IDBFactory() });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/f/1`);
  forceCloseDuringNextWrite(cache._store);
  await cache.flush();
  await sleep(0);
  const s = cache.stats();
  assert.equal(s.store_degraded, false, `degraded: ${s.storage.reason}`);
  assert.equal(s.storage.reconnects, 1);
  assert.equal(s.store.entries, 1, 'the batch was written after reconnecting');
});

test('IdbStore: a forced close during a write whose reconnection fails reports unavailable, not an I/O error', async (t) => {
  const { IdbStore, Code: StoreCode } = await import(storeModuleUrl);
  const store = await IdbStore.open(uniqueName('forced-gone'), { indexedDB: new IDBFactory() });
  t.after(() => store.close());
  const codes = [];
  store.attach({ storeWriteDone: (op, now, code) => codes.push(code),
                 storeRemoveDone: (op, now, code) => codes.push(code) }, () => {});
  forceCloseDuringNextWrite(store);
  store.write(1, [put('a', 1, 1)]);
  await until(() => codes.length === 1);
  assert.deepEqual(codes, [StoreCode.ok], 'retried on the reopened connection');
  assert.equal(store.reconnects, 1);
  forceCloseDuringNextWrite(store);
  store.openOptions.indexedDB = { open() { throw new Error('refused'); } };
  store.removeMatching(2, 0, 'a');
  await until(() => codes.length === 2);
  assert.deepEqual(codes, [StoreCode.ok, StoreCode.unavailable]);
});

test('IdbStore: a deletion between the transactions of one operation (probe then evict; quota retry) reconnects', async (t) => {
  const { IdbStore } = await import(storeModuleUrl);
  const idb = new IDBFactory();
  const name = uniqueName('multi-tx');
  const a = await IdbStore.open(name, { indexedDB: idb });  // this tab
  const b = await IdbStore.open(name, { indexedDB: idb });  // another tab
  t.after(() => { a.close(); b.close(); });
  const codes = {};
  const eng = { storeWriteDone: (op, now, code, msg) => { codes[op] = `${code} ${msg}`; },
                storeEvictDone: (op, now, code, msg) => { codes[op] = `${code} ${msg}`; } };
  a.attach(eng, () => {});
  b.attach(eng, () => {});
  a.write(1, [put('a', 1, 1), put('b', 2, 2), put('c', 3, 3)]);
  await until(() => 1 in codes);
  b.write(2, [put('d', 4, 4)]);  // the other tab's readwrite transaction is in flight
  a.evict(3, 10, 1000);          // over its targets: the look queues behind it
  idb.deleteDatabase(name);      // versionchange closes a's connection before doEvict
  await until(() => 3 in codes);
  assert.equal(codes[3], '0 ');
  assert.equal(a.reconnects, 1);

  // The quota retry: usage, evict and write again after a deletion.
  const proto = Object.getPrototypeOf(a.db.transaction('entries').objectStore('entries'));
  const origPut = proto.put;
  let quota = 1;
  proto.put = function (...args) {
    if (this.name === 'entries' && quota-- > 0) {
      idb.deleteDatabase(name);
      throw Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
    }
    return origPut.apply(this, args);
  };
  t.after(() => { proto.put = origPut; });
  a.write(4, [put('e', 5, 5)]);
  await until(() => 4 in codes);
  proto.put = origPut;
  assert.equal(codes[4], '0 ');
  assert.equal(a.quotaEvictions, 1);
});

async function driverWith(t, fetch) {
  const { FetchDriver } = await import(new URL('../../web/src/fetch-driver.js', import.meta.url).href);
  const driver = new FetchDriver({ fetch });
  const done = [];
  driver.attach({ fetchDone: (op, now, code, msg, res) => done.push({ op, code, msg, res }) });
  t.after(() => driver.abortAll());
  return { driver, done };
}

const request = (url, extra = {}) =>
  ({ method: 'GET', url, headers: [], lane: 'navigate', maxBodyBytes: 0, timeoutMs: 1000, ...extra });

const answer = (body = '', headers = {}) => new Response(body, { status: 200, headers });

test('preheat lane: Purpose: prefetch only on same-origin requests (cross-origin it would force a CORS preflight)', async (t) => {
  const had = Object.getOwnPropertyDescriptor(globalThis, 'location');
  globalThis.location = { href: 'https://app.example/page', origin: 'https://app.example' };
  t.after(() => { if (had) Object.defineProperty(globalThis, 'location', had); else delete globalThis.location; });
  const seen = {};
  const { driver, done } = await driverWith(t, (url, init) => {
    seen[url] = init.headers;
    return Promise.resolve(answer('x'));
  });
  driver.start(1, request('https://api.other.example/a', { lane: 'preheat' }));
  driver.start(2, request('https://app.example/b', { lane: 'preheat' }));
  driver.start(3, request('/c', { lane: 'preheat' }));
  await until(() => done.length === 3);
  assert.equal(seen['https://api.other.example/a'].get('purpose'), null, 'cross-origin: no Purpose');
  assert.equal(seen['https://api.other.example/a'].get('sec-purpose'), 'prefetch');
  assert.equal(seen['https://app.example/b'].get('purpose'), 'prefetch');
  assert.equal(seen['/c'].get('purpose'), 'prefetch', 'a relative URL is same-origin');
});

test('FetchDriver: a request with no timeout of its own (0) times out after the default 30 s', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { driver, done } = await driverWith(t, (url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
  }));
  driver.start(1, request('http://127.0.0.1:1/stall', { timeoutMs: 0 }));
  const settle = () => new Promise((r) => setImmediate(r));
  t.mock.timers.tick(29999);
  await settle();
  assert.equal(done.length, 0);
  t.mock.timers.tick(1);
  await settle();
  assert.equal(done.length, 1);
  assert.equal(done[0].code, Code.timeout);
  assert.match(done[0].msg, /30000 ms/);
});

test('FetchDriver: a timeout past the timers\' 32-bit range does not fire at once', async (t) => {
  // setTimeout takes a signed 32-bit delay: 2^31 ms or more overflows and
  // fires at once (Node: after 1 ms). A requestTimeoutMs meant as "a month"
  // failed every request with kTimeout before it could be answered.
  const { driver, done } = await driverWith(t, (url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
  }));
  driver.start(1, request('http://127.0.0.1:1/long', { timeoutMs: 2 ** 31 }));
  driver.start(2, request('http://127.0.0.1:1/huge', { timeoutMs: 1e12 }));
  driver.start(3, request('http://127.0.0.1:1/short', { timeoutMs: 20 }));
  await until(() => done.length > 0);
  await sleep(0);
  assert.deepEqual(done.map((d) => [d.op, d.code]), [[3, Code.timeout]], 'only the 20 ms request timed out');
  driver.cancel(1);
  driver.cancel(2);
  await until(() => done.length === 3);
  assert.deepEqual(done.slice(1).map((d) => d.code), [Code.cancelled, Code.cancelled]);
});

test('FetchDriver: a fetch that ignores the abort signal, or a body that stalls, still times out and cancels', async (t) => {
  // options.fetch may be a wrapper that drops init.signal, and a response's
  // stream need not end when the signal aborts: the request used to wait
  // for them (a get, and every later get of its key, never settled).
  const stalled = new Response(new ReadableStream({ pull: () => new Promise(() => {}) }));
  const { driver, done } = await driverWith(t, (url) => (url.endsWith('/body') ? Promise.resolve(stalled)
    : new Promise(() => {})));
  driver.start(1, request('http://127.0.0.1:1/head', { timeoutMs: 30 }));
  driver.start(2, request('http://127.0.0.1:1/body', { timeoutMs: 30 }));
  driver.start(3, request('http://127.0.0.1:1/cancelled', { timeoutMs: 60000 }));
  driver.cancel(3);
  await until(() => done.length === 3, 2000, 'three completions');
  const codes = Object.fromEntries(done.map((d) => [d.op, d.code]));
  assert.deepEqual(codes, { 1: Code.timeout, 2: Code.timeout, 3: Code.cancelled });
  assert.equal(driver.inflight.size, 0);
});

test('FetchDriver: with no readable stream, a Content-Length over maxBodyBytes fails tooLarge without reading the body', async (t) => {
  let read = false;
  const { driver, done } = await driverWith(t, () => Promise.resolve({
    status: 200, headers: new Headers({ 'content-length': '100000' }), body: null,
    arrayBuffer: () => { read = true; return Promise.resolve(new ArrayBuffer(100000)); },
  }));
  driver.start(1, request('http://127.0.0.1:1/big', { maxBodyBytes: 1000 }));
  await until(() => done.length === 1);
  assert.equal(done[0].code, Code.tooLarge);
  assert.equal(read, false, 'the body was not read');
});

const within = (p, ms) => Promise.race([p, sleep(ms).then(() => 'never settled')]);

// ---- cross-tab ---------------------------------------------------------------

test('cross-tab update: the receiving tab does not write its older copy over the shared IndexedDB record', async (t) => {
  let v = 1;
  const origin = await startOrigin({
    '/u': () => json({ v }, { 'cache-control': v === 1 ? 'max-age=0, stale-while-revalidate=600' : 'max-age=600' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('xtab-store');
  const a = await createCacheWith(factory, { name });
  const b = await createCacheWith(factory, { name });  // another tab, same database
  const url = `${origin.origin}/u`;
  await a.get(url);
  await b.get(url);
  await a.flush();
  await b.flush();
  a.subscribe(url, () => {});        // A posts 'update' for subscribed keys
  v = 2;
  const r = await a.get(url);        // stale: A revalidates and gets v2 (fresh for 600 s)
  assert.deepEqual((await r.revalidation).data, { v: 2 });
  await sleep(200);                  // B hears of it
  await a.flush();
  await b.flush();
  await a.close();
  await b.close();
  const next = await createCacheWith(factory, { name });  // next session
  t.after(() => next.close());
  const got = await next.get(url);
  assert.deepEqual(got.data, { v: 2 }, 'next session serves the newest version A fetched');
});

test('cross-tab update: a tab subscribed to a URL it does not hold in memory is told of the change', async (t) => {
  let v = 1;
  const origin = await startOrigin({ '/f': () => json({ v }, { 'cache-control': 'max-age=600' }) });
  const name = uniqueName('xtab-sub');
  const a = await createCacheWith(factory, { name, storage: 'memory' });
  const b = await createCacheWith(factory, { name, storage: 'memory' });
  t.after(async () => { await a.close(); await b.close(); await origin.close(); });
  const url = `${origin.origin}/f`;
  await a.get(url);
  const seenByB = [];
  b.subscribe(url, (res) => seenByB.push(res.data));  // subscribed, entry not (or no longer) in B's memory
  a.subscribe(url, () => {});
  v = 2;
  a.invalidate({ url });
  await (await a.get(url)).revalidation;               // A: v1 -> v2, posts 'update'
  await until(() => b.peek(url) !== null, 2000, 'B to refresh');  // B does refetch v2...
  await sleep(100);
  assert.deepEqual(seenByB, [{ v: 2 }], '...and its subscriber hears of it');
});

test('cross-tab update: the receiving tab counts no peek of its own (stats stay the app\'s)', async (t) => {
  // The receiving tab compares its copy with the other's through the
  // memory tier; it used to peek, which counted in its peeks and peek_hits.
  let v = 1;
  const origin = await startOrigin({ '/p': () => json({ v }, { 'cache-control': 'max-age=600' }) });
  const name = uniqueName('xtab-peeks');
  const a = await createCacheWith(factory, { name, storage: 'memory' });
  const b = await createCacheWith(factory, { name, storage: 'memory' });
  t.after(async () => { await a.close(); await b.close(); await origin.close(); });
  const url = `${origin.origin}/p`;
  await a.get(url);
  await b.get(url);
  a.subscribe(url, () => {});
  const seenByB = [];
  b.subscribe(url, (r) => seenByB.push(r.data.v));
  const before = b.stats();
  for (const next of [2, 3]) {
    v = next;
    a.invalidate({ url });
    await (await a.get(url)).revalidation;  // A: a new version each time, posts 'update'
    await until(() => seenByB.includes(next), 2000, 'B to take the update');
  }
  const after = b.stats();
  assert.equal(after.peeks, before.peeks);
  assert.equal(after.peek_hits, before.peek_hits);
});

// ---- invalidate selectors -------------------------------------------------------

test('invalidate({key}) with the key a result carries, in a named namespace', async (t) => {
  const origin = await startOrigin({ '/k': json({ k: 1 }, { 'cache-control': 'max-age=600, stale-while-revalidate=600' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('key'), namespace: 'user1', storage: 'memory' });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/k`;
  const r = await cache.get(url);
  assert.equal(r.key, `user1 ${url}`);
  // Node: TypeError "Invalid URL"; a browser resolves "user1 http://..." against
  // the page (http://page/dir/user1%20http://...) and silently matches nothing.
  assert.equal(cache.invalidate({ key: r.key }), 1);
  assert.equal(cache.peek(url).state, 'stale');
});

test('invalidate({prefix}) matches keys whose URLs the engine normalises ([ ] in a query)', async (t) => {
  const origin = await startOrigin({ '/list': json({ k: 1 }, { 'cache-control': 'max-age=600' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('prefix'), storage: 'memory' });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/list?filter[state]=open&page=1`);
  await cache.get(`${origin.origin}/list?filter[state]=open&page=2`);
  assert.equal(cache.invalidate({ prefix: `${origin.origin}/list?filter[state]=open` }), 2);
});

// ---- mutate -------------------------------------------------------------------

test('get(): a lane other than navigate, revalidate or preheat is refused with invalid_argument', async (t) => {
  const origin = await startOrigin({ '/l': json({ ok: true }) });
  const cache = await createCacheWith(factory, { name: uniqueName('lane') });
  t.after(async () => { await cache.close(); await origin.close(); });
  for (const lane of ['bogus', 5, 'toString']) {
    await assert.rejects(cache.get(`${origin.origin}/l`, { lane }),
                         (e) => e instanceof PreheatError && e.codeName === 'invalid_argument', String(lane));
  }
  assert.equal(origin.count('/l'), 0);
  assert.equal((await cache.get(`${origin.origin}/l`, { lane: 'preheat' })).state, 'miss');
});

test('revalidation: a mutate while it is on the wire is not its outcome (the 304 settles it, null)', async (t) => {
  const origin = await startOrigin({
    '/rm': (req) => {
      if (req.method === 'PATCH') return { status: 500, body: 'nope', delayMs: 300 };
      return req.headers['if-none-match'] === '"r1"'
        ? { status: 304, headers: { etag: '"r1"' }, delayMs: 150 }
        : json({ v: 1 }, { etag: '"r1"' });
    },
  });
  const cache = await createCacheWith(factory, {
    name: uniqueName('reval-mut'),
    routes: [{ pattern: '/rm', maxAgeMs: 20, staleWhileRevalidateMs: 60000 }],
  });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/rm`;
  await cache.get(url);
  await sleep(40);
  const stale = await cache.get(url);
  assert.equal(stale.revalidating, true);
  const write = cache.mutate(url, { v: 'optimistic' }).then(() => 'written', (e) => e.codeName);
  assert.deepEqual(cache.peek(url).data, { v: 'optimistic' });
  // The optimistic value (and the write's failure) are no revalidation
  // outcome; the revalidation's own answer, a 304, is: unchanged.
  assert.equal(await stale.revalidation, null);
  assert.equal(cache.stats().not_modified, 1, 'settled by the 304');
  assert.equal(await write, 'http_error');
  assert.deepEqual(cache.peek(url).data, { v: 1 }, 'rolled back');
});

test('mutate: a write body given as an object is sent as JSON with its content type', async (t) => {
  const origin = await startOrigin({ '/w': { status: 204 } });
  const cache = await createCacheWith(factory, { name: uniqueName('wbody'), storage: 'memory' });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.mutate(`${origin.origin}/items/1`, { done: true },
                     { write: { method: 'POST', url: `${origin.origin}/w`, body: { op: 'done', id: 1 } } });
  const w = origin.requests.find((r) => r.path === '/w');
  assert.equal(w.body, '{"op":"done","id":1}');
  assert.equal(w.headers['content-type'], 'application/json');
});

test('mutate: two writes of one URL that both fail (first one first) restore the entry before them', async (t) => {
  const origin = await startOrigin({
    '/g': (req, rec) => (req.method === 'PATCH'
      ? { status: 500, delayMs: JSON.parse(rec.body).t === 1 ? 50 : 300 }
      : json({ t: 0 }, { 'cache-control': 'max-age=600' })),
  });
  const cache = await createCacheWith(factory, { name: uniqueName('mm'), storage: 'memory' });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/g`;
  await cache.get(url);
  const seen = [];
  cache.subscribe(url, (r) => seen.push(r.data));
  const results = await Promise.allSettled([cache.mutate(url, { t: 1 }), cache.mutate(url, { t: 2 })]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.deepEqual(cache.peek(url).data, { t: 0 }, 'the server never accepted t: 1');
  assert.deepEqual(seen.at(-1), { t: 0 });
});

test('mutate: subscribers are told of the rollback of a failed write to a URL not cached before', async (t) => {
  const origin = await startOrigin({ '/h': { status: 500 } });
  const cache = await createCacheWith(factory, { name: uniqueName('mh'), storage: 'memory' });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/h`;
  const seen = [];
  cache.subscribe(url, (r) => seen.push(r && r.data));
  await assert.rejects(cache.mutate(url, { created: true }, { write: { method: 'PUT' } }));
  assert.equal(cache.peek(url), null, 'rolled back: nothing cached');
  assert.equal(seen.length, 2, `subscribers saw the optimistic value, then the rollback (saw ${JSON.stringify(seen)})`);
});

// ---- close() --------------------------------------------------------------------

test('close(): no subscriber callback runs once the cache reports closed', async (t) => {
  const origin = await startOrigin({
    '/m': (req) => (req.method === 'PATCH' ? { status: 204, delayMs: 3000 } : json({ v: 1 }, { 'cache-control': 'max-age=600' })),
  });
  t.after(() => origin.close());
  const cache = await createCacheWith(factory, { name: uniqueName('close-sub'), storage: 'memory' });
  const url = `${origin.origin}/m`;
  await cache.get(url);
  const afterClose = [];
  cache.subscribe(url, (r) => {
    try { cache.peek(url); } catch (e) { afterClose.push(`${JSON.stringify(r.data)}: ${e.message}`); }
  });
  const m = cache.mutate(url, { v: 2 });
  await until(() => origin.count('/m') === 2);
  await cache.close();               // cancels the write; its rollback notified the subscriber
  await m.catch(() => {});
  assert.deepEqual(afterClose, []);
});

test('close(): the revalidation of a get() answered while closing settles', async (t) => {
  const origin = await startOrigin({ '/s': json({ s: 1 }, { 'cache-control': 'max-age=0, stale-while-revalidate=600' }) });
  t.after(() => origin.close());
  const name = uniqueName('close-reval');
  const one = await createCacheWith(factory, { name, crossTab: false });
  await one.get(`${origin.origin}/s`);
  await one.close();
  const two = await createCacheWith(factory, { name, crossTab: false });
  await until(() => two._store.running === 0);
  const p = two.get(`${origin.origin}/s`);  // a stale record in IndexedDB
  const closing = two.close();             // the read completes while close() waits for the store
  const r = await p.catch((e) => e);
  await closing;
  if (r instanceof Error) return;          // cancelled: fine
  assert.equal(r.revalidating, true);
  assert.notEqual(await within(r.revalidation, 1500), 'never settled');
});

// ---- timers --------------------------------------------------------------------

test('a deadline more than 24.8 days away does not spin the timer', async (t) => {
  const origin = await startOrigin({ '/t': json({ t: 1 }, { 'cache-control': 'max-age=600' }) });
  const cache = await createCacheWith(factory, { name: uniqueName('timer'), writeDelayMs: 30 * 86400e3 });
  t.after(async () => { await cache.close(); await origin.close(); });
  await cache.get(`${origin.origin}/t`);     // a write due in 30 days
  let wakeups = 0;
  const onDeadline = cache._engine.onDeadline.bind(cache._engine);
  cache._engine.onDeadline = (now) => { wakeups++; return onDeadline(now); };
  await sleep(300);
  assert.equal(wakeups, 0, 'setTimeout clamps delays over 2^31-1 ms to 1 ms: one wake-up per ms');
});

test('get({cache}): no-cache validates, reload refetches, force-cache and only-if-cached stay local', async (t) => {
  let version = 1;
  const origin = await startOrigin({
    '/m': (req) => {
      const etag = `"m${version}"`;
      if (req.headers['if-none-match'] === etag) return { status: 304, headers: { etag, 'cache-control': 'max-age=1' } };
      return json({ version }, { etag, 'cache-control': 'max-age=1' });
    },
  });
  const name = uniqueName('modes');
  const cache = await createCacheWith(factory, { name });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/m`;
  await cache.get(url);

  const validated = await cache.get(url, { cache: 'no-cache' });
  assert.equal(validated.state, 'revalidated');
  assert.equal(origin.requests.at(-1).headers['if-none-match'], '"m1"');

  version = 2;
  const reloaded = await cache.get(url, { cache: 'reload' });
  assert.equal(reloaded.state, 'miss');
  assert.deepEqual(reloaded.data, { version: 2 });
  assert.equal(origin.requests.at(-1).headers['if-none-match'], undefined);
  assert.equal(origin.count('/m'), 3);

  await sleep(1100);  // stale: the default would revalidate, these do not
  const forced = await cache.get(url, { cache: 'force-cache' });
  assert.equal(forced.state, 'stale');
  assert.equal(forced.revalidating, false);
  assert.deepEqual(forced.data, { version: 2 });
  await cache.flush();
  const other = await createCacheWith(factory, { name });
  t.after(() => other.close());
  const offline = await other.get(url, { cache: 'only-if-cached' });
  assert.equal(offline.source, 'store');
  assert.deepEqual(offline.data, { version: 2 });
  await assert.rejects(other.get(`${origin.origin}/never`, { cache: 'only-if-cached' }),
                       (e) => e instanceof PreheatError && e.code === Code.notFound);
  await assert.rejects(cache.get(url, { cache: 'sometimes' }),
                       (e) => e instanceof PreheatError && e.code === Code.invalidArgument);
  assert.equal(origin.count('/m'), 3);
  assert.equal(origin.count('/never'), 0);

  // no-store: the network's answer, kept in no tier.
  version = 3;
  const unkept = await cache.get(url, { cache: 'no-store' });
  assert.equal(unkept.state, 'miss');
  assert.deepEqual(unkept.data, { version: 3 });
  assert.equal(unkept.stored, false);
  assert.equal(origin.requests.at(-1).headers['if-none-match'], undefined);
  assert.deepEqual((await cache.get(url, { cache: 'force-cache' })).data, { version: 2 });
  assert.equal(origin.count('/m'), 4);
});

test("get({headers}): the request's Cache-Control directives apply to the cache too", async (t) => {
  const origin = await startOrigin({
    '/d': (req) => {
      if (req.headers['if-none-match'] === '"d1"') return { status: 304, headers: { etag: '"d1"', 'cache-control': 'max-age=600' } };
      return json({ d: 1 }, { etag: '"d1"', 'cache-control': 'max-age=600' });
    },
  });
  const cache = await createCacheWith(factory, { name: uniqueName('directives'), crossTab: false });
  t.after(async () => { await cache.close(); await origin.close(); });
  const url = `${origin.origin}/d`;
  await cache.get(url);
  await sleep(5);  // older than 0 s
  const young = await cache.get(url, { headers: { 'cache-control': 'max-age=60' } });
  assert.equal(young.state, 'fresh');
  assert.equal(origin.count('/d'), 1);
  const validated = await cache.get(url, { headers: { 'Cache-Control': 'max-age=0' } });
  assert.equal(validated.state, 'revalidated');
  assert.equal(origin.requests.at(-1).headers['cache-control'], 'max-age=0', 'sent on to the origin');
  const pragma = await cache.get(url, { headers: [['Pragma', 'no-cache']] });
  assert.equal(pragma.state, 'revalidated');
  await assert.rejects(cache.get(`${origin.origin}/absent`, { headers: { 'cache-control': 'only-if-cached' } }),
                       (e) => e instanceof PreheatError && e.code === Code.notFound);
  assert.equal(origin.count('/d'), 3);
  assert.equal(origin.count('/absent'), 0);
});

// ---- the service worker's twin ---------------------------------------------------

test("the service worker's cache keys are the engine's, also for characters the URL parser leaves raw", async () => {
  // sw.js cacheKeyFor looks the page's record up by key: a key spelled
  // otherwise than Engine::keyFor finds nothing. The WHATWG parser leaves
  // [ ] | ^ { } ` raw in queries (and some in paths), which url.cc encodes:
  // JSON:API style data URLs (?filter[state]=open) never gave a hit.
  const Module = await factory({});
  const sw = await import(new URL('../../web/src/sw.js', import.meta.url).href);
  const urls = [
    'http://a.example/api/issues?filter[state]=open&page[size]=10',
    'http://a.example/api/a|b/^x/{y}/`z`/[1]',
    "http://a.example/api/x?q=a|b^c{d}`e'f\\g",
    'http://a.example/api/x?q=%7e%2f%5b%3F?&x=a:b@c/d!$&()*+,;=',
    'HTTP://Example.COM:80/a/%7euser/%2f?q=1#frag',
    'https://a.example:8443/caf\u00e9/\u{1F600}?q=\u00fc',
  ];
  for (const url of urls) {
    const href = new URL(url).href;
    const engine = Module.Engine.keyFor(href, 'ns');
    assert.equal(engine.code, 0, href);
    assert.equal(sw.cacheKeyFor(href, 'ns'), engine.key, href);
  }
  // Host spellings the URL parser canonicalises (IPv6 compressed per
  // RFC 5952, IPv4 in any of its forms dotted-decimal): the engine keys
  // them alike, even as written rather than as an href.
  for (const url of ['http://[0:0:0:0:0:0:0:1]:8080/x', 'http://[2001:DB8:0:0:1:0:0:1]/',
                     'http://[::ffff:192.168.0.1]/', 'http://127.1/a', 'http://0x7f.0.0.1:8080/']) {
    const engine = Module.Engine.keyFor(url, 'ns');
    assert.equal(engine.code, 0, url);
    assert.equal(engine.key, sw.cacheKeyFor(url, 'ns'), url);
  }
});

// ---- cold gets answered from their record (cache.js _answerFromRecord) ----

// Writes `url`'s response through one cache and closes it (flushed).
async function storeThrough(name, url, options = {}) {
  const writer = await createCacheWith(factory, { name, ...options });
  await writer.get(url);
  await writer.close();
}

test('a cold get of a fresh record is answered from it as the engine answers it', async (t) => {
  const origin = await startOrigin({
    '/r': json({ r: 1 }, { 'cache-control': 'max-age=600', etag: '"r1"', 'cache-tag': 'rec, one' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('record');
  const url = `${origin.origin}/r`;
  await storeThrough(name, url);
  // Other sizes, the same freshness rules: the record's deadline holds, the
  // get is answered from it.
  const viaRecord = await createCacheWith(factory, { name, memoryMaxEntries: 999 });
  const fast = await viaRecord.get(url);
  assert.equal(viaRecord.stats().recordAnswers, 1);
  // The engine completed the read before the peek: memory has it, and the
  // same data object.
  const peeked = viaRecord.peek(url);
  assert.ok(peeked);
  assert.equal(peeked.source, 'memory');
  assert.equal(peeked.data, fast.data);
  assert.equal(viaRecord.stats().store_reads, 1);
  await viaRecord.close();
  // Other freshness rules (another stamp): the engine answers.
  const viaEngine = await createCacheWith(factory, { name, engine: { heuristicFraction: 0.2 } });
  const slow = await viaEngine.get(url);
  assert.equal(viaEngine.stats().recordAnswers, 0);
  await viaEngine.close();
  for (const k of ['data', 'state', 'source', 'status', 'headers', 'url', 'key', 'tags', 'bodyHash',
                   'stored', 'revalidating']) {
    assert.deepEqual(fast[k], slow[k], k);
  }
  assert.equal(fast.state, 'fresh');
  assert.equal(fast.source, 'store');
  assert.deepEqual(fast.tags, ['rec', 'one']);
  assert.deepEqual([...fast.body], [...slow.body]);
  assert.ok(fast.age >= 0 && Math.abs(fast.age - slow.age) < 5000, `${fast.age} vs ${slow.age}`);
  assert.equal(await fast.revalidation, null);
  assert.equal(origin.count('/r'), 1);
});

test('a cold get is not answered from a record it must validate, a superseded read or a corrupt record', async (t) => {
  const origin = await startOrigin({
    '/no-cache': json({ n: 1 }, { 'cache-control': 'no-cache', etag: '"n1"' }),
    '/fresh': json({ f: 1 }, { 'cache-control': 'max-age=600' }),
    '/flipped': json({ x: 'abcdefgh' }, { 'cache-control': 'max-age=600' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('record-not');
  const at = (p) => `${origin.origin}${p}`;
  for (const p of ['/no-cache', '/fresh', '/flipped']) await storeThrough(name, at(p));
  // A body byte flipped in the stored value (the checksum no longer holds).
  const db = await openCacheDb(name);
  await new Promise((resolve, reject) => {
    const tx = db.transaction('entries', 'readwrite');
    const entries = tx.objectStore('entries');
    const r = entries.get(` ${at('/flipped')}`);
    r.onsuccess = () => {
      const rec = r.result;
      assert.ok(rec.fast, 'the record carries what a cold read answers from');
      const value = new Uint8Array(rec.value);
      value[rec.fast.bodyAt + 7] ^= 0x01;  // 'a' -> '`'
      entries.put({ ...rec, value });
    };
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  db.close();

  const cache = await createCacheWith(factory, { name });
  t.after(() => cache.close());
  const noCache = await cache.get(at('/no-cache'));
  assert.equal(noCache.source, 'network');  // revalidated (no 304 from this origin)
  assert.equal(origin.count('/no-cache'), 2);
  // Invalidated while its read is on the way: the engine's answer, from the origin.
  const pending = cache.get(at('/fresh'));
  assert.equal(cache.invalidate({ url: at('/fresh') }), 0);
  const fresh = await pending;
  assert.equal(fresh.source, 'network');
  assert.equal(origin.count('/fresh'), 2);
  const flipped = await cache.get(at('/flipped'));
  assert.equal(flipped.source, 'network');
  assert.deepEqual(flipped.data, { x: 'abcdefgh' });
  assert.equal(cache.stats().corrupt_records, 1);
  assert.equal(cache.stats().recordAnswers, 0);
});

test('a get answered from its record: the engine completes the read at the answer\'s time', async (t) => {
  // The engine's completion runs after the answer's first reaction; however
  // long that reaction takes (here the clock passes the record's deadline
  // during it), the engine must see the read as of the answer, as it would
  // had it answered: fresh, no request to the origin.
  const origin = await startOrigin({ '/c': json({ c: 1 }, { 'cache-control': 'max-age=600' }) });
  t.after(() => origin.close());
  const name = uniqueName('record-clock');
  const url = `${origin.origin}/c`;
  await storeThrough(name, url);
  const cache = await createCacheWith(factory, { name });
  const realNow = Date.now;
  let skewMs = 0;
  Date.now = () => realNow() + skewMs;
  t.after(async () => { Date.now = realNow; await cache.close(); });
  const r = await cache.get(url);
  skewMs = 601_000;  // the reaction to the answer outlasts the record's freshness
  assert.equal(r.state, 'fresh');
  assert.equal(r.source, 'store');
  assert.equal(cache.stats().recordAnswers, 1);
  const m = cache.stats();  // brings the engine up to date
  assert.equal(m.fresh_served, 1, 'the engine served what the answer said');
  assert.equal(m.revalidations, 0);
  assert.equal(m.inflight.navigate, 0, 'no request to the origin');
  await cache.flush();
  assert.equal(origin.count('/c'), 1);
});

test('a get answered from its record: what the app does with the body cannot spoil the engine\'s read', async (t) => {
  // The answer's reaction runs before the engine's completion: transferring
  // the body (postMessage to a worker, say) or writing into it must not
  // reach the record the engine then decodes (a corrupt record would be
  // deleted from the store and fetched again).
  const origin = await startOrigin({
    '/t': json({ t: 'transferred' }, { 'cache-control': 'max-age=600' }),
    '/w': json({ w: 'written' }, { 'cache-control': 'max-age=600' }),
  });
  t.after(() => origin.close());
  const name = uniqueName('record-body');
  const at = (p) => `${origin.origin}${p}`;
  await storeThrough(name, at('/t'));
  await storeThrough(name, at('/w'));
  const cache = await createCacheWith(factory, { name });
  t.after(() => cache.close());
  const moved = await cache.get(at('/t'));
  structuredClone(moved.body, { transfer: [moved.body.buffer] });
  const written = await cache.get(at('/w'));
  written.body.fill(0);
  assert.equal(cache.stats().recordAnswers, 2);
  assert.deepEqual(moved.data, { t: 'transferred' });
  await cache.flush();
  const m = cache.stats();
  assert.equal(m.corrupt_records, 0);
  assert.equal(m.fresh_served, 2);
  assert.deepEqual(cache.peek(at('/t')).data, { t: 'transferred' });
  assert.equal(cache.peek(at('/w')).source, 'memory');
  assert.equal(origin.count('/t'), 1);
  assert.equal(origin.count('/w'), 1);
});

test('a route whose maxAgeMs is -1 does not share its records\' stamp with a route without one', async (t) => {
  // maxAgeMs: -1 replaces the lifetime by -1 (never fresh); no maxAgeMs
  // keeps the headers' 600 s. Records written under the one must not be
  // answered fresh from under the other.
  const origin = await startOrigin({ '/m/x': json({ m: 1 }, { 'cache-control': 'max-age=600' }) });
  t.after(() => origin.close());
  const name = uniqueName('record-stamp');
  const url = `${origin.origin}/m/x`;
  await storeThrough(name, url, { routes: [{ pattern: '/m/*' }] });
  const cache = await createCacheWith(factory, { name, routes: [{ pattern: '/m/*', maxAgeMs: -1 }] });
  t.after(() => cache.close());
  const r = await cache.get(url);
  assert.equal(cache.stats().recordAnswers, 0);
  assert.notEqual(r.state, 'fresh');
  assert.equal(origin.count('/m/x'), 2, 'validated with the origin, as the route says');
});

test('a decode that invalidates the URL it decodes: the get is not answered from the record', async (t) => {
  const origin = await startOrigin({ '/d': json({ d: 1 }, { 'cache-control': 'max-age=600' }) });
  t.after(() => origin.close());
  const name = uniqueName('record-decode');
  const url = `${origin.origin}/d`;
  await storeThrough(name, url);
  let invalidated = 0;
  const cache = await createCacheWith(factory, {
    name,
    decode: (body, headers) => {
      if (invalidated++ === 0) cache.invalidate({ url });  // the first decode: the record's
      return decodeBody(body, headers);
    },
  });
  t.after(() => cache.close());
  const r = await cache.get(url);
  assert.equal(cache.stats().recordAnswers, 0);
  assert.equal(r.source, 'network');
  assert.deepEqual(r.data, { d: 1 });
  assert.equal(origin.count('/d'), 2);
});

// Headless Chromium tests of the `preheat` ES module package (the wasm
// preset's build/wasm/web): real IndexedDB, real fetch, real
// BroadcastChannel. Chromium is the system package, driven by playwright-core.
// Run: PREHEAT_WEB_PACKAGE=<build>/web node --test tests/web/browser.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, startStaticServer } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');

const PACKAGE_DIR = process.env.PREHEAT_WEB_PACKAGE ||
  path.join(here, '..', '..', 'build', 'wasm', 'web');
const CHROMIUM = process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium';

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
               '.json': 'application/json', '.html': 'text/html', '.ts': 'text/plain' };

const PAGE = `<!doctype html><meta charset="utf-8"><title>preheat test</title>
<script type="module">
  import * as preheat from '/pkg/src/index.js';
  window.preheat = preheat;
  window.ready = true;
</script>`;

// The origin: the package under /pkg/, a test page, and /api/* data routes
// whose answers the tests set in `api`.
function startServer() {
  const requests = [];
  const api = {};
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    res.sendDate = false;
    if (url.pathname === '/' || url.pathname === '/page.html') {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
      return;
    }
    if (url.pathname.startsWith('/pkg/')) {
      const file = path.join(PACKAGE_DIR, path.normalize(url.pathname.slice(5)));
      if (!file.startsWith(PACKAGE_DIR) || !fs.existsSync(file)) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream',
                           'cache-control': 'no-store' });
      res.end(fs.readFileSync(file));
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method, path: url.pathname, headers: req.headers,
                      body: Buffer.concat(chunks).toString() });
      const route = api[url.pathname];
      const r = typeof route === 'function' ? route(req) : route;
      if (!r) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
        return;
      }
      res.writeHead(r.status || 200, r.headers || {});
      res.end(r.body ?? '');
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    resolve({
      origin: `http://127.0.0.1:${port}`,
      api,
      requests,
      count: (p) => requests.filter((r) => r.path === p).length,
      close: () => new Promise((f) => { server.closeAllConnections?.(); server.close(f); }),
    });
  }));
}

const json = (obj, extra = {}) => ({
  status: 200, headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify(obj),
});

let browser;
let server;

test.before(async () => {
  assert.ok(fs.existsSync(path.join(PACKAGE_DIR, 'dist', 'preheat.wasm')),
            `no built package at ${PACKAGE_DIR} (cmake --build --preset wasm)`);
  server = await startServer();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
});

// In pages: how many records a database's "entries" store holds, read
// through a connection of its own (0 when there is no such database, which
// is not created).
function defineRawCount() {
  window.rawCount = async (name) => {
    if (!(await indexedDB.databases()).some((d) => d.name === name)) return 0;
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(name);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        if (!db.objectStoreNames.contains('entries')) {
          db.close();
          resolve(0);
          return;
        }
        const r = db.transaction('entries', 'readonly').objectStore('entries').count();
        r.onsuccess = () => { db.close(); resolve(r.result); };
        r.onerror = () => { db.close(); reject(r.error); };
      };
    });
  };
}

async function openPage(context, init) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.addInitScript(defineRawCount);
  if (init) await page.addInitScript(init);
  await page.goto(`${server.origin}/page.html`);
  await page.waitForFunction(() => window.ready === true);
  page.errors = errors;
  return page;
}

test('data persists in IndexedDB across a reload', async () => {
  server.api['/api/persist'] = json({ persisted: 1 }, { 'cache-control': 'max-age=600' });
  const context = await browser.newContext();
  try {
    const page = await openPage(context);
    const first = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'persist', maxBytes: 1 << 20 });
      const r = await cache.get('/api/persist');
      await cache.flush();
      return { data: r.data, state: r.state, source: r.source, storage: cache.stats().storage };
    });
    assert.deepEqual(first.data, { persisted: 1 });
    assert.equal(first.source, 'network');
    assert.equal(first.storage.kind, 'indexeddb');

    await page.reload();
    await page.waitForFunction(() => window.ready === true);
    const second = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'persist', maxBytes: 1 << 20 });
      const peeked = cache.peek('/api/persist');
      const r = await cache.get('/api/persist');
      // Answered from the record (cache.js _answerFromRecord); the engine
      // has the entry by the next call: peek gives the same data object.
      const answered = cache.stats().recordAnswers;
      const after = cache.peek('/api/persist');
      // The totals come from the start-up check, which reads do not wait for.
      for (let i = 0; i < 500 && cache.stats().store.entries === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return { peeked, data: r.data, state: r.state, source: r.source, answered,
               peekedAfter: after && after.source, sameData: !!after && after.data === r.data,
               entries: cache.stats().store.entries, storeHits: cache.stats().store_reads };
    });
    assert.equal(second.peeked, null, 'memory tier empty after a reload');
    assert.equal(second.source, 'store');
    assert.equal(second.state, 'fresh');
    assert.deepEqual(second.data, { persisted: 1 });
    assert.equal(second.answered, 1, 'answered from the IndexedDB record');
    assert.equal(second.peekedAfter, 'memory');
    assert.ok(second.sameData);
    assert.equal(second.storeHits, 1);
    assert.equal(second.entries, 1);
    assert.equal(server.count('/api/persist'), 1, 'no second request');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('SWR serves stale at once, then subscribe fires once with the new data', async () => {
  let version = 1;
  server.api['/api/swr'] = () => json({ version }, { etag: `"v${version}"` });
  const context = await browser.newContext();
  try {
    const page = await openPage(context);
    await page.evaluate(async () => {
      window.cache = await preheat.createCache({
        name: 'swr', routes: [{ pattern: '/api/swr', maxAgeMs: 50, staleWhileRevalidateMs: 60000 }],
      });
      await cache.get('/api/swr');
      window.seen = [];
      cache.subscribe('/api/swr', (r) => seen.push(r.data));
      await new Promise((f) => setTimeout(f, 80));
    });
    version = 2;
    const out = await page.evaluate(async () => {
      const t0 = performance.now();
      const r = await cache.get('/api/swr');
      const servedMs = performance.now() - t0;
      const updated = await r.revalidation;
      await new Promise((f) => setTimeout(f, 100));  // no late second notification
      return { state: r.state, data: r.data, servedMs, updated: updated && updated.data,
               seen, peek: cache.peek('/api/swr').data };
    });
    assert.equal(out.state, 'stale');
    assert.deepEqual(out.data, { version: 1 });
    assert.deepEqual(out.updated, { version: 2 });
    assert.deepEqual(out.seen, [{ version: 2 }], 'subscriber fired exactly once');
    assert.deepEqual(out.peek, { version: 2 });
    assert.equal(server.requests.filter((r) => r.path === '/api/swr').at(-1).headers['if-none-match'], '"v1"');
  } finally {
    await context.close();
  }
});

test('QuotaExceededError: LRU eviction + one retry, then memory-only', async () => {
  for (let i = 0; i < 4; i++) {
    server.api[`/api/quota/${i}`] = json({ i, pad: 'x'.repeat(2000) }, { 'cache-control': 'max-age=600' });
  }
  const context = await browser.newContext();
  try {
    // IndexedDB's put() raises QuotaExceededError on demand, as a full
    // origin would.
    const page = await openPage(context, () => {
      const put = IDBObjectStore.prototype.put;
      window.quotaFailures = 0;
      IDBObjectStore.prototype.put = function (...args) {
        if (this.name === 'entries' && window.quotaFailures > 0) {
          window.quotaFailures--;
          throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        }
        return put.apply(this, args);
      };
    });
    const out = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'quota' });
      const events = [];
      cache.addEventListener('storagechange', (e) => events.push(e.detail.type));
      await cache.get('/api/quota/0');
      await cache.get('/api/quota/1');
      await cache.flush();
      const before = cache.stats().store.entries;
      window.quotaFailures = 1;  // one failure: evict + retry succeeds
      await cache.get('/api/quota/2');
      await cache.flush();
      const afterRetry = cache.stats();
      window.quotaFailures = 2;  // the retry fails too: kNoSpace
      await cache.get('/api/quota/3');
      let flushError = null;
      try { await cache.flush(); } catch (e) { flushError = e.codeName; }
      const degraded = cache.stats();
      const served = await cache.get('/api/quota/3');
      await new Promise((r) => setTimeout(r, 0));
      // A logout on the degraded store, which a later session would open
      // again: clear() removes the namespace's records itself.
      const storedBefore = await rawCount('preheat:quota');
      const clearError = await cache.clear().then(() => null, (e) => e.codeName);
      const storedAfter = await rawCount('preheat:quota');
      return { events, before, retryEntries: afterRetry.store.entries, retryStorage: afterRetry.storage,
               flushError, degraded: degraded.storage, storeDegraded: degraded.store_degraded,
               servedFrom: served.source, storedBefore, clearError, storedAfter };
    });
    assert.equal(out.before, 2);
    assert.equal(out.retryStorage.quotaEvictions, 1);
    assert.equal(out.retryStorage.persistent, true);
    assert.ok(out.retryEntries < 3, 'least recently used entries were evicted');
    assert.equal(out.flushError, 'no_space');
    assert.equal(out.storeDegraded, true);
    assert.equal(out.degraded.kind, 'memory');
    assert.match(out.degraded.reason, /no_space/);
    assert.equal(out.servedFrom, 'memory');
    assert.deepEqual(out.events, ['write-failed', 'memory-only']);
    assert.ok(out.storedBefore > 0);
    assert.equal(out.clearError, null);
    assert.equal(out.storedAfter, 0, 'the degraded store was cleared too');
  } finally {
    await context.close();
  }
});

test('IndexedDB unavailable: memory-only, reported, still serving', async () => {
  server.api['/api/noidb'] = json({ ok: true }, { 'cache-control': 'max-age=600' });
  const context = await browser.newContext();
  try {
    const page = await openPage(context, () => {
      IDBFactory.prototype.open = function () {
        throw new DOMException('The user denied permission to access the database.', 'SecurityError');
      };
    });
    const out = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'noidb' });
      const r = await cache.get('/api/noidb');
      await cache.flush();
      return { storage: cache.stats().storage, data: r.data, peek: cache.peek('/api/noidb').source };
    });
    assert.equal(out.storage.kind, 'memory');
    assert.match(out.storage.reason, /SecurityError/);
    assert.deepEqual(out.data, { ok: true });
    assert.equal(out.peek, 'memory');
  } finally {
    await context.close();
  }
});

test("two tabs see each other's invalidations and clears", async () => {
  server.api['/api/tabs'] = json({ tab: 1 }, { 'cache-control': 'max-age=600, stale-while-revalidate=600' });
  const context = await browser.newContext();
  try {
    const a = await openPage(context);
    const b = await openPage(context);
    const setup = async () => {
      window.cache = await preheat.createCache({ name: 'tabs' });
      await cache.get('/api/tabs');
      return cache.peek('/api/tabs').state;
    };
    assert.equal(await a.evaluate(setup), 'fresh');
    assert.equal(await b.evaluate(setup), 'fresh');
    await a.evaluate(() => cache.invalidate({ url: '/api/tabs' }));
    await b.waitForFunction(() => cache.peek('/api/tabs')?.state === 'stale', null, { timeout: 5000 });
    await b.evaluate(() => cache.clear());
    await a.waitForFunction(() => cache.peek('/api/tabs') === null, null, { timeout: 5000 });
  } finally {
    await context.close();
  }
});

test('await clear() (a logout) settles once IndexedDB holds nothing of it: the page may navigate at once', async () => {
  for (let i = 1; i <= 3; i++) {
    server.api[`/api/logout/${i}`] = json({ i }, { 'cache-control': 'max-age=600' });
  }
  const context = await browser.newContext();
  try {
    const page = await openPage(context);
    const out = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'logout', writeDelayMs: 600000 });
      await cache.get('/api/logout/1');
      await cache.get('/api/logout/2');
      await cache.flush();
      const stored = await rawCount('preheat:logout');
      await cache.get('/api/logout/3');  // a pending write...
      const flushed = cache.flush();     // ...whose batch is in flight: the removal queues behind it
      await cache.clear();
      const afterClear = await rawCount('preheat:logout');
      await flushed;
      return { stored, afterClear, peek: cache.peek('/api/logout/1') };
    });
    assert.equal(out.stored, 2);
    assert.equal(out.afterClear, 0, 'clear() settled before the removal was durable');
    assert.equal(out.peek, null);

    // A logout that navigates as soon as clear() settles: the next page
    // finds nothing, and reads from the network.
    await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'logout', writeDelayMs: 600000 });
      await cache.get('/api/logout/1');
      await cache.flush();
      await cache.get('/api/logout/2');
      cache.flush();
      await cache.clear();
      location.reload();
    }).catch((e) => {
      // The reload may tear the page down before evaluate() returns.
      if (!/context was destroyed|navigat/i.test(e.message)) throw e;
    });
    await page.waitForFunction(() => window.ready === true);
    const next = await page.evaluate(async () => {
      const stored = await rawCount('preheat:logout');
      const cache = await preheat.createCache({ name: 'logout' });
      const r = await cache.get('/api/logout/1');
      return { stored, source: r.source };
    });
    assert.equal(next.stored, 0);
    assert.equal(next.source, 'network');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('a clear() the store cannot do deletes the database: nothing is left for the next session', async () => {
  for (let i = 1; i <= 2; i++) {
    server.api[`/api/unclearable/${i}`] = json({ i }, { 'cache-control': 'max-age=600' });
  }
  const context = await browser.newContext();
  try {
    // IndexedDB's delete() fails on demand, as a broken database might.
    const page = await openPage(context, () => {
      const del = IDBObjectStore.prototype.delete;
      window.failDeletes = false;
      IDBObjectStore.prototype.delete = function (...args) {
        if (window.failDeletes && this.name === 'entries') throw new DOMException('injected', 'UnknownError');
        return del.apply(this, args);
      };
    });
    const out = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'unclearable', namespace: 'alice' });
      await cache.get('/api/unclearable/1');
      await cache.get('/api/unclearable/2');
      await cache.flush();
      const stored = await rawCount('preheat:unclearable');
      window.failDeletes = true;
      const clearError = await cache.clear().then(() => null, (e) => e.codeName);
      const after = await rawCount('preheat:unclearable');
      const stats = cache.stats();
      const again = await cache.get('/api/unclearable/1');
      return { stored, clearError, after, storage: stats.storage, storeErrors: stats.store_errors,
               againSource: again.source };
    });
    assert.equal(out.stored, 2);
    assert.equal(out.clearError, null);
    assert.equal(out.after, 0);
    assert.equal(out.storeErrors, 3, 'three removal attempts failed first');
    assert.equal(out.storage.kind, 'memory');
    assert.match(out.storage.reason, /database deleted/);
    assert.equal(out.againSource, 'network');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('a clear() on a degraded store removes its namespace itself: other namespaces keep theirs, the database stays', async () => {
  server.api['/api/shared/1'] = json({ s: 1 }, { 'cache-control': 'max-age=600' });
  const context = await browser.newContext();
  try {
    // IndexedDB's delete() fails the next `deleteFailures` times: the
    // engine's three removal attempts, not the retry after them.
    const page = await openPage(context, () => {
      const del = IDBObjectStore.prototype.delete;
      window.deleteFailures = 0;
      IDBObjectStore.prototype.delete = function (...args) {
        if (window.deleteFailures > 0 && this.name === 'entries') {
          window.deleteFailures--;
          throw new DOMException('injected', 'UnknownError');
        }
        return del.apply(this, args);
      };
    });
    const out = await page.evaluate(async () => {
      const options = { name: 'shared', crossTab: false };
      const alice = await preheat.createCache({ ...options, namespace: 'alice' });
      const bob = await preheat.createCache({ ...options, namespace: 'bob' });
      await alice.get('/api/shared/1');
      await bob.get('/api/shared/1');
      await alice.flush();
      await bob.flush();
      const stored = await rawCount('preheat:shared');
      window.deleteFailures = 3;
      const clearError = await alice.clear().then(() => null, (e) => e.codeName);
      const after = await rawCount('preheat:shared');
      const stats = alice.stats();
      await alice.close();
      await bob.close();
      // The next session: bob's record is still stored, alice's is not.
      const bob2 = await preheat.createCache({ ...options, namespace: 'bob' });
      const alice2 = await preheat.createCache({ ...options, namespace: 'alice' });
      const bobSource = (await bob2.get('/api/shared/1')).source;
      const aliceSource = (await alice2.get('/api/shared/1')).source;
      return { stored, clearError, after, storeErrors: stats.store_errors, storage: stats.storage,
               failuresLeft: window.deleteFailures, bobSource, aliceSource };
    });
    assert.equal(out.stored, 2);
    assert.equal(out.failuresLeft, 0);
    assert.equal(out.storeErrors, 3, 'the engine tried three times and gave up');
    assert.equal(out.clearError, null);
    assert.equal(out.after, 1, "alice's record is gone, bob's stays");
    assert.equal(out.storage.kind, 'memory', 'the engine still does not trust the store this session');
    assert.doesNotMatch(out.storage.reason, /database deleted/);
    assert.equal(out.bobSource, 'store');
    assert.equal(out.aliceSource, 'network');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('preheat lane requests are marked as prefetches', async () => {
  server.api['/api/pre/1'] = json({ p: 1 }, { 'cache-control': 'max-age=600' });
  server.api['/api/pre/2'] = json({ p: 2 }, { 'cache-control': 'max-age=600' });
  const context = await browser.newContext();
  try {
    const page = await openPage(context);
    const out = await page.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'pre' });
      await cache.get('/api/pre/1');
      const started = await cache.preheat(['/api/pre/1', '/api/pre/2']);
      return { started, state: cache.peek('/api/pre/2')?.state, lanes: cache.stats().requests_by_lane };
    });
    assert.equal(out.started, 1, 'cached URLs are not preheated');
    assert.equal(out.state, 'fresh');
    assert.equal(out.lanes.preheat, 1);
    const pre = server.requests.find((r) => r.path === '/api/pre/2');
    const nav = server.requests.find((r) => r.path === '/api/pre/1');
    // Chromium drops the forbidden Sec-Purpose name from script fetches; the
    // legacy Purpose header gets through.
    assert.equal(pre.headers.purpose, 'prefetch');
    assert.equal(nav.headers.purpose, undefined);
    assert.equal(nav.headers['sec-purpose'], undefined);
    console.log('chromium preheat request headers: purpose=%s sec-purpose=%s', pre.headers.purpose, pre.headers['sec-purpose']);
    if (pre.headers['sec-purpose'] !== undefined) assert.equal(pre.headers['sec-purpose'], 'prefetch');
  } finally {
    await context.close();
  }
});

test('the IndexedDB database deleted by another tab: the page keeps working', async () => {
  for (let i = 1; i <= 3; i++) {
    server.api[`/api/deleted/${i}`] = json({ i }, { 'cache-control': 'max-age=600' });
  }
  const context = await browser.newContext();
  try {
    const a = await openPage(context);
    const b = await openPage(context);
    // Tab A: a cache with two stored entries; storage events recorded.
    const before = await a.evaluate(async () => {
      window.events = [];
      window.cache = await preheat.createCache({ name: 'deleted' });
      cache.addEventListener('storagechange', (e) => events.push({ type: e.detail.type, kind: e.detail.storage.kind }));
      await cache.get('/api/deleted/1');
      await cache.get('/api/deleted/2');
      await cache.flush();
      return cache.stats();
    });
    assert.equal(before.store.entries, 2);
    assert.equal(before.storage.lost, null);

    // Tab B deletes the database: not blocked (A closes its connection).
    const deletion = await b.evaluate(() => new Promise((resolve) => {
      let blocked = false;
      const req = indexedDB.deleteDatabase('preheat:deleted');
      req.onblocked = () => { blocked = true; };
      req.onsuccess = () => resolve({ ok: true, blocked });
      req.onerror = () => resolve({ ok: false, error: String(req.error) });
      setTimeout(() => resolve({ ok: false, error: 'still blocked after 5 s', blocked }), 5000);
    }));
    assert.deepEqual(deletion, { ok: true, blocked: false });

    // Tab A keeps serving: memory tier, network, then writes to a re-created
    // database; no exception reaches the page.
    const after = await a.evaluate(async () => {
      const lost = cache.stats().storage;
      const peek = cache.peek('/api/deleted/1');
      const one = await cache.get('/api/deleted/1');
      const three = await cache.get('/api/deleted/3');
      let flushError = null;
      try { await cache.flush(); } catch (e) { flushError = String(e); }
      await new Promise((r) => setTimeout(r, 0));  // storage events are dispatched from a microtask
      return {
        lost, peekSource: peek && peek.source, one: [one.source, one.data], three: [three.source, three.data],
        flushError, stats: cache.stats(), events,
      };
    });
    assert.match(after.lost.lost, /deleted/);
    assert.equal(after.lost.kind, 'indexeddb');
    assert.equal(after.peekSource, 'memory');
    assert.deepEqual(after.one, ['memory', { i: 1 }]);
    assert.deepEqual(after.three, ['network', { i: 3 }]);
    assert.equal(after.flushError, null);
    assert.equal(after.stats.store_degraded, false);
    assert.equal(after.stats.storage.kind, 'indexeddb');
    assert.equal(after.stats.storage.lost, null);
    assert.equal(after.stats.storage.reconnects, 1);
    assert.deepEqual(after.events.map((e) => e.type), ['lost', 'reconnected']);

    // The re-created database holds what A wrote after the deletion only.
    const keys = await b.evaluate(() => new Promise((resolve, reject) => {
      const req = indexedDB.open('preheat:deleted');
      req.onsuccess = () => {
        const db = req.result;
        const r = db.transaction('entries').objectStore('entries').getAllKeys();
        r.onsuccess = () => { db.close(); resolve(r.result); };
        r.onerror = () => reject(r.error);
      };
      req.onerror = () => reject(req.error);
    }));
    assert.equal(keys.length, 1);
    assert.match(keys[0], /\/api\/deleted\/3$/);

    // After a reload, A works from the re-created database.
    const requests = server.count('/api/deleted/3');
    await a.reload();
    await a.waitForFunction(() => window.ready === true);
    const reloaded = await a.evaluate(async () => {
      const cache = await preheat.createCache({ name: 'deleted' });
      const three = await cache.get('/api/deleted/3');
      const one = await cache.get('/api/deleted/1');
      return { three: three.source, one: one.source, storage: cache.stats().storage };
    });
    assert.equal(reloaded.three, 'store');
    assert.equal(reloaded.one, 'network');
    assert.equal(reloaded.storage.kind, 'indexeddb');
    assert.equal(server.count('/api/deleted/3'), requests);
    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  } finally {
    await context.close();
  }
});

// An Angular-style page: <base href="/"> and data URLs relative to it.
const BASE_PAGE = `<!doctype html><meta charset="utf-8"><base href="/">
<script type="module">
  import { createCache } from '/pkg/src/index.js';
  const cache = await createCache({ name: 'base', storage: 'memory' });
  const viaFetch = await (await fetch('api/issues/1')).json();
  const r = await cache.get('api/issues/1').catch((e) => ({ error: e.message }));
  window.result = { viaFetch, viaCache: r.data ?? r.error, url: r.url };
</script>`;

test('get(relative URL) on a page with <base href>: the URL fetch() would use', async (t) => {
  const server = await startStaticServer({
    mounts: { '/pkg/': PACKAGE_DIR },
    pages: { '/issues/1': BASE_PAGE },
    routes: { '/api/issues/1': () => ({ status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=60' }, body: '{"id":1}' }) },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => { await browser.close(); await server.close(); });
  const page = await browser.newPage();
  await page.goto(`${server.origin}/issues/1`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 10000 });
  const res = await page.evaluate(() => window.result);
  assert.deepEqual(res.viaFetch, { id: 1 });
  assert.equal(res.url, `${server.origin}/api/issues/1`);
  assert.deepEqual(res.viaCache, { id: 1 });
});

// A root-relative URL ("/api/b") on a page whose <base href> names another
// origin: fetch() resolves it against the base, so must get().
test('get(root-relative URL) on a page whose <base href> is another origin: the URL fetch() would use', async (t) => {
  const page = (req) => {
    const here = `http://${req.headers.host}`;
    const other = here.replace('127.0.0.1', 'localhost');
    return {
      status: 200,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: `<!doctype html><meta charset="utf-8"><base href="${other}/app/">
<script type="module">
  import { createCache } from '${here}/pkg/src/index.js';
  const cache = await createCache({ name: 'cross-base', storage: 'memory' });
  const viaFetch = await fetch('/api/b').then((r) => r.json(), (e) => e.message);
  const r = await cache.get('/api/b').catch((e) => ({ error: e.message }));
  window.result = { viaFetch, viaCache: r.data ?? r.error, url: r.url, base: document.baseURI };
</script>`,
    };
  };
  const server = await startStaticServer({
    mounts: { '/pkg/': PACKAGE_DIR },
    routes: {
      '/page': page,
      '/api/b': (req) => ({
        status: 200,
        headers: { 'content-type': 'application/json', 'cache-control': 'max-age=60',
                   'access-control-allow-origin': '*' },
        body: JSON.stringify({ host: req.headers.host.split(':')[0] }),
      }),
    },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => { await browser.close(); await server.close(); });
  const tab = await browser.newPage();
  await tab.goto(`${server.origin}/page`);
  await tab.waitForFunction(() => window.result !== undefined, null, { timeout: 10000 });
  const res = await tab.evaluate(() => window.result);
  const other = server.origin.replace('127.0.0.1', 'localhost');
  assert.deepEqual(res.viaFetch, { host: 'localhost' }, 'fetch() went to the base\'s origin');
  assert.equal(res.url, `${other}/api/b`);
  assert.deepEqual(res.viaCache, { host: 'localhost' });
});

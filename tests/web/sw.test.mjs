// The preheat service worker and the thin-shell protocol (web/src/sw.js,
// web/src/sw-register.js, web/PROTOCOL.md) in headless Chromium, against a
// node origin that implements the protocol (sw-fixtures/server.mjs).
// Run: PREHEAT_WEB_PACKAGE=<build>/web node --test tests/web/sw.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startSwServer } from './sw-fixtures/server.mjs';
import { SAMPLE_RECORD_V1_HEX, SAMPLE_RECORD_V2_HEX, SAMPLE_FIELDS, fromHex } from './sw-fixtures/records.mjs';
import { CHROMIUM_ARGS } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');

const PACKAGE_DIR = path.resolve(process.env.PREHEAT_WEB_PACKAGE ||
  path.join(here, '..', '..', 'build', 'wasm', 'web'));
const CHROMIUM = process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium';
const sw = await import(pathToFileURL(path.join(here, '..', '..', 'web', 'src', 'sw.js')).href);

const sleep = (ms) => new Promise((f) => setTimeout(f, ms));

// ---- pure functions (Node) ----------------------------------------------------

test('route patterns, data URLs, scopes and keys', () => {
  const p = sw.compilePattern('/issues/:id');
  assert.deepEqual(sw.matchPattern(p, '/issues/42'), { id: '42' });
  assert.equal(sw.matchPattern(p, '/issues/'), null);
  assert.equal(sw.matchPattern(p, '/issues/42/edit'), null);
  assert.deepEqual(sw.matchPattern(sw.compilePattern('/docs/*'), '/docs/a/b'), { '*': 'a/b' });
  assert.equal(sw.scopeForRoutes([{ page: '/issues/:id' }]), '/issues/');
  assert.equal(sw.scopeForRoutes(['/org/:o/issues/:id', '/org/:o/pulls/:id']), '/org/');
  assert.equal(sw.scopeForRoutes(['/dashboard']), '/');
  // "/docs/*" matches "/docs" itself: the scope must cover it.
  assert.deepEqual(sw.matchPattern(sw.compilePattern('/docs/*'), '/docs'), { '*': '' });
  assert.equal(sw.scopeForRoutes(['/docs/*']), '/docs');
  assert.equal(sw.scopeForRoutes(['/docs/*', '/docs/api/:id']), '/docs');
  assert.equal(sw.scopeForRoutes(['/docs/api/*', '/docs/guide/:id']), '/docs/');
  assert.equal(sw.scopeForRoutes(['/*']), '/');
  assert.equal(sw.cacheKeyFor('HTTP://Example.COM:80/a/%7euser/%2f?q=1#frag'),
               ' http://example.com/a/~user/%2F?q=1');
});

function rec(headers, { status = 200, at = 1_000_000, invalidated = false, vary = [] } = {}) {
  return { status, headers: Object.entries(headers), requestTime: at, responseTime: at,
           varyValues: vary, invalidated, tags: [] };
}

test('usable data: fresh, stale-while-revalidate, stale-if-error, max stale', () => {
  const at = 1_000_000;
  const ev = (h, now, policy, o) => sw.evaluateRecord(rec(h, o), policy, at + now);
  assert.equal(ev({ 'cache-control': 'max-age=60' }, 30_000).state, 'fresh');
  assert.equal(ev({ 'cache-control': 'max-age=60' }, 61_000).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=60, stale-while-revalidate=60' }, 100_000).state, 'stale');
  assert.equal(ev({ 'cache-control': 'max-age=0, stale-if-error=60' }, 30_000).state, 'stale-if-error');
  assert.equal(ev({ 'cache-control': 'max-age=0, stale-if-error=60' }, 30_000, { maxStaleMs: 10_000 }).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=0, stale-while-revalidate=60' }, 1_000, { maxAgeMs: 5_000 }).state, 'fresh');
  assert.equal(ev({ 'cache-control': 'no-cache, stale-while-revalidate=60' }, 1).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=60, must-revalidate' }, 61_000).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=60' }, 1, {}, { status: 404 }).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=60', age: '59' }, 2_000).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=60', vary: 'accept-language' }, 1, {},
                  { vary: [['accept-language', 'de']] }).usable, false);
  assert.equal(ev({ 'cache-control': 'max-age=60, stale-while-revalidate=60' }, 1, {},
                  { invalidated: true }).state, 'stale');
  assert.equal(sw.decodeRecord(new Uint8Array([1, 2, 3])), null);
  assert.equal(sw.decodeRecord('nope'), null);
});

test('stored records: version 1 (FNV-1a 64) and version 2 (XXH32) decode alike; damage is rejected', () => {
  const fields = (d) => d && { ...d, body: new TextDecoder().decode(d.body) };
  const v1 = fromHex(SAMPLE_RECORD_V1_HEX);
  const v2 = fromHex(SAMPLE_RECORD_V2_HEX);
  assert.equal(v1[0], 1);
  assert.equal(v2[0], 2);
  assert.deepEqual(fields(sw.decodeRecord(v1)), SAMPLE_FIELDS);
  assert.deepEqual(fields(sw.decodeRecord(v2)), SAMPLE_FIELDS);
  // Any view of the bytes (the worker gets a Uint8Array or an ArrayBuffer).
  assert.deepEqual(fields(sw.decodeRecord(v2.slice().buffer)), SAMPLE_FIELDS);
  const padded = new Uint8Array(v2.length + 3);
  padded.set(v2, 3);
  assert.deepEqual(fields(sw.decodeRecord(padded.subarray(3))), SAMPLE_FIELDS);

  for (const [name, record] of [['v1', v1], ['v2', v2]]) {
    // Every single-bit flip: version byte, header fields, body, trailer.
    for (let i = 0; i < record.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = record.slice();
        flipped[i] ^= 1 << bit;
        assert.equal(sw.decodeRecord(flipped), null, `${name}: bit ${bit} of byte ${i} flipped`);
      }
    }
    for (let n = 0; n < record.length; n++) {
      assert.equal(sw.decodeRecord(record.subarray(0, n)), null, `${name}: truncated to ${n} bytes`);
    }
  }
  // A version's checksum does not pass for the other, nor for an unknown one.
  const relabelled = v2.slice();
  relabelled[0] = 1;
  assert.equal(sw.decodeRecord(relabelled), null);
  const unknown = v2.slice();
  unknown[0] = 3;
  assert.equal(sw.decodeRecord(unknown), null);
  // v2 keeps the trailer's upper half zero.
  const upper = v2.slice();
  upper[upper.length - 1] = 1;
  assert.equal(sw.decodeRecord(upper), null);
});

// A version-1 record (FNV-1a 64 trailer, entry.cc's layout) with these
// fields, for bounds the sample records do not reach.
function recordV1({ status = 200, headers = [], vary = [], tags = [] }) {
  const out = [1];
  const varint = (v) => {
    for (; v >= 128; v = Math.floor(v / 128)) out.push((v % 128) | 128);
    out.push(v);
  };
  const str = (s) => {
    const b = new TextEncoder().encode(s);
    varint(b.length);
    out.push(...b);
  };
  const pairs = (list) => {
    varint(list.length);
    for (const [a, b] of list) { str(a); str(b); }
  };
  str(' https://example.test/r');
  str('https://example.test/r');
  varint(status);
  pairs(headers);
  str('body');
  for (let i = 0; i < 16; i++) out.push(0);  // request and response times
  pairs(vary);
  varint(tags.length);
  for (const t of tags) str(t);
  out.push(0);  // flags
  let h = 0xcbf29ce484222325n;
  for (const b of out) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  for (let i = 0n; i < 8n; i++) out.push(Number((h >> (8n * i)) & 0xffn));
  return Uint8Array.from(out);
}

test('stored records past the engine\'s bounds are rejected, as the engine rejects them', () => {
  const many = (n) => Array.from({ length: n }, (_, i) => [`x-${i}`, 'v']);
  assert.equal(sw.decodeRecord(recordV1({ status: 999, headers: many(4096) })).headers.length, 4096);
  assert.equal(sw.decodeRecord(recordV1({ status: 1000 })), null, 'status above 999');
  assert.equal(sw.decodeRecord(recordV1({ headers: many(4097) })), null, 'more than 4096 header fields');
  assert.equal(sw.decodeRecord(recordV1({ vary: many(4097) })), null, 'more than 4096 vary values');
  assert.equal(sw.decodeRecord(recordV1({ tags: many(4097).map(([n]) => n) })), null, 'more than 4096 tags');
  assert.equal(sw.decodeRecord(recordV1({ tags: ['a'] })).tags.length, 1);
});

// ---- Chromium -------------------------------------------------------------------

let browser;
let server;

test.before(async () => {
  assert.ok(fs.existsSync(path.join(PACKAGE_DIR, 'dist', 'preheat.wasm')),
            `no built package at ${PACKAGE_DIR} (cmake --build --preset wasm)`);
  assert.ok(fs.existsSync(path.join(PACKAGE_DIR, 'src', 'sw.js')), 'package without src/sw.js: rebuild');
  server = await startSwServer({ packageDir: PACKAGE_DIR });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
  });
});

test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.close();
});

function track(page) {
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  return page;
}

// Waits until the app script is done with this document: a full page warmed
// the cache, a shell rendered and revalidated.
async function settled(page) {
  await page.waitForFunction(() => window.__app && (window.__app.warmed || window.__app.settled ||
                                                    window.__app.error), null, { timeout: 20000 });
  return page.evaluate(() => ({ ...window.__app, main: { ...document.getElementById('issue').dataset,
    title: document.querySelector('#issue h1').textContent } }));
}

async function controlled(page) {
  await page.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 20000 });
}

function status(page) {
  return page.evaluate(() => import('/preheat/src/sw-register.js').then((m) => m.preheatWorkerStatus(3000)));
}

const lastNav = (p) => server.navigations(p).at(-1);

// A context whose worker is installed and controls /issues/<id>, with the
// issue's data in IndexedDB.
async function warmed(id, issue) {
  server.issues[id] = issue;
  const context = await browser.newContext();
  const page = track(await context.newPage());
  await page.goto(`${server.origin}/issues/${id}`);
  const first = await settled(page);
  assert.equal(first.shell, false);
  assert.equal(first.error, null);
  assert.equal(lastNav(`/issues/${id}`).header, null, 'first visit: no worker, no header');
  await controlled(page);
  return { context, page };
}

test('hard reload and a new tab send the header, get the shell, render cached then updated', async () => {
  const { context, page } = await warmed('42', { title: 'Issue 42', body: 'first', version: 1 });
  try {
    // The record the C++ engine wrote decodes in JS under the same key.
    const raw = await page.evaluate(async (origin) => {
      const m = await import('/preheat/src/sw.js');
      const db = await new Promise((f, r) => { const q = indexedDB.open('preheat:issues'); q.onsuccess = () => f(q.result); q.onerror = () => r(q.error); });
      const key = m.cacheKeyFor(`${origin}/api/issues/42`);
      const row = await new Promise((f) => { const q = db.transaction('entries').objectStore('entries').get(key); q.onsuccess = () => f(q.result); });
      db.close();
      const d = row && m.decodeRecord(row.value);
      return d && { key: d.key, url: d.url, status: d.status, etag: d.headers.find(([n]) => n === 'etag')?.[1],
                    verdict: m.evaluateRecord(d, {}, Date.now()) };
    }, server.origin);
    assert.ok(raw, 'record found under the JS key');
    assert.equal(raw.key, ` ${server.origin}/api/issues/42`);
    assert.equal(raw.status, 200);
    assert.equal(raw.etag, '"42-v1"');
    assert.equal(raw.verdict.usable, true);
    assert.equal(raw.verdict.state, 'stale');

    server.issues['42'] = { title: 'Issue 42', body: 'second', version: 2 };
    const response = await page.reload();
    const app = await settled(page);
    const nav = lastNav('/issues/42');
    assert.equal(nav.header, 'hit', 'reload sends Preheat-Cache: hit');
    assert.equal(nav.served, 'shell');
    assert.equal(response.status(), 200);
    assert.match(response.headers().vary || '', /Preheat-Cache/i);
    assert.equal(app.shell, true);
    assert.deepEqual(app.renders.map((r) => [r.version, r.source]), [[1, 'store'], [2, 'revalidated']]);
    assert.equal(app.main.version, '2');
    assert.equal(app.error, null);

    server.issues['42'] = { title: 'Issue 42', body: 'third', version: 3 };
    const tab = track(await context.newPage());
    await tab.goto(`${server.origin}/issues/42`);
    const app2 = await settled(tab);
    assert.equal(lastNav('/issues/42').header, 'hit', 'a new tab sends the header');
    // Typed into a new tab: no referrer, and none forwarded (not the worker's URL).
    assert.equal(lastNav('/issues/42').headers.referer, undefined);
    assert.equal(app2.shell, true);
    assert.deepEqual(app2.renders.map((r) => [r.version, r.source]), [[2, 'store'], [3, 'revalidated']]);
    const st = await status(tab);
    assert.equal(st.version, 'v1');
    assert.ok(st.stats.hits >= 2);

    // Shift+Reload bypasses service workers: a full page, as without one.
    const cdp = await context.newCDPSession(tab);
    const before = server.navigations('/issues/42').length;
    await Promise.all([tab.waitForEvent('load'), cdp.send('Page.reload', { ignoreCache: true })]);
    const app3 = await settled(tab);
    assert.equal(server.navigations('/issues/42').length, before + 1);
    assert.equal(lastNav('/issues/42').header, null, 'Shift+Reload: no header');
    assert.equal(app3.shell, false);
    assert.deepEqual([...page.errors, ...tab.errors], []);
  } finally {
    await context.close();
  }
});

// setTimeout fires a delay of 2^31 ms or more at once: every cache check
// "timed out" and no navigation ever got the header.
test('a check timeout of 2^31 ms still waits for the check: the reload gets the header', async () => {
  server.workerOptions = { timeoutMs: 2 ** 31 };
  try {
    const { context, page } = await warmed('31', { title: 'Issue 31', body: 'long timeout', version: 1 });
    try {
      await page.reload();
      await settled(page);
      assert.equal(lastNav('/issues/31').header, 'hit');
    } finally {
      await context.close();
    }
  } finally {
    server.workerOptions = {};
  }
});

test('a record stored before format 2 (FNV-1a 64) still gives a hit, renders, and is rewritten as format 2', async () => {
  const { context, page } = await warmed('61', { title: 'Issue 61', body: 'old format', version: 1 });
  try {
    // Rewrite the engine's record as the previous release stored it:
    // version byte 1 and an FNV-1a 64 trailer (computed here with BigInt,
    // independently of sw.js).
    const rewritten = await page.evaluate(async (origin) => {
      const m = await import('/preheat/src/sw.js');
      const db = await new Promise((f, r) => { const q = indexedDB.open('preheat:issues'); q.onsuccess = () => f(q.result); q.onerror = () => r(q.error); });
      const key = m.cacheKeyFor(`${origin}/api/issues/61`);
      const row = await new Promise((f) => { const q = db.transaction('entries').objectStore('entries').get(key); q.onsuccess = () => f(q.result); });
      const v2 = new Uint8Array(row.value);
      const v1 = v2.slice();
      v1[0] = 1;
      let h = 0xcbf29ce484222325n;
      for (let i = 0; i < v1.length - 8; i++) h = ((h ^ BigInt(v1[i])) * 0x100000001b3n) & 0xffffffffffffffffn;
      new DataView(v1.buffer).setBigUint64(v1.length - 8, h, true);
      await new Promise((f, r) => {
        const tx = db.transaction('entries', 'readwrite');
        tx.objectStore('entries').put({ ...row, value: v1 });
        tx.oncomplete = f;
        tx.onerror = () => r(tx.error);
      });
      db.close();
      const a = m.decodeRecord(v2);
      const b = m.decodeRecord(v1);
      const flipped = v1.slice();
      flipped[flipped.length - 20] ^= 4;
      return { v2Version: v2[0], v2Decodes: !!a, v1Decodes: !!b,
               same: !!a && !!b && JSON.stringify({ ...a, body: [...a.body] }) === JSON.stringify({ ...b, body: [...b.body] }),
               flippedDecodes: !!m.decodeRecord(flipped) };
    }, server.origin);
    assert.deepEqual(rewritten, { v2Version: 2, v2Decodes: true, v1Decodes: true, same: true, flippedDecodes: false });

    // The worker reads the v1 record (a hit), the engine decodes it (a render
    // from IndexedDB), then revalidates.
    server.issues['61'] = { title: 'Issue 61', body: 'new', version: 2 };
    await page.reload();
    const app = await settled(page);
    assert.equal(lastNav('/issues/61').header, 'hit');
    assert.equal(app.shell, true);
    assert.equal(app.error, null);
    assert.deepEqual(app.renders.map((r) => [r.version, r.source]), [[1, 'store'], [2, 'revalidated']]);
    assert.equal((await status(page)).lastVerdict.usable, true);

    // The revalidated entry is stored in the current format.
    const stored = await page.evaluate(async (origin) => {
      await window.__cache.flush();
      const m = await import('/preheat/src/sw.js');
      const db = await new Promise((f, r) => { const q = indexedDB.open('preheat:issues'); q.onsuccess = () => f(q.result); q.onerror = () => r(q.error); });
      const row = await new Promise((f) => { const q = db.transaction('entries').objectStore('entries').get(m.cacheKeyFor(`${origin}/api/issues/61`)); q.onsuccess = () => f(q.result); });
      db.close();
      const d = m.decodeRecord(row.value);
      return { version: new Uint8Array(row.value)[0], data: d && JSON.parse(new TextDecoder().decode(d.body)) };
    }, server.origin);
    assert.equal(stored.version, 2);
    assert.equal(stored.data.version, 2);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('cleared IndexedDB, or data past its maximum stale age: no header, full page', async () => {
  const { context, page } = await warmed('43', { title: 'Issue 43', body: 'b', version: 1 });
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: server.origin, storageTypes: 'indexeddb' });
    await page.reload();
    const app = await settled(page);
    assert.equal(lastNav('/issues/43').header, null);
    assert.equal(lastNav('/issues/43').served, 'full');
    assert.equal(app.shell, false);
    assert.equal(app.main.source, 'server');
    assert.equal(app.main.title, 'Issue 43');
    const v43 = (await status(page)).lastVerdict;
    assert.equal(v43.reason, 'miss', JSON.stringify(v43));

    // No stale-while-revalidate / stale-if-error: stale at once, not usable.
    server.issues['44'] = { title: 'Issue 44', body: 'b', version: 1, cacheControl: 'max-age=0' };
    await page.goto(`${server.origin}/issues/44`);
    await settled(page);
    await page.reload();
    const app44 = await settled(page);
    assert.equal(lastNav('/issues/44').header, null);
    assert.equal(app44.shell, false);
    assert.equal((await status(page)).lastVerdict.reason, 'past max stale');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test("a record stored under another URL's key is no hit: the page's engine would drop it", async () => {
  const { context, page } = await warmed('70', { title: 'Issue 70', body: 'b', version: 1 });
  try {
    // Issue 70's record, copied under issue 71's key (an app or tool that
    // moved records): its checksum is intact, its key field says 70.
    server.issues['71'] = { title: 'Issue 71', body: 'b', version: 1 };
    await page.evaluate(async (origin) => {
      const m = await import('/preheat/src/sw.js');
      const db = await new Promise((f, r) => { const q = indexedDB.open('preheat:issues'); q.onsuccess = () => f(q.result); q.onerror = () => r(q.error); });
      const row = await new Promise((f) => { const q = db.transaction('entries').objectStore('entries').get(m.cacheKeyFor(`${origin}/api/issues/70`)); q.onsuccess = () => f(q.result); });
      await new Promise((f, r) => {
        const tx = db.transaction('entries', 'readwrite');
        tx.objectStore('entries').put({ ...row, key: m.cacheKeyFor(`${origin}/api/issues/71`) });
        tx.oncomplete = f;
        tx.onerror = () => r(tx.error);
      });
      db.close();
    }, server.origin);
    await page.goto(`${server.origin}/issues/71`);
    const app = await settled(page);
    assert.equal(lastNav('/issues/71').header, null);
    assert.equal(app.shell, false);
    assert.equal(app.main.title, 'Issue 71');
    assert.equal((await status(page)).lastVerdict.reason, 'corrupt');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('API failing, then the whole server down: the cached page still shows (stale-if-error)', async () => {
  const cacheControl = 'max-age=0, stale-while-revalidate=1, stale-if-error=86400';
  const { context, page } = await warmed('7', { title: 'Issue 7', body: 'cached', version: 1, cacheControl });
  try {
    await page.reload();  // a hit: the worker keeps this route's shell for offline use
    const online = await settled(page);
    assert.equal(online.shell, true);
    await sleep(1500);  // past stale-while-revalidate, within stale-if-error

    server.apiDown = true;
    await page.reload();
    const apiDown = await settled(page);
    assert.equal(lastNav('/issues/7').header, 'hit');
    assert.equal(apiDown.shell, true);
    assert.deepEqual(apiDown.renders.map((r) => [r.version, r.state]), [[1, 'stale-if-error']]);

    server.down = true;
    const replayed = await page.reload();
    const down = await settled(page);
    assert.equal(down.shell, true, 'the worker served the cached shell');
    // As the server sent it: the stored copy's time stamp stays in the
    // worker (PROTOCOL.md: removed from the responses made from it).
    assert.equal(replayed.headers()['preheat-cache'], 'shell');
    assert.equal(replayed.headers()['preheat-shell-stored-at'], undefined);
    assert.equal(down.error, null);
    assert.deepEqual(down.renders.map((r) => [r.version, r.state]), [[1, 'stale-if-error']]);
    assert.equal(down.main.title, 'Issue 7');
    server.down = false;
    server.apiDown = false;
    assert.ok((await status(page)).stats.offlineShells >= 1);
    assert.deepEqual(page.errors, []);
  } finally {
    server.down = false;
    server.apiDown = false;
    await context.close();
  }
});

test('server down with inlineData: the replayed shell carries the stored record inlined', async () => {
  const cacheControl = 'max-age=0, stale-while-revalidate=1, stale-if-error=86400';
  server.workerOptions = { inlineData: true };
  const { context, page } = await warmed('9', { title: 'Issue 9', body: 'cached', version: 1, cacheControl });
  try {
    await page.reload();  // a hit: the server's shell, inlined; kept for offline use
    const online = await settled(page);
    assert.equal(online.shell, true);
    assert.equal(online.inlined && online.inlined.data.version, 1);
    for (let i = 0; i < 100 && (await status(page)).stats.shellsStored < 1; i++) await sleep(100);
    const before = (await status(page)).stats;
    assert.equal(before.shellsStored, 1);

    server.issues['9'] = { title: 'Issue 9', body: 'changed', version: 2, cacheControl };
    server.down = true;
    const replayed = await page.reload();
    const down = await settled(page);
    assert.equal(down.shell, true, 'the worker replayed the stored shell');
    assert.equal(replayed.headers()['preheat-shell-stored-at'], undefined);
    assert.equal(down.error, null);
    assert.equal(down.inlined && down.inlined.url, `${server.origin}/api/issues/9`);
    assert.equal(down.inlined.data.version, 1, 'the stored record, inlined');
    assert.equal(down.main.title, 'Issue 9');
    const after = (await status(page)).stats;
    assert.equal(after.offlineShells, before.offlineShells + 1);
    assert.equal(after.inlined, before.inlined + 1);
    assert.deepEqual(page.errors, []);
  } finally {
    server.down = false;
    server.workerOptions = {};
    await context.close();
  }
});

test('a document prefetch without a usable record: to the server by default, refused with prefetchMissToNetwork: false', async () => {
  for (const toNetwork of [true, false]) {
    server.workerOptions = toNetwork ? {} : { prefetchMissToNetwork: false };
    const [from, target] = toNetwork ? ['60', '62'] : ['61', '63'];
    server.issues[target] = { title: `Issue ${target}`, body: 'never visited', version: 1 };
    const { context, page } = await warmed(from, { title: `Issue ${from}`, body: 'b', version: 1 });
    const prefetches = () => server.navigations(`/issues/${target}`)
      .filter((r) => /prefetch/i.test(r.headers['sec-purpose'] || r.headers.purpose || ''));
    try {
      await page.evaluate((url) => {
        const rules = document.createElement('script');
        rules.type = 'speculationrules';
        rules.textContent = JSON.stringify({ prefetch: [{ source: 'list', urls: [url], eagerness: 'immediate' }] });
        document.head.appendChild(rules);
      }, `/issues/${target}`);
      let refused = 0;
      for (let i = 0; i < 100; i++) {
        refused = (await status(page)).stats.prefetchMissesRefused;
        if (refused > 0 || prefetches().length > 0) break;
        await sleep(100);
      }
      if (toNetwork) {
        assert.equal(prefetches().length, 1, 'the prefetch reached the server');
        assert.equal(refused, 0);
      } else {
        assert.equal(refused, 1, 'the worker refused the prefetch');
        await sleep(300);
        assert.equal(server.navigations(`/issues/${target}`).length, 0, 'the server saw no request');
      }
      // The click still navigates: a full page from the server.
      await page.goto(`${server.origin}/issues/${target}`);
      const landed = await settled(page);
      assert.equal(landed.main.title, `Issue ${target}`);
      assert.deepEqual(page.errors, []);
    } finally {
      server.workerOptions = {};
      await context.close();
    }
  }
});

test('a page its worker controls asks the kill URL once per interval, not on every load', async () => {
  const { context, page } = await warmed('51', { title: 'Issue 51', body: 'b', version: 1 });
  // The page's requests, not the worker's own checks (their referrer is the worker script).
  const pageChecks = () => server.requests.filter((r) => r.kind === 'kill' && /\/issues\/51$/.test(r.referer || '')).length;
  try {
    await page.waitForFunction(() => window.__app.registration !== undefined);
    assert.equal(pageChecks(), 1, 'the first load (no worker yet) asked');
    for (let i = 0; i < 2; i++) {
      await page.reload();
      await settled(page);
      await page.waitForFunction(() => window.__app.registration !== undefined);
      assert.equal(await page.evaluate(() => window.__app.registration), 'registered');
    }
    assert.equal(pageChecks(), 1, 'controlled loads within the interval did not ask');
    // Forgotten (storage cleared, or the interval over): the next load asks.
    await page.evaluate(() => localStorage.clear());
    await page.reload();
    await settled(page);
    await page.waitForFunction(() => window.__app.registration !== undefined);
    assert.equal(pageChecks(), 2);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

test('kill switch: the worker unregisters itself and is not registered again', async () => {
  const { context, page } = await warmed('50', { title: 'Issue 50', body: 'b', version: 1 });
  try {
    server.kill = true;
    await page.reload();
    const app = await settled(page);
    assert.equal(app.main.title, 'Issue 50', 'the navigation that carried the kill header worked');
    await page.waitForFunction(() => navigator.serviceWorker.getRegistrations().then((r) => r.length === 0),
                               null, { timeout: 10000, polling: 100 });
    await page.reload();
    const after = await settled(page);
    assert.equal(lastNav('/issues/50').header, null);
    assert.equal(after.shell, false);
    await page.waitForFunction(() => window.__app.registration !== undefined);
    assert.equal(await page.evaluate(() => window.__app.registration), 'none');
    assert.equal(await page.evaluate(() => navigator.serviceWorker.getRegistrations().then((r) => r.length)), 0);
    assert.deepEqual(page.errors, []);
  } finally {
    server.kill = false;
    await context.close();
  }
});

test('a new worker version takes over without a broken navigation', async () => {
  server.swVersion = 'v1';
  const { context, page } = await warmed('60', { title: 'Issue 60', body: 'b', version: 1 });
  try {
    assert.equal((await status(page)).version, 'v1');
    server.swVersion = 'v2';  // deploy
    const responses = [];
    for (let i = 0; i < 4; i++) {
      const r = await page.reload();
      responses.push(r.status());
      const app = await settled(page);
      assert.equal(app.main.title, 'Issue 60');
      assert.equal(app.error, null);
      const st = await status(page);
      if (st && st.version === 'v2') break;
      await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r && r.update()).catch(() => {}));
      await sleep(300);
    }
    await page.waitForFunction(() => import('/preheat/src/sw-register.js')
      .then((m) => m.preheatWorkerStatus(2000)).then((s) => s && s.version === 'v2'), null, { timeout: 10000, polling: 200 });
    await page.reload();
    const app = await settled(page);
    assert.equal(lastNav('/issues/60').header, 'hit', 'v2 sends the header');
    assert.equal(app.shell, true);
    assert.equal(app.main.title, 'Issue 60');
    assert.ok(responses.every((s) => s === 200), `navigations: ${responses}`);
    const caches = await page.evaluate(() => caches.keys());
    assert.deepEqual(caches, ['preheat-worker:issues:v2'], 'the old version\'s cache is gone');
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// A bypass message whose url does not parse threw in the worker's message
// handler, and one without a url was dropped: no answer either way, so the
// page's ask() waited out its whole timeout.
test('malformed messages: a bypass without a usable url is answered ok: false, others ignored; the worker keeps working', async () => {
  const { context, page } = await warmed('93', { title: 'Issue 93', body: 'b', version: 1 });
  try {
    const answers = await page.evaluate(async () => {
      const send = (data) => new Promise((resolve) => {
        const ch = new MessageChannel();
        const timer = setTimeout(() => resolve('no answer'), 5000);
        ch.port1.onmessage = (ev) => { clearTimeout(timer); resolve(ev.data); };
        navigator.serviceWorker.controller.postMessage(data, [ch.port2]);
      });
      return {
        badUrl: await send({ type: 'preheat:bypass', url: 'http://[' }),
        noUrl: await send({ type: 'preheat:bypass' }),
      };
    });
    assert.deepEqual(answers.badUrl, { type: 'preheat:bypass', ok: false });
    assert.deepEqual(answers.noUrl, { type: 'preheat:bypass', ok: false });
    for (const data of [null, 42, 'preheat:status', [], { type: 7 }]) {
      await page.evaluate((d) => navigator.serviceWorker.controller.postMessage(d), data);
    }
    await page.reload();
    const app = await settled(page);
    assert.equal(lastNav('/issues/93').header, 'hit', 'still a hit');
    assert.equal(app.shell, true);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// The new version checked the kill URL inside its activate event: a worker
// is 'activating' until that event's promises settle, and the browser holds
// every navigation to an activating worker, so a kill URL that did not answer
// (an overloaded origin, a stalled network) held every navigation in scope.
test('a kill URL that does not answer does not hold navigations while a new version activates', async () => {
  server.swVersion = 'v1';
  const { context, page } = await warmed('90', { title: 'Issue 90', body: 'b', version: 1 });
  let release;
  server.killHold = new Promise((f) => { release = f; });
  try {
    const killChecks = () => server.requests.filter((r) => r.kind === 'kill').length;
    const checksBefore = killChecks();
    server.swVersion = 'v2';  // deploy
    const switched = page.evaluate(() => new Promise((resolve) => {
      navigator.serviceWorker.addEventListener('controllerchange', () => resolve(), { once: true });
    }));
    await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r.update()));
    await switched;  // v2 is the active worker (activating or activated)
    for (let i = 0; i < 100 && killChecks() === checksBefore; i++) await sleep(100);
    assert.ok(killChecks() > checksBefore, 'v2 asked the kill URL');

    const before = server.navigations('/issues/90').length;
    const navigation = page.goto(`${server.origin}/issues/90`);
    navigation.catch(() => {});  // awaited below; the context may close first
    for (let i = 0; i < 100 && server.navigations('/issues/90').length === before; i++) await sleep(100);
    assert.equal(server.navigations('/issues/90').length, before + 1,
                 'the navigation reached the server while the kill URL had not answered');
    release();
    await navigation;
    const app = await settled(page);
    assert.equal(app.main.title, 'Issue 90');
    assert.equal(app.error, null);
    assert.equal((await status(page)).version, 'v2');
    assert.deepEqual(page.errors, []);
  } finally {
    release();
    server.killHold = null;
    server.swVersion = 'v1';
    await context.close();
  }
});

// `shellFromCache` (the app-shell pattern): a usable record is answered from
// the route's stored shell, the server sees no request for the page.
test('shellFromCache: first hit stores the shell, later hits skip the server, misses and bypass unchanged, a deploy does not reuse the old shell', async () => {
  server.swVersion = 'v1';
  server.workerOptions = { shellFromCache: true, inlineData: true };
  const { context, page } = await warmed('80', { title: 'Issue 80', body: 'first', version: 1 });
  const pages = (p = '/issues/80') => server.navigations(p).length;
  const apiCalls = () => server.requests.filter((r) => r.kind === 'api' && r.path === '/api/issues/80').length;
  const waitStatus = async (ok, what) => {
    for (let i = 0; i < 100; i++) {
      const st = await status(page);
      if (st && ok(st)) return st;
      await sleep(100);
    }
    throw new Error(`worker status never reached: ${what}`);
  };
  try {
    assert.equal((await status(page)).shellFromCache, true);

    // First hit of this version: no stored shell, so the network path of the
    // protocol (header, server's shell), and the shell is stored.
    let before = pages();
    await page.reload();
    const first = await settled(page);
    assert.equal(pages(), before + 1, 'first hit asks the server');
    assert.equal(lastNav('/issues/80').header, 'hit');
    assert.equal(first.shell, true);
    assert.equal(first.shellVersion, 'v1');
    assert.equal(first.inlined && first.inlined.data.version, 1, 'inlined into the server\'s shell');
    await waitStatus((st) => st.stats.shellsStored >= 1, 'shell stored');

    // Next hit: the stored shell, no request for the page; the page's engine
    // still revalidates the data and shows the update.
    server.issues['80'] = { title: 'Issue 80', body: 'second', version: 2 };
    before = pages();
    const apiBefore = apiCalls();
    const response = await page.reload();
    const second = await settled(page);
    assert.equal(pages(), before, 'no request for the page');
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['preheat-cache'], 'shell');
    assert.equal(second.shell, true);
    assert.equal(second.shellSerial, first.shellSerial, 'the stored copy of the first shell');
    assert.equal(second.inlined && second.inlined.url, `${server.origin}/api/issues/80`);
    assert.equal(second.inlined.data.version, 1);
    assert.deepEqual(second.renders.map((r) => [r.version, r.source]), [[1, 'store'], [2, 'revalidated']]);
    assert.ok(apiCalls() > apiBefore, 'the page revalidated its data');
    const st = await status(page);
    assert.ok(st.stats.cachedShells >= 1);
    assert.equal(st.lastVerdict.usable, true);

    // Another URL of the route: a miss first (full page, unchanged), then a
    // hit answered with the same stored shell.
    server.issues['81'] = { title: 'Issue 81', body: 'b', version: 1 };
    await page.goto(`${server.origin}/issues/81`);
    const miss81 = await settled(page);
    assert.equal(lastNav('/issues/81').header, null);
    assert.equal(miss81.shell, false);
    before = pages('/issues/81');
    await page.goto(`${server.origin}/issues/80`);
    await settled(page);
    await page.goto(`${server.origin}/issues/81`);
    const hit81 = await settled(page);
    assert.equal(pages('/issues/81'), before, 'no request for the page');
    assert.equal(hit81.shellSerial, first.shellSerial);
    assert.equal(hit81.main.title, 'Issue 81');
    assert.equal(hit81.inlined.data.id, '81');

    // Bypass (reloadWithoutShell): forwarded unchanged, a full page.
    await page.evaluate(() => new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => resolve();
      navigator.serviceWorker.controller.postMessage({ type: 'preheat:bypass', url: location.href }, [ch.port2]);
    }));
    before = pages('/issues/81');
    await page.reload();
    const bypassed = await settled(page);
    assert.equal(pages('/issues/81'), before + 1);
    assert.equal(lastNav('/issues/81').header, null);
    assert.equal(bypassed.shell, false);

    // A miss (IndexedDB cleared): forwarded unchanged, a full page.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: server.origin, storageTypes: 'indexeddb' });
    before = pages('/issues/81');
    await page.reload();
    const miss = await settled(page);
    assert.equal(pages('/issues/81'), before + 1);
    assert.equal(lastNav('/issues/81').header, null);
    assert.equal(lastNav('/issues/81').served, 'full');
    assert.equal(miss.shell, false);
    assert.equal(miss.main.source, 'server');

    // Deploy: v2's worker never serves v1's stored shell. Until the browser
    // has installed it, v1 may still answer with its own shell.
    await page.goto(`${server.origin}/issues/80`);  // full page: warms /issues/80 again
    await settled(page);
    server.swVersion = 'v2';
    const deployedAt = server.requests.length;
    for (let i = 0; i < 4; i++) {
      await page.reload();
      const app = await settled(page);
      assert.equal(app.error, null);
      assert.equal(app.main.title, 'Issue 80');
      const s = await status(page);
      if (s && s.version === 'v2') break;
      await page.evaluate(() => navigator.serviceWorker.getRegistration().then((r) => r && r.update()).catch(() => {}));
      await sleep(300);
    }
    await waitStatus((s) => s.version === 'v2', 'v2 active');
    await page.reload();
    const v2a = await settled(page);
    assert.equal(v2a.shell, true);
    assert.equal(v2a.shellVersion, 'v2', 'not the v1 shell');
    await waitStatus((s) => s.stats.shellsStored >= 1, 'v2 stored its shell');
    before = pages();
    await page.reload();
    const v2b = await settled(page);
    assert.equal(pages(), before, 'v2 answers from its own stored shell');
    assert.equal(v2b.shellVersion, 'v2');
    assert.ok(server.requests.slice(deployedAt).some((r) => r.kind === 'page' && r.header === 'hit'),
              'v2 fetched its shell from the server once');
    assert.deepEqual(await page.evaluate(() => caches.keys()), ['preheat-worker:issues:v2']);
    assert.deepEqual(page.errors, []);
  } finally {
    server.workerOptions = {};
    server.swVersion = 'v1';
    await context.close();
  }
});

// A prefetch with a usable record was forwarded with the header in a Request
// made by the worker, which drops Sec-Purpose (a forbidden name): the server
// saw a plain navigation with `Preheat-Cache: hit`, and could not tell the
// speculative fetch from a visit.
test('a document prefetch with a usable record reaches the server marked as a prefetch', async () => {
  const { context, page } = await warmed('94', { title: 'Issue 94', body: 'b', version: 1 });
  try {
    server.issues['95'] = { title: 'Issue 95', body: 'b', version: 1 };
    await page.goto(`${server.origin}/issues/95`);
    await settled(page);
    const before = server.navigations('/issues/94').length;
    await page.evaluate((url) => {
      const rules = document.createElement('script');
      rules.type = 'speculationrules';
      rules.textContent = JSON.stringify({ prefetch: [{ source: 'list', urls: [url], eagerness: 'immediate' }] });
      document.head.appendChild(rules);
    }, '/issues/94');
    for (let i = 0; i < 100 && server.navigations('/issues/94').length === before; i++) await sleep(100);
    const prefetch = server.navigations('/issues/94').slice(before);
    assert.equal(prefetch.length, 1, 'the prefetch reached the server');
    assert.equal(prefetch[0].header, 'hit', 'a hit: the record is usable');
    assert.match(prefetch[0].headers['sec-purpose'] || prefetch[0].headers.purpose || '', /prefetch/i);
    assert.equal((await status(page)).stats.hits >= 1, true);
    assert.deepEqual(page.errors, []);
  } finally {
    await context.close();
  }
});

// The service worker's lifecycle events and messages (web/src/sw.js
// installPreheatWorker) in Node, against a stand-in worker global: its
// Cache Storage, fetch and events are plain objects here, so install,
// activate and message handling can be driven step by step. Node only: no
// browser, no module.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sw = await import(pathToFileURL(path.join(here, '..', '..', 'web', 'src', 'sw.js')).href);

const ORIGIN = 'https://app.test';

// Cache Storage shared by every worker of the origin: name -> Map(url -> Response).
function cacheStorage() {
  const store = new Map();
  const keyOf = (k) => (typeof k === 'string' ? k : k.url);
  return {
    store,
    keys: async () => [...store.keys()],
    delete: async (name) => store.delete(name),
    open: async (name) => {
      if (!store.has(name)) store.set(name, new Map());
      const m = store.get(name);
      return {
        put: async (k, res) => { m.set(keyOf(k), new Response(await res.arrayBuffer(), res)); },
        match: async (k) => m.get(keyOf(k)),
      };
    },
  };
}

// Installs a worker with `config` on a stand-in global; `fetch` answers the
// worker's requests (the kill URL 404 unless it says otherwise).
function startWorker(config, { caches = cacheStorage(), fetch = null } = {}) {
  const listeners = new Map();
  const calls = { skipWaiting: 0 };
  globalThis.self = {
    location: new URL(`${ORIGIN}/sw.js`),
    registration: { active: null, unregister: async () => true },
    clients: { claim: async () => {} },
    skipWaiting: async () => { calls.skipWaiting++; },
    addEventListener: (type, fn) => listeners.set(type, fn),
  };
  globalThis.caches = caches;
  globalThis.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url;
    const answer = fetch && await fetch(url, init);
    return answer || new Response('no', { status: 404 });
  };
  const state = sw.installPreheatWorker(config);
  // Dispatches an extendable event; resolves with the data it replied (for
  // messages) once every waitUntil promise has settled.
  const dispatch = async (type, fields = {}) => {
    const pending = [];
    let replied;
    const event = { ...fields, waitUntil: (p) => pending.push(p),
                    ports: [{ postMessage: (d) => { replied = d; } }] };
    listeners.get(type)(event);
    await Promise.allSettled(pending);
    return replied;
  };
  return { state, caches, calls, dispatch };
}

// Worker names "a" and "a:b" named their caches "preheat-worker:a:<version>"
// and "preheat-worker:a:b:<version>": the first one's prefix covers the
// second's caches, so activating "a" deleted "a:b"'s stored shells and
// precached assets (and its kill switch did too).
test('workers whose names share a prefix keep their own caches', async () => {
  const caches = cacheStorage();
  const ab = startWorker({ name: 'a:b', version: '1' }, { caches });
  await ab.dispatch('install');
  await ab.dispatch('activate');
  const abCache = ab.state.config.shellCache;
  await (await caches.open(abCache)).put(`${ORIGIN}/x`, new Response('kept'));

  const a = startWorker({ name: 'a', version: '2' }, { caches });
  await (await caches.open(a.state.config.shellCache)).put(`${ORIGIN}/y`, new Response('mine'));
  await a.dispatch('install');
  await a.dispatch('activate');
  assert.ok(caches.store.has(abCache), `"a" deleted "a:b"'s cache ${abCache}`);
  assert.notEqual(abCache, a.state.config.shellCache);

  // A new version of "a" still deletes its own previous version's cache.
  const a3 = startWorker({ name: 'a', version: '3' }, { caches });
  await a3.dispatch('install');
  await a3.dispatch('activate');
  assert.ok(!caches.store.has(a.state.config.shellCache), 'the old version of "a" is gone');
  assert.ok(caches.store.has(abCache));
  // Name "a" version "b:1" and name "a:b" version "1" do not share one.
  const other = startWorker({ name: 'a', version: 'b:1' }, { caches });
  assert.notEqual(other.state.config.shellCache, abCache);
  // Names without ":" or "%" keep the names earlier releases gave them.
  assert.equal(a3.state.config.shellCache, 'preheat-worker:a:3');
});

// A navigation request as the fetch event carries it; resolves with the
// worker's response once its waitUntil promises have settled.
async function navigate(worker, url) {
  let responded;
  // mode 'navigate' cannot be constructed: the fields the worker reads.
  const request = { method: 'GET', mode: 'navigate', url: new URL(url, ORIGIN).href,
                    headers: new Headers({ accept: 'text/html' }), referrer: '' };
  await worker.dispatch('fetch', { request, respondWith: (p) => { responded = p; } });
  return responded;
}

// Every "preheat:bypass" message added an entry that only a navigation to
// its URL removed: a page asking for many URLs (or one calling it in a
// loop) grew the worker's map for as long as the worker lived.
test('bypass entries are bounded; the latest one still bypasses', async () => {
  const w = startWorker({ name: 'app', version: '1',
                          routes: [{ page: '/issues/:id', data: '/api/issues/:id' }] });
  for (let i = 0; i < 1000; i++) {
    const answer = await w.dispatch('message', { data: { type: 'preheat:bypass', url: `/issues/${i}` } });
    assert.deepEqual(answer, { type: 'preheat:bypass', ok: true });
  }
  assert.ok(w.state.bypass.size <= 64, `${w.state.bypass.size} bypass entries kept`);
  const res = await navigate(w, '/issues/999');
  assert.equal(res.status, 404);  // the stand-in network's answer
  assert.equal(w.state.lastVerdict.reason, 'bypass');
});

// The install event waited for every offlineAsset's fetch: one asset whose
// response never came (a stalled connection, an origin that holds it) held
// the install, and with it the new version, until the browser gave up on
// the event and discarded the worker.
test('a precached asset that never answers does not hold the install', { timeout: 20000 }, async () => {
  const fetched = [];
  const w = startWorker({
    name: 'app', version: '1', precacheTimeoutMs: 50,
    offlineAssets: ['/app.js', '/stalls.js', '/style.css'],
  }, {
    fetch: (url, init) => {
      fetched.push(url);
      if (!url.endsWith('/stalls.js')) return new Response(`body of ${url}`);
      // Answers only when the request is aborted (as a stalled socket).
      return new Promise((_, reject) => {
        init && init.signal && init.signal.addEventListener('abort', () => reject(init.signal.reason));
      });
    },
  });
  await w.dispatch('install');
  assert.equal(w.calls.skipWaiting, 1, 'the install finished');
  const cache = await w.caches.open(w.state.config.shellCache);
  assert.equal(await (await cache.match(`${ORIGIN}/app.js`)).text(), `body of ${ORIGIN}/app.js`);
  assert.ok(await cache.match(`${ORIGIN}/style.css`));
  assert.equal(await cache.match(`${ORIGIN}/stalls.js`), undefined);
});

// The page-side helpers of the service worker (web/src/sw-register.js) that
// need no browser: the messages to the controlling worker (ask), against a
// stand-in controller. Node only: no browser, no module.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const register = await import(pathToFileURL(path.join(here, '..', '..', 'web', 'src', 'sw-register.js')).href);

const sleep = (ms) => new Promise((f) => setTimeout(f, ms));

// A controlling worker that answers each message `replyAfterMs` later (never
// when null) on the port it was sent; `closed` counts the ports whose
// channel the page closed.
function controller({ replyAfterMs = null } = {}) {
  const ctl = {
    scriptURL: 'https://app.test/sw.js',
    ports: [],
    closed: 0,
    postMessage(message, transfer) {
      const port = transfer[0];
      ctl.ports.push(port);
      port.once('close', () => { ctl.closed++; });
      if (replyAfterMs !== null) {
        setTimeout(() => port.postMessage({ type: message.type, ok: true }), replyAfterMs);
      }
    },
  };
  return ctl;
}

function withController(ctl, fn) {
  globalThis.navigator = { serviceWorker: { controller: ctl } };
  return Promise.resolve().then(fn).finally(() => { delete globalThis.navigator; });
}

// setTimeout takes a signed 32-bit delay and fires a longer one at once: a
// status asked with a timeout of 2^31 ms or more (or Infinity) came back null
// before the worker could answer.
test('a status timeout of 2^31 ms or more still waits for the answer', async () => {
  for (const timeoutMs of [2 ** 31, 2 ** 40, Infinity]) {
    const ctl = controller({ replyAfterMs: 50 });
    const status = await withController(ctl, () => register.preheatWorkerStatus(timeoutMs));
    assert.deepEqual(status, { type: 'preheat:status', ok: true }, `timeout ${timeoutMs}`);
  }
});

// The port was left open after a timeout, its handler kept: one channel
// held per unanswered message for the life of the page.
test('a status that timed out closes its message channel', async () => {
  const ctl = controller();
  const status = await withController(ctl, () => register.preheatWorkerStatus(10));
  assert.equal(status, null);
  assert.equal(ctl.ports.length, 1);
  // Closing one end of a channel closes the other: the worker's end sees it.
  for (let i = 0; i < 500 && ctl.closed === 0; i++) await sleep(10);
  assert.equal(ctl.closed, 1);
});

test('an answered status closes its message channel too', async () => {
  const ctl = controller({ replyAfterMs: 0 });
  const status = await withController(ctl, () => register.preheatWorkerStatus(5000));
  assert.deepEqual(status, { type: 'preheat:status', ok: true });
  for (let i = 0; i < 500 && ctl.closed === 0; i++) await sleep(10);
  assert.equal(ctl.closed, 1);
});

// A stand-in page at `href` for reloadWithoutShell: its location records
// reloads and navigations, its worker answers bypass messages.
function pageAt(href) {
  const loc = {
    href,
    reloads: 0,
    assigned: [],
    reload() { loc.reloads++; },
    assign(u) { loc.assigned.push(String(u)); },
    replace(u) { loc.assigned.push(String(u)); },
  };
  const store = new Map();
  const bypassed = [];
  const ctl = {
    scriptURL: 'https://app.test/sw.js',
    postMessage(message, transfer) {
      bypassed.push(message.url);
      transfer[0].postMessage({ type: message.type, ok: true });
    },
  };
  return { loc, bypassed, ctl,
           storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, String(v)) } };
}

async function onPage(p, fn) {
  globalThis.navigator = { serviceWorker: { controller: p.ctl } };
  globalThis.location = p.loc;
  globalThis.sessionStorage = p.storage;
  try {
    return await fn();
  } finally {
    delete globalThis.navigator;
    delete globalThis.location;
    delete globalThis.sessionStorage;
  }
}

// reloadWithoutShell(url) for another URL than the page's asked the worker
// to bypass that URL, then reloaded the current page: the current page came
// back as a shell again and `url` never got its full page.
test('reloadWithoutShell(url) for another page navigates there; without url it reloads', async () => {
  const other = pageAt('https://app.test/issues/1');
  assert.equal(await onPage(other, () => register.reloadWithoutShell('/issues/2')), true);
  assert.deepEqual(other.bypassed, ['https://app.test/issues/2']);
  assert.equal(other.loc.reloads, 0, 'the current page was not reloaded');
  assert.deepEqual(other.loc.assigned, ['https://app.test/issues/2']);
  // Within 30 s the same URL is not tried again (no loop).
  assert.equal(await onPage(other, () => register.reloadWithoutShell('https://app.test/issues/2')), false);

  const same = pageAt('https://app.test/issues/1#c3');
  assert.equal(await onPage(same, () => register.reloadWithoutShell()), true);
  assert.equal(same.loc.reloads, 1);
  assert.deepEqual(same.loc.assigned, []);
  const sameExplicit = pageAt('https://app.test/issues/1');
  assert.equal(await onPage(sameExplicit, () => register.reloadWithoutShell('/issues/1')), true);
  assert.equal(sameExplicit.loc.reloads, 1);
  assert.deepEqual(sameExplicit.bypassed, ['https://app.test/issues/1']);
});

// The kill URL was fetched with no time limit: a server holding it kept the
// registration promise pending and the worker unregistered for good.
test('a kill URL that never answers does not hold the registration', { timeout: 10000 }, async () => {
  const registered = [];
  const saved = { navigator: globalThis.navigator, location: globalThis.location, fetch: globalThis.fetch };
  globalThis.navigator = {
    serviceWorker: {
      controller: null,
      register: async (url, options) => { registered.push({ url, options }); return { scope: '/' }; },
    },
  };
  globalThis.location = { href: 'https://app.test/page' };
  let aborted = 0;
  globalThis.fetch = (url, init) => new Promise((resolve, reject) => {
    init.signal.addEventListener('abort', () => { aborted++; reject(new Error('aborted')); });
  });
  try {
    const reg = await register.registerPreheatWorker('/sw.js', { waitForLoad: false, killCheckTimeoutMs: 50 });
    assert.deepEqual(reg, { scope: '/' });
    assert.equal(registered.length, 1);
    assert.equal(aborted, 1);
  } finally {
    Object.assign(globalThis, saved);
    for (const k of Object.keys(saved)) if (saved[k] === undefined) delete globalThis[k];
  }
});

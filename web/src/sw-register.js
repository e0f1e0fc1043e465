// Page-side helpers for the preheat service worker (see sw.js, PROTOCOL.md).
//
//   import { registerPreheatWorker } from 'preheat/sw-register';
//   registerPreheatWorker('/sw.js', { routes: ['/issues/:id'] });
//
// Registration never throws and never delays the page: it waits for the
// load event, asks the kill URL first (a 410, or the kill header, means
// "unregister and stay away"), then registers a module worker whose scope is
// the narrowest folder covering the routes, with updateViaCache 'none' so a
// deploy's new worker script is seen on the next navigation. While that
// worker is registered and controls the page, the kill URL is asked at most
// once per killCheckIntervalMs (the worker asks it itself as often), not on
// every page load.

const KILL_HEADER = 'Preheat-Worker';
const KILL_URL = '/.well-known/preheat-worker';

// Same rule as scopeForRoutes in sw.js (kept here so the page does not load
// the worker module).
// A route ending in "/*" also matches its bare folder ("/docs/*" matches
// "/docs"), which a scope of "/docs/" would not cover: such a route's folder
// is the scope without its last slash.
export function scopeForRoutes(routes) {
  const statics = routes.map((r) => {
    const p = typeof r === 'string' ? r : r.page;
    const segs = p.split('/').slice(1);
    const fixed = [];
    for (const s of segs) {
      if (s.startsWith(':') || s === '*') break;
      fixed.push(s);
    }
    if (fixed.length === segs.length) fixed.pop();
    return { fixed, bare: segs[fixed.length] === '*' };
  });
  if (statics.length === 0) return '/';
  let common = statics[0].fixed;
  for (const s of statics.slice(1)) {
    let i = 0;
    while (i < common.length && i < s.fixed.length && common[i] === s.fixed[i]) i++;
    common = common.slice(0, i);
  }
  const bare = statics.some((s) => s.bare && s.fixed.length === common.length);
  if (bare && common.length > 0) return '/' + common.join('/');
  return '/' + common.map((s) => s + '/').join('');
}

function supported() {
  return typeof navigator !== 'undefined' && 'serviceWorker' in navigator &&
    globalThis.isSecureContext !== false;
}

function loaded() {
  if (typeof document === 'undefined' || document.readyState === 'complete') return Promise.resolve();
  return new Promise((resolve) => globalThis.addEventListener('load', () => resolve(), { once: true }));
}

// 'killed', 'clear', or 'unknown' (no kill URL, or it could not be asked:
// offline, nothing to decide).
// A kill URL that does not answer within timeoutMs counts as unasked: a
// server holding it must not keep the worker from being registered.
async function killCheck(killUrl, killHeader, timeoutMs) {
  if (!killUrl) return 'unknown';
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), Math.min(timeoutMs, 2 ** 31 - 1));
  try {
    const res = await fetch(killUrl, { cache: 'no-store', credentials: 'omit', redirect: 'error',
                                       signal: abort.signal });
    const v = res.headers.get(killHeader);
    return res.status === 410 || (!!v && v.trim().toLowerCase() === 'unregister') ? 'killed' : 'clear';
  } catch (_) {
    return 'unknown';
  } finally {
    clearTimeout(timer);
  }
}

const KILL_CHECKED_PREFIX = 'preheat-worker:kill-checked:';

// Whether the kill URL may be skipped on this load: the worker of
// `scriptHref` controls the page and is still registered (a worker that
// unregistered itself keeps controlling its pages until they navigate),
// and a check within `intervalMs` found no kill (localStorage; storage off:
// always check).
async function killCheckedRecently(scriptHref, scope, intervalMs) {
  if (!(intervalMs > 0)) return false;
  const ctl = navigator.serviceWorker.controller;
  if (!ctl || ctl.scriptURL !== scriptHref) return false;
  let at;
  try {
    at = Number(localStorage.getItem(KILL_CHECKED_PREFIX + scriptHref) || 0);
  } catch (_) {
    return false;
  }
  const age = Date.now() - at;
  if (!(age >= 0 && age < intervalMs)) return false;
  const reg = await navigator.serviceWorker.getRegistration(scope || location.href);
  const w = reg && (reg.active || reg.waiting || reg.installing);
  return !!w && w.scriptURL === scriptHref;
}

function noteKillCheck(scriptHref, outcome) {
  try {
    if (outcome === 'clear') localStorage.setItem(KILL_CHECKED_PREFIX + scriptHref, String(Date.now()));
    else localStorage.removeItem(KILL_CHECKED_PREFIX + scriptHref);
  } catch (_) { /* storage off */ }
}

/** Unregisters every registration of this origin whose script is scriptUrl (or all when null). */
export async function unregisterPreheatWorker(scriptUrl = null) {
  if (!supported()) return 0;
  const target = scriptUrl && new URL(scriptUrl, location.href).href;
  let n = 0;
  for (const reg of await navigator.serviceWorker.getRegistrations()) {
    const w = reg.active || reg.waiting || reg.installing;
    if (target && (!w || w.scriptURL !== target)) continue;
    if (await reg.unregister()) n++;
  }
  return n;
}

/**
 * Registers the app's preheat worker. Resolves with the registration, or
 * null when service workers are unavailable, the kill switch is on, or
 * registration failed (the reason is in `onError`).
 */
export async function registerPreheatWorker(scriptUrl, {
  routes = null,
  scope = null,
  type = 'module',
  killUrl = KILL_URL,
  killHeader = KILL_HEADER,
  killCheckIntervalMs = 5 * 60 * 1000,
  killCheckTimeoutMs = 10000,
  waitForLoad = true,
  onError = null,
} = {}) {
  if (!supported()) return null;
  try {
    if (waitForLoad) await loaded();
    const s = scope || (routes ? scopeForRoutes(routes) : undefined);
    const scriptHref = new URL(scriptUrl, location.href).href;
    const scopeHref = s ? new URL(s, location.href).href : null;
    if (!(await killCheckedRecently(scriptHref, scopeHref, killCheckIntervalMs))) {
      const outcome = await killCheck(killUrl, killHeader, killCheckTimeoutMs);
      noteKillCheck(scriptHref, outcome);
      if (outcome === 'killed') {
        await unregisterPreheatWorker(scriptUrl);
        return null;
      }
    }
    return await navigator.serviceWorker.register(scriptUrl, {
      type, updateViaCache: 'none', ...(s ? { scope: s } : {}),
    });
  } catch (e) {
    if (onError) onError(e);
    return null;
  }
}

// Sends a message to the controlling worker and waits for its reply (null
// after timeoutMs). The channel is closed either way, so an unanswered
// message holds nothing. A timeout over 2^31-1 ms (or Infinity) waits
// 2^31-1 ms: setTimeout takes a signed 32-bit delay and fires a longer one
// at once.
function ask(message, timeoutMs = 1000) {
  const ctl = supported() && navigator.serviceWorker.controller;
  if (!ctl) return Promise.resolve(null);
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    const done = (value) => {
      clearTimeout(timer);
      ch.port1.onmessage = null;
      ch.port1.close();
      resolve(value);
    };
    const timer = setTimeout(() => done(null), Math.min(timeoutMs, 2 ** 31 - 1));
    ch.port1.onmessage = (ev) => done(ev.data);
    ctl.postMessage(message, [ch.port2]);
  });
}

/** The controlling worker's version, protocol, counters and last verdict (or null). */
export function preheatWorkerStatus(timeoutMs) {
  return ask({ type: 'preheat:status' }, timeoutMs);
}

/** Whether this document was served as a thin shell (the server marks it). */
export function isShell(doc = globalThis.document) {
  return !!doc && !!doc.querySelector('meta[name="preheat-shell"]');
}

/**
 * A shell that cannot render from the cache (the entry vanished, the
 * network failed with nothing cached) calls this: the worker forwards the
 * next navigation to `url` (this page by default; relative to it) without
 * the header, and the browser loads it as a full server-rendered page: a
 * reload for this page (the fragment aside), a navigation to any other
 * URL. Guards against reload loops per tab (once per URL per 30 s).
 */
export async function reloadWithoutShell(url = location.href) {
  const target = new URL(url, location.href);
  const flag = `preheat:reloaded:${target.href}`;
  try {
    const last = Number(sessionStorage.getItem(flag) || 0);
    if (Date.now() - last < 30000) return false;
    sessionStorage.setItem(flag, String(Date.now()));
  } catch (_) { /* storage off: still try once */ }
  await ask({ type: 'preheat:bypass', url: target.href });
  const here = new URL(location.href);
  here.hash = '';
  const there = new URL(target.href);
  there.hash = '';
  if (there.href === here.href) location.reload();
  else location.assign(target.href);
  return true;
}

// The demo front-end: an issue tracker on the preheat package.
//
// Boots from either representation the server sends for /, /repos/:repo/
// issues and /issues/:id: the full server-rendered page, or the thin shell
// (`<meta name="preheat-shell">`, sent when the service worker found the
// page's data in the cache) which it fills from the cache. Then it routes
// clicks on the client (soft navigations, history API), or lets the browser
// load each page (hard navigations, through the service worker), and
// records for every navigation where the data came from and the time from
// the click to the main content painted.
//
// Settings (localStorage, changed with the switches in the panel):
//   demo:mode  none | swr | preheat     (no cache / SWR / SWR + preheat)
//   demo:nav   soft | hard              (client routing / full page loads)
// Records (localStorage, so they survive hard navigations):
//   demo:navs     [{ seq, nav, trigger, mode, path, kind, source, state, ms }]
//   demo:fetches  { total, preheat, purpose, mismatch } (requests this app made)
// window.__demo exposes the same for scripts (tests/demo/browser_bench.mjs).
//
// First paint of a thin shell: the service worker inlines the page's cached
// data (`<script type="application/json" id="preheat-data">`, read from the
// same IndexedDB record the engine will use) and render.js paints it while
// the document is parsed, before this module, the package and its
// WebAssembly engine have loaded (the shell starts this module after that
// frame: DemoRender.boot); this module records that paint, then the engine
// reads the record itself, revalidates it and re-renders only if it
// changed. The package is imported dynamically, so on a full page this
// module runs as soon as its own small graph is there (the full page
// preloads the package's files).
//
// Hard navigations with SWR + preheat also prefetch the document of a link
// the user points at once its data is stored (prefetchDocument), and a Back
// may be restored from the back/forward cache (the pageshow handler).
import {
  registerPreheatWorker, unregisterPreheatWorker, isShell, reloadWithoutShell,
} from '/preheat/src/sw-register.js';
import {
  CACHE_NAME, ROUTES, POLICIES, MODES, DEFAULT_MODE, routeOf,
  PREHEAT_LIST_TOP, PREHEAT_REFS_MAX, HOVER_INTENT_MS,
} from '/config.js';

const INSTANT_MS = 200;
const FAST_MS = 1000;
const NAVS_KEY = 'demo:navs';
const FETCH_KEY = 'demo:fetches';
const PENDING_KEY = 'demo:pending';
const MAX_RECORDS = 2000;

// ---- settings and records -------------------------------------------------

function load(key, fallback) {
  try {
    const v = localStorage.getItem(key);
    return v === null ? fallback : JSON.parse(v);
  } catch (_) {
    return fallback;
  }
}
function save(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch (_) { /* full or off */ }
}

const mode = (() => {
  const m = load('demo:mode', DEFAULT_MODE);
  return Object.hasOwn(MODES, m) ? m : DEFAULT_MODE;
})();
const navStyle = load('demo:nav', 'soft') === 'hard' ? 'hard' : 'soft';

const appStart = performance.now();
const demo = {
  mode, navStyle, ready: false, error: null, shell: isShell(), navs: [], fetches: null,
  cache: null, current: null,
  records: () => load(NAVS_KEY, []),
};
window.__demo = demo;

// A shell render.js already painted from inlined data: nothing competes with
// that frame (loading and compiling the package and the engine start once
// it is on screen). Otherwise the package loads at once.
const inlinePaint = window.__demoInline ? window.__demoInline.painted.catch(() => 0) : null;
const packageReady = (inlinePaint || Promise.resolve()).then(() => import('/preheat/src/index.js'));

const loadFetches = () => load(FETCH_KEY, { total: 0, preheat: 0, purpose: 0, mismatch: 0 });
demo.fetches = loadFetches();

// Every request the cache makes goes through here: counts preheat-lane
// requests (the driver asks for priority 'low') and checks that exactly
// those carry `Purpose: prefetch`. The counts are read back each time: a
// page restored from the back/forward cache holds an older copy.
function countingFetch(url, init = {}) {
  const headers = new Headers(init.headers || {});
  const preheat = init.priority === 'low';
  const purpose = (headers.get('Purpose') || '').toLowerCase() === 'prefetch';
  const fetches = loadFetches();
  fetches.total++;
  if (preheat) fetches.preheat++;
  if (purpose) fetches.purpose++;
  if (preheat !== purpose) fetches.mismatch++;
  save(FETCH_KEY, fetches);
  demo.fetches = fetches;
  return fetch(url, init);
}

function record(entry) {
  const all = load(NAVS_KEY, []);
  const rec = { seq: all.length + 1, mode, nav: entry.nav, ...entry, at: Date.now() };
  all.push(rec);
  save(NAVS_KEY, all.slice(-MAX_RECORDS));
  demo.navs.push(rec);
  ui.update(rec);
  return rec;
}

// Resolves after the next frame was produced: the content is painted.
function painted() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}
const epochNow = () => performance.timeOrigin + performance.now();

// ---- rendering ----------------------------------------------------------------

// Rendering is shared with the shell's first paint (render.js, a classic
// script the layout loads before this module).
const { esc } = window.DemoRender;
function render(route, result) {
  window.DemoRender.render(route.kind, result);
}

function renderError(message) {
  const main = document.getElementById('app');
  main.innerHTML = `<h1>Could not load this page</h1><p class="error">${esc(message)}</p>`;
  main.removeAttribute('aria-busy');
}

// ---- the cache ----------------------------------------------------------------

function cacheOptions() {
  const common = { name: CACHE_NAME, fetch: countingFetch };
  if (mode === 'none') {
    // The same engine and fetch driver, storing nothing: every navigation
    // goes to the network.
    return { ...common, storage: 'memory', crossTab: false, defaultPolicy: { noStore: true } };
  }
  return { ...common, routes: POLICIES, writeDelayMs: 10 };
}

let cache = null;
let unsubscribe = null;

function preheatFor(route, data) {
  if (mode !== 'preheat' || !data) return;
  let urls = [];
  if (route.kind === 'list') {
    urls = data.issues.slice(0, PREHEAT_LIST_TOP).map((i) => i.api_url);
    if (data.next) urls.push(data.next);
  } else if (route.kind === 'issue') {
    urls = [...new Set(data.references || [])].slice(0, PREHEAT_REFS_MAX);
    urls.push(`/api/repos/${data.repo}/issues?page=1`);
  } else if (route.kind === 'repos') {
    urls = data.repos.map((r) => r.api_url).filter(Boolean);
  }
  if (urls.length) preheat(urls);
}

// Preheats still running, by data URL: a hard navigation to one of them
// waits for it (see onClick).
const preheating = new Map();
function preheat(urls) {
  const list = Array.isArray(urls) ? urls : [urls];
  const p = cache.preheat(list).catch(() => 0);
  for (const u of list) {
    if (preheating.has(u)) continue;
    preheating.set(u, p);
    p.then(() => { if (preheating.get(u) === p) preheating.delete(u); });
  }
  return p;
}

// Before a hard navigation: let a preheat of the target's data finish (up
// to HARD_WAIT_MS) and write pending entries to IndexedDB, so the service
// worker finds the data and asks for the thin shell.
const HARD_WAIT_MS = 1500;
async function readyForHardNavigation(dataUrl) {
  const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const running = preheating.get(dataUrl);
  if (running) await Promise.race([running, timeout(HARD_WAIT_MS)]);
  await Promise.race([cache.flush().catch(() => {}), timeout(200)]);
}

// Re-renders the current page when a revalidation brings different data.
function follow(route) {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  if (mode === 'none') return;
  unsubscribe = cache.subscribe(route.dataUrl, (r) => {
    if (demo.current !== route || !r || r.data == null) return;
    const main = document.getElementById('app');
    if (main.dataset.hash === r.bodyHash) return;
    render(route, { ...r, source: 'network', state: 'revalidated' });
    ui.note(`updated: ${route.dataUrl} changed on the server`);
  });
}

// Renders `result` unless the page already shows the same data (`shown`:
// JSON text painted from the worker's inlined copy); then only the
// bookkeeping attributes change, so the first paint is not redone.
function renderOnce(route, result, shown) {
  if (shown && result.data != null && JSON.stringify(result.data) === shown) {
    const main = document.getElementById('app');
    main.dataset.source = result.source;
    main.dataset.state = result.state;
    main.dataset.hash = result.bodyHash || '';
    return;
  }
  render(route, result);
}

// Shows the page for `route`: synchronously from memory when possible,
// else from IndexedDB or the network. Resolves with { source, state }.
// `shown`: the JSON text already painted (see paintInline), or null.
async function show(route, shown = null) {
  demo.current = route;
  follow(route);
  let r = mode === 'none' ? null : cache.peek(route.dataUrl);
  if (r) {
    renderOnce(route, { ...r, source: 'memory' }, shown);
    // peek does not revalidate: a get on a stale entry serves it from
    // memory and revalidates in the background.
    if (r.state !== 'fresh') cache.get(route.dataUrl, { lane: 'revalidate' }).catch(() => {});
  } else {
    if (!shown) document.getElementById('app').setAttribute('aria-busy', 'true');
    r = await cache.get(route.dataUrl);
    if (demo.current !== route) return { source: r.source, state: r.state, superseded: true };
    renderOnce(route, r, shown);
  }
  preheatFor(route, r.data);
  return { source: r.source, state: r.state };
}

// ---- navigation ---------------------------------------------------------------

let navSeq = 0;

// A soft navigation (client routing) that started at performance time t0.
async function softNavigate(trigger, t0) {
  const seq = ++navSeq;
  const route = routeOf(location.pathname, location.search);
  if (!route) {
    location.reload();
    return;
  }
  let outcome;
  try {
    outcome = await show(route);
  } catch (e) {
    renderError(String(e && e.message || e));
    outcome = { source: 'error', state: 'error' };
  }
  if (seq !== navSeq || outcome.superseded) return;
  await painted();
  performance.mark('demo:content');
  record({ nav: 'soft', trigger, path: location.pathname + location.search, kind: route.kind,
           source: outcome.source, state: outcome.state, ms: performance.now() - t0 });
}

function linkTarget(event) {
  const a = event.target.closest && event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return null;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return null;
  const route = routeOf(url.pathname, url.search);
  return route ? { a, url, route } : null;
}

function triggerOf(a, route) {
  if (a.classList.contains('ref')) return 'xref';
  if (a.rel === 'next' || a.rel === 'prev') return 'page';
  return route.kind === 'issue' ? 'issue' : route.kind === 'list' ? 'list' : 'home';
}

function onClick(event) {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const t = linkTarget(event);
  if (!t) return;
  const trigger = triggerOf(t.a, t.route);
  if (navStyle === 'hard') {
    // A full page load; the next document measures from here.
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({
      t: performance.timeOrigin + event.timeStamp, trigger, path: t.url.pathname + t.url.search,
    }));
    if (!cache || mode === 'none') return;  // the browser follows the link
    event.preventDefault();
    leaving = true;
    readyForHardNavigation(t.route.dataUrl).then(() => location.assign(t.url.href));
    return;
  }
  event.preventDefault();
  if (t.url.href === location.href) return;
  history.pushState({ demo: true }, '', t.url.href);
  softNavigate(trigger, event.timeStamp);
}

let backStart = null;
function goBack(event) {
  if (navStyle === 'hard') {
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({
      t: performance.timeOrigin + event.timeStamp, trigger: 'back', path: null,
    }));
    if (cache && mode !== 'none') {
      const timeout = new Promise((resolve) => setTimeout(resolve, 200));
      Promise.race([cache.flush().catch(() => {}), timeout]).then(() => history.back());
      return;
    }
  } else {
    backStart = event.timeStamp;
  }
  history.back();
}

function onPopState(event) {
  const t0 = backStart !== null ? backStart : event.timeStamp;
  backStart = null;
  softNavigate('back', t0);
}

// Hover / press intent: preheat the link's data (and, for hard
// navigations, its document: see prefetchDocument).
let hoverTimer = null;
function onPointerOver(event) {
  if (mode !== 'preheat') return;
  const t = linkTarget(event);
  clearTimeout(hoverTimer);
  if (!t) return;
  hoverTimer = setTimeout(() => intent(t), HOVER_INTENT_MS);
}
function onPointerDown(event) {
  if (mode !== 'preheat') return;
  const t = linkTarget(event);
  if (t) intent(t);
}
function intent(t) {
  if (!cache) return;  // the engine is still loading
  const p = preheat(t.route.dataUrl);
  if (navStyle === 'hard') prefetchDocument(t.url, t.route.dataUrl, p);
}

// SWR + preheat with hard navigations: once a link the user points at has
// its data stored, the browser prefetches its document (Speculation Rules).
// The service worker answers that prefetch like the navigation itself, from
// the route's stored shell with the record inlined, so the server sees no
// request; the click then commits the prefetched answer at once instead of
// waking the worker. Only when this page is controlled by the worker (else
// the prefetch would reach the server for a full page) and only for data in
// the store (else the worker would ask the server for the full page).
const prefetchedDocs = new Set();
// Set by a hard navigation's click: a prefetch started now would only make
// that navigation wait for it.
let leaving = false;
function prefetchDocument(url, dataUrl, preheated) {
  if (prefetchedDocs.has(url.href) || url.href === location.href) return;
  if (!navigator.serviceWorker || !navigator.serviceWorker.controller) return;
  if (!HTMLScriptElement.supports || !HTMLScriptElement.supports('speculationrules')) return;
  prefetchedDocs.add(url.href);
  preheated
    .then(() => cache.flush())
    .then(() => {
      if (leaving) {
        prefetchedDocs.delete(url.href);
        return;
      }
      if (!cache.peek(dataUrl)) {
        prefetchedDocs.delete(url.href);  // not stored (failed): no prefetch
        return;
      }
      const rules = document.createElement('script');
      rules.type = 'speculationrules';
      rules.className = 'demo-prefetch';
      rules.textContent = JSON.stringify({
        prefetch: [{ source: 'list', urls: [url.pathname + url.search], eagerness: 'immediate' }],
      });
      document.head.appendChild(rules);
    })
    .catch(() => { prefetchedDocs.delete(url.href); });
}
// Drops the prefetched documents (their inlined data is older than an edit).
function dropPrefetchedDocuments() {
  for (const el of document.querySelectorAll('script.demo-prefetch')) el.remove();
  prefetchedDocs.clear();
}

async function editTitle(button) {
  const route = demo.current;
  if (!route || route.kind !== 'issue') return;
  const current = cache.peek(route.dataUrl);
  const data = current ? current.data : null;
  const title = prompt('New title', data ? data.title : '');
  if (!title) return;
  try {
    if (mode === 'none') {
      await fetch(route.dataUrl, { method: 'PATCH', body: JSON.stringify({ title }),
                                   headers: { 'content-type': 'application/json' } });
    } else {
      await cache.mutate(route.dataUrl, { ...data, title }, {
        write: { method: 'PATCH', url: route.dataUrl, body: { title },
                 headers: { 'content-type': 'application/json' } },
        rollbackOn: 'failure',
      });
      if (data) cache.invalidate({ tag: `list-${data.repo}` });
      dropPrefetchedDocuments();
    }
    ui.note('title saved');
  } catch (e) {
    ui.note(`edit failed, rolled back: ${e && e.message || e}`);
  }
  const now = mode === 'none' ? null : cache.peek(route.dataUrl);
  if (now && demo.current === route) render(route, { ...now, source: 'memory' });
  else if (demo.current === route) softNavigate('edit', performance.now());
}

// ---- the panel ----------------------------------------------------------------

const BINS = [50, 100, 150, 200, 300, 400, 500, 700, 1000, 1500, 2000, Infinity];

const ui = {
  el: null,
  build() {
    const aside = document.createElement('aside');
    aside.id = 'panel';
    aside.innerHTML = `
      <div class="row">
        <button type="button" id="back" title="history.back()">&larr; Back</button>
        <label>Mode <select id="mode">${Object.entries(MODES).map(([k, v]) =>
          `<option value="${k}"${k === mode ? ' selected' : ''}>${v}</option>`).join('')}</select></label>
        <label>Links <select id="navstyle">
          <option value="soft"${navStyle === 'soft' ? ' selected' : ''}>soft (client routing)</option>
          <option value="hard"${navStyle === 'hard' ? ' selected' : ''}>hard (page loads)</option>
        </select></label>
        <button type="button" id="clear">Clear log</button>
      </div>
      <div id="last" class="row">no navigation yet</div>
      <div id="dist" class="row"></div>
      <svg id="hist" viewBox="0 0 240 64" preserveAspectRatio="none" role="img"
           aria-label="histogram of click-to-content times"></svg>
      <div id="hist-axis" class="row small"></div>
      <div id="note" class="row small"></div>`;
    document.body.appendChild(aside);
    this.el = aside;
    aside.querySelector('#back').addEventListener('click', goBack);
    aside.querySelector('#mode').addEventListener('change', (e) => switchMode(e.target.value));
    aside.querySelector('#navstyle').addEventListener('change', (e) => {
      save('demo:nav', e.target.value);
      location.reload();
    });
    aside.querySelector('#clear').addEventListener('click', () => {
      save(NAVS_KEY, []);
      this.update(null);
    });
    this.update(null);
  },
  note(text) {
    if (this.el) this.el.querySelector('#note').textContent = text;
  },
  update(last) {
    if (!this.el) return;
    if (last) {
      const cls = last.ms < INSTANT_MS ? 'instant' : last.ms < FAST_MS ? 'fast' : 'slow';
      this.el.querySelector('#last').innerHTML =
        `<b class="${cls}">${Math.round(last.ms)} ms</b> ${last.nav} ${esc(last.trigger)} ` +
        `&middot; ${esc(last.source)} &middot; ${esc(last.state)}`;
    }
    const navs = load(NAVS_KEY, []).filter((n) => n.mode === mode && n.trigger !== 'landing');
    const n = navs.length;
    const count = (f) => navs.filter(f).length;
    const pct = (k) => (n ? Math.round((100 * k) / n) : 0);
    const instant = count((x) => x.ms < INSTANT_MS);
    const fast = count((x) => x.ms >= INSTANT_MS && x.ms < FAST_MS);
    const slow = n - instant - fast;
    this.el.querySelector('#dist').innerHTML =
      `${esc(MODES[mode])}, ${n} navigations: ` +
      `<span class="instant">instant ${pct(instant)}%</span> ` +
      `<span class="fast">fast ${pct(fast)}%</span> <span class="slow">slow ${pct(slow)}%</span>`;
    const bins = BINS.map(() => 0);
    for (const x of navs) bins[BINS.findIndex((b) => x.ms < b)]++;
    const max = Math.max(1, ...bins);
    const w = 240 / bins.length;
    this.el.querySelector('#hist').innerHTML = bins.map((c, i) => {
      const h = (60 * c) / max;
      const cls = BINS[i] <= INSTANT_MS ? 'instant' : BINS[i] <= FAST_MS ? 'fast' : 'slow';
      return `<rect class="${cls}" x="${i * w + 1}" y="${62 - h}" width="${w - 2}" height="${h}">` +
             `<title>&lt; ${BINS[i]} ms: ${c}</title></rect>`;
    }).join('');
    this.el.querySelector('#hist-axis').textContent = `0 … ${BINS[BINS.length - 2]}+ ms`;
  },
};

async function switchMode(next) {
  save('demo:mode', next);
  if (next === 'none') {
    // No cache at all: no worker, no stored data.
    await unregisterPreheatWorker('/sw.js').catch(() => 0);
    if (cache) await cache.close().catch(() => {});
    await new Promise((resolve) => {
      const req = indexedDB.deleteDatabase(`preheat:${CACHE_NAME}`);
      req.onsuccess = req.onerror = req.onblocked = () => resolve();
    });
  }
  location.reload();
}

// ---- boot ---------------------------------------------------------------------

// Time of the paint that showed a server-rendered page's content.
function serverContentTime() {
  const mark = performance.getEntriesByName('demo:content')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  if (fcp) return Math.max(fcp.startTime, mark ? mark.startTime : 0);
  if (mark) return mark.startTime;
  return performance.now();
}

async function boot() {
  if (inlinePaint) await inlinePaint;
  ui.build();
  document.addEventListener('click', (e) => {
    const button = e.target.closest && e.target.closest('button.edit');
    if (button) editTitle(button);
    else onClick(e);
  });
  document.addEventListener('pointerover', onPointerOver);
  document.addEventListener('pointerdown', onPointerDown);
  window.addEventListener('popstate', onPopState);
  // Leaving by a hard navigation: write what the worker should see.
  window.addEventListener('pagehide', () => { if (cache && mode !== 'none') cache.flush().catch(() => {}); });
  // Back to a page kept in the back/forward cache: it shows what it showed
  // when it was left, painted by the frame after this event. Its data is
  // then revalidated like any cached page's (SWR modes; the subscription
  // re-renders if it changed), and its document prefetches (single-use,
  // with older inlined data) are dropped.
  window.addEventListener('pageshow', (e) => {
    if (!e.persisted) return;
    const pending = takePending();
    const route = demo.current;
    leaving = false;
    dropPrefetchedDocuments();
    painted().then(() => {
      if (pending) {
        record({
          nav: 'hard', trigger: pending.trigger, path: location.pathname + location.search,
          kind: route ? route.kind : '', source: 'bfcache', state: 'bfcache',
          ms: epochNow() - pending.t,
        });
      }
      if (!route || !cache || mode === 'none' || demo.current !== route) return;
      const r = cache.peek(route.dataUrl);
      if (!r || r.state !== 'fresh') cache.get(route.dataUrl, { lane: 'revalidate' }).catch(() => {});
    });
  });

  const pending = takePending();
  const route = routeOf(location.pathname, location.search);
  const main = document.getElementById('app');
  // The thin shell with the worker's copy of the data: paint it now.
  const early = demo.shell && route && mode !== 'none' ? await takeInline(route, pending) : null;
  const { createCache } = await packageReady;
  cache = await createCache(cacheOptions());
  demo.cache = cache;
  const cacheReady = performance.now();
  if (route && !demo.shell && main && main.dataset.source === 'server') {
    // A full page: its content is already painted. Warm the cache with its
    // data (for the next soft navigation and for the worker), then take the
    // page over.
    const contentAt = await new Promise((resolve) => {
      // FCP may land after this module ran: give it a moment.
      if (performance.getEntriesByName('first-contentful-paint').length) resolve(serverContentTime());
      else setTimeout(() => resolve(serverContentTime()), 300);
    });
    // A history navigation may be answered by the browser's HTTP cache.
    const nav = performance.getEntriesByType('navigation')[0];
    const httpCache = nav && nav.transferSize === 0 && nav.type === 'back_forward';
    record({ nav: 'hard', trigger: pending ? pending.trigger : 'landing',
             path: location.pathname + location.search, kind: route.kind,
             source: httpCache ? 'http-cache' : 'server', state: 'full page',
             ms: pending ? performance.timeOrigin + contentAt - pending.t : contentAt,
             phases: phasesOf(pending, cacheReady, contentAt) });
    demo.current = route;
    if (mode !== 'none') {
      try {
        const r = await cache.get(route.dataUrl);
        if (demo.current === route) {
          render(route, r);
          main.dataset.source = 'server';
          follow(route);
          preheatFor(route, r.data);
        }
      } catch (e) {
        ui.note(`could not warm the cache: ${e && e.message || e}`);
      }
    }
  } else if (route && early) {
    // Already painted from the inlined data: the engine takes over (reads
    // the same record, revalidates it, re-renders only if it changed).
    try {
      await show(route, early.hash);
    } catch (e) {
      ui.note(`the cache could not load this page: ${e && e.message || e}`);
    }
  } else if (route) {
    // The thin shell (or a bare document): render from the cache.
    let outcome;
    try {
      outcome = await show(route);
    } catch (e) {
      if (demo.shell && await reloadWithoutShell()) return;
      renderError(String(e && e.message || e));
      outcome = { source: 'error', state: 'error' };
    }
    await painted();
    performance.mark('demo:content');
    record({ nav: 'hard', trigger: pending ? pending.trigger : 'landing',
             path: location.pathname + location.search, kind: route.kind,
             source: outcome.source, state: `${outcome.state}${demo.shell ? ' (shell)' : ''}`,
             ms: pending ? epochNow() - pending.t : performance.now(),
             phases: phasesOf(pending, cacheReady, performance.now()) });
  }
  // Soft navigations route this history entry on popstate (a same-document
  // navigation costs the browser a round of work: hard ones skip it).
  if (navStyle === 'soft') history.replaceState({ demo: true }, '');
  if (mode === 'none') {
    await unregisterPreheatWorker('/sw.js').catch(() => 0);
  } else {
    demo.registration = await registerPreheatWorker('/sw.js', { routes: ROUTES, waitForLoad: false })
      ? 'registered' : 'none';
  }
  demo.ready = true;
}

// A thin shell that render.js already painted from the worker's inlined
// data (web/src/sw.js, `inlineData`): records the navigation, click to the
// frame after that paint. Null when there was no such paint for this route;
// the engine path renders instead.
async function takeInline(route, pending) {
  const inline = window.__demoInline;
  if (!inline || new URL(inline.url, location.href).href !== new URL(route.dataUrl, location.href).href) {
    return null;
  }
  demo.current = route;
  const at = await inline.painted;
  record({ nav: 'hard', trigger: pending ? pending.trigger : 'landing',
           path: location.pathname + location.search, kind: route.kind,
           source: 'store', state: `${inline.state} (shell, inline)`,
           ms: pending ? performance.timeOrigin + at - pending.t : at,
           phases: { ...phasesOf(pending, null, at), inlineRendered: phaseAt(pending, inline.renderedAt) } });
  return { hash: inline.text };
}

// A time of this document (performance.now() scale) in ms from the click.
function phaseAt(pending, t) {
  return typeof t === 'number' ? Math.round((pending ? performance.timeOrigin - pending.t : 0) + t) : null;
}

// Where the time of a hard navigation went (ms from the click).
function phasesOf(pending, cacheReady, rendered) {
  const nav = performance.getEntriesByType('navigation')[0];
  const base = pending ? performance.timeOrigin - pending.t : 0;
  const at = (x) => (x ? Math.round(base + x) : null);
  return {
    navigationStart: Math.round(base), workerStart: at(nav && nav.workerStart),
    responseStart: at(nav && nav.responseStart), responseEnd: at(nav && nav.responseEnd),
    unloadEnd: at(nav && nav.unloadEventEnd), head: at(window.__demoHeadAt),
    appStart: at(appStart), cacheReady: at(cacheReady), rendered: at(rendered),
    transferSize: nav ? nav.transferSize : null, type: nav ? nav.type : null,
    delivery: nav && nav.deliveryType || null,
  };
}

function takePending() {
  const raw = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  try {
    const p = raw && JSON.parse(raw);
    return p && typeof p.t === 'number' && epochNow() - p.t < 60000 ? p : null;
  } catch (_) {
    return null;
  }
}

boot().catch((e) => {
  demo.error = String(e && e.stack || e);
  console.error(e);
});

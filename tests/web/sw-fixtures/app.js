// The test app's page script, for both representations of /issues/:id:
// - full page (server-rendered): registers the worker and warms the cache;
// - thin shell (<meta name="preheat-shell">): renders from the cache
//   (memory tier if warm, else IndexedDB), then revalidates and re-renders.
import { createCache } from '/preheat/src/index.js';
import { registerPreheatWorker, isShell, reloadWithoutShell } from '/preheat/src/sw-register.js';
import { CACHE_NAME, ROUTES, POLICIES, dataUrlFor } from '/fixtures/config.js';

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? null;
// Which shell this is (the test server's deploy and serial number), and the
// record a worker inlined into it (inlineData), if any.
const inlined = document.getElementById('preheat-data');
const log = { shell: isShell(), renders: [], error: null, warmed: false,
              shellVersion: meta('shell-version'), shellSerial: meta('shell-serial'),
              inlined: inlined ? { url: inlined.dataset.url, state: inlined.dataset.state,
                                   data: JSON.parse(inlined.textContent) } : null };
window.__app = log;

function render(issue, source, state) {
  const main = document.getElementById('issue');
  main.querySelector('h1').textContent = issue.title;
  main.querySelector('.body').textContent = issue.body;
  main.dataset.version = String(issue.version);
  main.dataset.source = source;
  if (!log.renders.length) performance.mark('preheat:content');
  log.renders.push({ version: issue.version, source, state, t: performance.now() });
}

async function main() {
  const params = new URLSearchParams(location.search);
  const dataUrl = dataUrlFor(location.pathname);
  const cache = await createCache({ name: CACHE_NAME, routes: POLICIES });
  window.__cache = cache;
  if (log.shell) {
    // Reconcile: the engine notifies subscribers when a revalidation brought
    // a different representation.
    let shown = null;
    cache.subscribe(dataUrl, (u) => {
      if (shown !== null && u.data && u.data.version !== shown) {
        shown = u.data.version;
        render(u.data, 'revalidated', u.state);
      }
    });
    let r = cache.peek(dataUrl);
    let revalidation;
    if (r) {
      revalidation = cache.get(dataUrl, { lane: 'revalidate' }).then((x) => x.revalidation);
    } else {
      try {
        r = await cache.get(dataUrl);
      } catch (e) {
        log.error = String(e && e.message || e);
        await reloadWithoutShell();
        return;
      }
      revalidation = r.revalidation;
    }
    shown = r.data.version;
    render(r.data, r.source, r.state);
    await revalidation.catch(() => null);
    await new Promise((f) => setTimeout(f, 0));
    log.settled = true;
  } else {
    // The full page came with its data inline; fetch it into the cache for
    // the next hard navigation (unless ?nowarm: the benchmark's misses).
    if (!params.has('nowarm')) {
      try {
        await cache.get(dataUrl);
        await cache.flush();
      } catch (e) {
        log.error = String(e && e.message || e);
      }
    }
    log.warmed = true;
  }
  if (!params.has('noworker')) {
    log.registration = await registerPreheatWorker('/sw.js', { routes: ROUTES, waitForLoad: false }) ? 'registered' : 'none';
  }
}

main().catch((e) => { log.error = String(e && e.stack || e); });

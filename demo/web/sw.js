// The demo's service worker (module): hard navigations to app routes whose
// data is in the page's IndexedDB cache are answered at once from the
// route's stored thin shell (`shellFromCache`, the "app shell" pattern; the
// first such navigation of a worker version asks the server for the shell
// and stores it), with that data inlined (`inlineData`: render.js paints it
// before app.js and its engine have loaded; the engine then revalidates).
// See web/PROTOCOL.md. WORKER_VERSION (config.js) changes on every deploy,
// so a new version never serves an older shell.
import { installPreheatWorker } from '/preheat/src/sw.js';
import { CACHE_NAME, ROUTES, POLICIES, WORKER_VERSION } from '/config.js';

// The page prefetches the document of a link the user points at
// (Speculation Rules, `Sec-Purpose: prefetch`) once its data is stored, so
// the worker answers it from the cache like the navigation. Should such a
// prefetch find no usable record after all (its record check timed out or
// failed), it gets a network error (`prefetchMissToNetwork: false`): the
// server never renders a full page for a prefetch, and the click navigates
// as usual.
installPreheatWorker({
  version: WORKER_VERSION,
  name: CACHE_NAME,
  routes: ROUTES,
  policies: POLICIES,
  inlineData: true,
  shellFromCache: true,
  prefetchMissToNetwork: false,
});

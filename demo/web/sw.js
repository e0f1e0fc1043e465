// The demo's service worker (module): hard navigations to app routes whose
// data is in the page's IndexedDB cache get the thin shell (web/PROTOCOL.md),
// with that data inlined (`inlineData`: app.js paints it before its engine
// has loaded).
import { installPreheatWorker } from '/preheat/src/sw.js';
import { CACHE_NAME, ROUTES, POLICIES, WORKER_VERSION } from '/config.js';

installPreheatWorker({
  version: WORKER_VERSION,
  name: CACHE_NAME,
  routes: ROUTES,
  policies: POLICIES,
  inlineData: true,
});

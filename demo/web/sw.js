// The demo's service worker (module): hard navigations to app routes whose
// data is in the page's IndexedDB cache get the thin shell (web/PROTOCOL.md).
import { installPreheatWorker } from '/preheat/src/sw.js';
import { CACHE_NAME, ROUTES, POLICIES, WORKER_VERSION } from '/config.js';

installPreheatWorker({
  version: WORKER_VERSION,
  name: CACHE_NAME,
  routes: ROUTES,
  policies: POLICIES,
});

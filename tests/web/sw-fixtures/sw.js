// The test app's service worker (served at /sw.js; the server substitutes
// the version on each "deploy", and OPTIONS with its workerOptions).
import { installPreheatWorker } from '/preheat/src/sw.js';
import { CACHE_NAME, ROUTES, POLICIES } from '/fixtures/config.js';

const OPTIONS = /*__OPTIONS__*/{};

installPreheatWorker({
  version: '__VERSION__',
  name: CACHE_NAME,
  routes: ROUTES,
  policies: POLICIES,
  // Generous: on a loaded test machine a cache check can take longer than
  // the default 150 ms, which turns a hit into a miss (and, with the server
  // down, a failed navigation). These tests are about hits, not the timeout.
  timeoutMs: 2000,
  offlineAssets: [
    '/fixtures/app.js', '/fixtures/config.js',
    '/preheat/src/index.js', '/preheat/src/cache.js', '/preheat/src/idb-store.js',
    '/preheat/src/fetch-driver.js', '/preheat/src/intent.js', '/preheat/src/sw-register.js',
    '/preheat/dist/preheat.mjs', '/preheat/dist/preheat.wasm',
  ],
  ...OPTIONS,
});

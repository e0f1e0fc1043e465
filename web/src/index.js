// preheat: a stale-while-revalidate cache for web apps, backed by IndexedDB,
// running the same C++ engine as the native runtime (WebAssembly).
//
//   import { createCache } from 'preheat';
//   const cache = await createCache({ name: 'app', maxBytes: 50 << 20 });
//   const hit = cache.peek('/api/issues/1');          // synchronous, memory tier
//   const { data, state, revalidation } = await cache.get('/api/issues/1');

import createPreheatModule from '../dist/preheat.mjs';
import { createCacheWith } from './cache.js';

export { PreheatError, Code, decodeBody, createCacheWith } from './cache.js';
export { IdbStore } from './idb-store.js';
export { FetchDriver } from './fetch-driver.js';
export { watchIntent } from './intent.js';

let modulePromise = null;

function loadModule(moduleArgs) {
  // One WebAssembly instance per realm; every cache shares it.
  if (!modulePromise) {
    modulePromise = createPreheatModule({
      locateFile: (file) => new URL(`../dist/${file}`, import.meta.url).href,
      ...moduleArgs,
    });
    // A failed load is tried again next time.
    modulePromise.catch(() => { modulePromise = null; });
  }
  return modulePromise;
}

/** Creates a cache; see index.d.ts for the options. */
export function createCache(options = {}) {
  return createCacheWith((args) => loadModule(args), options);
}

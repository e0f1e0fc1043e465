// Types of preheat/cache (cache.js): the cache without the bundled module
// loader (createCacheWith takes the module factory).
export { Code, PreheatError, decodeBody, createCacheWith } from './index.js';
export type * from './index.js';

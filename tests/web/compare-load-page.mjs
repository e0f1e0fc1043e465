// In-page half of `compare.mjs --load`: a page that imports ONE build of
// the package (?pkg=A or ?pkg=B), so that each measured read is the first
// one of a freshly loaded page: its scripts and WebAssembly just compiled,
// its engine just opened (what an app's first navigation pays).
const which = new URLSearchParams(location.search).get('pkg') === 'B' ? 'B' : 'A';
const { createCache } = await import(`/pkg${which}/src/index.js`);
const { noNetwork, seedRecords } = await import('./bench-shared.mjs');

// Stores `entries` 10 KB records (once, from either build: the layout is
// shared) and returns their URLs and the options to open caches on them.
window.seedLoadReads = async ({ entries = 40, size = 10 * 1024 } = {}) => {
  const { urls, options } = await seedRecords(createCache,
                                              { name: 'compare-load', prefix: '/compare/load/', entries, size });
  return { urls, options, size };
};

// Milliseconds createCache took (`open`: the module instantiated, the
// database opened) and from then to its first get's result, of `url`
// (`first`).
window.firstReadAfterLoad = async (url, options, size) => {
  const opening = performance.now();
  const cache = await createCache({ ...options, fetch: noNetwork });
  const t0 = performance.now();
  const r = await cache.get(url);
  const dt = performance.now() - t0;
  if (r.source !== 'store' || r.data.length !== size) {
    throw new Error(`compare: build ${which} read ${r.source}, ${r.data.length} bytes`);
  }
  await cache.close();
  return { open: t0 - opening, first: dt };
};

window.loadReady = true;

// In-page half of compare.mjs: two builds of the package (/pkgA/, /pkgB/)
// loaded side by side, each reading the same 10 KB records with its memory
// tier cold, interleaved read for read with a raw IndexedDB get (the six
// orders of the three rotate), so that drift and load hit all three alike.
const A = await import('/pkgA/src/index.js');
const B = await import('/pkgB/src/index.js');
const { noNetwork, openRaw, rawGet, seedRecords } = await import('./bench-shared.mjs');

const ORDERS = [['a', 'r', 'b'], ['b', 'r', 'a'], ['r', 'a', 'b'], ['r', 'b', 'a'], ['a', 'b', 'r'], ['b', 'a', 'r']];

// Milliseconds per read for a, b and raw; round 0 (JIT cold) left out.
window.compareReads = async ({ entries = 20, rounds = 30, size = 10 * 1024 } = {}) => {
  const name = 'compare-read';
  const { urls, keys, options } = await seedRecords(A.createCache,
                                                    { name, prefix: '/compare/read/', entries, size });
  const db = await openRaw(`preheat:${name}`, false);
  const times = { a: [], b: [], raw: [] };
  for (let round = 0; round < rounds; round++) {
    const caches = {
      a: await A.createCache({ ...options, fetch: noNetwork }),
      b: await B.createCache({ ...options, fetch: noNetwork }),
    };
    for (let i = 0; i < entries; i++) {
      for (const who of ORDERS[(round * entries + i) % ORDERS.length]) {
        const t0 = performance.now();
        if (who === 'r') {
          const rec = await rawGet(db, keys[i]);
          const dt = performance.now() - t0;
          if (!rec || !rec.value) throw new Error('compare: raw record missing');
          if (round > 0) times.raw.push(dt);
        } else {
          const r = await caches[who].get(urls[i]);
          const dt = performance.now() - t0;
          if (r.source !== 'store' || r.data.length !== size) {
            throw new Error(`compare: build ${who} read ${r.source}, ${r.data.length} bytes`);
          }
          if (round > 0) times[who].push(dt);
        }
      }
    }
    await caches.a.close();
    await caches.b.close();
  }
  db.close();
  return times;
};

// Milliseconds of each build's first get after createCache (a 10 KB record
// of a persisted database, what an app's first navigation reads), the
// builds taking turns; the first three rounds (JIT cold) left out.
window.compareFirstReads = async ({ rounds = 60, size = 10 * 1024 } = {}) => {
  const entries = 40;
  const { urls, options } = await seedRecords(A.createCache,
                                              { name: 'compare-first', prefix: '/compare/first/', entries, size });
  const builds = { a: A, b: B };
  const times = { a: [], b: [] };
  for (let round = 0; round < rounds; round++) {
    for (const who of round % 2 ? ['a', 'b'] : ['b', 'a']) {
      const cache = await builds[who].createCache({ ...options, fetch: noNetwork });
      const t0 = performance.now();
      const r = await cache.get(urls[(2 * round + (who === 'a' ? 0 : 1)) % entries]);
      const dt = performance.now() - t0;
      if (r.source !== 'store' || r.data.length !== size) {
        throw new Error(`compare: build ${who} read ${r.source}, ${r.data.length} bytes`);
      }
      if (round >= 3) times[who].push(dt);
      await cache.close();
    }
  }
  return times;
};

window.compareReady = true;

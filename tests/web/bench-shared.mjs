// What the benchmark pages share (bench-page.mjs, compare-page.mjs): an
// in-page origin and the raw IndexedDB baseline.

// An in-page origin: the engine's fetches never leave the page, so network
// time is not part of any measurement.
export function fakeFetch(bodyBytes, contentType = 'text/plain') {
  const body = 'x'.repeat(bodyBytes);
  return async (url) => new Response(body, {
    status: 200,
    headers: { 'content-type': contentType, 'cache-control': 'max-age=86400' },
  });
}

export const noNetwork = async (url) => {
  throw new TypeError(`bench: unexpected network request for ${url}`);
};

export function openRaw(name, create) {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      if (!create) return;
      // The layout of the package's own "entries" store (same indexes), so
      // that a record costs the same to put in either.
      const entries = req.result.createObjectStore('entries', { keyPath: 'key' });
      entries.createIndex('lastAccess', 'lastAccess');
      entries.createIndex('tags', 'tags', { multiEntry: true });
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// The way an application reads one record: a readonly transaction, one
// get(), the value when the request succeeds.
export function rawGet(db, key) {
  return new Promise((resolve, reject) => {
    const r = db.transaction('entries', 'readonly').objectStore('entries').get(key);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

// Stores `entries` responses of `size` bytes through a cache of `createCache`
// (a package's), then closes it: the records a cold read finds. Returns
// their URLs and store keys and the options to open caches on them with.
export async function seedRecords(createCache, { name, prefix, entries, size }) {
  const urls = Array.from({ length: entries }, (_, i) => `${prefix}${i}`);
  const options = { name, crossTab: false, writeDelayMs: 600000 };
  const seed = await createCache({ ...options, fetch: fakeFetch(size) });
  const keys = [];
  for (const u of urls) keys.push((await seed.get(u)).key);
  await seed.flush();
  await seed.close();
  return { urls, keys, options };
}

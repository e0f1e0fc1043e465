// A minimal app using the package the way an application would: a bare
// `preheat` import, bundled by `vite build` (vite.config.js points the name
// at the assembled package of a wasm build).
import { createCache } from 'preheat';

const out = document.getElementById('out');

async function main() {
  const cache = await createCache({ name: 'vite-app', maxBytes: 1 << 20 });
  const before = cache.peek('/api/hello');
  const first = await cache.get('/api/hello');
  const peeked = cache.peek('/api/hello');
  await cache.flush();
  const result = {
    before,
    first: { data: first.data, state: first.state, source: first.source },
    peek: peeked && { data: peeked.data, state: peeked.state, source: peeked.source },
    storage: cache.stats().storage.kind,
  };
  await cache.close();
  return result;
}

window.preheatResult = main().then(
  (r) => {
    out.textContent = JSON.stringify(r, null, 2);
    return r;
  },
  (e) => {
    out.textContent = `error: ${e && e.stack ? e.stack : e}`;
    return { error: String(e && e.message ? e.message : e) };
  },
);

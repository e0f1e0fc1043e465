// Node tests of the preheater as the web package exposes it
// (createCache({ preheat }) -> surface / intent / navigated / preheatStats),
// against a real origin on 127.0.0.1. Run: node --test tests/wasm/
import test from 'node:test';
import assert from 'node:assert/strict';
import { requireDev, loadFactory, cacheModuleUrl, startOrigin, until } from './helpers.mjs';

requireDev('fake-indexeddb/auto');
const { createCacheWith } = await import(cacheModuleUrl);
const factory = loadFactory();

let dbCounter = 0;
const uniqueName = (base) => `${base}-${process.pid}-${++dbCounter}`;

const json = (obj) => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'cache-control': 'max-age=600' },
  body: JSON.stringify(obj),
});

function linkOrigin() {
  const routes = { '/page': json({ page: true }) };
  for (let i = 0; i < 8; i++) routes[`/l${i}`] = json({ i });
  return startOrigin(routes);
}

const preheatOptions = {
  perSurfaceMax: 3,
  requestsPerSecond: 1000,
  requestsBurst: 100,
  inflightMax: 4,
  hoverIntentMs: 30,
};

test('surface: preheats only the top uncached candidates, with prefetch headers', async (t) => {
  const origin = await linkOrigin();
  const cache = await createCacheWith(factory, { name: uniqueName('surface'), preheat: preheatOptions });
  t.after(async () => { await cache.close(); await origin.close(); });
  const u = (p) => `${origin.origin}${p}`;

  await cache.get(u('/l0'));  // cached: its place in the budget is used, not passed on
  assert.equal(origin.count('/l0'), 1);

  cache.surface(u('/page'), ['/l0', '/l1', '/l2', '/l3', '/l4', '/l5'].map((p, position) => ({ url: u(p), position })));
  await until(() => cache.preheatStats().fetched === 2, 3000, 'two preheats fetched');

  assert.equal(origin.count('/l0'), 1, 'cached candidate skipped');
  assert.equal(origin.count('/l1'), 1);
  assert.equal(origin.count('/l2'), 1);
  for (const p of ['/l3', '/l4', '/l5']) assert.equal(origin.count(p), 0, `${p} is past perSurfaceMax`);
  for (const r of origin.requests.filter((r) => r.path === '/l1' || r.path === '/l2')) {
    assert.equal(r.headers['sec-purpose'], 'prefetch');
    assert.equal(r.headers.purpose, 'prefetch');
  }
  const s = cache.preheatStats();
  assert.equal(s.candidates, 6);
  assert.equal(s.issued, 2);
  assert.equal(s.skipped_cached, 1);
  assert.equal(s.dropped_budget, 3);
  assert.equal(s.failures, 0);
  assert.equal(cache.stats().inflight.preheat, 0);

  // The preheated entries are now served from memory.
  const r = cache.peek(u('/l1'));
  assert.ok(r);
  assert.deepEqual(r.data, { i: 1 });

  // A strong intent preheats at once, beyond the surface budget.
  cache.intent(u('/l4'), 'pointerdown');
  await until(() => origin.count('/l4') === 1, 3000, 'pointerdown preheat');

  // A held hover becomes intent through the timer loop (nextDeadline/onDeadline).
  cache.intent(u('/l5'), 'hoverstart');
  await until(() => origin.count('/l5') === 1, 3000, 'hover preheat');
  // A hover that ends early does not.
  cache.intent(u('/l6'), 'hoverstart');
  cache.intent(u('/l6'), 'hoverend');

  cache.navigated(u('/page'), u('/l1'));
  await until(() => cache.preheatStats().fetched === 4, 3000, 'intent preheats fetched');
  await new Promise((f) => setTimeout(f, 80));
  assert.equal(origin.count('/l6'), 0, 'a short hover is not intent');
  const after = cache.preheatStats();
  assert.equal(after.used, 1);
  assert.ok(after.model_pages >= 1);

  assert.throws(() => cache.intent(u('/l7'), 'wave'), TypeError);
  // cache.preheat(urls) still works beside the preheater.
  assert.equal(await cache.preheat([u('/l7'), u('/l1')]), 1);
  assert.equal(origin.count('/l7'), 1);
});

test('save-data: only strong intents preheat', async (t) => {
  const origin = await linkOrigin();
  const cache = await createCacheWith(factory, {
    name: uniqueName('savedata'), storage: 'memory', preheat: { ...preheatOptions, saveData: true },
  });
  t.after(async () => { await cache.close(); await origin.close(); });
  const u = (p) => `${origin.origin}${p}`;
  cache.surface(u('/page'), [u('/l1'), { url: u('/l2'), hinted: true }]);
  cache.intent(u('/l3'), 'touchstart');
  await until(() => origin.count('/l3') === 1, 3000, 'touchstart preheat');
  const s = cache.preheatStats();
  assert.equal(s.save_data, true);
  assert.equal(s.skipped_save_data, 2);
  assert.equal(origin.count('/l1') + origin.count('/l2'), 0);
});

test('the model is saved on close and loaded by the next cache; no preheater: no-ops', async (t) => {
  const origin = await linkOrigin();
  t.after(() => origin.close());
  const u = (p) => `${origin.origin}${p}`;
  const name = uniqueName('model');
  const one = await createCacheWith(factory, { name, preheat: preheatOptions });
  one.navigated(u('/page'), u('/l1'));
  one.navigated(u('/l1'), u('/l2'));
  assert.equal(one.preheatStats().model_pages, 2);
  await one.close();

  const two = await createCacheWith(factory, { name, preheat: preheatOptions });
  t.after(() => two.close());
  await until(() => two.preheatStats().model_pages === 2, 3000, 'model loaded');

  const plain = await createCacheWith(factory, { name: uniqueName('plain'), storage: 'memory' });
  t.after(() => plain.close());
  assert.equal(plain.preheatStats(), null);
  plain.surface(u('/page'), [u('/l1')]);
  assert.equal(origin.count('/l1'), 0);

});

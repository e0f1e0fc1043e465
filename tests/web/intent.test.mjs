// Headless Chromium test of watchIntent (web/src/intent.js): a hover held
// longer than hoverIntentMs preheats the link; other links, cross-origin
// links and hovers after stop() do not.
// Run: PREHEAT_WEB_PACKAGE=<build>/web node --test tests/web/intent.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startStaticServer, CHROMIUM_ARGS } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');

const PACKAGE_DIR = process.env.PREHEAT_WEB_PACKAGE ||
  path.join(here, '..', '..', 'build', 'wasm', 'web');
const CHROMIUM = process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium';

const PAGE = `<!doctype html><meta charset="utf-8"><title>intent</title>
<style>a { display: block; margin: 40px; padding: 10px; }</style>
<a id="one" href="/api/one"><span>one</span></a>
<a id="two" href="/api/two">two</a>
<a id="far" href="https://elsewhere.example/x">elsewhere</a>
<script type="module">
  import { createCache, watchIntent } from '/pkg/src/index.js';
  window.cache = await createCache({ name: 'intent', storage: 'memory',
    preheat: { hoverIntentMs: 50, saveData: false } });
  window.stop = watchIntent(window.cache);
  window.ready = true;
</script>`;

test('watchIntent: a held hover preheats the link', async (t) => {
  assert.ok(fs.existsSync(path.join(PACKAGE_DIR, 'dist', 'preheat.wasm')),
            `no built package at ${PACKAGE_DIR}`);
  const hits = [];
  const route = (name) => (req) => {
    hits.push({ name, headers: req.headers });
    return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=600' },
             body: JSON.stringify({ name }) };
  };
  const server = await startStaticServer({
    mounts: { '/pkg/': PACKAGE_DIR },
    pages: { '/page.html': PAGE },
    routes: { '/api/one': route('one'), '/api/two': route('two') },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => { await browser.close(); await server.close(); });
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  await page.goto(`${server.origin}/page.html`);
  await page.waitForFunction(() => window.ready === true);

  // A hover over the far link and a quick pass over "two" do nothing. The
  // pass is its pointerover and pointerout in one task: a real mouse pass
  // (a hover, then a move away) could outlast hoverIntentMs on a busy
  // machine and count as intent.
  await page.hover('#far');
  await page.mouse.move(0, 0);
  await page.evaluate(() => {
    const two = document.getElementById('two');
    two.dispatchEvent(new PointerEvent('pointerover', { bubbles: true }));
    two.dispatchEvent(new PointerEvent('pointerout', { bubbles: true }));
  });
  await page.hover('#one span');  // over a child of the link
  await page.waitForFunction(() => window.cache.preheatStats().fetched >= 1, null, { timeout: 5000 });
  const stats = await page.evaluate(() => window.cache.preheatStats());
  assert.equal(stats.issued, 1);
  assert.deepEqual(hits.map((h) => h.name), ['one']);
  // Sec-* names are forbidden to fetch() in browsers: Purpose is what arrives.
  assert.equal(hits[0].headers.purpose, 'prefetch');
  assert.equal(await page.evaluate(() => window.cache.peek('/api/one').data.name), 'one');

  // After stop(), hovers are no longer reported.
  await page.evaluate(() => window.stop());
  await page.hover('#two');
  await page.waitForTimeout(200);
  assert.deepEqual(hits.map((h) => h.name), ['one']);
  assert.deepEqual(errors, []);
});

const REMOVAL_PAGE = `<!doctype html><meta charset="utf-8">
<div id="list"><a id="one" href="/issues/1">one</a> <a id="two" href="/issues/2">two</a></div>
<script type="module">
  import { watchIntent } from '/pkg/src/intent.js';
  window.calls = [];
  const fake = { intent: (u, k) => calls.push(['intent', u, k]), visible: (u, v) => calls.push(['visible', new URL(u).pathname, v]) };
  window.stop = watchIntent(fake);
  window.ready = true;
</script>`;

test('watchIntent: a visible link removed from the page is reported not visible', async (t) => {
  const server = await startStaticServer({ mounts: { '/pkg/': PACKAGE_DIR }, pages: { '/p.html': REMOVAL_PAGE } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => { await browser.close(); await server.close(); });
  const page = await browser.newPage();
  await page.goto(`${server.origin}/p.html`);
  await page.waitForFunction(() => window.ready === true);
  await page.waitForFunction(() => window.calls.filter((c) => c[0] === 'visible').length === 2);
  // An SPA replaces the list (client-side navigation) without calling surface().
  await page.evaluate(() => { document.getElementById('list').replaceChildren(); });
  await page.waitForFunction(() => window.calls.filter((c) => c[0] === 'visible').length >= 4, null, { timeout: 5000 })
    .catch(() => {});
  const vis = await page.evaluate(() => window.calls.filter((c) => c[0] === 'visible'));
  assert.deepEqual(vis, [['visible', '/issues/1', true], ['visible', '/issues/2', true],
                         ['visible', '/issues/1', false], ['visible', '/issues/2', false]]);
});

const OPT_OUT_PAGE = `<!doctype html><meta charset="utf-8">
<a id="ok" href="/issues/1">kept</a>
<a id="false" href="/logout" data-preheat="false">out</a>
<a id="zero" href="/delete" data-preheat="0">out</a>
<a id="nofollow" href="/signout" rel="noopener NoFollow">out</a>
<script type="module">
  import { watchIntent } from '/pkg/src/intent.js';
  window.calls = [];
  const fake = { intent: (u, k) => calls.push([new URL(u).pathname, k]), visible: () => {} };
  window.stop = watchIntent(fake);
  window.ready = true;
</script>`;

// OPT_OUT_PAGE served and opened in a new browser, watching; closed after `t`.
async function openOptOutPage(t) {
  const server = await startStaticServer({ mounts: { '/pkg/': PACKAGE_DIR }, pages: { '/o.html': OPT_OUT_PAGE } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  t.after(async () => { await browser.close(); await server.close(); });
  const page = await browser.newPage();
  await page.goto(`${server.origin}/o.html`);
  await page.waitForFunction(() => window.ready === true);
  return page;
}

test('watchIntent: links opted out (data-preheat="false" or "0", rel=nofollow) report no intent', async (t) => {
  const page = await openOptOutPage(t);
  await page.evaluate(() => {
    for (const id of ['false', 'zero', 'nofollow', 'ok']) {
      document.getElementById(id).dispatchEvent(new PointerEvent('pointerdown', { bubbles: true }));
    }
  });
  assert.deepEqual(await page.evaluate(() => window.calls), [['/issues/1', 'pointerdown']]);
});

test('watchIntent: a right-button (context menu) pointerdown is no intent; the middle button is', async (t) => {
  const page = await openOptOutPage(t);
  await page.evaluate(() => {
    for (const button of [2, 3, 4, 1]) {
      document.getElementById('ok').dispatchEvent(new PointerEvent('pointerdown', { bubbles: true, button }));
    }
  });
  assert.deepEqual(await page.evaluate(() => window.calls), [['/issues/1', 'pointerdown']]);
});

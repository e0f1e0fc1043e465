// Time to content of hard navigations with and without the preheat worker,
// in one headless Chromium session, against the protocol test origin
// (sw-fixtures/server.mjs) with a simulated server render cost.
//
//   PREHEAT_WEB_PACKAGE=<build>/web node tests/web/sw-bench.mjs \
//       [--rounds 15] [--render-ms 150] [--api-ms 100] [--out build/sw-bench.json]
//
// Modes, interleaved round by round:
//   full page, no worker      a context with service workers blocked
//   worker, cache hit         the worker sends Preheat-Cache: hit, the server
//                             sends the shell, the page renders from IndexedDB
//   worker, cache miss        the worker finds nothing, forwards unchanged
// "Time to content" = performance mark 'preheat:content' (main content in
// the DOM), ms since navigation start. Medians; no thresholds.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startSwServer } from './sw-fixtures/server.mjs';
import { CHROMIUM_ARGS } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const ROUNDS = Number(arg('rounds', 15));
const RENDER_MS = Number(arg('render-ms', 150));
const API_MS = Number(arg('api-ms', 100));
// --no-offline-assets: the worker intercepts navigations only (no asset fallback).
const OFFLINE_ASSETS = !process.argv.includes('--no-offline-assets');
const ROOT = path.join(here, '..', '..');
const OUT = path.resolve(arg('out', process.env.PREHEAT_BENCH_OUT || path.join(ROOT, 'build', 'sw-bench.json')));
const PACKAGE_DIR = path.resolve(process.env.PREHEAT_WEB_PACKAGE || path.join(ROOT, 'build', 'wasm', 'web'));
const CHROMIUM = process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium';

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
};

async function contentTime(page) {
  await page.waitForFunction(() => performance.getEntriesByName('preheat:content').length > 0,
                             null, { timeout: 20000, polling: 10 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      ttc: performance.getEntriesByName('preheat:content')[0].startTime,
      responseStart: nav ? nav.responseStart : null,
      shell: !!document.querySelector('meta[name="preheat-shell"]'),
      source: document.getElementById('issue').dataset.source,
    };
  });
}

async function settle(page) {
  await page.waitForFunction(() => window.__app && (window.__app.warmed || window.__app.settled ||
                                                    window.__app.error), null, { timeout: 20000 });
}

const server = await startSwServer({ packageDir: PACKAGE_DIR, renderDelayMs: RENDER_MS,
                                     apiDelayMs: API_MS, assetCacheControl: 'max-age=3600',
                                     offlineAssets: OFFLINE_ASSETS });
server.issues['1'] = { title: 'Benchmark issue', body: 'x'.repeat(2000), version: 1 };
server.issues['2'] = { title: 'Never cached', body: 'y'.repeat(2000), version: 1 };
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: CHROMIUM_ARGS,
});
const results = { 'full page, no worker': [], 'worker, cache hit (shell)': [], 'worker, cache miss (full)': [] };
const detail = {};
try {
  const withWorker = await browser.newContext();
  const without = await browser.newContext({ serviceWorkers: 'block' });
  const a = await withWorker.newPage();
  const b = await without.newPage();
  const hitUrl = `${server.origin}/issues/1`;
  const missUrl = `${server.origin}/issues/2?nowarm=1`;
  // Warm-up: install the worker, fill IndexedDB, the HTTP and code caches.
  await a.goto(hitUrl);
  await settle(a);
  await a.waitForFunction(() => !!navigator.serviceWorker.controller, null, { timeout: 20000 });
  for (let i = 0; i < 2; i++) {
    await a.goto(hitUrl); await settle(a);
    await a.goto(missUrl); await settle(a);
    await b.goto(hitUrl); await settle(b);
  }
  const run = async (mode, page, url, expectShell) => {
    await page.goto(url, { waitUntil: 'commit' });
    const t = await contentTime(page);
    await settle(page);  // let revalidation / warming finish before the next round
    if (t.shell !== expectShell) throw new Error(`${mode}: expected shell=${expectShell}, got ${t.shell}`);
    results[mode].push(t.ttc);
    (detail[mode] ||= []).push(t);
  };
  for (let r = 0; r < ROUNDS; r++) {
    const order = [
      () => run('full page, no worker', b, hitUrl, false),
      () => run('worker, cache hit (shell)', a, hitUrl, true),
      () => run('worker, cache miss (full)', a, missUrl, false),
    ];
    // Rotate the order so no mode always runs first.
    for (let k = 0; k < order.length; k++) await order[(k + r) % order.length]();
  }
} finally {
  await browser.close();
  await server.close();
}

const base = quantile(results['full page, no worker'], 0.5);
const rows = Object.entries(results).map(([mode, xs]) => ({
  mode, n: xs.length, median: quantile(xs, 0.5), p25: quantile(xs, 0.25), p75: quantile(xs, 0.75),
  ratio: quantile(xs, 0.5) / base,
}));
const f = (x) => x.toFixed(1).padStart(8);
console.log(`time to content of hard navigations (ms since navigation start), Chromium headless, ` +
            `server render ${RENDER_MS} ms, API ${API_MS} ms, ${ROUNDS} rounds` +
            `${OFFLINE_ASSETS ? '' : ', worker without offline assets'}`);
console.log(`${'mode'.padEnd(28)} ${'n'.padStart(3)} ${'median'.padStart(8)} ${'p25'.padStart(8)} ${'p75'.padStart(8)}  vs full page`);
for (const r of rows) {
  console.log(`${r.mode.padEnd(28)} ${String(r.n).padStart(3)} ${f(r.median)} ${f(r.p25)} ${f(r.p75)}  ${r.ratio.toFixed(2)}x`);
}
fs.mkdirSync(path.dirname(OUT), { recursive: true });
fs.writeFileSync(OUT, JSON.stringify({
  benchmark: 'sw-hard-navigation', date: new Date().toISOString(),
  config: { rounds: ROUNDS, renderDelayMs: RENDER_MS, apiDelayMs: API_MS, offlineAssets: OFFLINE_ASSETS,
            chromium: CHROMIUM },
  rows, samples: results,
}, null, 2));
console.log(`wrote ${OUT}`);

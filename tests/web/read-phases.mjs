// Where the budgets benchmark's cold read (bench.mjs (b)) spends its time,
// phase by phase, for the module's get(), a raw IndexedDB get, and a raw get
// followed by busy work right after its request (bench-page.mjs readPhases):
//
//   PREHEAT_WEB_PACKAGE=<build>/web node tests/web/read-phases.mjs [--pages N] [--busy-us US]
//
// Each page is a fresh browser and profile, as in bench.mjs --pages. Prints
// trimmed means (the middle 80% of each phase's times; the page clock
// ticks in 5 us steps, too coarse for medians of the small phases) and
// writes nothing. --busy-us (default 25, about the module's synchronous
// work after its request) sizes the third kind's busy work: when the
// module's wait exceeds raw's by about what that busy work costs raw, the
// module's extra wait is its own work while IndexedDB works, not IndexedDB.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDriver, trimmedMean, withBudgetsPage } from './bench-browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!(Number.isInteger(v) && v >= 0 && v <= 1000)) throw new Error(`${name}: a whole number from 0 to 1000, not ${args[i + 1]}`);
  return v;
};
const PAGES = Math.max(1, option('--pages', 3));
const BUSY_US = option('--busy-us', 25);
const PACKAGE_DIR = path.resolve(process.env.PREHEAT_WEB_PACKAGE ||
  path.join(here, '..', '..', 'build', 'wasm', 'web'));

async function main() {
  const kinds = ['cache', 'raw', 'rawBusy'];
  const phases = ['pre', 'wait', 'post', 'total', 'sync'];
  const pooled = Object.fromEntries(kinds.map((k) => [k, Object.fromEntries(phases.map((p) => [p, []]))]));
  for (let page = 0; page < PAGES; page++) {
    const out = await withBudgetsPage(PACKAGE_DIR, (p) => p.evaluate((o) => window.bench.readPhases(o), { entries: 20, rounds: 11, busyUs: BUSY_US }));
    for (const k of kinds) for (const p of phases) pooled[k][p].push(...out[k][p]);
  }
  const us = (ms) => (Number.isFinite(ms) ? (ms * 1000).toFixed(1) : '-');
  const label = { cache: 'module get()', raw: 'raw get', rawBusy: `raw get, ${BUSY_US} us busy after` };
  console.log(`cold 10 KB reads, ${pooled.cache.total.length} of each kind from ${PAGES} page(s); ` +
              'trimmed means in us (middle 80%)');
  console.log(['kind'.padEnd(26), ...phases.map((p) => p.padStart(7))].join(' '));
  const problems = [];
  for (const k of kinds) {
    const row = phases.map((p) => trimmedMean(pooled[k][p]));
    console.log([label[k].padEnd(26), ...row.map((x) => us(x).padStart(7))].join(' '));
    for (const p of ['pre', 'wait', 'post', 'sync']) {
      if (!(trimmedMean(pooled[k][p]) >= 0)) problems.push(`${k} ${p}`);
    }
  }
  const d = (k, p) => us(trimmedMean(pooled[k][p]) - trimmedMean(pooled.raw[p]));
  console.log(`module - raw: pre ${d('cache', 'pre')}, sync ${d('cache', 'sync')}, wait ${d('cache', 'wait')}, post ${d('cache', 'post')}, total ${d('cache', 'total')}; ` +
              `busy - raw: wait ${d('rawBusy', 'wait')}, total ${d('rawBusy', 'total')}`);
  return problems;
}

runDriver(main);

// Whether the budgets benchmark's cold-read ratio (bench.mjs (b)) comes
// from how its reads are laid out rather than from the module: the same
// cold 10 KB reads in other layouts (bench-page.mjs readLayout), and a
// control with no module at all:
//
//   PREHEAT_WEB_PACKAGE=<build>/web node tests/web/read-layouts.mjs [--pages N]
//
//   interleaved  (b) itself: a raw connection opened before the caches
//   alternating  a new raw connection and a new cache each round, opened in turns
//   solo         each round one new cache or one new raw connection, alone
//   rawOrder     control: raw reads through two connections opened one after
//                the other; the ratio is the second's over the first's
//
// each without and with an idle millisecond before every read. Each page
// is a fresh browser and profile and runs every layout (the order rotating
// from page to page). Prints each layout's ratio of medians, pooled over
// the pages, and each page's; writes nothing, never fails on timings.
import { PACKAGE_DIR, median, pagesOption, runDriver, withBudgetsPage } from './bench-browser.mjs';

const args = process.argv.slice(2);
const PAGES = pagesOption(args, 3);

const LAYOUTS = ['interleaved', 'alternating', 'solo', 'rawOrder'];
const GAPS_MS = [0, 1];

async function main() {
  const runs = [];
  for (const gapMs of GAPS_MS) for (const layout of LAYOUTS) runs.push({ layout, gapMs });
  const pooled = runs.map(() => ({ cache: [], raw: [], perPage: [] }));
  for (let page = 0; page < PAGES; page++) {
    const order = runs.map((_, i) => (i + page) % runs.length);
    const results = await withBudgetsPage(PACKAGE_DIR, async (p) => {
      const out = [];
      for (const i of order) out[i] = await p.evaluate((o) => window.bench.readLayout(o), runs[i]);
      return out;
    });
    results.forEach((r, i) => {
      pooled[i].cache.push(...r.cache);
      pooled[i].raw.push(...r.raw);
      pooled[i].perPage.push(median(r.cache) / median(r.raw));
    });
  }
  const us = (ms) => (ms * 1000).toFixed(1);
  console.log(`cold 10 KB reads by layout, ${PAGES} page(s); medians in us ` +
              '(rawOrder: raw through the second-opened connection vs the first)');
  console.log(['layout'.padEnd(12), 'gap ms', 'module'.padStart(8), 'raw'.padStart(8), 'ratio'.padStart(6), '  each page'].join(' '));
  const problems = [];
  runs.forEach(({ layout, gapMs }, i) => {
    const r = pooled[i];
    const a = median(r.cache);
    const b = median(r.raw);
    if (!(a > 0 && b > 0)) problems.push(`${layout} gap ${gapMs}`);
    console.log([layout.padEnd(12), String(gapMs).padStart(6), us(a).padStart(8), us(b).padStart(8),
                 (a / b).toFixed(3).padStart(6), ' ', r.perPage.map((x) => x.toFixed(2)).join(' ')].join(' '));
  });
  return problems;
}

runDriver(main);

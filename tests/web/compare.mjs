// Compares two builds of the browser package on the 10 KB cold read (the
// budget (b) of bench.mjs), far more finely than two runs of bench.mjs can:
// both builds are loaded in one page and read the same records read for
// read, interleaved with raw IndexedDB gets (compare-page.mjs). Each run is
// made twice, the builds swapped between the /pkgA/ and /pkgB/ slots, so
// that an advantage of either slot (measured: a few us) cancels out.
//
//   node tests/web/compare.mjs <old build>/web <new build>/web [--runs N] [--rounds R] [--first | --load | --open]
//   node tests/web/compare.mjs <old build>/web <new build>/web --pages N
//
// Prints, per run and slot order, trimmed means (10% off each end) of each
// build's read and the raw read, then the difference new - old with the
// slot advantage removed. With --first, the read measured is instead each
// build's first get after createCache (compareFirstReads: no raw read);
// with --load, the first get of a freshly loaded page (compare-load-page.mjs:
// one page load per read, the builds taking turns, R loads each); with
// --open, the createCache before that read (module and database).
//
// With --pages N, each build instead runs (b) itself (bench-page.mjs
// readCold) on pages of its own, N each, the builds taking turns page by
// page; it prints each build's ratio to raw as bench.mjs does (pooled
// medians, the reads of bench.mjs full mode) and the pages' ratios. Builds
// sharing a page share its heap and JIT state, so a change to what a read
// allocates or runs shows only here; it is also far coarser (a build against
// a copy of itself, 12 pages each: 0.062 and 0.026 apart in two runs).
//
// A development tool: no targets, never fails on timings.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, trimmedMean, withBenchPage, withBudgetsPage } from './bench-browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const valued = ['--runs', '--rounds', '--pages'];
const [oldDir, newDir] = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && valued.includes(args[i - 1])));
if (!oldDir || !newDir) {
  console.error('usage: node compare.mjs <old package dir> <new package dir> [--runs N] [--rounds R] [--first | --load | --open | --pages N]');
  process.exit(2);
}
const runs = option('--runs', 3);
const pages = option('--pages', 0);
if (args.includes('--pages') && !(Number.isInteger(pages) && pages >= 1 && pages <= 200)) {
  console.error(`--pages: a whole number from 1 to 200, not ${args[args.indexOf('--pages') + 1]}`);
  process.exit(2);
}
const rounds = option('--rounds', 30);
const open = args.includes('--open');
const load = open || args.includes('--load');
const first = load || args.includes('--first');

const trimmedMeanUs = (xs) => trimmedMean(xs) * 1000;

// --load / --open: R page loads per build, alternating; milliseconds per
// first get / per createCache.
async function runLoads(pkgA, pkgB) {
  return withBenchPage({
    mounts: { '/pkgA/': path.resolve(pkgA), '/pkgB/': path.resolve(pkgB), '/compare/': here },
    pages: { '/load.html': '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">' +
                           '<script type="module" src="/compare/compare-load-page.mjs"></script>' },
    pagePath: '/load.html?pkg=A',
    readyFlag: 'loadReady',
  }, async (page) => {
    const origin = new URL(page.url()).origin;
    const seed = await page.evaluate(() => window.seedLoadReads());
    const times = { a: [], b: [] };
    for (let i = 0; i < rounds; i++) {
      for (const who of i % 2 ? ['a', 'b'] : ['b', 'a']) {
        await page.goto(`${origin}/load.html?pkg=${who.toUpperCase()}`);
        await page.waitForFunction(() => window.loadReady === true);
        const url = seed.urls[(2 * i + (who === 'a' ? 0 : 1)) % seed.urls.length];
        const t = await page.evaluate(([u, o, n]) => window.firstReadAfterLoad(u, o, n),
                                      [url, seed.options, seed.size]);
        if (i >= 2) times[who].push(open ? t.open : t.first);  // the first two loads of each warm the browser's caches
      }
    }
    return times;
  });
}

async function run(pkgA, pkgB) {
  if (load) {
    const t = await runLoads(pkgA, pkgB);
    return { a: trimmedMeanUs(t.a), b: trimmedMeanUs(t.b), raw: NaN, reads: t.a.length };
  }
  const t = await withBenchPage({
    mounts: { '/pkgA/': path.resolve(pkgA), '/pkgB/': path.resolve(pkgB), '/compare/': here },
    pages: { '/compare.html': '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">' +
                              '<script type="module" src="/compare/compare-page.mjs"></script>' },
    pagePath: '/compare.html',
    readyFlag: 'compareReady',
  }, (page) => page.evaluate(([r, f]) => (f ? window.compareFirstReads : window.compareReads)({ rounds: r }),
                             [rounds, first]));
  return { a: trimmedMeanUs(t.a), b: trimmedMeanUs(t.b), raw: t.raw ? trimmedMeanUs(t.raw) : NaN,
           reads: t.a.length };
}

// --pages: (b) on separate pages, the builds alternating (which goes first
// alternates too). Returns {cache, raw, ratios} per build, in ms.
async function runPages(builds) {
  const out = builds.map(() => ({ cache: [], raw: [], ratios: [] }));
  for (let p = 0; p < pages; p++) {
    for (let k = 0; k < builds.length; k++) {
      const j = (k + p) % builds.length;
      const r = await withBudgetsPage(path.resolve(builds[j]),
                                      (page) => page.evaluate(() => window.bench.readCold({ entries: 20, rounds: 11 })));
      out[j].cache.push(...r.cache);
      out[j].raw.push(...r.raw);
      out[j].ratios.push(median(r.cache) / median(r.raw));
    }
  }
  return out;
}

if (pages > 0) {
  const [o, n] = await runPages([oldDir, newDir]);
  const ratio = (b) => median(b.cache) / median(b.raw);
  for (const [name, b] of [['old', o], ['new', n]]) {
    console.log(`${name}: ${ratio(b).toFixed(3)}x raw (read ${(median(b.cache) * 1000).toFixed(0)} us, ` +
                `raw ${(median(b.raw) * 1000).toFixed(0)} us); pages ${b.ratios.map((x) => x.toFixed(3)).join(' ')}`);
  }
  console.log(`new - old: ${(ratio(n) - ratio(o)).toFixed(3)} of ratio to raw, ${pages} pages each`);
  process.exit(0);
}

const f = (x) => x.toFixed(1);
const newInB = [];  // new - old with the new build in slot B
const newInA = [];  // new - old with the new build in slot A
for (let i = 0; i < runs; i++) {
  for (const swapped of [false, true]) {
    const r = swapped ? await run(newDir, oldDir) : await run(oldDir, newDir);
    const [oldUs, newUs] = swapped ? [r.b, r.a] : [r.a, r.b];
    (swapped ? newInA : newInB).push(newUs - oldUs);
    const versus = first ? `new/old ${(newUs / oldUs).toFixed(3)}`
      : `raw ${f(r.raw)} us; old/raw ${(oldUs / r.raw).toFixed(3)}, new/raw ${(newUs / r.raw).toFixed(3)}`;
    console.log(`run ${i + 1}${swapped ? ' (swapped)' : '          '}: old ${f(oldUs)} us, new ${f(newUs)} us, ` +
                `${versus} (${r.reads} reads each)`);
  }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const delta = (mean(newInB) + mean(newInA)) / 2;
const slotB = (mean(newInA) - mean(newInB)) / 2;
const what = open ? 'createCache on a freshly loaded page'
  : load ? 'first read of a freshly loaded page' : first ? 'first read after createCache' : 'cold read';
console.log(`new - old: ${f(delta)} us per ${what} ` +
            `(slot B's advantage, removed: ${f(slotB)} us)`);

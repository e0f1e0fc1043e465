// Compares two builds of the browser package on the 10 KB cold read (the
// budget (b) of bench.mjs), far more finely than two runs of bench.mjs can:
// both builds are loaded in one page and read the same records read for
// read, interleaved with raw IndexedDB gets (compare-page.mjs). Each run is
// made twice, the builds swapped between the /pkgA/ and /pkgB/ slots, so
// that an advantage of either slot (measured: a few us) cancels out.
//
//   node tests/web/compare.mjs <old build>/web <new build>/web [--runs N] [--rounds R]
//
// Prints, per run and slot order, trimmed means (10% off each end) of each
// build's read and the raw read, then the difference new - old with the
// slot advantage removed. A development tool: no targets, never fails on
// timings.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startStaticServer, CHROMIUM_ARGS } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');
const CHROMIUM = process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const [oldDir, newDir] = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
if (!oldDir || !newDir) {
  console.error('usage: node compare.mjs <old package dir> <new package dir> [--runs N] [--rounds R]');
  process.exit(2);
}
const runs = option('--runs', 3);
const rounds = option('--rounds', 30);

const trimmedMeanUs = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.floor(s.length * 0.1);
  const kept = s.slice(k, s.length - k);
  return (kept.reduce((a, b) => a + b, 0) / kept.length) * 1000;
};

async function run(pkgA, pkgB) {
  const server = await startStaticServer({
    mounts: { '/pkgA/': path.resolve(pkgA), '/pkgB/': path.resolve(pkgB), '/compare/': here },
    pages: { '/compare.html': '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">' +
                              '<script type="module" src="/compare/compare-page.mjs"></script>' },
  });
  // A persistent profile: IndexedDB on disk, as for a user (see bench.mjs).
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'preheat-compare-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.origin}/compare.html`);
    await page.waitForFunction(() => window.compareReady === true, null, { timeout: 30000 });
    const t = await page.evaluate((r) => window.compareReads({ rounds: r }), rounds);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    return { a: trimmedMeanUs(t.a), b: trimmedMeanUs(t.b), raw: trimmedMeanUs(t.raw), reads: t.raw.length };
  } finally {
    await context.close();
    await server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const f = (x) => x.toFixed(1);
const newInB = [];  // new - old with the new build in slot B
const newInA = [];  // new - old with the new build in slot A
for (let i = 0; i < runs; i++) {
  for (const swapped of [false, true]) {
    const r = swapped ? await run(newDir, oldDir) : await run(oldDir, newDir);
    const [oldUs, newUs] = swapped ? [r.b, r.a] : [r.a, r.b];
    (swapped ? newInA : newInB).push(newUs - oldUs);
    console.log(`run ${i + 1}${swapped ? ' (swapped)' : '          '}: old ${f(oldUs)} us, new ${f(newUs)} us, ` +
                `raw ${f(r.raw)} us; old/raw ${(oldUs / r.raw).toFixed(3)}, new/raw ${(newUs / r.raw).toFixed(3)} ` +
                `(${r.reads} reads each)`);
  }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const delta = (mean(newInB) + mean(newInA)) / 2;
const slotB = (mean(newInA) - mean(newInB)) / 2;
console.log(`new - old: ${f(delta)} us per cold read (slot B's advantage, removed: ${f(slotB)} us)`);

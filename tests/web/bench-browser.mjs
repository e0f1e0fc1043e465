// What the benchmark drivers share (bench.mjs, compare.mjs): a page served
// from 127.0.0.1 in headless Chromium with a persistent profile.
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
// More Chromium switches for an experiment, separated by "|" (a switch
// may hold spaces: "--js-flags=--no-wasm-dynamic-tiering --always-turbofan").
const EXTRA_ARGS = (process.env.PREHEAT_CHROMIUM_ARGS || '').split('|').filter((a) => a !== '');

/**
 * Serves `mounts` and `pages` (startStaticServer), opens `pagePath` in
 * Chromium, waits until the page sets window[readyFlag], then resolves with
 * fn(page). Page errors fail the call. A persistent profile: IndexedDB on
 * disk, as for a user. (A fresh browser.newContext() is off the record,
 * with an in-memory IndexedDB whose commits cost nothing, which would
 * flatter unbatched writes.) Everything is closed and removed afterwards.
 */
export async function withBenchPage({ mounts, pages, pagePath, readyFlag }, fn) {
  const server = await startStaticServer({ mounts, pages });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'preheat-bench-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...EXTRA_ARGS],
  });
  try {
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.origin}${pagePath}`);
    await page.waitForFunction((flag) => window[flag] === true, readyFlag, { timeout: 30000 });
    const result = await fn(page);
    if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
    return result;
  } finally {
    await context.close();
    await server.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

// The budgets page (bench-page.mjs) with the package at `packageDir`:
// withBenchPage for bench.mjs, read-phases.mjs and read-layouts.mjs.
const BUDGETS_PAGE = `<!doctype html><meta charset="utf-8"><title>preheat budgets</title>
<link rel="icon" href="data:,">
<script type="module" src="/bench/bench-page.mjs"></script>`;

export function withBudgetsPage(packageDir, fn) {
  return withBenchPage({
    mounts: { '/pkg/': packageDir, '/bench/': here },
    pages: { '/bench.html': BUDGETS_PAGE },
    pagePath: '/bench.html',
    readyFlag: 'benchReady',
  }, fn);
}

// A driver's `--pages N` (a whole number from 1 to 50; `fallback` when
// absent) from its arguments `args`; throws on anything else.
export function pagesOption(args, fallback) {
  const at = args.indexOf('--pages');
  const pages = at < 0 ? fallback : Number(args[at + 1]);
  if (!(Number.isInteger(pages) && pages >= 1 && pages <= 50)) {
    throw new Error(`--pages: a whole number from 1 to 50, not ${args[at + 1]}`);
  }
  return pages;
}

// The package a driver measures: PREHEAT_WEB_PACKAGE, else the wasm build's.
export const PACKAGE_DIR = path.resolve(process.env.PREHEAT_WEB_PACKAGE ||
  path.join(here, '..', '..', 'build', 'wasm', 'web'));

// The median of `xs` (NaN for none), in their unit.
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

// The mean of the middle 80% of `xs` (10% off each end), in their unit.
export function trimmedMean(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const k = Math.floor(s.length * 0.1);
  const kept = s.slice(k, s.length - k);
  return kept.reduce((a, b) => a + b, 0) / kept.length;
}

// Runs a driver script's main(): the problems it resolves with (a list of
// strings, none when the numbers are sane) are printed as "not sane: ..."
// and fail the process, as does an error.
export function runDriver(main) {
  main().then((problems) => {
    if (problems.length) {
      console.log(`not sane: ${problems.join('; ')}`);
      process.exitCode = 1;
    }
  }, (e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exitCode = 1;
  });
}

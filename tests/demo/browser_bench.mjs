// Browser benchmark of the demo front-end (demo/web) in headless Chromium.
//
// Starts preheat-demo-server (demo/web at /, the built package at
// /preheat/), then drives seeded sessions of the native demo's kind with
// real pointer input: hover 100-600 ms before each click, Zipf(s=1)
// positions on lists, cross-references on issues (~30% of clicks), the
// app's Back button (~20% of navigations); dwell 300-1500 ms. Each session
// is a fresh browser profile (cold cache). Every mode (no cache / SWR /
// SWR + preheat) runs the same sessions twice: with soft navigations
// (client routing) and with hard ones (full page loads through the service
// worker and the thin shell). Times are measured in the page (click event
// to the main content painted; see demo/web/app.js). Chromium runs with its
// back/forward cache on, as browsers ship (Playwright turns it off by
// default; --no-bfcache keeps that), so a Back may restore the page.
//
//   node tests/demo/browser_bench.mjs --server build/native/demo/preheat-demo-server \
//        --package build/wasm/web [--sessions 5] [--navs 10] [--quick] [--check]
//        [--modes none,swr,preheat] [--styles soft,hard] [--no-bfcache]
//        [--server-arg ARG]...
//
// Prints the table, writes JSON (default build/demo-browser-bench.json).
// --check verifies invariants only (complete tables, SWR + preheat more
// instant than no cache, prefetch headers on preheats only) and exits 1 when
// one fails; it never checks wall-clock numbers.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS } from '../web/static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(path.join(root, 'tests', 'web', 'package.json'));
const { chromium } = require('playwright-core');

// ---- options ----------------------------------------------------------------

function parseArgs(argv) {
  const o = {
    server: process.env.PREHEAT_DEMO_SERVER || path.join(root, 'build', 'native', 'demo', 'preheat-demo-server'),
    package: process.env.PREHEAT_WEB_PACKAGE || path.join(root, 'build', 'wasm', 'web'),
    web: path.join(root, 'demo', 'web'),
    chromium: process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium',
    out: path.join(root, 'build', 'demo-browser-bench.json'),
    sessions: 5, navs: 10, concurrency: 3, seed: 1, dwellMin: 300, dwellMax: 1500,
    modes: ['none', 'swr', 'preheat'], styles: ['soft', 'hard'],
    check: false, quick: false, serverArgs: [], bfcache: true,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--server': o.server = next(); break;
      case '--package': o.package = next(); break;
      case '--web': o.web = next(); break;
      case '--chromium': o.chromium = next(); break;
      case '--out': o.out = next(); break;
      case '--sessions': o.sessions = Number(next()); break;
      case '--navs': o.navs = Number(next()); break;
      case '--concurrency': o.concurrency = Number(next()); break;
      case '--seed': o.seed = Number(next()); break;
      case '--dwell': [o.dwellMin, o.dwellMax] = next().split(':').map(Number); break;
      case '--modes': o.modes = next().split(','); break;
      case '--styles': o.styles = next().split(','); break;
      case '--server-arg': o.serverArgs.push(next()); break;
      case '--check': o.check = true; break;
      case '--no-bfcache': o.bfcache = false; break;
      case '--quick':
        o.quick = true;
        o.sessions = 2; o.navs = 6; o.concurrency = 2; o.dwellMax = 800;
        break;
      case '--help':
        console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\nimport')[0]);
        process.exit(0);
        break;
      default: throw new Error(`unknown argument ${a} (see --help)`);
    }
  }
  return o;
}

// ---- seeded randomness ---------------------------------------------------------

function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// 0-based position under Zipf(s=1) over n items, from a uniform u.
function zipf(n, u) {
  let h = 0;
  for (let k = 1; k <= n; k++) h += 1 / k;
  let acc = 0;
  for (let k = 1; k <= n; k++) {
    acc += 1 / k / h;
    if (u < acc) return k - 1;
  }
  return n - 1;
}

// ---- the server -----------------------------------------------------------------

function startServer(o) {
  return new Promise((resolve, reject) => {
    // Files (app, package, wasm) are fresh for 10 minutes, then served
    // stale-while-revalidate, as a deployed app would cache its assets (a
    // session here never revalidates them; without the max-age every page
    // load would revalidate each file in the background, about 10 requests
    // competing with the next navigations). --server-arg --static-max-age
    // --server-arg 0 revalidates them on every load.
    const args = ['--port', '0', '--static', o.web, '--mount', `/preheat/=${o.package}`,
                  '--static-swr', '600', '--static-max-age', '600', ...o.serverArgs];
    const child = spawn(o.server, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^port (\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, origin: `http://127.0.0.1:${m[1]}` });
      }
    });
    child.stderr.on('data', (d) => { err += d; });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}): ${err}`));
    });
  });
}

async function admin(origin, what, method = 'GET') {
  const res = await fetch(`${origin}/admin/${what}`, { method });
  return res.json();
}

// ---- one session ------------------------------------------------------------------

const sleep = (ms) => new Promise((f) => setTimeout(f, ms));

async function recordsOf(page) {
  for (let i = 0; i < 5; i++) {
    try {
      return await page.evaluate(() => ({
        navs: JSON.parse(localStorage.getItem('demo:navs') || '[]'),
        fetches: JSON.parse(localStorage.getItem('demo:fetches') || 'null'),
        ready: !!(window.__demo && window.__demo.ready),
        error: window.__demo ? window.__demo.error : 'no app',
      }));
    } catch (_) {
      await sleep(50);  // the document is being replaced (hard navigation)
    }
  }
  return { navs: [], fetches: null, ready: false, error: 'page unreachable' };
}

// Waits until the app recorded navigation number `count` and is ready.
async function waitForRecord(page, count, timeoutMs = 20000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await recordsOf(page);
    if (r.navs.length >= count && r.ready) return r;
    if (r.error && r.error !== 'no app' && r.error !== 'page unreachable') {
      throw new Error(`app error: ${r.error}`);
    }
    if (Date.now() > end) throw new Error(`navigation ${count} not recorded within ${timeoutMs} ms`);
    await sleep(30);
  }
}

async function runSession(browser, origin, o, repos, mode, style, index) {
  const rand = mulberry32((o.seed * 1000003 + index * 7919) >>> 0);
  const context = await browser.newContext();
  await context.addInitScript(([m, s]) => {
    localStorage.setItem('demo:mode', JSON.stringify(m));
    localStorage.setItem('demo:nav', JSON.stringify(s));
  }, [mode, style]);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  const counts = { xref: 0, back: 0, clicks: 0, next: 0 };
  try {
    // Landing: page 1 of a random repository (page 2 or 3 one time in five).
    const repo = repos[Math.floor(rand() * repos.length)];
    const u = rand();
    const landingPage = u < 0.2 ? Math.min(repo.pages, 2 + Math.floor(rand() * 2)) : 1;
    await page.goto(`${origin}/repos/${repo.name}/issues?page=${landingPage}`);
    await waitForRecord(page, 1);
    let depth = 0;
    for (let step = 1; step < o.navs; step++) {
      // Fixed draws per step, so every mode replays the same choices.
      const [uDwell, uBack, uChoice, uPos, uHover] = [rand(), rand(), rand(), rand(), rand()];
      await sleep(o.dwellMin + uDwell * (o.dwellMax - o.dwellMin));
      const pathname = await page.evaluate(() => location.pathname);
      let target = null;
      let kind = null;
      if (depth > 0 && uBack < 0.26) {
        target = page.locator('#back');
        kind = 'back';
      } else if (pathname.startsWith('/repos/')) {
        const rows = page.locator('main#app ol > li > a');
        const next = page.locator('main#app a[rel="next"]');
        if (uChoice >= 0.9 && await next.count()) {
          target = next;
          kind = 'next';
        } else {
          target = rows.nth(zipf(await rows.count(), uPos));
          kind = 'issue';
        }
      } else if (pathname.startsWith('/issues/')) {
        const refs = page.locator('main#app a.ref');
        const n = await refs.count();
        if (n && uChoice < 0.6) {
          target = refs.nth(Math.floor(uPos * n));
          kind = 'xref';
        } else {
          target = page.locator('main#app p.meta a').first();
          kind = 'list';
        }
      } else {
        const links = page.locator('main#app ul li a');
        target = links.nth(Math.floor(uPos * await links.count()));
        kind = 'repo';
      }
      if (kind !== 'back') {
        await target.hover();
        await sleep(100 + uHover * 500);
        counts.clicks++;
        if (kind === 'xref') counts.xref++;
        if (kind === 'next') counts.next++;
        depth++;
      } else {
        counts.back++;
        depth--;
      }
      await target.click();
      await waitForRecord(page, step + 1);
    }
    // Let background work (revalidations, preheats) reach the server, so
    // the request counts belong to this session; then close the page's
    // cache, so no request starts after its counts are read (a queued
    // preheat could, and the server would count it but not the page).
    await sleep(400);
    const pageErrors = [...errors];  // not what closing the cache may cause
    await page.evaluate(async () => {
      const c = window.__demo && window.__demo.cache;
      if (c) await c.close();
    }).catch(() => {});
    const r = await recordsOf(page);
    return { mode, style, index, navs: r.navs, fetches: r.fetches, counts, errors: pageErrors };
  } finally {
    await context.close();
  }
}

async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

// ---- statistics ---------------------------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function summarize(phase, sessions, server) {
  const all = sessions.flatMap((s) => s.navs);
  const navs = all.filter((n) => n.trigger !== 'landing');
  const ms = navs.map((n) => n.ms).sort((a, b) => a - b);
  const n = ms.length;
  const instant = ms.filter((x) => x < 200).length;
  const fast = ms.filter((x) => x >= 200 && x < 1000).length;
  const hit = (x) => x.source === 'memory' || x.source === 'store' || x.source === 'bfcache' ||
                     /shell/.test(x.state);
  const hits = navs.filter(hit).length;
  // Every navigation, landings included, needs one answer; the rest is extra.
  const served = server.api_requests + server.page_requests + server.shell_requests;
  const fetches = sessions.reduce((acc, s) => {
    for (const k of ['total', 'preheat', 'purpose', 'mismatch']) acc[k] += (s.fetches && s.fetches[k]) || 0;
    return acc;
  }, { total: 0, preheat: 0, purpose: 0, mismatch: 0 });
  const sources = {};
  for (const x of navs) sources[x.source] = (sources[x.source] || 0) + 1;
  return {
    mode: phase.mode, style: phase.style, sessions: sessions.length, navigations: n,
    landings: all.length - n,
    instant: n ? instant / n : NaN, fast: n ? fast / n : NaN, slow: n ? (n - instant - fast) / n : NaN,
    p10: percentile(ms, 10), p25: percentile(ms, 25), p50: percentile(ms, 50),
    p75: percentile(ms, 75), p90: percentile(ms, 90),
    hit_ratio: n ? hits / n : NaN,
    extra_requests_per_nav: all.length ? (served - all.length) / all.length : NaN,
    static_requests_per_nav: all.length ? server.static_requests / all.length : NaN,
    sources,
    clicks: sessions.reduce((a, s) => a + s.counts.clicks, 0),
    xref_clicks: sessions.reduce((a, s) => a + s.counts.xref, 0),
    back: sessions.reduce((a, s) => a + s.counts.back, 0),
    next_page_clicks: sessions.reduce((a, s) => a + s.counts.next, 0),
    page_fetches: fetches,
    server,
    errors: sessions.flatMap((s) => s.errors),
  };
}

const MODE_NAMES = { none: 'no cache', swr: 'SWR', preheat: 'SWR + preheat' };

function table(rows) {
  const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : '-');
  const msf = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : '-');
  const head = ['nav', 'mode', 'n', 'instant', 'fast', 'slow', 'P10', 'P25', 'P50', 'P75', 'P90',
                'hit', 'extra req/nav', 'prefetch'];
  const lines = rows.map((r) => [r.style, MODE_NAMES[r.mode] || r.mode, String(r.navigations),
    pct(r.instant), pct(r.fast), pct(r.slow), msf(r.p10), msf(r.p25), msf(r.p50), msf(r.p75),
    msf(r.p90), pct(r.hit_ratio),
    Number.isFinite(r.extra_requests_per_nav) ? r.extra_requests_per_nav.toFixed(2) : '-',
    String(r.server.prefetch_requests)]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmt = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(fmt)].join('\n');
}

function checks(rows, o) {
  const failures = [];
  const expect = (ok, what) => { if (!ok) failures.push(what); };
  for (const mode of o.modes) {
    for (const style of o.styles) {
      const r = rows.find((x) => x.mode === mode && x.style === style);
      expect(!!r, `${mode}/${style}: no row`);
      if (!r) continue;
      const want = o.sessions * (o.navs - 1);
      expect(r.navigations === want, `${mode}/${style}: ${r.navigations} navigations recorded, want ${want}`);
      for (const k of ['instant', 'fast', 'slow', 'p10', 'p25', 'p50', 'p75', 'p90', 'hit_ratio',
                       'extra_requests_per_nav']) {
        expect(Number.isFinite(r[k]), `${mode}/${style}: ${k} is not a number`);
      }
      expect(Math.abs(r.instant + r.fast + r.slow - 1) < 1e-9, `${mode}/${style}: shares do not add up`);
      expect(r.server.prefetch_other_requests === 0,
             `${mode}/${style}: ${r.server.prefetch_other_requests} prefetch-marked requests neither /api/ nor page GETs`);
      expect(r.page_fetches.mismatch === 0,
             `${mode}/${style}: ${r.page_fetches.mismatch} requests where preheat lane and Purpose disagree`);
      if (mode === 'preheat') {
        expect(r.server.prefetch_requests > 0, `${mode}/${style}: the server saw no prefetch`);
        // The pages count their own fetches; a browser's document
        // prefetches (Speculation Rules) are the server's page prefetches.
        const apiPrefetches = r.server.prefetch_requests - (r.server.prefetch_page_requests || 0);
        expect(apiPrefetches <= r.page_fetches.purpose,
               `${mode}/${style}: server saw ${apiPrefetches} API prefetches, the pages sent ${r.page_fetches.purpose}`);
      } else {
        expect(r.server.prefetch_requests === 0,
               `${mode}/${style}: ${r.server.prefetch_requests} prefetch requests without preheating`);
      }
      expect(r.errors.length === 0, `${mode}/${style}: page errors: ${r.errors.slice(0, 3).join('; ')}`);
    }
  }
  const none = rows.find((x) => x.mode === 'none' && x.style === 'soft');
  const pre = rows.find((x) => x.mode === 'preheat' && x.style === 'soft');
  if (none && pre) {
    expect(pre.instant > none.instant,
           `soft: SWR + preheat instant ${pre.instant} is not above no cache ${none.instant}`);
  }
  return failures;
}

// ---- main -----------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv);
  for (const [what, p] of [['server', o.server], ['package', path.join(o.package, 'dist', 'preheat.wasm')],
                           ['chromium', o.chromium], ['demo/web', path.join(o.web, 'app.js')]]) {
    if (!fs.existsSync(p)) throw new Error(`${what} not found: ${p}`);
  }
  const { child, origin } = await startServer(o);
  const browser = await chromium.launch({
    executablePath: o.chromium,
    // Playwright turns the back/forward cache off by default; browsers have
    // it on. --no-bfcache keeps Playwright's default.
    ignoreDefaultArgs: o.bfcache ? ['--disable-back-forward-cache'] : [],
    args: CHROMIUM_ARGS,
  });
  const started = Date.now();
  const rows = [];
  try {
    const repos = (await (await fetch(`${origin}/api/repos`)).json()).repos;
    for (const mode of o.modes) {
      for (const style of o.styles) {
        await admin(origin, 'reset', 'POST');
        const t = Date.now();
        const sessions = await pool([...Array(o.sessions).keys()], o.concurrency,
          (i) => runSession(browser, origin, o, repos, mode, style, i));
        const server = await admin(origin, 'stats');
        const row = summarize({ mode, style }, sessions, server);
        row.seconds = (Date.now() - t) / 1000;
        row.records = sessions.map((s) => s.navs);
        rows.push(row);
        console.log(`${style} ${MODE_NAMES[mode]}: ${row.navigations} navigations in ${row.seconds.toFixed(0)} s, ` +
                    `instant ${(100 * row.instant).toFixed(0)}%, P50 ${Math.round(row.p50)} ms, ` +
                    `sources ${JSON.stringify(row.sources)}`);
      }
    }
  } finally {
    await browser.close();
    child.kill('SIGTERM');
  }
  console.log('\nclick to main content painted (ms), measured in the page; ' +
              `${o.sessions} sessions x ${o.navs} navigations per row (landings excluded), dwell ` +
              `${o.dwellMin}-${o.dwellMax} ms\n`);
  console.log(table(rows));
  console.log('\nextra req/nav = (API + page + shell requests the server saw - navigations) / navigations, ' +
              'landings included; prefetch = requests with Purpose/Sec-Purpose: prefetch');
  const failures = o.check ? checks(rows, o) : [];
  const report = {
    when: new Date().toISOString(), seconds: (Date.now() - started) / 1000,
    options: { sessions: o.sessions, navs: o.navs, concurrency: o.concurrency, seed: o.seed,
               dwell_ms: [o.dwellMin, o.dwellMax], quick: o.quick, server_args: o.serverArgs },
    targets: { soft_preheat_instant: '>= 0.9', soft_preheat_p90_ms: '< 200',
               extra_requests_per_nav: '<= 1.5', hard_preheat_instant: '>= 0.7' },
    rows, failures,
  };
  fs.mkdirSync(path.dirname(o.out), { recursive: true });
  fs.writeFileSync(o.out, JSON.stringify(report, null, 1));
  console.log(`\nwrote ${o.out}`);
  if (o.check) {
    if (failures.length) {
      console.log(`FAILED ${failures.length} check(s):\n  ${failures.join('\n  ')}`);
      process.exitCode = 1;
    } else {
      console.log('all checks passed');
    }
  }
}

main().catch((e) => {
  console.error(e && e.stack || e);
  process.exit(1);
});

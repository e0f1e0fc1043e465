// Budgets benchmark of the browser package, in one headless Chromium
// session driven by Playwright (page half: bench-page.mjs). Reports ratios
// against baselines measured in the same page, medians over repeated runs:
//   (a) gzipped size of the .wasm plus its JS glue            target <= 150 KB
//   (b) 10 KB entry, memory tier cold: cache.get / raw IDB get target <= 1.2x
//       (each read starting after a task boundary; also reported: each
//       read to the end of the task after it, which counts what it left
//       for later, e.g. the engine's completion of a get answered from its
//       record; its first round, before the JIT warms up: apart; in
//       the full mode also the same reads made twice more on the page,
//       the last time "warm" (the page's 461st-660th reads of each kind):
//       reported apart)
//   (c) 200 entries: 200 single-put transactions / batched    target >= 5x
//   (d) peek() of a 4 KB entry / Map.get of the same string   reported
// Prints a table and writes a JSON file (default build/web-bench.json).
//
//   PREHEAT_WEB_PACKAGE=<build>/web node tests/web/bench.mjs [--quick] [--pages N] [--settle-ms MS] [--out FILE]
//
// --quick (the CTest mode) uses few repetitions and only checks that every
// number is produced and sane; no mode ever fails on a timing target. The
// size budget (a) is no timing: every mode fails when it is exceeded.
// --pages N (default 1) repeats (b) in N-1 more browsers, each a fresh
// profile and page, and pools their reads: one page's ratio moves by about
// 0.05 from run to run on a busy machine, more than most changes to the
// read path, while every page measures the same regime (a page's first
// reads). The per-page ratios are printed too.
// --settle-ms MS (default 0) waits that long between writing (b)'s records
// and reading them: a navigation's cold read finds a database written in an
// earlier session, settled, where the budget's reads follow the writes at
// once (README, Performance).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { PACKAGE_DIR, median, pagesOption, runDriver, withBudgetsPage } from './bench-browser.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outArg = args.indexOf('--out');
const PAGES = pagesOption(args, 1);
const settleArg = args.indexOf('--settle-ms');
const SETTLE_MS = settleArg >= 0 ? Number(args[settleArg + 1]) : 0;
if (!(Number.isInteger(SETTLE_MS) && SETTLE_MS >= 0 && SETTLE_MS <= 60000)) {
  throw new Error(`--settle-ms: a whole number from 0 to 60000, not ${args[settleArg + 1]}`);
}
const OUT = path.resolve(outArg >= 0 ? args[outArg + 1]
  : path.join(here, '..', '..', 'build', quick ? 'web-bench-quick.json' : 'web-bench.json'));

const KB = 1024;
const gzipSize = (file) => zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;

// ---- (a) sizes, in Node ----------------------------------------------------

// The JS an application loads: src/index.js and what it imports, relative
// imports followed statically (other entry points, e.g. a service worker,
// are not part of the page's glue).
function importClosure(entry) {
  const seen = new Set();
  const visit = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      visit(path.resolve(path.dirname(file), m[1]));
    }
  };
  visit(entry);
  return [...seen];
}

function sizes() {
  const dist = path.join(PACKAGE_DIR, 'dist');
  const wasm = path.join(dist, 'preheat.wasm');
  const glue = path.join(dist, 'preheat.mjs');
  const srcFiles = importClosure(path.join(PACKAGE_DIR, 'src', 'index.js')).filter((f) => f !== glue);
  const out = {
    wasmBytes: fs.statSync(wasm).size,
    wasmGzip: gzipSize(wasm),
    emscriptenGlueBytes: fs.statSync(glue).size,
    emscriptenGlueGzip: gzipSize(glue),
    webSrcFiles: srcFiles.map((f) => path.relative(PACKAGE_DIR, f)),
    webSrcBytes: srcFiles.reduce((n, f) => n + fs.statSync(f).size, 0),
    webSrcGzip: srcFiles.reduce((n, f) => n + gzipSize(f), 0),
  };
  out.totalGzip = out.wasmGzip + out.emscriptenGlueGzip + out.webSrcGzip;
  return out;
}

// ---- the page --------------------------------------------------------------

const benchPage = (fn) => withBudgetsPage(PACKAGE_DIR, fn);

const readParams = quick ? { entries: 6, rounds: 3 } : { entries: 20, rounds: 11 };
readParams.settleMs = SETTLE_MS;
// Full mode: (b)'s reads are made WARM_PASSES more times on each page, the
// last pass kept as the warm figure. A page's ratio keeps falling over its
// first few hundred cold reads, for reasons beyond the JIT's first tiers
// (round 0), which is why the budget's figure is reported next to it.
const WARM_PASSES = quick ? 0 : 2;

// (b) on `page`: the budget's pass, then the warm passes (`warm`: the
// last's cache and raw reads, or null).
async function readPasses(page) {
  const run = () => page.evaluate((o) => window.bench.readCold(o), readParams);
  const read = await run();
  let last = null;
  for (let i = 0; i < WARM_PASSES; i++) last = await run();
  read.warm = last && { cache: last.cache, raw: last.raw };
  return read;
}

// (b)'s reads of the first page and of `PAGES - 1` more, pooled; `perPage`
// holds each page's ratio of medians.
async function pooledReads(first) {
  const reads = [first];
  for (let i = 1; i < PAGES; i++) reads.push(await benchPage(readPasses));
  const pooled = { ...first, perPage: reads.map((r) => median(r.cache) / median(r.raw)) };
  for (const k of ['cache', 'raw', 'firstCache', 'firstRaw', 'cacheTotal', 'rawTotal']) {
    pooled[k] = reads.flatMap((r) => r[k]);
  }
  pooled.warm = first.warm && {
    cache: reads.flatMap((r) => r.warm.cache),
    raw: reads.flatMap((r) => r.warm.raw),
  };
  pooled.sources = [...new Set(reads.flatMap((r) => r.sources))];
  pooled.answered = reads.reduce((n, r) => n + (r.answered || 0), 0);
  pooled.gets = reads.reduce((n, r) => n + (r.gets || 0), 0);
  return pooled;
}

async function inBrowser() {
  return benchPage(async (page) => {
    const info = await page.evaluate(() => window.benchInfo());
    const p = quick
      ? { read: readParams, write: { rounds: 3 }, peek: { batches: 3, peeks: 100, mapGets: 20000 } }
      : { read: readParams, write: { rounds: 11 }, peek: { batches: 21, peeks: 400, mapGets: 200000 } };
    const read = await readPasses(page);
    const write = await page.evaluate((o) => window.bench.writeBatch(o), p.write);
    const peek = await page.evaluate((o) => window.bench.peekVsMap(o), p.peek);
    return { info, read, write, peek, params: p };
  });
}

// ---- report ------------------------------------------------------------------

function fmt(x, digits = 2) {
  if (!Number.isFinite(x)) return String(x);
  if (x !== 0 && Math.abs(x) < 0.01) return x.toPrecision(2);
  return x.toFixed(digits);
}

function table(rows) {
  const head = ['budget', 'measured', 'ratio', 'target', 'ok'];
  const body = rows.map((r) => [r.name, r.measured, fmt(r.ratio), r.target, r.met == null ? '-' : r.met ? 'yes' : 'NO']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) => '| ' + cells.map((c, i) => String(c).padEnd(widths[i])).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...body.map(line)].join('\n');
}

async function main() {
  const size = sizes();
  const b = await inBrowser();
  b.read = await pooledReads(b.read);
  b.params.pages = PAGES;

  const readCache = median(b.read.cache);
  const readRaw = median(b.read.raw);
  const firstCache = median(b.read.firstCache);
  const firstRaw = median(b.read.firstRaw);
  const warm = b.read.warm;
  const readCacheTotal = median(b.read.cacheTotal);
  const readRawTotal = median(b.read.rawTotal);
  const warmCache = warm ? median(warm.cache) : null;
  const warmRaw = warm ? median(warm.raw) : null;
  // Reads of each kind in one pass; a pass's first round is not kept.
  const perPass = readParams.entries * readParams.rounds;
  const writeBatched = median(b.write.batched);
  const writeSeq = median(b.write.sequential);
  const writeCon = median(b.write.concurrent);
  const writeOneTx = median(b.write.oneTx);
  const peek = median(b.peek.peek);
  const enginePeek = median(b.peek.enginePeek);
  const mapGet = median(b.peek.mapGet);
  const embindCall = median(b.peek.embindCall);
  const us = (ms) => (ms < 0.001 ? `${fmt(ms * 1e6, 1)} ns` : `${fmt(ms * 1000, 1)} us`);

  const rows = [
    { id: 'size', name: '(a) gzip .wasm + JS glue', ratio: size.totalGzip / (150 * KB),
      measured: `${fmt(size.totalGzip / KB, 1)} KB (wasm ${fmt(size.wasmGzip / KB, 1)} + emscripten ${fmt(size.emscriptenGlueGzip / KB, 1)} + web/src ${fmt(size.webSrcGzip / KB, 1)})`,
      target: '<= 1.00 (150 KB)', met: size.totalGzip <= 150 * KB },
    { id: 'readCold', name: '(b) 10 KB cold read: get / raw IDB get', ratio: readCache / readRaw,
      measured: `${us(readCache)} vs ${us(readRaw)}`, target: '<= 1.20', met: readCache / readRaw <= 1.2 },
    ...(PAGES > 1 ? [{ id: 'readPerPage', name: `    each page's (${PAGES}; median)`, ratio: median(b.read.perPage),
      measured: b.read.perPage.map((x) => fmt(x)).join(', '), target: '(info)', met: null }] : []),
    { id: 'readTotal', name: '    with the task after each read (all work)', ratio: readCacheTotal / readRawTotal,
      measured: `${us(readCacheTotal)} vs ${us(readRawTotal)}`, target: '(info)', met: null },
    { id: 'readFirst', name: '    its first round (JIT cold, reported)', ratio: firstCache / firstRaw,
      measured: `${us(firstCache)} vs ${us(firstRaw)}`, target: '(info)', met: null },
    ...(warm ? [{ id: 'readWarm', name: `    the page's reads ${WARM_PASSES * perPass + readParams.entries + 1}-${(WARM_PASSES + 1) * perPass} (warm)`,
      ratio: warmCache / warmRaw, measured: `${us(warmCache)} vs ${us(warmRaw)}`, target: '(info)', met: null }] : []),
    { id: 'writeBatch', name: '(c) 200 writes: 200 txs / batched', ratio: writeSeq / writeBatched,
      measured: `${fmt(writeSeq)} ms vs ${fmt(writeBatched)} ms`, target: '>= 5.00', met: writeSeq / writeBatched >= 5 },
    { id: 'writeBatchConcurrent', name: '    200 txs started at once / batched', ratio: writeCon / writeBatched,
      measured: `${fmt(writeCon)} ms vs ${fmt(writeBatched)} ms`, target: '(info)', met: null },
    { id: 'writeBatchFloor', name: '    batched / 200 puts in one raw tx', ratio: writeBatched / writeOneTx,
      measured: `${fmt(writeBatched)} ms vs ${fmt(writeOneTx)} ms`, target: '(info)', met: null },
    { id: 'peek', name: '(d) 4 KB peek / Map.get', ratio: peek / mapGet,
      measured: `${us(peek)} vs ${us(mapGet)}`, target: '(report)', met: null },
    { id: 'enginePeek', name: '    embind engine.peek alone / Map.get', ratio: enginePeek / mapGet,
      measured: `${us(enginePeek)} vs ${us(mapGet)}`, target: '(info)', met: null },
    { id: 'embindCall', name: '    trivial embind call / Map.get', ratio: embindCall / mapGet,
      measured: `${us(embindCall)} vs ${us(mapGet)}`, target: '(info)', met: null },
  ];

  const report = {
    date: new Date().toISOString(),
    mode: quick ? 'quick' : 'full',
    browser: b.info.userAgent,
    crossOriginIsolated: b.info.crossOriginIsolated,
    params: b.params,
    sizes: size,
    medians_ms: { readCache, readRaw, firstCache, firstRaw, ...(warm ? { warmCache, warmRaw } : {}), writeBatched, writeSeq, writeCon, writeOneTx, peek, enginePeek, mapGet, embindCall },
    samples: {
      readCold: b.read.cache.length, write: b.write.batched.length, peekBatches: b.peek.peek.length,
    },
    details: {
      readSources: b.read.sources, readRecordBytes: b.read.recordBytes,
      readAnsweredFromRecords: b.read.answered, readGets: b.read.gets,
      writeRecordBytes: b.write.recordBytes, writeBatchesPerFlush: b.write.batchesPerFlush,
      storedEntries: b.write.storedEntries,
    },
    ratios: Object.fromEntries(rows.map((r) => [r.id, { ratio: r.ratio, target: r.target, met: r.met }])),
  };

  // Sanity (every mode): the numbers exist and mean what they say.
  const problems = [];
  for (const [k, v] of Object.entries(report.medians_ms)) {
    if (!(Number.isFinite(v) && v > 0)) problems.push(`median ${k} = ${v}`);
  }
  for (const r of rows) if (!(Number.isFinite(r.ratio) && r.ratio > 0)) problems.push(`ratio ${r.id} = ${r.ratio}`);
  if (!(size.wasmGzip > 0 && size.wasmGzip < size.wasmBytes)) problems.push('wasm gzip size');
  if (size.totalGzip > 150 * KB) {
    problems.push(`size budget (a) exceeded: ${size.totalGzip} bytes gzipped > ${150 * KB} (150 KB)`);
  }
  if (!size.webSrcFiles.includes(path.join('src', 'cache.js'))) problems.push(`glue files ${size.webSrcFiles}`);
  if (b.read.sources.join() !== 'store') problems.push(`cold reads served from ${b.read.sources}`);
  if (!(b.read.recordBytes > 10 * KB)) problems.push(`record of ${b.read.recordBytes} bytes`);
  if (b.write.batchesPerFlush !== 1) problems.push(`${b.write.batchesPerFlush} batches per flush`);
  if (b.write.storedEntries < b.write.count) problems.push(`${b.write.storedEntries} entries stored`);
  if (!b.info.crossOriginIsolated) problems.push('page not cross-origin isolated (coarse clock)');
  report.sane = problems.length === 0;
  report.problems = problems;

  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, JSON.stringify(report, null, 2) + '\n');

  const pagesNote = (PAGES > 1 ? ` from ${PAGES} pages` : '') + (SETTLE_MS > 0 ? ` (settled ${SETTLE_MS} ms)` : '');
  console.log(`preheat browser budgets (${report.mode}; medians of ${report.samples.readCold} cold reads${pagesNote}, ` +
              `${report.samples.write} write rounds, ${report.samples.peekBatches} peek batches; ${b.info.userAgent})`);
  console.log(table(rows));
  console.log(`written: ${path.relative(process.cwd(), OUT) || OUT}`);
  return problems;
}

runDriver(main);

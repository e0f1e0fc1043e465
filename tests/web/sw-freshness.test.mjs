// The service worker's freshness (web/src/sw.js freshnessOf, evaluateRecord)
// against the engine's: the table tests/core/freshness_test.cc checks the
// C++ with (tests/testing/freshness_cases.txt), and the verdicts at the
// edges where the two used to part. Node only: no browser, no module.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sw = await import(pathToFileURL(path.join(here, '..', '..', 'web', 'src', 'sw.js')).href);
const OPTIONS = { heuristicFraction: 0.1, heuristicMaxMs: 24 * 3600 * 1000 };  // FreshnessOptions' defaults

function readTable(file) {
  const unescape = (s) => s.replace(/\\(.)/g, (_, c) => ({ n: '\n', t: '\t', r: '\r' }[c] ?? c));
  const cases = [];
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('\t')) {
      const colon = line.indexOf(': ');
      // Names as decodeRecord gives them: lower case.
      cases[cases.length - 1].headers.push([line.slice(1, colon).toLowerCase(), unescape(line.slice(colon + 2))]);
      return;
    }
    const m = /^case (\d+) (\d+) (\d+) => (-?\d+) (-?\d+) ([01]) ([01]) (\d+) (\d+)$/.exec(line);
    assert.ok(m, `${file}:${i + 1}: not a case line`);
    const n = m.slice(1).map(Number);
    cases.push({
      line: i + 1, status: n[0], requestTime: n[1], responseTime: n[2], headers: [],
      expected: { lifetimeMs: n[3], initialAgeMs: n[4], noCache: n[5] === 1, mustRevalidate: n[6] === 1, swrMs: n[7], sieMs: n[8] },
    });
  });
  return cases;
}

test("the worker computes the engine's freshness for every case of the shared table", () => {
  const cases = readTable(path.join(here, '..', 'testing', 'freshness_cases.txt'));
  assert.ok(cases.length >= 40);
  for (const c of cases) {
    const f = sw.freshnessOf({ status: c.status, requestTime: c.requestTime, responseTime: c.responseTime, headers: c.headers }, OPTIONS);
    const got = { lifetimeMs: f.lifetimeMs, initialAgeMs: f.initialAgeMs, noCache: f.noCache, mustRevalidate: f.mustRevalidate, swrMs: f.swrMs, sieMs: f.sieMs };
    assert.deepEqual(got, c.expected, `freshness_cases.txt:${c.line} ${JSON.stringify(c.headers)}`);
  }
});

// A record as decodeRecord returns it, stored at t0 with these fields.
function record(headers, t0) {
  return { status: 200, requestTime: t0, responseTime: t0, headers, varyValues: [], invalidated: false };
}

test('the worker serves nothing stale at age == lifetime without stale-while-revalidate, as the engine', () => {
  const t0 = Date.UTC(2025, 0, 10, 12);
  const rec = record([['cache-control', 'max-age=60']], t0);
  assert.equal(sw.evaluateRecord(rec, null, t0 + 59999).state, 'fresh');
  assert.equal(sw.evaluateRecord(rec, null, t0 + 60000).usable, false);
  const swr = record([['cache-control', 'max-age=60, stale-while-revalidate=30']], t0);
  assert.equal(sw.evaluateRecord(swr, null, t0 + 60000).state, 'stale');
  assert.equal(sw.evaluateRecord(swr, null, t0 + 90000).state, 'stale');
  assert.equal(sw.evaluateRecord(swr, null, t0 + 90001).usable, false);
});

test('no stale-if-error for no-cache data, even under a route max age (as the engine)', () => {
  const t0 = Date.UTC(2025, 0, 10, 12);
  const rec = record([['cache-control', 'no-cache, stale-if-error=86400']], t0);
  const policy = { maxAgeMs: 50, staleWhileRevalidateMs: 0 };
  assert.equal(sw.evaluateRecord(rec, policy, t0 + 10).state, 'fresh');
  assert.equal(sw.evaluateRecord(rec, policy, t0 + 1100).usable, false);
  const plain = record([['cache-control', 'max-age=0, stale-if-error=86400']], t0);
  assert.equal(sw.evaluateRecord(plain, null, t0 + 1100).state, 'stale-if-error');
});

test('an invalidated record past its stale-while-revalidate window is no hit (as the engine)', () => {
  // engine.cc Evaluate: an invalidated entry is served once more only while
  // it is within stale-while-revalidate of its own lifetime. The worker sent
  // "hit" (and inlined the data) for a day-old invalidated record the page's
  // engine then refused to serve without the origin.
  const t0 = Date.UTC(2025, 0, 10, 12);
  const rec = { ...record([['cache-control', 'max-age=60, stale-while-revalidate=30']], t0), invalidated: true };
  assert.equal(sw.evaluateRecord(rec, null, t0 + 10000).state, 'stale', 'fresh by its headers: shown once more');
  assert.equal(sw.evaluateRecord(rec, null, t0 + 90000).state, 'stale', 'at the end of its window');
  assert.equal(sw.evaluateRecord(rec, null, t0 + 90001).usable, false, 'past its window');
  assert.equal(sw.evaluateRecord(rec, null, t0 + 24 * 3600 * 1000).usable, false, 'a day old');
  // A route max age replaces the lifetime the window counts from.
  const policy = { maxAgeMs: 1000, staleWhileRevalidateMs: 5000 };
  assert.equal(sw.evaluateRecord(rec, policy, t0 + 6000).state, 'stale');
  assert.equal(sw.evaluateRecord(rec, policy, t0 + 6001).usable, false);
});

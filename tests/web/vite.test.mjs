// The package as an application bundles it: tests/web/vite-app (a bare
// `import { createCache } from 'preheat'`) built with `vite build`, served
// from 127.0.0.1, loaded in headless Chromium. The page's get/peek round
// trip against a tiny endpoint must work, and the .wasm must be the asset
// Vite emitted (served as application/wasm), not a file outside the build.
// Run: PREHEAT_WEB_PACKAGE=<build>/web PREHEAT_VITE_OUT=<build>/vite-app \
//        node --test tests/web/vite.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startStaticServer, CHROMIUM_ARGS } from './static-server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { chromium } = require('playwright-core');

const PACKAGE_DIR = path.resolve(process.env.PREHEAT_WEB_PACKAGE ||
  path.join(here, '..', '..', 'build', 'wasm', 'web'));
const OUT_DIR = path.resolve(process.env.PREHEAT_VITE_OUT ||
  path.join(PACKAGE_DIR, '..', 'vite-app'));
const CHROMIUM = process.env.PREHEAT_CHROMIUM || '/usr/bin/chromium';
const APP_DIR = path.join(here, 'vite-app');
const VITE_BIN = path.join(path.dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');

let built = null;

test('vite build bundles the package and emits the .wasm asset', () => {
  assert.ok(fs.existsSync(path.join(PACKAGE_DIR, 'dist', 'preheat.wasm')),
            `no built package at ${PACKAGE_DIR} (cmake --build <wasm build dir>)`);
  const output = execFileSync(process.execPath, [VITE_BIN, 'build', APP_DIR], {
    cwd: APP_DIR,
    env: { ...process.env, PREHEAT_WEB_PACKAGE: PACKAGE_DIR, PREHEAT_VITE_OUT: OUT_DIR },
    encoding: 'utf8',
  });
  if (output.trim()) console.log(output.trim());
  const assets = fs.readdirSync(path.join(OUT_DIR, 'assets'));
  const wasm = assets.filter((f) => f.endsWith('.wasm'));
  const js = assets.filter((f) => f.endsWith('.js'));
  assert.equal(wasm.length, 1, `one .wasm asset expected, got ${assets.join(', ')}`);
  assert.ok(js.length >= 1, 'a JS bundle');
  const wasmBytes = fs.readFileSync(path.join(OUT_DIR, 'assets', wasm[0]));
  assert.deepEqual(wasmBytes, fs.readFileSync(path.join(PACKAGE_DIR, 'dist', 'preheat.wasm')),
                   'the emitted asset is the package wasm, byte for byte');
  const bundle = js.map((f) => fs.readFileSync(path.join(OUT_DIR, 'assets', f), 'utf8')).join('\n');
  assert.ok(bundle.includes(wasm[0]), 'the bundle refers to the hashed .wasm asset');
  assert.ok(!bundle.includes(PACKAGE_DIR), 'no build-machine path in the bundle');
  console.log('vite assets:', assets.map((f) => {
    const size = fs.statSync(path.join(OUT_DIR, 'assets', f)).size;
    return `${f} (${size} B)`;
  }).join(', '));
  built = { wasm: wasm[0] };
});

test('the built app runs the cache in Chromium: get then peek round trip', async (t) => {
  if (!built) t.skip('build failed');
  if (!built) return;
  let hits = 0;
  const server = await startStaticServer({
    mounts: { '/': OUT_DIR },
    routes: {
      '/api/hello': () => {
        hits++;
        return { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=600' },
                 body: JSON.stringify({ hello: 'vite', n: hits }) };
      },
    },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    const errors = [];
    const failed = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(`${server.origin}/`);
    const result = await page.evaluate(() => window.preheatResult);
    assert.equal(result.error, undefined, `app error: ${result.error}`);
    assert.equal(result.before, null, 'nothing in memory before the first get');
    assert.deepEqual(result.first, { data: { hello: 'vite', n: 1 }, state: 'miss', source: 'network' });
    assert.deepEqual(result.peek, { data: { hello: 'vite', n: 1 }, state: 'fresh', source: 'memory' });
    assert.equal(result.storage, 'indexeddb');
    assert.equal(hits, 1, 'one request to the endpoint');
    assert.match(await page.textContent('#out'), /"hello": "vite"/);

    const wasmRequests = server.served.filter((r) => r.path.endsWith('.wasm'));
    assert.deepEqual(wasmRequests, [{ path: `/assets/${built.wasm}`, status: 200, type: 'application/wasm' }]);
    assert.deepEqual(server.served.filter((r) => r.status !== 200), [], 'no 404s');
    assert.deepEqual(failed, []);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});

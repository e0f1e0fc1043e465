// Node tests of the assembled npm package's entry point (web/src/index.js
// with its dist/preheat.mjs), which loads the WebAssembly module itself:
// PREHEAT_WEB_PACKAGE=<build>/web node --test tests/wasm/package_node.test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const pkg = process.env.PREHEAT_WEB_PACKAGE;
if (!pkg) throw new Error('set PREHEAT_WEB_PACKAGE to the assembled package (<build>/web)');
const { createCache } = await import(pathToFileURL(path.join(pkg, 'src', 'index.js')).href);
const wasm = fs.readFileSync(path.join(pkg, 'dist', 'preheat.wasm'));

test('a module that fails to load is loaded again by the next createCache', async () => {
  // Not WebAssembly: this load fails, and so does the createCache that asked.
  await assert.rejects(createCache({ name: 'load-retry', storage: 'memory',
                                     moduleArgs: { wasmBinary: new Uint8Array([0, 1, 2]) } }),
                       /CompileError/);
  const cache = await createCache({ name: 'load-retry', storage: 'memory', moduleArgs: { wasmBinary: wasm } });
  try {
    assert.equal(cache.stats().storage.kind, 'memory');
    assert.equal(cache.peek('https://example.test/nothing'), null);
  } finally {
    await cache.close();
  }
});

// The value names a .d.ts declares: `export declare function|const|class X`
// and `export { X, Y } from` (not `export type`).
function declaredValues(dts) {
  const names = [...dts.matchAll(/^export declare (?:function|const|class) (\w+)/gm)].map((m) => m[1]);
  for (const m of dts.matchAll(/^export \{([^}]*)\} from/gm)) {
    names.push(...m[1].split(',').map((n) => n.trim()).filter(Boolean));
  }
  return [...new Set(names)];
}

test("package.json: every subpath's types declare only what its module exports, and all of its API", async () => {
  const manifest = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8'));
  const wrong = [];
  for (const [sub, e] of Object.entries(manifest.exports)) {
    if (typeof e !== 'object' || !e.types) continue;
    const dts = fs.readFileSync(path.join(pkg, e.types), 'utf8');
    const declared = declaredValues(dts);
    assert.ok(declared.length > 0, `${sub}: ${e.types} declares nothing`);
    const mod = await import(pathToFileURL(path.join(pkg, e.import)).href);
    for (const n of declared) if (!(n in mod)) wrong.push(`${sub}: ${n} declared, not exported`);
  }
  assert.deepEqual(wrong, []);
  // The main entry point's own API is declared.
  const main = declaredValues(fs.readFileSync(path.join(pkg, manifest.exports['.'].types), 'utf8'));
  for (const n of ['createCache', 'createCacheWith', 'watchIntent', 'PreheatError', 'Code']) {
    assert.ok(main.includes(n), `index.d.ts declares ${n}`);
  }
});

// The worker's options (sw.js DEFAULTS, each with its default) and what a
// TypeScript app may pass (index.d.ts PreheatWorkerConfig): an option the
// declaration leaves out is an excess-property error in the app's code.
test('PreheatWorkerConfig declares every option the worker reads', () => {
  const src = (name) => fs.readFileSync(new URL(`../../web/src/${name}`, import.meta.url), 'utf8');
  const defaults = /\nconst DEFAULTS = \{\n([\s\S]*?)\n\};/.exec(src('sw.js'));
  assert.ok(defaults, 'sw.js DEFAULTS found');
  const options = [...defaults[1].matchAll(/^ {2}(\w+):/gm)].map((m) => m[1]);
  assert.ok(options.length > 10, `options read: ${options}`);
  const config = /export interface PreheatWorkerConfig \{\n([\s\S]*?)\n\}/.exec(src('index.d.ts'));
  assert.ok(config, 'index.d.ts PreheatWorkerConfig found');
  const declared = new Set([...config[1].matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]));
  assert.deepEqual(options.filter((o) => !declared.has(o)), []);
});

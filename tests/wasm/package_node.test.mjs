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

// `preheat` resolves to the package assembled by a wasm build
// (<build>/web: package.json, src/, dist/preheat.mjs, dist/preheat.wasm),
// through its package.json "exports", as an installed dependency would.
// PREHEAT_WEB_PACKAGE names it; the default is the wasm preset's build.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = process.env.PREHEAT_WEB_PACKAGE || path.join(here, '..', '..', '..', 'build', 'wasm', 'web');

export default {
  root: here,
  base: './',
  logLevel: 'warn',
  resolve: {
    alias: [{ find: /^preheat$/, replacement: path.resolve(pkg) }],
  },
  build: {
    outDir: process.env.PREHEAT_VITE_OUT || path.join(here, '..', '..', '..', 'build', 'vite-app'),
    emptyOutDir: true,
    // Keep the .wasm a separate file (never inlined as a data: URL).
    assetsInlineLimit: 0,
  },
};

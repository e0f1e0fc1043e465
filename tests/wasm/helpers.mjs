// Shared helpers of the Node tests of the browser build.
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// Test-only npm dependencies live in tests/web/node_modules.
export const requireDev = createRequire(path.join(here, '..', 'web', 'package.json'));

// The CommonJS build (CTest passes its path; default: the wasm preset's).
export function nodeModulePath() {
  return process.env.PREHEAT_NODE_MODULE ||
    path.join(here, '..', '..', 'build', 'wasm', 'wasm', 'preheat_node.js');
}

// A factory that instantiates the module once and shares it.
export function loadFactory() {
  const require = createRequire(import.meta.url);
  const create = require(nodeModulePath());
  let instance = null;
  return (args) => (instance ??= create(args));
}

export const cacheModuleUrl = new URL('../../web/src/cache.js', import.meta.url).href;

// A tiny origin on 127.0.0.1 (free port). `routes[path]` is a function
// (req, state) -> {status, headers, body, delayMs} or such an object; every
// request is recorded in `requests`.
export async function startOrigin(routes) {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = [];
    req.on('data', (c) => body.push(c));
    req.on('end', async () => {
      const url = new URL(req.url, 'http://x');
      const rec = { method: req.method, path: url.pathname, headers: req.headers,
                    body: Buffer.concat(body).toString() };
      requests.push(rec);
      const route = routes[url.pathname];
      let r = typeof route === 'function' ? route(req, rec) : route;
      if (!r) r = { status: 404, headers: { 'content-type': 'text/plain' }, body: 'not found' };
      if (r.delayMs) await new Promise((f) => setTimeout(f, r.delayMs));
      // No Date header unless a route sets one: its 1 s resolution would add
      // up to a second of apparent age to short test lifetimes.
      res.sendDate = false;
      res.writeHead(r.status || 200, r.headers || {});
      res.end(r.body == null ? '' : r.body);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    count: (p) => requests.filter((r) => r.path === p).length,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); }),
  };
}

export const sleep = (ms) => new Promise((f) => setTimeout(f, ms));

export async function until(pred, timeoutMs = 3000, what = 'condition') {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// A small static file server on 127.0.0.1 (random free port) for the
// browser tests and the budgets benchmark: serves `mounts` (URL prefix ->
// directory) with the right MIME types (application/wasm for .wasm,
// text/javascript for .js/.mjs), plus `routes` (exact path -> handler) for
// data endpoints. Pages are cross-origin isolated (COOP/COEP), which gives
// performance.now() its fine resolution in Chromium.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

export const MIME = {
  '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
  '.json': 'application/json', '.html': 'text/html; charset=utf-8', '.css': 'text/css',
  '.ts': 'text/plain', '.map': 'application/json', '.svg': 'image/svg+xml',
};

const ISOLATION = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * startStaticServer({ mounts: {'/': dir, '/pkg/': dir}, routes: {'/api/x': (req, res, body) => ...},
 *                     pages: {'/bench.html': htmlString} })
 * Resolves with {origin, served: [{path, status, type}], close()}.
 */
export function startStaticServer({ mounts = {}, routes = {}, pages = {} } = {}) {
  const served = [];
  // Longest prefix first.
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (status, type, body, extra = {}) => {
      served.push({ path: url.pathname, status, type });
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...ISOLATION, ...extra });
      res.end(body);
    };
    if (Object.hasOwn(pages, url.pathname)) {
      send(200, MIME['.html'], pages[url.pathname]);
      return;
    }
    const route = routes[url.pathname];
    if (route) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const r = route(req, Buffer.concat(chunks));
        served.push({ path: url.pathname, status: r.status || 200, type: 'route' });
        res.writeHead(r.status || 200, { ...ISOLATION, ...(r.headers || {}) });
        res.end(r.body ?? '');
      });
      return;
    }
    for (const prefix of prefixes) {
      if (!url.pathname.startsWith(prefix)) continue;
      const root = path.resolve(mounts[prefix]);
      let rel = decodeURIComponent(url.pathname.slice(prefix.length));
      if (rel === '' || rel.endsWith('/')) rel += 'index.html';
      const file = path.resolve(root, '.' + path.posix.normalize('/' + rel));
      if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        continue;
      }
      send(200, MIME[path.extname(file)] || 'application/octet-stream', fs.readFileSync(file));
      return;
    }
    send(404, 'text/plain', 'not found');
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        origin: `http://127.0.0.1:${port}`,
        served,
        close: () => new Promise((f) => { server.closeAllConnections?.(); server.close(f); }),
      });
    });
  });
}

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];

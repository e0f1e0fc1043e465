// A test origin implementing the thin-shell protocol (web/PROTOCOL.md):
//   /issues/:id       full server-rendered page, or with `Preheat-Cache: hit`
//                     a thin shell; both `Vary: Preheat-Cache`
//   /api/issues/:id   the page's data: JSON, ETag, Cache-Control, 304s
//   /sw.js            the app's worker (version substituted per "deploy")
//   /.well-known/preheat-worker   the kill switch (410 = unregister)
//   /preheat/*        the built package (application/wasm, text/javascript)
//   /fixtures/*       this folder (app.js, config.js)
// Knobs (fields of the returned object): issues, swVersion, kill, down
// (every connection is reset), apiDown (API answers 503), killHold (a
// promise the kill URL waits for before it answers), renderDelayMs
// (full pages), apiDelayMs, offlineAssets (false: the worker lists none),
// workerOptions (more installPreheatWorker options, e.g. { shellFromCache:
// true }). Each shell names the deploy it came from and its serial number
// (<meta name="shell-version">, <meta name="shell-serial">), so a test can
// tell which stored shell a worker replayed.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm',
               '.json': 'application/json', '.html': 'text/html; charset=utf-8', '.ts': 'text/plain' };

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

function layout(inner, { shell }) {
  return `<!doctype html><html><head><meta charset="utf-8">
${shell ? '<meta name="preheat-shell" content="1">' : ''}<title>issues</title>
<script type="module" src="/fixtures/app.js"></script></head>
<body><nav>issues</nav>${inner}</body></html>`;
}

export function fullPage(issue) {
  return layout(`<main id="issue" data-version="${issue.version}" data-source="server">
<h1>${esc(issue.title)}</h1><p class="body">${esc(issue.body)}</p></main>
<script>performance.mark('preheat:content')</script>`, { shell: false });
}

export function shellPage({ version = '', serial = 0 } = {}) {
  return layout(`<meta name="shell-version" content="${esc(version)}"><meta name="shell-serial" content="${serial}">` +
                '<main id="issue"><h1></h1><p class="body"></p></main>', { shell: true });
}

const sleep = (ms) => (ms > 0 ? new Promise((f) => setTimeout(f, ms)) : Promise.resolve());

export function startSwServer({ packageDir, renderDelayMs = 0, apiDelayMs = 0,
                                assetCacheControl = 'no-cache', offlineAssets = true } = {}) {
  const s = {
    issues: {}, swVersion: 'v1', kill: false, killHold: null, down: false, apiDown: false,
    renderDelayMs, apiDelayMs, offlineAssets, workerOptions: {}, shellSerial: 0, requests: [],
    navigations: (p) => s.requests.filter((r) => r.kind === 'page' && (!p || r.path === p)),
  };
  const swTemplate = fs.readFileSync(path.join(here, 'sw.js'), 'utf8');
  const sockets = new Set();
  const server = http.createServer(async (req, res) => {
    if (s.down) {
      req.socket.destroy();
      return;
    }
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    res.sendDate = true;
    const killHeaders = s.kill ? { 'Preheat-Worker': 'unregister' } : {};
    let m;
    if ((m = /^\/issues\/([^/]+)$/.exec(p))) {
      const hit = (req.headers['preheat-cache'] || '') === 'hit';
      const issue = s.issues[m[1]];
      s.requests.push({ kind: 'page', path: p, header: req.headers['preheat-cache'] ?? null,
                        served: hit ? 'shell' : 'full', headers: req.headers });
      const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'private, no-cache',
                        vary: 'Preheat-Cache', ...killHeaders };
      if (hit) {
        // The shell carries no data: it can be sent before any lookup.
        res.writeHead(200, { ...headers, 'preheat-cache': 'shell' });
        res.end(shellPage({ version: s.swVersion, serial: ++s.shellSerial }));
        return;
      }
      await sleep(s.renderDelayMs);
      if (!issue) {
        res.writeHead(404, headers);
        res.end(layout('<main id="issue"><h1>not found</h1><p class="body"></p></main>', { shell: false }));
        return;
      }
      res.writeHead(200, headers);
      res.end(fullPage(issue));
      return;
    }
    if ((m = /^\/api\/issues\/([^/]+)$/.exec(p))) {
      s.requests.push({ kind: 'api', path: p, headers: req.headers });
      await sleep(s.apiDelayMs);
      if (s.apiDown) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('down');
        return;
      }
      const issue = s.issues[m[1]];
      if (!issue) {
        res.writeHead(404, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end('{}');
        return;
      }
      const etag = `"${m[1]}-v${issue.version}"`;
      const headers = { etag, 'cache-control': issue.cacheControl || 'max-age=0, stale-while-revalidate=600, stale-if-error=86400' };
      if (req.headers['if-none-match'] === etag) {
        res.writeHead(304, headers);
        res.end();
        return;
      }
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: m[1], title: issue.title, body: issue.body, version: issue.version }));
      return;
    }
    if (p === '/sw.js') {
      s.requests.push({ kind: 'worker', path: p });
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-cache' });
      let body = swTemplate.replace('__VERSION__', s.swVersion);
      if (s.offlineAssets === false) body = body.replace(/offlineAssets: \[[^\]]*\]/, 'offlineAssets: []');
      body = body.replace('/*__OPTIONS__*/{}', JSON.stringify(s.workerOptions || {}));
      res.end(body);
      return;
    }
    if (p === '/.well-known/preheat-worker') {
      s.requests.push({ kind: 'kill', path: p, referer: req.headers.referer || null });
      if (s.killHold) await s.killHold;
      res.writeHead(s.kill ? 410 : 404, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(s.kill ? 'unregister' : 'no');
      return;
    }
    let file = null;
    if (p.startsWith('/preheat/')) file = path.join(packageDir, path.normalize(p.slice('/preheat/'.length)));
    else if (p.startsWith('/fixtures/')) file = path.join(here, path.normalize(p.slice('/fixtures/'.length)));
    const root = p.startsWith('/preheat/') ? packageDir : here;
    if (file && file.startsWith(root) && fs.existsSync(file) && fs.statSync(file).isFile()) {
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream',
                           'cache-control': assetCacheControl });
      res.end(fs.readFileSync(file));
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  });
  server.on('connection', (sock) => { sockets.add(sock); sock.on('close', () => sockets.delete(sock)); });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    s.origin = `http://127.0.0.1:${server.address().port}`;
    s.close = () => new Promise((f) => {
      for (const sock of sockets) sock.destroy();
      server.close(f);
    });
    resolve(s);
  }));
}

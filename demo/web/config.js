// Shared by the page (app.js) and the service worker (sw.js): the cache
// name, the page -> data routes and the data routes' client policies.
export const CACHE_NAME = 'demo';
export const WORKER_VERSION = 'demo-4';

// Page routes and the API URL each renders (web/PROTOCOL.md, section 1).
export const ROUTES = [
  { page: '/', data: '/api/repos' },
  { page: '/repos/:repo/issues', data: '/api/repos/:repo/issues', query: true },
  { page: '/issues/:id', data: '/api/issues/:id' },
];

// The server sends `max-age=0, stale-while-revalidate=86400`: every use of
// a cached answer would revalidate. The client treats data as fresh for a
// short while (so a page preheated a moment ago is shown without a second
// request) and never shows data older than a day past that.
export const FRESH_MS = 30 * 1000;
export const POLICIES = [
  { pattern: '/api/issues/:id', maxAgeMs: FRESH_MS, maxStaleMs: 24 * 3600 * 1000 },
  { pattern: '/api/repos/:repo/issues', maxAgeMs: FRESH_MS, maxStaleMs: 24 * 3600 * 1000 },
  { pattern: '/api/repos', maxAgeMs: FRESH_MS, maxStaleMs: 24 * 3600 * 1000 },
];

// Preheat budget per page ("surface"): the first rows of a list (clicks
// follow a Zipf law over positions: rows 1 and 2 take 35% of a list's
// clicks, its next page 10%, row 3 only 8%) and its next page; an issue's first
// cross-references and its repository's list; and any link the pointer
// rests on for HOVER_INTENT_MS or presses. What is in memory or in flight
// costs nothing (the package skips it).
export const PREHEAT_LIST_TOP = 2;
export const PREHEAT_REFS_MAX = 3;
export const HOVER_INTENT_MS = 50;

// What a page path shows: { kind, dataUrl } or null (not an app route).
export function routeOf(pathname, search = '') {
  if (pathname === '/') return { kind: 'repos', dataUrl: '/api/repos' };
  let m = /^\/repos\/([a-z0-9-]+)\/issues$/.exec(pathname);
  if (m) {
    const page = Number(new URLSearchParams(search).get('page') || '1') || 1;
    return { kind: 'list', repo: m[1], page, dataUrl: `/api/repos/${m[1]}/issues?page=${page}` };
  }
  m = /^\/issues\/(\d+)$/.exec(pathname);
  if (m) return { kind: 'issue', id: Number(m[1]), dataUrl: `/api/issues/${m[1]}` };
  return null;
}

// The three modes of the demo's switch.
export const MODES = {
  none: 'No cache',
  swr: 'SWR',
  preheat: 'SWR + preheat',
};
export const DEFAULT_MODE = 'preheat';

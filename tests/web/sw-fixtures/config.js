// Shared by the test app's page script (app.js) and its worker (sw.js): the
// cache name, the page -> data route mapping and the data routes' policies.
export const CACHE_NAME = 'issues';
export const ROUTES = [{ page: '/issues/:id', data: '/api/issues/:id' }];
// The page's createCache({ routes }) and the worker's `policies`: data older
// than a week past its freshness is never shown, whatever the headers say.
export const POLICIES = [{ pattern: '/api/issues/:id', maxStaleMs: 7 * 24 * 3600 * 1000 }];

export function dataUrlFor(pathname) {
  const m = /^\/issues\/([^/]+)$/.exec(pathname);
  return m ? `/api/issues/${m[1]}` : null;
}

// The preheat service worker: hard navigations that can render from the cache.
//
// An app's own worker script (served at its origin, e.g. /sw.js, as a module
// worker) installs it with its configuration:
//
//   import { installPreheatWorker } from '/preheat/src/sw.js';
//   installPreheatWorker({
//     version: '2026-05-01.1',          // change it on every deploy
//     name: 'app',                       // createCache({ name }) of the page
//     routes: [{ page: '/issues/:id', data: '/api/issues/:id' }],
//     policies: [...],                   // the page's createCache({ routes })
//     offlineAssets: ['/app.js', '/preheat/src/index.js', ...],
//   });
//
// For a navigation (GET, mode 'navigate') whose path matches a route, the
// worker derives the page's data URL, reads its record straight from the
// page's IndexedDB database ("preheat:<name>", store "entries": the schema
// of idb-store.js, records encoded by core/src/entry.cc) and, when the
// record is usable, forwards the navigation with `Preheat-Cache: hit`.
// Anything else (no route, no record, a record past its maximum stale age,
// a slow or failing IndexedDB, a corrupt record, any exception) forwards the
// navigation unchanged. The worker never loads the WebAssembly engine.
// See web/PROTOCOL.md for what the server does with the header.
//
// With `inlineData: true`, the worker also hands the record it just read to
// the page: when the server answers the thin shell (`Preheat-Cache: shell`)
// and the record is a JSON body of at most `inlineMaxBytes`, it inserts
//
//   <script type="application/json" id="preheat-data" data-url="<data URL>"
//           data-state="fresh|stale|stale-if-error" data-response-time="<ms>">BODY</script>
//
// in place of the shell's `<!--preheat-data-->` comment, or before `</body>`
// when it has none (`<` escaped as \u003c, so the body cannot end the
// element; the comment lets the shell put a script right after it that
// paints from the data while the document is still being parsed). The page can paint from it before its engine has booted, then
// let the engine read the same record and revalidate as usual. The request
// to the server, its `Preheat-Cache: hit` header and the response's headers
// (Vary, Cache-Control, Preheat-Cache) are unchanged; only the shell's body
// gains the element. The copy kept for offline use is the server's shell;
// replayed for a hit while the origin is unreachable, it gains the element
// the same way. (A miss is not answered with it: a shell without usable
// data sends the page back for a full one, reloadWithoutShell.)
//
// With `shellFromCache: true` (the "app shell" pattern), a usable record
// does not wait for the server at all: the worker answers the navigation
// from the route's shell kept in Cache Storage (the same copy as the offline
// shell, in the cache named after this worker's `version`), with the record
// inlined when `inlineData` is on, and the server sees no request for the
// page (the page's engine revalidates the data itself). When no shell of
// this version is stored yet (first hit after install or deploy), or the
// stored one is older than `shellMaxAgeMs`, the navigation takes the network
// path above and its shell is stored for the next one. Misses, bypassed
// navigations (reloadWithoutShell) and the kill switch work as without it.

import { scopeForRoutes } from './sw-register.js';

export const PROTOCOL_VERSION = 1;
// The record layouts this worker decodes (core/include/preheat/entry.h): the
// same fields, then an 8-byte little-endian checksum of every byte before it.
const RECORD_VERSION_FNV1A64 = 1;  // FNV-1a 64; written by earlier releases
const RECORD_VERSION_XXH32 = 2;    // XXH32 seed 0, zero-extended; written now

const DEFAULTS = {
  version: '0',
  name: 'default',
  namespace: '',
  routes: [],
  policies: [],
  defaultPolicy: null,
  header: 'Preheat-Cache',
  timeoutMs: 150,
  killHeader: 'Preheat-Worker',
  killUrl: '/.well-known/preheat-worker',
  killCheckIntervalMs: 5 * 60 * 1000,
  offlineShell: true,
  offlineAssets: [],
  // Each offlineAsset's precache (fetch and store) is abandoned after this
  // long, so a stalled one cannot hold the install (and the new version).
  precacheTimeoutMs: 60 * 1000,
  skipWaiting: true,
  claim: 'auto',
  heuristicFraction: 0.1,
  heuristicMaxMs: 24 * 3600 * 1000,
  inlineData: false,
  // Let the browser fetch everything but navigations without waking this
  // worker (ServiceWorker static routing, InstallEvent.addRoutes, where
  // supported): the page's scripts, styles and API calls skip a round trip
  // through the worker. Off when offlineAssets are given (the worker serves
  // those when the network fails).
  routeSubresourcesToNetwork: true,
  inlineMaxBytes: 256 * 1024,
  inlineId: 'preheat-data',
  // Answer usable navigations from the route's stored shell, without a
  // request for the page (see the header comment and PROTOCOL.md).
  shellFromCache: false,
  // A stored shell older than this is not served from the cache: that
  // navigation asks the server (network path) and stores its new shell.
  shellMaxAgeMs: 24 * 3600 * 1000,
  // A speculative prefetch of a document (Speculation Rules, `Sec-Purpose:
  // prefetch`) that has no usable record goes to the server like its
  // navigation would; false answers it with a network error instead: the
  // browser drops that prefetch, the click navigates as usual, and the
  // server never renders a full page nobody may open.
  prefetchMissToNetwork: true,
};

// Response header on the stored copy of a shell: when it was stored (epoch
// ms). Removed from the responses made from it.
const STORED_AT_HEADER = 'Preheat-Shell-Stored-At';

// ---- routes -----------------------------------------------------------------

// A route pattern as core/include/preheat/route.h: "/issues/:id", "/api/*".
export function compilePattern(pattern) {
  if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
    throw new TypeError(`route pattern must start with "/": ${pattern}`);
  }
  const segments = pattern.split('/').slice(1);
  segments.forEach((s, i) => {
    if (s === ':') throw new TypeError(`empty parameter name in ${pattern}`);
    if (s === '*' && i !== segments.length - 1) throw new TypeError(`"*" must be last in ${pattern}`);
  });
  return { text: pattern, segments };
}

// Returns the captured parameters, or null when `path` does not match.
export function matchPattern(compiled, path) {
  const parts = path.split('/').slice(1);
  const params = {};
  const segs = compiled.segments;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    if (s === '*' && i === segs.length - 1) {
      params['*'] = parts.slice(i).join('/');
      return params;
    }
    if (i >= parts.length) return null;
    if (s.startsWith(':')) {
      if (parts[i] === '') return null;
      params[s.slice(1)] = parts[i];
    } else if (s !== parts[i]) {
      return null;
    }
  }
  return parts.length === segs.length ? params : null;
}

function expandPattern(compiled, params) {
  return '/' + compiled.segments.map((s) => {
    if (!s.startsWith(':')) return s;
    const v = params[s.slice(1)];
    if (v === undefined) throw new TypeError(`no value for ${s} in ${compiled.text}`);
    return v;
  }).join('/');
}

// The longest path prefix (ending in "/") shared by the routes' static
// parts: the narrowest service worker scope that covers them all.
// Shared with the page-side helper, which uses it to register the worker.
export { scopeForRoutes };

// ---- URL keys (core/src/url.cc NormalizeUrl, for the URLs apps use) --------

const UNRESERVED = /[A-Za-z0-9\-._~]/;

// As url.cc NormalizeComponent: encoded unreserved characters decoded,
// other encodings upper-cased, and what a path or query may not hold raw
// encoded. The WHATWG parser leaves some of those raw (in queries
// [ ] { } | ^ `, in paths [ ] | ^): "?filter[state]=open" is keyed as
// "?filter%5Bstate%5D=open".
function normalizePercent(s) {
  return s.replace(/%([0-9a-fA-F]{2})|[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/g, (m, hex) => {
    if (hex === undefined) return '%' + m.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : '%' + hex.toUpperCase();
  });
}

export function cacheKeyFor(url, namespace = '') {
  const u = new URL(url);
  u.hash = '';
  let href = u.href;
  if (href.endsWith('#')) href = href.slice(0, -1);
  const pathStart = u.origin.length;
  return `${namespace} ${href.slice(0, pathStart)}${normalizePercent(href.slice(pathStart))}`;
}

// ---- records (core/src/entry.cc EncodeEntry) --------------------------------

const utf8 = new TextDecoder();

// FNV-1a 64 over bytes[0, end), as two 32-bit halves (version 1 records).
function fnv1a64(bytes, end) {
  let lo = 0x84222325;
  let hi = 0xcbf29ce4;
  for (let i = 0; i < end; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    // (hi:lo) * 0x100000001b3 mod 2^64 = (hi:lo) * 0x1b3 + (lo << 40)
    const t = lo * 0x1b3;
    const carry = Math.floor(t / 4294967296);
    hi = (Math.imul(hi, 0x1b3) + (lo << 8) + carry) >>> 0;
    lo = t >>> 0;
  }
  return [lo, hi];
}

// XXH32 with seed 0 over bytes[0, end) (version 2 records), as an unsigned
// 32-bit number: the published algorithm (core/src/entry.cc Xxh32), 4 bytes
// a step with Math.imul.
const XXH_PRIME1 = 0x9e3779b1;
const XXH_PRIME2 = 0x85ebca77;
const XXH_PRIME3 = 0xc2b2ae3d;
const XXH_PRIME4 = 0x27d4eb2f;
const XXH_PRIME5 = 0x165667b1;
const rotl = (v, bits) => (v << bits) | (v >>> (32 - bits));
const lane = (acc, word) => Math.imul(rotl((acc + Math.imul(word, XXH_PRIME2)) | 0, 13), XXH_PRIME1);

function xxh32(bytes, dv, end) {
  let i = 0;
  let h;
  if (end >= 16) {
    let v1 = (XXH_PRIME1 + XXH_PRIME2) | 0;
    let v2 = XXH_PRIME2 | 0;
    let v3 = 0;
    let v4 = -XXH_PRIME1 | 0;
    for (; i <= end - 16; i += 16) {
      v1 = lane(v1, dv.getUint32(i, true));
      v2 = lane(v2, dv.getUint32(i + 4, true));
      v3 = lane(v3, dv.getUint32(i + 8, true));
      v4 = lane(v4, dv.getUint32(i + 12, true));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
  } else {
    h = XXH_PRIME5;
  }
  h = (h + end) | 0;
  for (; i + 4 <= end; i += 4) h = Math.imul(rotl((h + Math.imul(dv.getUint32(i, true), XXH_PRIME3)) | 0, 17), XXH_PRIME4);
  for (; i < end; i++) h = Math.imul(rotl((h + Math.imul(bytes[i], XXH_PRIME5)) | 0, 11), XXH_PRIME1);
  h = Math.imul(h ^ (h >>> 15), XXH_PRIME2);
  h = Math.imul(h ^ (h >>> 13), XXH_PRIME3);
  return (h ^ (h >>> 16)) >>> 0;
}

// Whether the record's trailer matches its version's checksum.
function checksumOk(bytes, dv, end) {
  const low = dv.getUint32(end, true);
  const high = dv.getUint32(end + 4, true);
  if (bytes[0] === RECORD_VERSION_XXH32) return high === 0 && low === xxh32(bytes, dv, end);
  if (bytes[0] === RECORD_VERSION_FNV1A64) {
    const [lo, hi] = fnv1a64(bytes, end);
    return low === lo && high === hi;
  }
  return false;  // unknown version
}

// The engine's bounds (entry.h kEntryRecordBytesMax, entry.cc kFieldsMax,
// status at most 999): a record past them is one the page's engine rejects.
const RECORD_BYTES_MAX = 64 * 1024 * 1024;
const RECORD_FIELDS_MAX = 4096;

// Decodes the fields the worker needs; returns null for a record it cannot
// trust (unknown version, bad checksum, truncated, past the engine's bounds).
export function decodeRecord(value) {
  let bytes;
  if (value instanceof Uint8Array) bytes = value;
  else if (value instanceof ArrayBuffer) bytes = new Uint8Array(value);
  else if (ArrayBuffer.isView(value)) bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  else return null;
  const n = bytes.length;
  if (n < 9 || n > RECORD_BYTES_MAX) return null;
  const end = n - 8;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!checksumOk(bytes, dv, end)) return null;
  let pos = 1;
  const fail = () => { throw new RangeError('truncated record'); };
  const count = () => {
    const c = varint();
    return c > RECORD_FIELDS_MAX ? fail() : c;
  };
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) fail();
      const b = bytes[pos++];
      v += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return v;
      mul *= 128;
    }
    return fail();
  };
  const skip = () => {
    const len = varint();
    if (len > end - pos) fail();
    const start = pos;
    pos += len;
    return start;
  };
  const str = () => {
    const start = skip();
    return utf8.decode(bytes.subarray(start, pos));
  };
  const fixed64 = () => {
    if (end - pos < 8) fail();
    const v = dv.getUint32(pos, true) + dv.getUint32(pos + 4, true) * 4294967296;
    pos += 8;
    return v;
  };
  try {
    const key = str();
    const url = str();
    const status = varint();
    if (status > 999) fail();
    const headers = [];
    for (let i = 0, c = count(); i < c; i++) headers.push([str().toLowerCase(), str()]);
    const bodyStart = skip();
    const body = bytes.subarray(bodyStart, pos);  // a view: copied only when used
    const requestTime = fixed64();
    const responseTime = fixed64();
    const varyValues = [];
    for (let i = 0, c = count(); i < c; i++) varyValues.push([str(), str()]);
    const tags = [];
    for (let i = 0, c = count(); i < c; i++) tags.push(str());
    if (pos >= end) fail();
    const flags = bytes[pos++];
    if (flags > 1 || pos !== end) return null;
    return { key, url, status, headers, body, requestTime, responseTime, varyValues, tags,
             invalidated: flags === 1 };
  } catch (_) {
    return null;
  }
}

// ---- freshness (core/src/freshness.cc, engine.cc Evaluate) -------------------

function headerValues(headers, name) {
  return headers.filter(([n]) => n === name).map(([, v]) => v);
}

// Spaces and tabs trimmed (RFC 9110 OWS), not String.trim()'s wider set.
function trimOws(s) {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

// The value of a field that must not repeat (as freshness.cc's SingleValue):
// the first, unless another disagrees (OWS trimmed): then `conflict`.
function single(headers, name) {
  const vs = headerValues(headers, name);
  if (vs.length === 0) return { value: undefined };
  if (vs.some((v) => trimOws(v) !== trimOws(vs[0]))) return { conflict: true };
  return { value: vs[0] };
}

// HTTP-dates as the engine reads them (core/src/http_date.cc): the three
// formats of RFC 9110 5.6.7 only, always GMT, names case-sensitive, days
// within their month; second 60 reads as the next second. Not Date.parse,
// which takes many more forms and reads asctime in the local time zone.
const DAY = 'Sun|Mon|Tue|Wed|Thu|Fri|Sat';
const LONG_DAY = 'Sunday|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = MONTHS.join('|');
const TIME = '(\\d\\d):(\\d\\d):(\\d\\d)';
const IMF_FIXDATE = new RegExp(`^(?:${DAY}), (\\d\\d) (${MONTH}) (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(`^(?:${LONG_DAY}), (\\d\\d)-(${MONTH})-(\\d\\d) ${TIME} GMT$`);
const ASCTIME_DATE = new RegExp(`^(?:${DAY}) (${MONTH}) (\\d\\d| \\d) ${TIME} (\\d{4})$`);

// Days since 1970-01-01 of a proleptic Gregorian date (as http_date.cc).
function daysFromCivil(y, m, d) {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(y, m) {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return m === 2 && leap ? 29 : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

function httpDate(text) {
  if (text === undefined) return undefined;
  const s = trimOws(text);
  let year, month, day, hour, minute, second, m;
  if ((m = IMF_FIXDATE.exec(s))) {
    [, day, month, year, hour, minute, second] = m;
  } else if ((m = RFC850_DATE.exec(s))) {
    [, day, month, year, hour, minute, second] = m;
    year = Number(year) + (Number(year) < 70 ? 2000 : 1900);
  } else if ((m = ASCTIME_DATE.exec(s))) {
    [, month, day, hour, minute, second, year] = m;
  } else {
    return undefined;
  }
  const y = Number(year);
  const mo = MONTHS.indexOf(month) + 1;
  const d = Number(day);
  const h = Number(hour);
  const mi = Number(minute);
  const sec = Number(second);
  if (d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || sec > 60) return undefined;
  return ((daysFromCivil(y, mo, d) * 86400) + h * 3600 + mi * 60 + sec) * 1000;
}

// RFC 9110 5.6.2 token characters.
function isTchar(c) {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) ||
    '!#$%&\'*+-.^_`|~'.indexOf(String.fromCharCode(c)) >= 0;
}

// delta-seconds (RFC 9111 1.2.2), clamped to 2^31; undefined when not digits.
function deltaSeconds(s) {
  if (!/^[0-9]+$/.test(s)) return undefined;
  return Math.min(Number(s), 2 ** 31);
}

// Cache-Control as the engine reads it (core/src/cache_control.cc): a
// numeric directive that is malformed or repeated with another value is
// invalid (max-age then 0: stale; stale-while-revalidate and stale-if-error
// dropped); junk after a directive's value makes it malformed; restrictive
// directives count even when malformed. { noCache, noStore, mustRevalidate,
// immutable, maxAge (seconds, -1: invalid), swr, sie }.
function parseCacheControl(v) {
  const cc = {};
  const numbers = { 'max-age': {}, 'stale-while-revalidate': {}, 'stale-if-error': {} };
  const n = v.length;
  let i = 0;
  while (i < n) {
    while (i < n && (v[i] === ' ' || v[i] === '\t' || v[i] === ',')) i++;
    if (i >= n) break;
    let start = i;
    while (i < n && isTchar(v.charCodeAt(i))) i++;
    const name = v.slice(start, i).toLowerCase();
    let malformed = name === '';
    let hasValue = false;
    let value = '';
    if (i < n && v[i] === '=') {
      i++;
      hasValue = true;
      if (i < n && v[i] === '"') {
        let closed = false;
        for (i++; i < n; i++) {
          let c = v[i];
          if (c === '"') {
            i++;
            closed = true;
            break;
          }
          if (c === '\\' && i + 1 < n) c = v[++i];
          if (value.length < 1024) value += c;
          else malformed = true;
        }
        if (!closed) malformed = true;
      } else {
        start = i;
        while (i < n && isTchar(v.charCodeAt(i))) i++;
        value = v.slice(start, i);
      }
    }
    while (i < n && (v[i] === ' ' || v[i] === '\t')) i++;
    if (i < n && v[i] !== ',') {
      malformed = true;
      let inQuotes = false;
      for (; i < n; i++) {
        if (inQuotes && v[i] === '\\') {
          i++;
          continue;
        }
        if (v[i] === '"') inQuotes = !inQuotes;
        if (v[i] === ',' && !inQuotes) break;
      }
    }
    const number = numbers[name];
    if (number !== undefined) {
      const seconds = hasValue && !malformed ? deltaSeconds(value) : undefined;
      if (seconds === undefined || (number.value !== undefined && number.value !== seconds)) {
        number.invalid = true;
      } else {
        number.value = seconds;
      }
      continue;
    }
    switch (name) {
      case 'no-cache': cc.noCache = true; break;
      case 'no-store': cc.noStore = true; break;
      case 'must-revalidate': cc.mustRevalidate = true; break;
      case 'immutable': if (!hasValue && !malformed) cc.immutable = true; break;
      default: break;
    }
  }
  const maxAge = numbers['max-age'];
  if (maxAge.invalid) cc.maxAge = -1;
  else if (maxAge.value !== undefined) cc.maxAge = maxAge.value;
  const swr = numbers['stale-while-revalidate'];
  if (!swr.invalid && swr.value !== undefined) cc.swr = swr.value;
  const sie = numbers['stale-if-error'];
  if (!sie.invalid && sie.value !== undefined) cc.sie = sie.value;
  return cc;
}

const HEURISTIC_STATUSES = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

export function freshnessOf(rec, opts) {
  const h = rec.headers;
  const cc = parseCacheControl(headerValues(h, 'cache-control').join(', '));
  const date = single(h, 'date');
  let dateMs = rec.responseTime;
  let dateValid = !date.conflict;
  if (date.value !== undefined) {
    const d = httpDate(date.value);
    if (d === undefined) dateValid = false;
    else dateMs = d;
  }
  const age = single(h, 'age');
  const ageSeconds = age.value !== undefined ? deltaSeconds(trimOws(age.value)) : undefined;
  const ageMs = ageSeconds !== undefined ? ageSeconds * 1000 : 0;
  let lifetimeMs = 0;
  let noCache = false;
  if (cc.noCache) {
    noCache = true;
  } else if (cc.maxAge !== undefined) {
    lifetimeMs = cc.maxAge < 0 ? 0 : cc.maxAge * 1000;
  } else {
    const exp = single(h, 'expires');
    if (exp.value !== undefined || exp.conflict) {
      const e = httpDate(exp.value);
      if (e !== undefined && dateValid) lifetimeMs = Math.max(0, e - dateMs);
    } else if (HEURISTIC_STATUSES.has(rec.status)) {
      const lm = httpDate(headerValues(h, 'last-modified')[0]);  // the first, as freshness.cc
      if (lm !== undefined && dateMs - lm > 0) {
        lifetimeMs = Math.min(opts.heuristicMaxMs, Math.floor(opts.heuristicFraction * (dateMs - lm)));
      }
    }
  }
  const apparent = Math.max(0, rec.responseTime - dateMs);
  const delay = Math.max(0, rec.responseTime - rec.requestTime);
  return {
    lifetimeMs, noCache,
    initialAgeMs: Math.max(apparent, ageMs + delay),
    mustRevalidate: !!cc.mustRevalidate,
    swrMs: (cc.swr || 0) * 1000,
    sieMs: (cc.sie || 0) * 1000,
    vary: headerValues(h, 'vary').join(',').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
  };
}

// Whether the page will be able to render this record without waiting for
// the origin (fresh, or stale within stale-while-revalidate), or when the
// origin fails (within stale-if-error); never past the route's maxStaleMs.
// Returns { usable, state, staleMs, reason }.
export function evaluateRecord(rec, policy, now, opts = DEFAULTS) {
  if (!rec) return { usable: false, reason: 'corrupt' };
  if (rec.status < 200 || rec.status > 299) return { usable: false, reason: `status ${rec.status}` };
  const f = freshnessOf(rec, opts);
  if (f.vary.includes('*')) return { usable: false, reason: 'vary' };
  // The page asks without extra request headers: a record stored for other
  // Vary values would not match there.
  if (f.vary.length && rec.varyValues.some(([, v]) => v !== '')) return { usable: false, reason: 'vary' };
  policy = policy || {};
  const ageMs = Math.max(0, f.initialAgeMs + Math.max(0, now - rec.responseTime));
  const validateAlways = f.noCache && policy.maxAgeMs == null;
  let lifetime = policy.maxAgeMs != null ? policy.maxAgeMs : f.lifetimeMs;
  if (rec.invalidated || validateAlways) lifetime = 0;
  const staleMs = ageMs - lifetime;
  if (!rec.invalidated && !validateAlways && staleMs < 0) return { usable: true, state: 'fresh', staleMs };
  if (f.mustRevalidate || validateAlways) return { usable: false, reason: 'must-revalidate', staleMs };
  if (policy.maxStaleMs != null && staleMs > policy.maxStaleMs) {
    return { usable: false, reason: 'past max stale', staleMs };
  }
  const swr = policy.staleWhileRevalidateMs != null ? policy.staleWhileRevalidateMs : f.swrMs;
  // As the engine: nothing stale without stale-while-revalidate (or
  // stale-if-error), not even at age == lifetime; an invalidated record
  // only while within that window of its own lifetime; stale-if-error never
  // for no-cache data.
  const pastLifetimeMs = ageMs - (policy.maxAgeMs != null ? policy.maxAgeMs : f.lifetimeMs);
  if (swr > 0 && (rec.invalidated ? pastLifetimeMs : staleMs) <= swr) return { usable: true, state: 'stale', staleMs };
  if (!f.noCache && f.sieMs > 0 && staleMs <= f.sieMs) return { usable: true, state: 'stale-if-error', staleMs };
  return { usable: false, reason: 'past max stale', staleMs };
}

// ---- IndexedDB (read-only; never creates the database) ----------------------

// `ms` over 2^31-1 (or Infinity) waits 2^31-1 ms: setTimeout takes a signed
// 32-bit delay and fires a longer one at once.
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)),
                         Math.min(ms, 2 ** 31 - 1));
    }),
  ]).finally(() => clearTimeout(timer));
}

let dbPromise = null;

function openExisting(name) {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve, reject) => {
    const idb = globalThis.indexedDB;
    if (!idb) {
      reject(new Error('IndexedDB is not available'));
      return;
    }
    // No version: opens whatever exists. A missing database would be
    // created (upgradeneeded at version 1): abort that instead, the page
    // owns the schema.
    const req = idb.open(name);
    let created = false;
    req.onupgradeneeded = () => {
      created = true;
      req.transaction.abort();
    };
    req.onsuccess = () => {
      const db = req.result;
      db.onversionchange = () => { db.close(); dbPromise = null; };
      db.onclose = () => { dbPromise = null; };
      resolve(db);
    };
    req.onerror = (ev) => {
      if (ev && ev.preventDefault) ev.preventDefault();
      const e = new Error(created ? 'no cache database' : `IndexedDB open failed: ${req.error && req.error.name}`);
      if (created) e.name = 'NotFoundError';
      reject(e);
    };
    req.onblocked = () => {};
  });
  dbPromise.catch(() => { dbPromise = null; });
  return dbPromise;
}

// A connection can be closed under us (site data cleared, the page
// upgrading the schema): one retry on a fresh connection.
async function readRecord(dbName, key) {
  try {
    return await readRecordOnce(dbName, key);
  } catch (e) {
    if (!e || (e.name !== 'InvalidStateError' && e.name !== 'AbortError' && e.name !== 'UnknownError')) throw e;
    dbPromise = null;
    return readRecordOnce(dbName, key);
  }
}

async function readRecordOnce(dbName, key) {
  const db = await openExisting(dbName);
  if (!db.objectStoreNames.contains('entries')) return null;
  return new Promise((resolve, reject) => {
    let tx;
    try {
      tx = db.transaction(['entries'], 'readonly');
    } catch (e) {
      dbPromise = null;  // closed under us (e.g. site data cleared)
      reject(e);
      return;
    }
    const r = tx.objectStore('entries').get(key);
    r.onsuccess = () => resolve(r.result || null);
    r.onerror = () => reject(r.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

// ---- the worker ---------------------------------------------------------------

function resolveConfig(config) {
  const c = { ...DEFAULTS, ...config };
  c.dbName = `preheat:${c.name}`;
  c.compiledRoutes = c.routes.map((r) => ({
    ...r,
    pageP: compilePattern(r.page),
    dataP: typeof r.data === 'string' ? compilePattern(r.data) : null,
  }));
  c.compiledPolicies = (c.policies || []).map((p) => ({ ...p, compiled: compilePattern(p.pattern || '/*') }));
  // Cache Storage is shared by the origin's workers: the name is escaped
  // (":" and "%") so that no other name's caches start with this prefix
  // ("a" and "a:b"), while names without those keep their earlier form.
  const escapedName = String(c.name).replace(/[%:]/g, (ch) => (ch === '%' ? '%25' : '%3A'));
  c.cachePrefix = `preheat-worker:${escapedName}:`;
  c.shellCache = `${c.cachePrefix}${c.version}`;
  return c;
}

function routeFor(c, url) {
  for (const r of c.compiledRoutes) {
    const params = matchPattern(r.pageP, url.pathname);
    if (!params) continue;
    let data;
    if (typeof r.data === 'function') data = r.data(url, params);
    else {
      data = expandPattern(r.dataP, params);
      if (r.query) data += url.search;
    }
    if (!data) return null;
    return { route: r, dataUrl: new URL(data, url).href };
  }
  return null;
}

function policyFor(c, dataUrl) {
  const path = new URL(dataUrl).pathname;
  for (const p of c.compiledPolicies) if (matchPattern(p.compiled, path)) return p;
  return c.defaultPolicy || {};
}

function shellKey(c, route) {
  return new URL(`/__preheat-worker/shell?route=${encodeURIComponent(route.page)}`, self.location.origin).href;
}

// A speculative fetch of a document (Speculation Rules, <link rel=prefetch>):
// `Sec-Purpose: prefetch`, or the older `Purpose: prefetch`.
function isPrefetch(request) {
  const h = request.headers;
  return /\bprefetch\b/i.test(h.get('Sec-Purpose') || h.get('Purpose') || '');
}

function isKill(c, response) {
  if (!response || response.type === 'opaqueredirect' || response.type === 'opaque') return false;
  const v = response.headers.get(c.killHeader);
  return !!v && v.trim().toLowerCase() === 'unregister';
}

// The <script type="application/json"> element carrying a usable record's
// body into the shell, or null when the record should not be inlined (not
// JSON, too large, not UTF-8).
export function inlineDataElement(rec, verdict, dataUrl, opts = DEFAULTS) {
  if (!rec || !rec.body || rec.body.length > opts.inlineMaxBytes) return null;
  const type = rec.headers.find(([n]) => n === 'content-type');
  if (!type || !/\bjson\b/i.test(type[1])) return null;
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(rec.body);
  } catch (_) {
    return null;
  }
  const attr = (v) => String(v).replace(/[&"<>]/g, (ch) => (
    { '&': '&amp;', '"': '&quot;', '<': '&lt;', '>': '&gt;' }[ch]));
  return `<script type="application/json" id="${attr(opts.inlineId)}" data-url="${attr(dataUrl)}"` +
         ` data-state="${attr(verdict.state || '')}" data-response-time="${rec.responseTime}">` +
         `${text.replace(/</g, '\\u003c')}</script>`;
}

const INLINE_MARKER = '<!--preheat-data-->';

// The shell's HTML with `element` in place of INLINE_MARKER, else before
// </body> (appended when there is none).
export function insertInlineElement(html, element) {
  const marker = html.indexOf(INLINE_MARKER);
  if (marker >= 0) return html.slice(0, marker) + element + html.slice(marker + INLINE_MARKER.length);
  const at = html.lastIndexOf('</body>');
  return at < 0 ? html + element : html.slice(0, at) + element + html.slice(at);
}

// The shell response with `element` inserted; same status and headers, minus
// the stale Content-Length.
async function withInlineElement(res, element) {
  const body = insertInlineElement(await res.text(), element);
  const headers = new Headers(res.headers);
  headers.delete('content-length');
  headers.delete('content-encoding');
  return new Response(body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * Installs the worker's event handlers. Call once, at the top level of the
 * app's service worker module. Returns an object for tests and diagnostics.
 */
export function installPreheatWorker(config = {}) {
  const c = resolveConfig(config);
  const sw = globalThis.self;
  const state = {
    config: c, killed: false, lastKillCheck: 0, firstInstall: false, bypass: new Map(),
    stats: { navigations: 0, hits: 0, misses: 0, timeouts: 0, errors: 0, offlineShells: 0,
             inlined: 0, cachedShells: 0, shellsStored: 0, prefetchMissesRefused: 0 },
  };
  // shellFromCache: the routes' stored shells this worker has read, by page
  // pattern ({ text, status, statusText, headers, storedAt }), so a hit
  // reads Cache Storage once per worker start.
  const shells = new Map();

  async function unregisterSelf(reason) {
    if (state.killed) return;
    state.killed = true;
    state.killReason = reason;
    shells.clear();
    try {
      for (const name of await caches.keys()) if (name.startsWith(c.cachePrefix)) await caches.delete(name);
    } catch (_) { /* best effort */ }
    try { await sw.registration.unregister(); } catch (_) { /* best effort */ }
  }

  async function checkKillUrl() {
    if (!c.killUrl) return;
    state.lastKillCheck = Date.now();
    try {
      const res = await fetch(new URL(c.killUrl, sw.location.origin).href,
                              { cache: 'no-store', credentials: 'omit', redirect: 'error' });
      if (res.status === 410 || isKill(c, res)) await unregisterSelf(`kill URL answered ${res.status}`);
    } catch (_) { /* offline: keep going */ }
  }

  // Is the page's data usable? Resolves with the evaluation; never rejects.
  async function check(dataUrl) {
    const key = cacheKeyFor(dataUrl, c.namespace);
    try {
      const value = await withTimeout(readRecord(c.dbName, key), c.timeoutMs, 'cache check');
      if (!value) return { usable: false, reason: 'miss' };
      const decoded = decodeRecord(value.value);
      // A record that names another key is one the page's engine drops as
      // corrupt (engine.cc OnStoreRead): no hit for it.
      const rec = decoded && decoded.key === key ? decoded : null;
      const verdict = evaluateRecord(rec, policyFor(c, dataUrl), Date.now(), c);
      // Not enumerable: stays out of lastVerdict copies and status replies.
      if (verdict.usable) Object.defineProperty(verdict, 'record', { value: rec });
      return verdict;
    } catch (e) {
      if (e && e.name === 'NotFoundError') return { usable: false, reason: 'miss', error: e.message };
      const timeout = /timed out/.test(e && e.message);
      return { usable: false, reason: timeout ? 'timeout' : 'error', error: String(e && e.message || e) };
    }
  }

  // The navigation's referrer as a Request made here can carry it: none
  // stays none (undefined would make it this worker's URL), and one of
  // another origin, which a Request would also replace by this worker's
  // URL, is left out.
  function forwardedReferrer(referrer) {
    if (referrer === 'about:client') return undefined;
    try {
      return referrer && new URL(referrer).origin === self.location.origin ? referrer : '';
    } catch (_) {
      return '';
    }
  }

  function forwardWithHeader(request) {
    const headers = new Headers(request.headers);
    headers.set(c.header, 'hit');
    // A Request made here cannot carry Sec-Purpose (a forbidden name, dropped
    // from the copy): a prefetch keeps its marking as `Purpose: prefetch`,
    // so the server still tells it from a navigation.
    if (isPrefetch(request) && !headers.has('Purpose')) headers.set('Purpose', 'prefetch');
    const init = {
      method: 'GET',
      headers,
      mode: 'same-origin',
      credentials: 'include',
      redirect: 'manual',
      referrer: forwardedReferrer(request.referrer),
      referrerPolicy: request.referrerPolicy || undefined,
      integrity: request.integrity || undefined,
    };
    if (request.cache && request.cache !== 'only-if-cached') init.cache = request.cache;
    return fetch(new Request(request.url, init));
  }

  // The route's stored shell as a response to the navigation: the headers
  // the server sent with it, without the stored copy's time stamp.
  async function offlineShell(route) {
    if (!c.offlineShell) return null;
    try {
      const cache = await caches.open(c.shellCache);
      const res = await cache.match(shellKey(c, route), { ignoreVary: true, ignoreSearch: false });
      if (!res) return null;
      state.stats.offlineShells++;
      const headers = new Headers(res.headers);
      headers.delete(STORED_AT_HEADER);
      return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
    } catch (_) {
      return null;
    }
  }

  // A shell (the server's, or the offline copy) with the hit's record
  // inlined when inlineData is on; the shell as it is when that cannot be.
  async function withData(shell, match, verdict) {
    if (!c.inlineData) return shell;
    const element = inlineDataElement(verdict.record, verdict, match.dataUrl, c);
    if (!element) return shell;
    try {
      const inlined = await withInlineElement(shell.clone(), element);
      state.stats.inlined++;
      return inlined;
    } catch (_) {
      return shell;
    }
  }

  // The route's offline shell for a hit the origin did not answer, with the
  // record inlined as into a shell the server sent: the page paints the
  // data before its engine has booted, offline too.
  async function offlineReplay(match, verdict) {
    const shell = await offlineShell(match.route);
    return shell ? withData(shell, match, verdict) : shell;
  }

  // The route's stored shell when it can answer a navigation now
  // (shellFromCache): stored by this version (the cache is named after it)
  // and not older than shellMaxAgeMs. Null otherwise; never rejects.
  async function cachedShell(route) {
    try {
      let entry = shells.get(route.page);
      if (!entry) {
        const cache = await caches.open(c.shellCache);
        const res = await cache.match(shellKey(c, route), { ignoreVary: true, ignoreSearch: false });
        if (!res || !res.ok) return null;
        entry = { text: await res.text(), status: res.status, statusText: res.statusText,
                  headers: [...res.headers], storedAt: Number(res.headers.get(STORED_AT_HEADER)) || 0 };
        if (state.killed) return null;
        shells.set(route.page, entry);
      }
      const age = Date.now() - entry.storedAt;
      return age >= 0 && age <= c.shellMaxAgeMs ? entry : null;
    } catch (_) {
      return null;
    }
  }

  // The navigation's response made from a stored shell (a new Response: its
  // URL is the navigation's, not the one the shell was stored from).
  function responseFromShell(entry, element) {
    const headers = new Headers(entry.headers);
    headers.delete(STORED_AT_HEADER);
    headers.delete('content-length');
    headers.delete('content-encoding');
    const body = element ? insertInlineElement(entry.text, element) : entry.text;
    return new Response(body, { status: entry.status, statusText: entry.statusText, headers });
  }

  // Stores the server's shell (`res`, a clone) as the route's copy for
  // offline use and for shellFromCache, stamped with the time.
  async function storeShell(route, res) {
    const text = await res.text();
    const headers = new Headers(res.headers);
    headers.delete('content-length');
    headers.delete('content-encoding');
    const storedAt = Date.now();
    headers.set(STORED_AT_HEADER, String(storedAt));
    if (state.killed) return;  // its caches are gone: do not create one again
    const cache = await caches.open(c.shellCache);
    await cache.put(shellKey(c, route), new Response(text, { status: res.status, statusText: res.statusText, headers }));
    if (state.killed) return;
    shells.set(route.page, { text, status: res.status, statusText: res.statusText,
                             headers: [...headers], storedAt });
    state.stats.shellsStored++;
  }

  // A route's shell is the same for all its URLs: keep a fresh copy for
  // offline use, but write it at most once per SHELL_COPY_MS per worker
  // (not on every navigation, which would compete with the page's paint).
  // With shellFromCache the network path is taken only when no usable copy
  // is stored, so its shell is always stored.
  const SHELL_COPY_MS = 5 * 60 * 1000;
  const shellCopiedAt = new Map();
  function shellCopyDue(route) {
    const now = Date.now();
    const last = shellCopiedAt.get(route.page);
    if (last !== undefined && now - last < SHELL_COPY_MS) return false;
    shellCopiedAt.set(route.page, now);
    return true;
  }

  // Bypass entries (preheat:bypass) are kept BYPASS_MS and at most
  // BYPASS_MAX of them: expired ones are dropped on each new one, and past
  // the bound the oldest goes (a page asking for many URLs, or in a loop,
  // must not grow the worker's memory).
  const BYPASS_MS = 10000;
  const BYPASS_MAX = 64;
  function addBypass(href) {
    const now = Date.now();
    for (const [u, until] of state.bypass) if (until <= now) state.bypass.delete(u);
    state.bypass.delete(href);  // re-added last: the newest
    while (state.bypass.size >= BYPASS_MAX) state.bypass.delete(state.bypass.keys().next().value);
    state.bypass.set(href, now + BYPASS_MS);
  }

  async function handleNavigation(event, url, match) {
    state.stats.navigations++;
    const request = event.request;
    const bypassUntil = state.bypass.get(url.href);
    let verdict;
    let shellPromise = null;
    if (bypassUntil && bypassUntil > Date.now()) {
      state.bypass.delete(url.href);
      verdict = { usable: false, reason: 'bypass' };
    } else {
      // The stored shell is read in parallel with the IndexedDB check.
      if (c.shellFromCache) shellPromise = cachedShell(match.route);
      verdict = await check(match.dataUrl);
    }
    state.lastVerdict = { url: url.href, dataUrl: match.dataUrl, ...verdict };
    if (c.killCheckIntervalMs > 0 && Date.now() - state.lastKillCheck > c.killCheckIntervalMs) {
      event.waitUntil(checkKillUrl());
    }
    if (!verdict.usable) {
      if (verdict.reason === 'timeout') state.stats.timeouts++;
      else if (verdict.reason === 'error') state.stats.errors++;
      state.stats.misses++;
      if (!c.prefetchMissToNetwork && isPrefetch(request)) {
        state.stats.prefetchMissesRefused++;
        return Response.error();
      }
      const res = await fetch(request);
      if (isKill(c, res)) event.waitUntil(unregisterSelf('response header'));
      return res;
    }
    state.stats.hits++;
    const stored = shellPromise && await shellPromise;
    if (stored) {
      // The app shell: no request for the page; the page's engine
      // revalidates the data.
      const element = c.inlineData ? inlineDataElement(verdict.record, verdict, match.dataUrl, c) : null;
      const response = responseFromShell(stored, element);
      state.stats.cachedShells++;
      if (element) state.stats.inlined++;
      return response;
    }
    let res;
    try {
      res = await forwardWithHeader(request);
    } catch (e) {
      // The origin is unreachable: replay the route's last shell, the page
      // renders from the cache (stale-if-error).
      const shell = await offlineReplay(match, verdict);
      if (shell) return shell;
      throw e;
    }
    if (res.type === 'opaqueredirect') return res;  // the browser follows it
    if (isKill(c, res)) {
      event.waitUntil(unregisterSelf('response header'));
      return res;
    }
    const marker = (res.headers.get(c.header) || '').trim().toLowerCase();
    if (res.ok && marker === 'shell' &&
        (c.shellFromCache || (c.offlineShell && shellCopyDue(match.route)))) {
      event.waitUntil(storeShell(match.route, res.clone()).catch(() => {}));
    } else if (res.status >= 502 && res.status <= 504) {
      const shell = await offlineReplay(match, verdict);
      if (shell) return shell;
    }
    if (res.ok && marker === 'shell') return withData(res, match, verdict);
    return res;
  }

  const assetSet = new Set(c.offlineAssets.map((a) => new URL(a, sw.location.origin).href));

  // Network first; the copy precached when this version installed answers
  // only when the network fails (no per-request cache writes).
  async function handleAsset(event) {
    try {
      return await fetch(event.request);
    } catch (e) {
      const cache = await caches.open(c.shellCache);
      const hit = await cache.match(event.request.url, { ignoreVary: true });
      if (hit) return hit;
      throw e;
    }
  }

  sw.addEventListener('install', (event) => {
    state.firstInstall = !sw.registration.active;
    if (c.routeSubresourcesToNetwork && assetSet.size === 0 && typeof event.addRoutes === 'function') {
      // Requests that are not navigations go straight to the network (and
      // the HTTP cache); the fetch handler below still sees navigations.
      state.staticRoutes = 'pending';
      event.waitUntil(Promise.resolve()
        .then(() => event.addRoutes([{ condition: { not: { requestMode: 'navigate' } }, source: 'network' }]))
        .then(() => { state.staticRoutes = 'non-navigations to network'; })
        .catch((e) => { state.staticRoutes = `unsupported: ${e && e.message || e}`; }));
    }
    event.waitUntil((async () => {
      if (assetSet.size) {
        const cache = await caches.open(c.shellCache);
        // One failing asset must not fail the install, nor one that never
        // answers hold it: each is abandoned (not cached) after
        // precacheTimeoutMs, body included.
        await Promise.all([...assetSet].map(async (u) => {
          const abort = new AbortController();
          const timer = setTimeout(() => abort.abort(new Error(`precache of ${u} timed out`)),
                                   Math.min(c.precacheTimeoutMs, 2 ** 31 - 1));
          try {
            const r = await fetch(u, { cache: 'no-cache', signal: abort.signal });
            if (r.ok) await cache.put(u, r);
          } catch (_) {
            /* not cached: the asset is then network-only */
          } finally {
            clearTimeout(timer);
          }
        }));
      }
      // The worker keeps no per-page state, so a new version may take over
      // open pages at once.
      if (c.skipWaiting) await sw.skipWaiting();
    })());
  });

  sw.addEventListener('activate', (event) => {
    event.waitUntil((async () => {
      const previous = [];
      try {
        for (const name of await caches.keys()) {
          if (name.startsWith(c.cachePrefix) && name !== c.shellCache) {
            previous.push(name);
            await caches.delete(name);
          }
        }
      } catch (_) { /* ignore */ }
      // Claim uncontrolled pages only on a first install: those pages
      // were loaded as full pages and we touch only their future
      // navigations. After an update, an uncontrolled page in scope is one
      // the user loaded bypassing the worker (Shift+Reload): leave it.
      const claim = c.claim === true || (c.claim === 'auto' && state.firstInstall && previous.length === 0);
      if (claim) await sw.clients.claim();
      state.claimed = claim;
    })());
    // The kill URL is asked now but outside the event: the browser holds
    // navigations to an activating worker until the event's promises settle,
    // and one that does not answer must not hold them. Should the worker stop
    // before it answers, the next worker start asks on its first navigation.
    checkKillUrl();
  });

  sw.addEventListener('fetch', (event) => {
    if (state.killed) return;
    const request = event.request;
    if (request.method !== 'GET') return;
    let url;
    try { url = new URL(request.url); } catch (_) { return; }
    if (url.origin !== sw.location.origin) return;
    if (request.mode === 'navigate') {
      let match = null;
      try { match = routeFor(c, url); } catch (_) { match = null; }
      if (!match) return;  // not ours: the browser's default handling
      event.respondWith(handleNavigation(event, url, match).catch(() => fetch(request)));
      return;
    }
    if (assetSet.has(url.href)) event.respondWith(handleAsset(event));
  });

  sw.addEventListener('message', (event) => {
    const msg = event.data || {};
    const reply = (data) => {
      const port = event.ports && event.ports[0];
      if (port) port.postMessage(data);
      else if (event.source) event.source.postMessage(data);
    };
    if (msg.type === 'preheat:status') {
      reply({ type: 'preheat:status', version: c.version, protocol: PROTOCOL_VERSION,
              killed: state.killed, claimed: !!state.claimed, stats: { ...state.stats },
              staticRoutes: state.staticRoutes || null,
              shellFromCache: !!c.shellFromCache,
              lastVerdict: state.lastVerdict || null });
    } else if (msg.type === 'preheat:bypass') {
      // The next navigation to url is forwarded unchanged (the shell could
      // not render from the cache and reloads for a full page). A url that
      // is missing or does not parse is answered ok: false, at once.
      let href = null;
      try {
        if (typeof msg.url === 'string') href = new URL(msg.url, sw.location.origin).href;
      } catch (_) { /* answered below */ }
      if (href) addBypass(href);
      reply({ type: 'preheat:bypass', ok: !!href });
    } else if (msg.type === 'preheat:unregister') {
      event.waitUntil(unregisterSelf('message').then(() => reply({ type: 'preheat:unregister', ok: true })));
    }
  });

  return state;
}

// fetch() driver for the engine's network interface (preheat::Fetcher).
//
// The engine calls start(op, request) and cancel(op); the driver completes
// each started request exactly once, later, through
// engine.fetchDone(op, now, code, message, response).
//
// Lanes, priorities, prefetch headers, credentials, cache mode and the
// default timeout: web/README.md ("Network").

import { Code, timerDelay } from './idb-store.js';

const PRIORITY = { navigate: 'high', revalidate: 'auto', preheat: 'low' };

export class FetchDriver {
  constructor({
    fetch = globalThis.fetch && globalThis.fetch.bind(globalThis),
    credentials = 'same-origin',
    cache = 'no-store',
    prefetchHeaders = [['Sec-Purpose', 'prefetch'], ['Purpose', 'prefetch']],
  } = {}) {
    this.fetch = fetch;
    this.credentials = credentials;
    this.cache = cache;
    this.prefetchHeaders = prefetchHeaders;
    this.engine = null;
    this.inflight = new Map();  // op -> {controller, reason, timer}
    this.afterComplete = () => {};
    this.onRequest = null;  // test/diagnostic hook: (request) => void
    this.completing = null;  // the request whose completion the engine is taking
  }

  // `afterComplete(request, code)` runs after each completion was delivered.
  attach(engine, afterComplete) {
    this.engine = engine;
    if (afterComplete) this.afterComplete = afterComplete;
  }

  start(op, request) {
    // Detached (closed): nothing would take the answer.
    if (this.engine === null) return;
    const controller = new AbortController();
    const flight = { controller, reason: null, timer: null };
    this.inflight.set(op, flight);
    // The engine's 0 or less: the default.
    flight.ms = request.timeoutMs > 0 ? request.timeoutMs : 30000;
    flight.timer = setTimeout(() => {
      flight.reason = 'timeout';
      controller.abort();
    }, timerDelay(flight.ms));
    this.run(op, request, flight);
  }

  cancel(op) {
    const flight = this.inflight.get(op);
    if (!flight) return;
    flight.reason = 'cancel';
    flight.controller.abort();
  }

  // Fails every request in flight (shutting down).
  abortAll() {
    for (const op of [...this.inflight.keys()]) this.cancel(op);
  }

  async run(op, request, flight) {
    let code = Code.ok;
    let message = '';
    let response = null;
    try {
      const headers = new Headers();
      for (const [name, value] of request.headers) {
        try { headers.append(name, value); } catch (_) { /* forbidden or invalid: skip */ }
      }
      if (request.lane === 'preheat') {
        // Purpose is not CORS-safelisted: cross-origin, it would need a preflight.
        const loc = globalThis.location;
        const cors = loc && new URL(request.url, loc.href).origin !== loc.origin;
        for (const [name, value] of this.prefetchHeaders) {
          if (cors && /^purpose$/i.test(name)) continue;
          try { headers.set(name, value); } catch (_) { /* forbidden: skip */ }
        }
      }
      const init = {
        method: request.method,
        headers,
        signal: flight.controller.signal,
        credentials: this.credentials,
        cache: this.cache,
        redirect: 'follow',
        priority: PRIORITY[request.lane] || 'auto',
      };
      if (request.body && request.body.length && request.method !== 'GET' && request.method !== 'HEAD') {
        init.body = request.body;
      }
      if (this.onRequest) this.onRequest({ op, ...request });
      // The timeout and cancel() end the request even when the fetch (an
      // options.fetch that drops init.signal) or the body's stream does not
      // stop on the abort: each wait below races it.
      const aborted = new Promise((_, reject) => {
        const signal = flight.controller.signal;
        if (signal.aborted) reject(signal.reason);
        else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      });
      const res = await Promise.race([this.fetch(request.url, init), aborted]);
      const body = await readBody(res, request.maxBodyBytes, flight, aborted);
      if (body === null) {
        code = Code.tooLarge;
        message = `response body over ${request.maxBodyBytes} bytes`;
      } else {
        response = { status: res.status, headers: [...res.headers], body };
      }
    } catch (e) {
      if (flight.reason === 'cancel') {
        code = Code.cancelled;
        message = 'cancelled';
      } else if (flight.reason === 'timeout') {
        code = Code.timeout;
        message = `no response within ${flight.ms} ms`;
      } else if (e && e.name === 'TypeError' && /url|scheme/i.test(String(e.message)) &&
                 !/fetch failed/i.test(String(e.message))) {
        code = Code.invalidArgument;
        message = String(e.message);
      } else {
        code = Code.unavailable;
        message = e && e.message ? e.message : String(e);
      }
    }
    clearTimeout(flight.timer);
    this.inflight.delete(op);
    if (!this.engine) return;
    // A cancel that raced a completed response still reports kCancelled:
    // the engine was told the request is gone.
    if (flight.reason === 'cancel' && code === Code.ok) {
      code = Code.cancelled;
      message = 'cancelled';
      response = null;
    }
    this.completing = request;
    try {
      this.engine.fetchDone(op, Date.now(), code, message, response);
    } finally {
      this.completing = null;
      this.afterComplete(request, code);
    }
  }
}

// The body as a Uint8Array, or null when it exceeds `max` bytes (the
// request is then aborted). max <= 0 means no limit. Rejects when
// `aborted` (the flight's abort) does.
async function readBody(res, max, flight, aborted) {
  if (!res.body || typeof res.body.getReader !== 'function') {
    if (max > 0 && res.headers.get('content-length') > max) {
      flight.controller.abort();
      return null;
    }
    const buf = new Uint8Array(await Promise.race([res.arrayBuffer(), aborted]));
    return max > 0 && buf.length > max ? null : buf;
  }
  const reader = res.body.getReader();
  const chunks = [];
  let total = 0;
  for (;;) {
    const { done, value } = await Promise.race([reader.read(), aborted]);
    if (done) break;
    total += value.length;
    if (max > 0 && total > max) {
      flight.reason = flight.reason || 'too-large';
      try { await reader.cancel(); } catch (_) { /* ignore */ }
      flight.controller.abort();
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

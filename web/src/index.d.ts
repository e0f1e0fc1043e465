// Type declarations for the `preheat` package.

/** Status codes of the core (stable numbers; see core/include/preheat/status.h). */
export declare const Code: Readonly<{
  ok: 0; notFound: 1; invalidArgument: 2; tooLarge: 3; corrupt: 4; unavailable: 5;
  ioError: 6; limitReached: 7; cancelled: 8; timeout: 9; noSpace: 10; httpError: 11;
  internal: 12;
}>;
export type CodeNumber = (typeof Code)[keyof typeof Code];

export declare class PreheatError extends Error {
  readonly name: 'PreheatError';
  readonly code: CodeNumber;
  /** Stable lower-case name, e.g. "unavailable", "no_space". */
  readonly codeName: string;
}

export type CacheState = 'fresh' | 'stale' | 'stale-if-error' | 'revalidated' | 'miss';
export type Source = 'memory' | 'store' | 'network';
export type Lane = 'navigate' | 'revalidate' | 'preheat';
/**
 * How get() may use what the cache holds, as fetch()'s `cache` option:
 * default: the HTTP rules (fresh, stale-while-revalidate, else the network);
 * no-cache: a held entry is validated with the origin first, fresh or not;
 * reload: the network's answer (then stored), the cache not read;
 * force-cache: any held entry at any age, not revalidated, else the network;
 * only-if-cached: any held entry at any age, never the network (rejects with
 * code `not_found` when none is held);
 * no-store: the network's answer, the cache neither read nor written.
 * With no-cache, reload and no-store a failed request rejects; no stale
 * entry is served in its place.
 *
 * get()'s `headers` may carry request directives too (RFC 9111 5.2.1):
 * `Cache-Control: no-cache` (or `Pragma: no-cache`), `max-age=N`,
 * `min-fresh=N`, `max-stale[=N]`, `no-store` and `only-if-cached` apply to
 * the cache as well as being sent to the origin (see web/README.md).
 */
export type CacheMode = 'default' | 'no-cache' | 'reload' | 'force-cache' | 'only-if-cached' | 'no-store';
export type HeadersInit = Record<string, string> | Array<[string, string]> | Headers;

export interface RoutePolicy {
  /** A route pattern such as "/issues/:id" or "/api/*". */
  pattern?: string;
  maxAgeMs?: number;
  staleWhileRevalidateMs?: number;
  maxStaleMs?: number;
  /** Revalidate after every serve from the cache (except immutable responses). */
  revalidateAfterServing?: boolean;
  noStore?: boolean;
}

export interface EngineOptions {
  memoryMaxBytes?: number;
  memoryMaxEntries?: number;
  storeMaxBytes?: number;
  storeMaxEntries?: number;
  entryMaxBytes?: number;
  responseMaxBytes?: number;
  requestTimeoutMs?: number;
  writeBatchMax?: number;
  writeDelayMs?: number;
  pendingWritesMax?: number;
  /** A store hit rewrites the record's last access (for LRU eviction) only when it is at least this old (default 60000; 0: always). */
  touchIntervalMs?: number;
  storeEvictToFraction?: number;
  lanes?: Array<{ inflightMax?: number; queueMax?: number }>;
  waitersPerKeyMax?: number;
  subscribersMax?: number;
  tagHeader?: string;
  heuristicFraction?: number;
  heuristicMaxMs?: number;
  routes?: RoutePolicy[];
  defaultPolicy?: RoutePolicy;
}

export interface CacheOptions {
  /** Names the IndexedDB database ("preheat:<name>") and the cross-tab channel. */
  name?: string;
  /** Engine namespace ([A-Za-z0-9_.-]{0,64}); "" by default. createCache rejects (`invalid_argument`) any other. */
  namespace?: string;
  /** Budget of the persistent tier in bytes. */
  maxBytes?: number;
  maxEntries?: number;
  memoryMaxBytes?: number;
  memoryMaxEntries?: number;
  routes?: RoutePolicy[];
  defaultPolicy?: RoutePolicy;
  /** Response header whose comma-separated values tag entries (default "Cache-Tag"). */
  tagHeader?: string;
  requestTimeoutMs?: number;
  writeDelayMs?: number;
  /** Any other engine option. */
  engine?: EngineOptions;
  /** 'memory' forces a memory-only cache; default tries IndexedDB. */
  storage?: 'indexeddb' | 'memory';
  /** IndexedDB factory to use (default globalThis.indexedDB). */
  indexedDB?: IDBFactory;
  openTimeoutMs?: number;
  fetch?: typeof fetch;
  credentials?: RequestCredentials;
  /** Headers added to preheat-lane requests (default Sec-Purpose and Purpose: prefetch; Purpose only on same-origin URLs, see README "Network"). */
  prefetchHeaders?: Array<[string, string]>;
  /** Cross-tab BroadcastChannel sync (default true). */
  crossTab?: boolean;
  /** Decodes a body into `data` (default: JSON, text, else bytes, by content-type). */
  decode?: (body: Uint8Array, headers: Record<string, string>) => unknown;
  seed?: number;
  /** Turns on the preheater (surface/intent/navigated/visible); defaults from the core's PreheatOptions. */
  preheat?: PreheatOptions;
  /** Passed to the Emscripten module factory (e.g. locateFile). */
  moduleArgs?: Record<string, unknown>;
}

export interface PreheatOptions {
  /** Engine namespace preheats go into (default: the cache's). */
  namespace?: string;
  /** Request budget (token bucket; default 4/s, burst 8). */
  requestsPerSecond?: number;
  requestsBurst?: number;
  /** Byte budget (default 256 KiB/s, burst 1 MiB). */
  bytesPerSecond?: number;
  bytesBurst?: number;
  /** Preheats on the wire at once (default 2). */
  inflightMax?: number;
  /** Candidates waiting (default 64). */
  queueMax?: number;
  /** Preheats issued for one surface (default 12). */
  perSurfaceMax?: number;
  /** A hover held this long is intent (default 80 ms). */
  hoverIntentMs?: number;
  /** Surface candidates scoring below this are not preheated (default 0.05). */
  scoreMin?: number;
  /** A preheat not used within this long counts as wasted (default 10 min). */
  useWindowMs?: number;
  trackedMax?: number;
  /** Route patterns ("/issues/:id") the model also learns at route level. */
  routes?: string[];
  /** Sent with every preheat. */
  requestHeaders?: HeadersInit;
  /** Strong intents only; default: navigator.connection saveData or a 2G effectiveType. */
  saveData?: boolean;
}

export type IntentKind = 'hoverstart' | 'hoverend' | 'pointerdown' | 'touchstart' | 'focus';

export interface PreheatReference {
  url: string;
  /** Order of appearance on the page (default: index in the array). */
  position?: number;
  /** Carried a data-preheat hint. */
  hinted?: boolean;
}

export interface PreheatStats {
  candidates: number; issued: number; skipped_cached: number; skipped_low_score: number;
  skipped_save_data: number; dropped_left_surface: number; dropped_queue_full: number;
  dropped_budget: number; breaker_blocked: number; failures: number; fetched: number;
  used: number; evicted_unused: number; wasted_bytes: number; fetched_bytes: number;
  used_bytes: number; breaker: string; breaker_opened: number; queued: number;
  inflight: number; save_data: boolean; model_pages: number;
  /** Preheats awaiting use or expiry (at most tracked_max). */
  tracked: number;
  [metric: string]: unknown;
}

export interface CacheResult<T = unknown> {
  data: T;
  state: CacheState;
  source: Source;
  /** Current age in milliseconds. */
  age: number;
  status: number;
  /** Lower-case header names; repeated fields joined with ", ". */
  headers: Record<string, string>;
  /** The body bytes (read-only; may be a view into a larger buffer: mind byteOffset). */
  body: Uint8Array;
  url: string;
  key: string;
  tags: string[];
  stored: boolean;
  revalidating: boolean;
  bodyHash: string;
}

export interface GetResult<T = unknown> extends CacheResult<T> {
  /**
   * Settles when the background revalidation this get started is over:
   * the new result when the entry changed, else null (unchanged, failed,
   * or no revalidation started).
   */
  revalidation: Promise<CacheResult<T> | null>;
}

export type InvalidateSelector =
  | { url: string } | { key: string } | { prefix: string } | { tag: string } | { all: true };

export interface MutateOptions {
  /** The write sent to the origin; default { method: 'PATCH', url, body: value }. */
  write?: { method?: string; url?: string; headers?: HeadersInit; body?: unknown };
  /** Headers of the optimistic entry. */
  headers?: HeadersInit;
  status?: number;
  contentType?: string;
  /** When to restore the previous entry: on a network error or non-2xx status. */
  rollbackOn?: 'failure';
}

export interface StorageStats {
  kind: 'indexeddb' | 'memory';
  persistent: boolean;
  /** Why the cache is memory-only, or null. */
  reason: string | null;
  /** Times a QuotaExceededError made the store evict and retry. */
  quotaEvictions: number;
  /**
   * Why the IndexedDB connection went away (the database was deleted or
   * upgraded by another tab, or closed by the browser), until the next
   * store operation opens it again; null while connected.
   */
  lost: string | null;
  /** Times the database was opened again (re-created after a deletion) after being lost. */
  reconnects: number;
}

/** `detail` of a cache's 'storagechange' event. */
export interface StorageChangeDetail {
  /**
   * lost: the connection went away (see StorageStats.lost); reconnected:
   * the database is open again (re-created when it was deleted);
   * reconnect-failed, write-failed, remove-failed (an invalidation's or a
   * clear's removal): what it says; memory-only: the cache stopped
   * persisting (StorageStats.reason says why).
   */
  type: 'lost' | 'reconnected' | 'reconnect-failed' | 'write-failed' | 'remove-failed' | 'memory-only';
  reason: string | null;
  storage: StorageStats;
}

export interface StorageChangeEvent extends Event {
  readonly detail: StorageChangeDetail;
}

export interface CacheStats {
  gets: number; memory_hits: number; store_hits: number; misses: number;
  peeks: number; peek_hits: number;
  fresh_served: number; stale_served: number; stale_if_error_served: number;
  revalidated_served: number; coalesced: number;
  revalidations: number; not_modified: number; revalidations_changed: number;
  notifications: number; requests: number; network_errors: number; http_errors: number;
  store_degraded: boolean; store_degraded_reason: string;
  memory: { bytes: number; entries: number; evictions: number };
  /**
   * The store's totals as it last reported them (after each write batch and
   * eviction). Right after createCache they are 0 until the start-up check
   * answers, a moment later; reads do not wait for that check.
   */
  store: { bytes: number; entries: number; pending_writes: number };
  hit_ratio: number;
  [metric: string]: unknown;
  storage: StorageStats;
  inflight: Record<Lane, number>;
  /**
   * Cold get()s answered from their IndexedDB record before the engine saw
   * it (fresh, plain gets; the engine completes the read right after).
   */
  recordAnswers: number;
}

export interface Cache {
  readonly name: string;
  readonly namespace: string;
  /** Synchronous memory-tier read; null when nothing usable is in memory. */
  peek<T = unknown>(url: string, options?: { headers?: HeadersInit }): CacheResult<T> | null;
  /**
   * Memory, else IndexedDB, else network; serves stale and revalidates in the background.
   * Rejects (never throws) for a URL that is not one or an unknown `cache` mode (code
   * `invalid_argument`).
   */
  get<T = unknown>(url: string, options?: { headers?: HeadersInit; lane?: Lane; cache?: CacheMode }): Promise<GetResult<T>>;
  /**
   * Fetches URLs at the lowest priority unless cached or in flight (strings that are not URLs
   * are skipped); resolves with how many were answered by the network (those answered before
   * a close(), when the cache closes first).
   */
  preheat(urls: string | string[], options?: { headers?: HeadersInit }): Promise<number>;
  /**
   * Calls fn whenever the entry changes (revalidation, mutation, rollback,
   * another tab's update); with null when a rolled-back write leaves no
   * entry. Returns unsubscribe.
   */
  subscribe<T = unknown>(url: string, fn: (result: CacheResult<T> | null) => void): () => void;
  /**
   * Marks matching entries stale (default) or removes them, in every tab. Returns memory matches.
   * IndexedDB's removal of stored matches finishes later: `flush()` waits for it.
   */
  invalidate(selector: InvalidateSelector, options?: { mode?: 'stale' | 'remove' }): number;
  /** Optimistic update with rollback on failure; rejects with `cancelled` when the cache closes first. */
  mutate(url: string, value: unknown, options?: MutateOptions): Promise<void>;
  /**
   * Removes every entry of the namespace, in every tab. Memory forgets at once; resolves when
   * IndexedDB no longer holds them (await it before a logout navigates away). When the engine's
   * removal fails (every attempt, or the store was degraded already), the namespace's records are
   * removed once more directly; when that fails too, the database is deleted (every namespace)
   * and the cache goes memory-only; rejects with the store's error only if that fails as well.
   */
  clear(): Promise<void>;
  /**
   * Writes pending writes to IndexedDB now; resolves when they, and the removals of `invalidate`
   * and `clear` called before, are done. Rejects with the store's error when one failed.
   */
  flush(): Promise<void>;
  /** 'storagechange': the persistent tier's state changed (see StorageChangeDetail). */
  addEventListener(type: 'storagechange', listener: (event: StorageChangeEvent) => void,
                   options?: boolean | AddEventListenerOptions): void;
  removeEventListener(type: 'storagechange', listener: (event: StorageChangeEvent) => void,
                      options?: boolean | EventListenerOptions): void;
  stats(): CacheStats;
  /**
   * Flushes, then closes; a get() or mutate() still unanswered rejects with code `cancelled`,
   * a preheat() resolves. Calling it again returns the same promise. Once closed, get(),
   * mutate(), preheat(), clear() and flush() reject with code `unavailable`; the other
   * methods throw it.
   */
  close(): Promise<void>;
  // The preheater (no-ops unless created with `preheat` options).
  /** The user is on pageUrl, whose references are refs; the best uncached ones are preheated. */
  surface(pageUrl: string, refs: Array<string | PreheatReference>): void;
  intent(url: string, kind: IntentKind): void;
  navigated(from: string | null, to: string): void;
  visible(url: string, visible: boolean): void;
  setSaveData(on: boolean): void;
  /** The preheater's counters, or null without a preheater. */
  preheatStats(): PreheatStats | null;
}

/**
 * Reports pointer/touch/focus intent towards same-origin links under root
 * (delegated listeners) and their visibility (IntersectionObserver) to
 * cache.intent / cache.visible. Returns stop().
 */
export declare function watchIntent(
  cache: Pick<Cache, 'intent' | 'visible'>,
  options?: { root?: Document | Element; selector?: string },
): () => void;

export declare function createCache(options?: CacheOptions): Promise<Cache>;

/** Default body decoder. */
export declare function decodeBody(body: Uint8Array, headers: Record<string, string>): unknown;

/** Builds a cache on an already loaded module factory (e.g. the CommonJS build in Node). */
export declare function createCacheWith(
  factory: (moduleArgs: Record<string, unknown>) => Promise<unknown>,
  options?: CacheOptions,
): Promise<Cache>;

export declare class IdbStore {
  static open(name: string, options?: { indexedDB?: IDBFactory; timeoutMs?: number }): Promise<IdbStore>;
  readonly name: string;
  readonly quotaEvictions: number;
  /** See StorageStats.lost. */
  readonly lost: string | null;
  readonly reconnects: number;
  close(): void;
}

export declare class FetchDriver {
  constructor(options?: {
    fetch?: typeof fetch;
    credentials?: RequestCredentials;
    cache?: RequestCache;
    prefetchHeaders?: Array<[string, string]>;
  });
}

// ---- service worker (preheat/sw) and its page helpers (preheat/sw-register) ----
// See web/PROTOCOL.md.

export interface PreheatWorkerRoute {
  /** Page route pattern, e.g. "/issues/:id". */
  page: string;
  /** Data route pattern ("/api/issues/:id") or a function of the page URL and its params. */
  data: string | ((url: URL, params: Record<string, string>) => string | null);
  /** Append the page's query string to the data URL (pattern form only). */
  query?: boolean;
}

export interface PreheatWorkerConfig {
  /** Change on every deploy. */
  version?: string;
  /** The page's createCache({ name }): database "preheat:<name>". */
  name?: string;
  namespace?: string;
  routes: PreheatWorkerRoute[];
  /** The page's createCache({ routes }) policies (matched against data URLs). */
  policies?: RoutePolicy[];
  defaultPolicy?: RoutePolicy;
  /** Request header sent on a hit (value "hit"); default "Preheat-Cache". */
  header?: string;
  /** Time limit of the cache check in ms (default 150). */
  timeoutMs?: number;
  /** Response header whose value "unregister" kills the worker (default "Preheat-Worker"). */
  killHeader?: string;
  /** Kill URL: 410 (or the kill header) unregisters; default "/.well-known/preheat-worker"; null: off. */
  killUrl?: string | null;
  killCheckIntervalMs?: number;
  /** Keep each route's last shell and replay it when the origin is unreachable (default true). */
  offlineShell?: boolean;
  /** Same-origin URLs precached at install and served from cache when the network fails. */
  offlineAssets?: string[];
  /** Each offlineAsset not precached within this many ms is skipped, not waited for (default 60 s). */
  precacheTimeoutMs?: number;
  /** Default true: the worker keeps no per-page state. */
  skipWaiting?: boolean;
  /** 'auto' (default): claim on the first install only. */
  claim?: 'auto' | boolean;
  /**
   * Put the cached record into the thin shell as
   * `<script type="application/json" id={inlineId}>` (replacing a
   * `<!--preheat-data-->` comment) so the page paints before the engine
   * boots; see web/PROTOCOL.md. Default false.
   */
  inlineData?: boolean;
  /** Largest JSON body inlined (default 256 KiB). */
  inlineMaxBytes?: number;
  /** Id of the inlined element (default "preheat-data"). */
  inlineId?: string;
  /**
   * The "app shell" pattern. When the page's data is usable, answer the
   * navigation at once from the route's shell stored in Cache Storage (with
   * the record inlined when `inlineData` is on) instead of asking the server:
   * the server sees no request for the page, the page's engine revalidates
   * the data. The stored shell belongs to this `version` (a deploy that
   * changes it never serves an older shell); without one (first hit after
   * install or deploy) or past `shellMaxAgeMs`, the navigation goes to the
   * server as usual and its shell is stored. Misses, bypass and the kill
   * switch are unchanged; see web/PROTOCOL.md. Default false.
   */
  shellFromCache?: boolean;
  /** Oldest stored shell served by `shellFromCache`, in ms (default 24 h). */
  shellMaxAgeMs?: number;
  /**
   * A speculative prefetch of a document (`Sec-Purpose: prefetch`, e.g.
   * Speculation Rules) without a usable record goes to the server like its
   * navigation would (default true). False answers it with a network error:
   * the browser drops the prefetch, the click navigates as usual, and the
   * server renders no full page for a prefetch. Counted in
   * `stats.prefetchMissesRefused`.
   */
  prefetchMissToNetwork?: boolean;
  /**
   * Route everything but navigations to the network without waking the
   * worker (InstallEvent.addRoutes, where supported). Default true; off when
   * offlineAssets are given.
   */
  routeSubresourcesToNetwork?: boolean;
  /**
   * Heuristic freshness of responses with Last-Modified and no explicit
   * lifetime, as the page's createCache options of the same names (default
   * 0.1 of the Last-Modified age, at most 24 h): set both alike.
   */
  heuristicFraction?: number;
  heuristicMaxMs?: number;
}

export interface PreheatWorkerVerdict {
  usable: boolean;
  state?: 'fresh' | 'stale' | 'stale-if-error';
  reason?: string;
  staleMs?: number;
}

export interface PreheatWorkerStatus {
  type: 'preheat:status';
  version: string;
  protocol: number;
  killed: boolean;
  claimed: boolean;
  stats: { navigations: number; hits: number; misses: number; timeouts: number; errors: number;
           offlineShells: number; inlined: number;
           /** Navigations answered from a stored shell (shellFromCache). */
           cachedShells: number;
           /** Shells stored in Cache Storage by this worker. */
           shellsStored: number;
           /** Document prefetches refused a network request (prefetchMissToNetwork: false). */
           prefetchMissesRefused: number };
  /** Outcome of routeSubresourcesToNetwork: 'pending', 'non-navigations to network', 'unsupported: ...', or null. */
  staticRoutes: string | null;
  /** The worker's `shellFromCache` option. */
  shellFromCache: boolean;
  lastVerdict: (PreheatWorkerVerdict & { url: string; dataUrl: string }) | null;
}

// The functions of preheat/sw and preheat/sw-register are declared in
// sw.d.ts and sw-register.d.ts (this module does not export them).

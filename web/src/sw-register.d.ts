// Types of preheat/sw-register (sw-register.js): the page side of the
// service worker. The shared interfaces are in index.d.ts.
import type { PreheatWorkerStatus } from './index.js';

export type { PreheatWorkerStatus } from './index.js';

/** Page side: registers the worker (after load, unless the kill switch is on). */
export declare function registerPreheatWorker(scriptUrl: string, options?: {
  routes?: Array<string | { page: string }>;
  scope?: string;
  type?: WorkerType;
  killUrl?: string | null;
  killHeader?: string;
  /**
   * While this worker is registered and controls the page, the kill URL is
   * asked at most this often (default 5 min, the worker's own interval)
   * rather than on every page load; 0: on every page load.
   */
  killCheckIntervalMs?: number;
  /** How long the kill URL is waited for (default 10 s); then the worker is registered. */
  killCheckTimeoutMs?: number;
  waitForLoad?: boolean;
  onError?: (error: unknown) => void;
}): Promise<ServiceWorkerRegistration | null>;
export declare function unregisterPreheatWorker(scriptUrl?: string | null): Promise<number>;
export declare function preheatWorkerStatus(timeoutMs?: number): Promise<PreheatWorkerStatus | null>;
/** Whether this document is a thin shell (<meta name="preheat-shell">). */
export declare function isShell(doc?: Document): boolean;
/** Reload once as a full page (the worker skips the header for that navigation). */
export declare function reloadWithoutShell(url?: string): Promise<boolean>;
/** The narrowest service worker scope covering the page routes (as sw.js computes it). */
export declare function scopeForRoutes(routes: Array<string | { page: string }>): string;

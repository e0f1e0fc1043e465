// Types of preheat/sw (sw.js): the service worker side. The shared
// interfaces are in index.d.ts.
import type { PreheatWorkerConfig } from './index.js';

export type { PreheatWorkerConfig, PreheatWorkerRoute, PreheatWorkerStatus, PreheatWorkerVerdict } from './index.js';

/** In the app's service worker module: installs the fetch/install/activate/message handlers. */
export declare function installPreheatWorker(config: PreheatWorkerConfig): unknown;
export declare const PROTOCOL_VERSION: number;
/** The narrowest service worker scope covering the page routes. */
export declare function scopeForRoutes(routes: Array<string | { page: string }>): string;
export declare function cacheKeyFor(url: string, namespace?: string): string;

// Pointer, touch and focus intent towards same-origin links, reported to a
// cache created with { preheat: {...} } (cache.intent / cache.visible).
//
//   import { createCache, watchIntent } from 'preheat';
//   const stop = watchIntent(cache);   // delegated listeners on document

function linkOf(target, selector, root) {
  const el = target && typeof target.closest === 'function' ? target.closest(selector) : null;
  if (!el || (root.contains && root !== el && !root.contains(el))) return null;
  const href = el.href;
  if (typeof href !== 'string' || !href) return null;  // SVG <a> etc.
  let url;
  try {
    url = new URL(href, document.baseURI);
  } catch (_) {
    return null;
  }
  if (url.origin !== location.origin || el.hasAttribute('download')) return null;
  // The opt-outs the HTML reference extractor honours too (references.h):
  // data-preheat="false" or "0", rel="nofollow".
  const hint = el.getAttribute('data-preheat');
  if (hint === 'false' || hint === '0') return null;
  if (/(^|\s)nofollow(\s|$)/i.test(el.getAttribute('rel') || '')) return null;
  url.hash = '';
  return { el, url: url.href };
}

/**
 * Watches links under `root` matching `selector`: pointerover/pointerout
 * (hoverstart/hoverend), pointerdown, touchstart and focusin become
 * cache.intent(); an IntersectionObserver reports cache.visible(). Returns
 * stop().
 */
export function watchIntent(cache, { root = document, selector = 'a[href]' } = {}) {
  const opts = { capture: true, passive: true };
  const report = (url, kind) => {
    try {
      cache.intent(url, kind);
    } catch (_) { /* closed cache */ }
  };
  const on = (kind) => (ev) => {
    // A secondary button (the context menu) or the back/forward buttons
    // press no link; the middle one opens it in another tab, which shares
    // the store.
    if (kind === 'pointerdown' && ev.button > 1) return;
    const link = linkOf(ev.target, selector, root);
    if (!link) return;
    // pointerover/pointerout also fire when moving between a link's children.
    if ((kind === 'hoverstart' || kind === 'hoverend') && ev.relatedTarget &&
        link.el.contains(ev.relatedTarget)) return;
    report(link.url, kind);
  };
  const handlers = {
    pointerover: on('hoverstart'),
    pointerout: on('hoverend'),
    pointerdown: on('pointerdown'),
    touchstart: on('touchstart'),
    focusin: on('focus'),
  };
  for (const [type, fn] of Object.entries(handlers)) root.addEventListener(type, fn, opts);

  let observer = null;
  let mutations = null;
  if (typeof IntersectionObserver === 'function') {
    const observed = new WeakSet();
    observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const link = linkOf(e.target, selector, e.target);
        if (!link) continue;
        try {
          cache.visible(link.url, e.isIntersecting);
        } catch (_) { /* closed cache */ }
      }
    });
    const scan = (node) => {
      if (!node || typeof node.querySelectorAll !== 'function') return;
      if (node.matches && node.matches(selector) && !observed.has(node)) {
        observed.add(node);
        observer.observe(node);
      }
      for (const el of node.querySelectorAll(selector)) {
        if (!observed.has(el)) {
          observed.add(el);
          observer.observe(el);
        }
      }
    };
    scan(root);
    if (typeof MutationObserver === 'function') {
      mutations = new MutationObserver((records) => {
        for (const r of records) for (const n of r.addedNodes) scan(n);
      });
      mutations.observe(root === document ? document.documentElement : root,
                        { childList: true, subtree: true });
    }
  }

  return function stop() {
    for (const [type, fn] of Object.entries(handlers)) root.removeEventListener(type, fn, opts);
    if (observer) observer.disconnect();
    if (mutations) mutations.disconnect();
  };
}

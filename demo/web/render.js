// The demo's page rendering, as a classic script (not a module): the server's
// layout loads it in <head> for every page, so the thin shell can paint from
// the data its service worker inlined while the document is still being
// parsed, before any module (app.js, the package, the WebAssembly engine)
// has loaded. app.js uses the same functions through window.DemoRender.
//
// The shell's body ends with the preheat-data marker comment and an inline
// script calling DemoRender.boot('/app.js'); the worker (web/src/sw.js,
// `inlineData`) replaces the marker with a JSON script element
// (id="preheat-data", data-url, data-state) holding the cached API answer
// for the page. The server inlines this file into the shell (so it must
// never contain an HTML comment opener or a script end tag). boot() calls
// paintInline(), which renders that data into <main id="app"> at once and
// leaves window.__demoInline for app.js:
//   { url, state, text, renderedAt, painted: Promise<time of the frame after> }
// and starts app.js only after that frame (the shell has no module script
// of its own: nothing else is requested, parsed or compiled before it).
(function () {
  'use strict';
  // When the document's <head> ran this (a phase of hard navigations).
  window.__demoHeadAt = performance.now();

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => (
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

  // Escapes text and links "#123" references (as the server's LinkRefs).
  function linkRefs(text) {
    return esc(text).replace(/(^|[^A-Za-z0-9])#(\d{1,9})/g,
      (m, pre, id) => `${pre}<a class="ref" href="/issues/${id}">#${id}</a>`)
      .split('\n\n').join('</p><p>');
  }

  function renderRepos(d) {
    return '<h1>Repositories</h1><ul>' + d.repos.map((r) =>
      `<li><a href="/repos/${esc(r.name)}/issues?page=1">${esc(r.name)}</a> (${r.issues} issues)</li>`)
      .join('') + '</ul>';
  }

  function renderList(d) {
    let html = `<h1>${esc(d.repo)} issues</h1><ol>`;
    for (const i of d.issues) {
      html += `<li class="${esc(i.state)}"><a href="/issues/${i.id}">${esc(i.title)}</a> #${i.id}` +
              ` by ${esc(i.author)}, ${i.comments} comments</li>`;
    }
    html += '</ol><nav>';
    if (d.page > 1) html += `<a rel="prev" href="/repos/${esc(d.repo)}/issues?page=${d.page - 1}">Previous</a> `;
    if (d.page < d.pages) html += `<a rel="next" href="/repos/${esc(d.repo)}/issues?page=${d.page + 1}">Next</a>`;
    return html + `</nav><p class="meta">page ${d.page} of ${d.pages}</p>`;
  }

  function renderIssue(d) {
    let html = `<h1><span class="title">${esc(d.title)}</span> <span>#${d.id}</span></h1>` +
      `<p class="meta">${esc(d.state)}, opened by ${esc(d.author)} in ` +
      `<a href="/repos/${esc(d.repo)}/issues?page=1">${esc(d.repo)}</a>` +
      ` <button type="button" class="edit" data-id="${d.id}">Edit title</button></p>` +
      `<article><p>${linkRefs(d.body)}</p></article>`;
    for (const c of d.comments) {
      html += `<section class="comment"><h2>${esc(c.author)}</h2><p>${linkRefs(c.body)}</p></section>`;
    }
    return html;
  }

  // `kind`: 'repos' | 'list' | 'issue'; result: { data, source, state, bodyHash }.
  function render(kind, result) {
    const main = document.getElementById('app');
    const d = result.data;
    main.innerHTML = kind === 'repos' ? renderRepos(d) : kind === 'list' ? renderList(d) : renderIssue(d);
    main.dataset.kind = kind;
    main.dataset.source = result.source;
    main.dataset.state = result.state;
    main.dataset.hash = result.bodyHash || '';
    main.removeAttribute('aria-busy');
    document.title = kind === 'issue' ? `${d.title} #${d.id}`
      : kind === 'list' ? `${d.repo} issues` : 'Repositories';
  }

  // The API path a page path renders (config.js routeOf, for the paths the
  // shell is sent for); null otherwise.
  function dataPathOf(pathname, search) {
    if (pathname === '/') return { kind: 'repos', path: '/api/repos' };
    let m = /^\/repos\/([a-z0-9-]+)\/issues$/.exec(pathname);
    if (m) {
      const page = Number(new URLSearchParams(search).get('page') || '1') || 1;
      return { kind: 'list', path: `/api/repos/${m[1]}/issues?page=${page}` };
    }
    m = /^\/issues\/(\d+)$/.exec(pathname);
    return m ? { kind: 'issue', path: `/api/issues/${m[1]}` } : null;
  }

  // Resolves with the time of the frame after the current one: what was
  // rendered is on screen.
  function painted() {
    return new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0)));
  }

  // Paints the shell from the worker's inlined data; no-op without it, or
  // when it is not this page's data or not usable.
  function paintInline() {
    try {
      const el = document.getElementById('preheat-data');
      const main = document.getElementById('app');
      if (!el || !main || window.__demoInline) return;
      const want = dataPathOf(location.pathname, location.search);
      if (!want) return;
      if (new URL(el.dataset.url, location.href).href !== new URL(want.path, location.href).href) return;
      if (localStorage.getItem('demo:mode') === '"none"') return;  // no cache: the worker is going
      const data = JSON.parse(el.textContent);
      if (data === null || typeof data !== 'object') return;
      const state = el.dataset.state || 'stale';
      render(want.kind, { data, source: 'store', state });
      const renderedAt = performance.now();
      const paintedAt = painted().then((t) => {
        performance.mark('demo:content');
        return t;
      });
      window.__demoInline = {
        url: el.dataset.url, kind: want.kind, state, text: JSON.stringify(data), renderedAt,
        painted: paintedAt,
      };
    } catch (e) {
      window.__demoInline = null;  // app.js renders through the engine
    }
  }

  // The shell's boot: paints the inlined data (if any), then starts the app
  // module after the frame that showed it (at once when nothing was painted).
  function boot(appUrl) {
    paintInline();
    const start = () => { import(appUrl); };
    if (window.__demoInline) window.__demoInline.painted.then(start, start);
    else start();
  }

  window.DemoRender = { esc, linkRefs, render, painted, paintInline, dataPathOf, boot };
})();

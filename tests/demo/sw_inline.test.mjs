// The service worker's inline-data step (web/src/sw.js, `inlineData`): which
// records are inlined into the thin shell, and how (Node, no browser).
//   node tests/demo/sw_inline.test.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { inlineDataElement, insertInlineElement } = await import(pathToFileURL(path.join(here, '..', '..', 'web', 'src', 'sw.js')).href);

const enc = new TextEncoder();
const record = (body, type = 'application/json') => ({
  status: 200, headers: type ? [['content-type', type]] : [], body: enc.encode(body), responseTime: 1234,
});
const opts = { inlineMaxBytes: 64, inlineId: 'preheat-data' };
const stale = { usable: true, state: 'stale' };

// A JSON body becomes a JSON script element; "<" cannot end it early.
const el = inlineDataElement(record('{"t":"</script><!--x"}'), stale, 'http://o/api/issues/1?a=1&b="2"', opts);
assert.ok(el.startsWith('<script type="application/json" id="preheat-data" data-url="http://o/api/issues/1?a=1&amp;b=&quot;2&quot;"'));
assert.ok(el.includes(' data-state="stale" data-response-time="1234">'));
assert.ok(el.endsWith('</script>'));
const inner = el.slice(el.indexOf('>') + 1, -'</script>'.length);
assert.ok(!inner.includes('<'));
assert.deepEqual(JSON.parse(inner), { t: '</script><!--x' });

// Not inlined: not JSON, no type, too large, not UTF-8, no record.
assert.equal(inlineDataElement(record('<p>hi</p>', 'text/html'), stale, 'http://o/x', opts), null);
assert.equal(inlineDataElement(record('{}', null), stale, 'http://o/x', opts), null);
assert.equal(inlineDataElement(record(`{"a":"${'x'.repeat(80)}"}`), stale, 'http://o/x', opts), null);
const bad = record('{}');
bad.body = new Uint8Array([0x7b, 0xff, 0x7d]);
assert.equal(inlineDataElement(bad, stale, 'http://o/x', opts), null);
assert.equal(inlineDataElement(null, stale, 'http://o/x', opts), null);
// JSON variants count.
assert.ok(inlineDataElement(record('{}', 'application/problem+json; charset=utf-8'), stale, 'http://o/x', opts));

// Where the element goes: the marker, else before </body>, else appended
// (the same for a server's shell and for a stored one, shellFromCache).
assert.equal(insertInlineElement('<main></main><!--preheat-data--><script>p()</script></body>', '<E>'),
             '<main></main><E><script>p()</script></body>');
assert.equal(insertInlineElement('<main></main></body></html>', '<E>'), '<main></main><E></body></html>');
assert.equal(insertInlineElement('<main></main>', '<E>'), '<main></main><E>');

console.log('sw inline: ok');

// Copies a JavaScript module without its comments: the files of the npm
// package (web/src keeps them; what an app downloads does not need them).
// The copy must parse to the same syntax tree as the source, else this
// fails: nothing but comments and the lines they stood on may go.
// Usage: node strip_js_comments.cjs IN OUT (with acorn on NODE_PATH, as
// the wasm build has it for emcc).
'use strict';
const fs = require('fs');
const path = require('path');

let acorn;
try {
  acorn = require('acorn');
} catch (e) {
  console.error('strip_js_comments: acorn not found (NODE_PATH=/usr/share/nodejs, Debian node-acorn)');
  process.exit(1);
}

const [inPath, outPath] = process.argv.slice(2);
if (!inPath || !outPath) {
  console.error('usage: node strip_js_comments.cjs IN OUT');
  process.exit(2);
}
const src = fs.readFileSync(inPath, 'utf8');
const options = { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true };
const comments = [];
const tree = acorn.parse(src, { ...options, onComment: comments });

const blank = (ch) => ch === ' ' || ch === '\t';
let out = '';
let at = 0;
for (const c of comments) {
  let start = c.start;
  let end = c.end;
  const lineStart = src.lastIndexOf('\n', start - 1) + 1;
  const alone = /^[ \t]*$/.test(src.slice(Math.max(lineStart, at), start)) && lineStart >= at &&
                (end === src.length || src[end] === '\n');
  if (alone) {
    // The comment's whole line(s) go, with their newline.
    start = lineStart;
    end = Math.min(end + 1, src.length);
    out += src.slice(at, start);
  } else {
    while (start > at && blank(src[start - 1])) start--;
    out += src.slice(at, start);
    // Never join two tokens: a space where the comment separated them.
    const before = out[out.length - 1];
    const after = src[end];
    if (before !== undefined && after !== undefined && !/\s/.test(before) && !/\s/.test(after)) out += ' ';
  }
  at = end;
}
out += src.slice(at);

const shape = (t) => JSON.stringify(t, (k, v) => (k === 'start' || k === 'end' ? undefined : v));
if (shape(acorn.parse(out, options)) !== shape(tree)) {
  console.error(`strip_js_comments: ${inPath}: the copy's syntax tree differs from the source's`);
  process.exit(1);
}
fs.mkdirSync(path.dirname(outPath), { recursive: true });
fs.writeFileSync(outPath, out);

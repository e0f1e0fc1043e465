// The page-side helpers of the service worker (web/src/sw-register.js) that
// need no browser: the messages to the controlling worker (ask), against a
// stand-in controller. Node only: no browser, no module.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const register = await import(pathToFileURL(path.join(here, '..', '..', 'web', 'src', 'sw-register.js')).href);

const sleep = (ms) => new Promise((f) => setTimeout(f, ms));

// A controlling worker that answers each message `replyAfterMs` later (never
// when null) on the port it was sent; `closed` counts the ports whose
// channel the page closed.
function controller({ replyAfterMs = null } = {}) {
  const ctl = {
    scriptURL: 'https://app.test/sw.js',
    ports: [],
    closed: 0,
    postMessage(message, transfer) {
      const port = transfer[0];
      ctl.ports.push(port);
      port.once('close', () => { ctl.closed++; });
      if (replyAfterMs !== null) {
        setTimeout(() => port.postMessage({ type: message.type, ok: true }), replyAfterMs);
      }
    },
  };
  return ctl;
}

function withController(ctl, fn) {
  globalThis.navigator = { serviceWorker: { controller: ctl } };
  return Promise.resolve().then(fn).finally(() => { delete globalThis.navigator; });
}

// setTimeout takes a signed 32-bit delay and fires a longer one at once: a
// status asked with a timeout of 2^31 ms or more (or Infinity) came back null
// before the worker could answer.
test('a status timeout of 2^31 ms or more still waits for the answer', async () => {
  for (const timeoutMs of [2 ** 31, 2 ** 40, Infinity]) {
    const ctl = controller({ replyAfterMs: 50 });
    const status = await withController(ctl, () => register.preheatWorkerStatus(timeoutMs));
    assert.deepEqual(status, { type: 'preheat:status', ok: true }, `timeout ${timeoutMs}`);
  }
});

// The port was left open after a timeout, its handler kept: one channel
// held per unanswered message for the life of the page.
test('a status that timed out closes its message channel', async () => {
  const ctl = controller();
  const status = await withController(ctl, () => register.preheatWorkerStatus(10));
  assert.equal(status, null);
  assert.equal(ctl.ports.length, 1);
  // Closing one end of a channel closes the other: the worker's end sees it.
  for (let i = 0; i < 500 && ctl.closed === 0; i++) await sleep(10);
  assert.equal(ctl.closed, 1);
});

test('an answered status closes its message channel too', async () => {
  const ctl = controller({ replyAfterMs: 0 });
  const status = await withController(ctl, () => register.preheatWorkerStatus(5000));
  assert.deepEqual(status, { type: 'preheat:status', ok: true });
  for (let i = 0; i < 500 && ctl.closed === 0; i++) await sleep(10);
  assert.equal(ctl.closed, 1);
});

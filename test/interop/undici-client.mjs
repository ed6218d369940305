// Node's built-in WebSocket (undici) driven by test/interop/undici.test.ts: the same line protocol
// as test/interop/python/client.py (see test/interop/scripted.ts). Plain JavaScript, so that it
// runs on the Node under test without a loader.
// Usage: node [--experimental-websocket] undici-client.mjs URL
import { createHash, randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

const ws = new WebSocket(process.argv[2]);
ws.binaryType = 'arraybuffer';
const messages = [];
const waiting = [];
let closeEvent = null;
let opened = false;
const closeWaiters = [];

function describe(data) {
  if (typeof data === 'string') {
    const bytes = Buffer.from(data, 'utf8');
    return bytes.length <= 4096
      ? { ok: 'message', type: 'text', data }
      : { ok: 'message', type: 'text', size: bytes.length, sha256: sha256(bytes) };
  }
  const bytes = Buffer.from(data);
  const out = { ok: 'message', type: 'binary', size: bytes.length, sha256: sha256(bytes) };
  if (bytes.length <= 4096) out.hex = bytes.toString('hex');
  return out;
}

// WHATWG close event: the code and reason of the peer's close frame (1005 without a code, 1006 when
// there was no closing handshake), wasClean for a completed one.
const closed = () => ({ ok: 'closed', received: { code: closeEvent.code, reason: closeEvent.reason }, wasClean: closeEvent.wasClean });
const whenClosed = () => (closeEvent !== null ? Promise.resolve() : new Promise((resolve) => closeWaiters.push(resolve)));

ws.addEventListener('message', (event) => {
  const waiter = waiting.shift();
  if (waiter !== undefined) waiter(event.data);
  else messages.push(event.data);
});
ws.addEventListener('close', (event) => {
  closeEvent = event;
  for (const waiter of waiting.splice(0)) waiter(null);
  for (const resolve of closeWaiters.splice(0)) resolve();
});
ws.addEventListener('error', () => {
  // A close event follows every error event (WHATWG "fail the WebSocket connection").
});

// send() has no completion signal; a sent message is answered at once, as the browser API allows.
async function run(command) {
  switch (command.op) {
    case 'text':
      ws.send(command.data.repeat(command.repeat ?? 1));
      return { ok: 'sent' };
    case 'binary':
      ws.send(Buffer.from(command.hex, 'hex'));
      return { ok: 'sent' };
    case 'random': {
      const data = randomBytes(command.size);
      ws.send(data);
      return { ok: 'sent', size: data.length, sha256: sha256(data) };
    }
    case 'recv': {
      const data = messages.length > 0 ? messages.shift() : closeEvent !== null ? null : await new Promise((resolve) => waiting.push(resolve));
      return data === null ? closed() : describe(data);
    }
    case 'close':
      ws.close(command.code, command.reason);
      await whenClosed();
      return closed();
    case 'wait_closed':
      await whenClosed();
      return closed();
    default:
      return { error: `unsupported op ${command.op}` };
  }
}

ws.addEventListener('open', () => {
  opened = true;
  emit({ ok: 'open', extensions: ws.extensions });
  let chain = Promise.resolve();
  createInterface({ input: process.stdin }).on('line', (line) => {
    chain = chain.then(() => run(JSON.parse(line))).then(emit, (error) => emit({ error: String(error) }));
  }).on('close', () => {
    void chain.then(() => {
      if (closeEvent === null) ws.close();
    });
  });
});
ws.addEventListener('close', () => {
  if (!opened) emit({ error: `closed before open: ${closeEvent.code} ${closeEvent.reason}` });
});

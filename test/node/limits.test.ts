/**
 * Production limits of the handshake and of messages, over real TCP on 127.0.0.1: header count and
 * size (431), hostile 64 KiB header values (linear-time parsing, checked by counting the work
 * done), the handshake timeout against slowloris clients (408, on a fake clock), and the exact
 * boundaries of maxPayload and maxFragments.
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WebSocketServer, type ServerOptions } from '../../src/index.js';
import { HandshakeError } from '../../src/protocol/errors.js';
import { validateHandshakeRequest, type HandshakeRequest } from '../../src/protocol/handshake.js';
import {
  HOST,
  OP,
  cleanup,
  closePayload,
  clientFrame,
  deadline,
  defer,
  deferred,
  drip,
  echoHandler,
  instrument,
  openRawClient,
  rawConnect,
  rawHttp,
  serverFrame,
  startHttpServer,
  startServer,
  text,
  until,
  upgradeRequest,
  type RawClient,
} from './helpers.js';

afterEach(cleanup); // real timers again (see cleanup), then servers and clients closed

const STATUS_431 = 'HTTP/1.1 431 Request Header Fields Too Large';
const STATUS_408 = 'HTTP/1.1 408 Request Timeout';

/** A WebSocketServer inside an existing HTTP server (attach(), or routing with or without guard()). */
async function appServer(
  wssOptions: ServerOptions,
  mode: 'attach' | 'handleUpgrade+guard' | 'handleUpgrade',
  http: HttpServer = createServer(),
): Promise<{ port: number; wss: WebSocketServer; connections: ReturnType<typeof instrument>['connections'] }> {
  const { options, connections } = instrument(wssOptions);
  const wss = new WebSocketServer(options);
  defer(() => wss.close({ timeout: 100 }));
  if (mode === 'attach') {
    wss.attach(http);
  } else {
    http.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      void wss.handleUpgrade(request, socket, head);
    });
    if (mode === 'handleUpgrade+guard') wss.guard(http);
  }
  const port = await startHttpServer(http);
  return { port, wss, connections };
}

/** Header bytes as the server counts them: names and values, no separators. */
function headerBytes(headers: Readonly<Record<string, string>>): number {
  let size = 0;
  for (const [name, value] of Object.entries(headers)) size += name.length + value.length;
  return size;
}

/** The handshake headers RawClient sends, with a fixed Host so the byte count is known. */
function baseHeaders(): Record<string, string> {
  return {
    Host: HOST,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
  };
}

/** `count` header lines in all: the handshake's 5, then fillers. */
function headersWithLines(count: number): Record<string, string> {
  const headers = baseHeaders();
  for (let i = Object.keys(headers).length; i < count; i++) headers[`X-Filler-${i}`] = 'f';
  expect(Object.keys(headers)).toHaveLength(count);
  return headers;
}

/** Handshake headers padded with one X-Pad header so the server counts exactly `size` bytes. */
function headersOfSize(size: number): Record<string, string> {
  const headers = baseHeaders();
  const padding = size - headerBytes(headers) - 'X-Pad'.length;
  headers['X-Pad'] = 'p'.repeat(padding);
  expect(headerBytes(headers)).toBe(size);
  return headers;
}

/** A handshake with exactly these headers (their Sec-WebSocket-Key is the one checked); throws unless 101. */
function connectWith(port: number, headers: Record<string, string>): Promise<RawClient> {
  return deadline(rawConnect(port, { key: headers['Sec-WebSocket-Key']!, headers }), 5000, 'the 101 response');
}

/** Sends a raw upgrade request with exactly these headers; resolves with the response once the server closed. */
function refusedWith(port: number, headers: Record<string, string>): ReturnType<typeof rawHttp> {
  let request = 'GET / HTTP/1.1\r\n';
  for (const [name, value] of Object.entries(headers)) request += `${name}: ${value}\r\n`;
  return deadline(rawHttp(port, `${request}\r\n`), 5000, 'the refusal and the end of the connection');
}

/** Sends the request and resolves with the response status; the socket is then dropped. */
async function statusOf(port: number, request: string): Promise<number> {
  const client = await openRawClient(port);
  client.send(Buffer.from(request, 'latin1'));
  const head = await deadline(client.responseHead(), 5000, 'a response');
  client.socket.destroy();
  return head.status;
}

describe('header limits (431)', () => {
  it.each(['listen', 'attach'] as const)('%s: maxHeaderCount lines are accepted, one more gets 431 and is closed', async (mode) => {
    const options: ServerOptions = { handler: echoHandler, maxHeaderCount: 20 };
    const port = mode === 'listen' ? (await startServer(options)).port : (await appServer(options, 'attach')).port;

    // Exactly 20 lines: accepted.
    const client = await connectWith(port, headersWithLines(20));
    expect(client.response?.status).toBe(101);

    // 21 lines: Node's parser accepts them (its maxHeadersCount is 2000), our check refuses.
    const response = await refusedWith(port, headersWithLines(21));
    expect(response.statusLine).toBe(STATUS_431);
    expect(response.body).toBe('more than 20 header lines\n');
  });

  it('attach() on a server with a large Node maxHeaderSize: our maxHeaderSize answers 431, the limit itself is accepted', async () => {
    // Node would take 256 KiB of headers: anything refused here is refused by our check.
    const http = createServer({ maxHeaderSize: 256 * 1024 });
    const { port, connections } = await appServer({ handler: echoHandler, maxHeaderSize: 4096 }, 'attach', http);

    const client = await connectWith(port, headersOfSize(4096));
    expect(client.response?.status).toBe(101);
    await connections.next();

    const over = await refusedWith(port, headersOfSize(4097));
    expect(over.statusLine).toBe(STATUS_431);
    expect(over.body).toBe('headers larger than 4096 bytes\n');

    // Far over our limit, far under Node's.
    const large = await refusedWith(port, headersOfSize(100 * 1024));
    expect(large.statusLine).toBe(STATUS_431);
    expect(large.body).toBe('headers larger than 4096 bytes\n');
    expect(connections.size).toBe(0);
  });

  it('handleUpgrade() checks maxHeaderSize too (a routing server with a large Node maxHeaderSize)', async () => {
    const http = createServer({ maxHeaderSize: 256 * 1024 });
    const { port } = await appServer({ handler: echoHandler, maxHeaderSize: 4096 }, 'handleUpgrade', http);
    const over = await refusedWith(port, headersOfSize(4097));
    expect(over.statusLine).toBe(STATUS_431);
    expect(over.body).toBe('headers larger than 4096 bytes\n');
  });

  it("listen(): its request-head parser enforces maxHeaderSize (431) on the whole head, and a larger maxHeaderSize lifts Node's 16 KiB default", async () => {
    const small = await startServer({ handler: echoHandler, maxHeaderSize: 4096 });
    const refused = await refusedWith(small.port, headersOfSize(8192));
    expect(refused.statusLine).toBe(STATUS_431);
    // Refused as the bytes arrived, at the 4097th byte of the head (request line included).
    expect(refused.body).toBe('the request head exceeds 4096 bytes\n');
    expect(small.errors).toEqual([]);
    const accepted = await connectWith(small.port, headersOfSize(3000));
    expect(accepted.response?.status).toBe(101);

    // 32 KiB is over Node's default maxHeaderSize (16 KiB): accepted only because listen() passes ours.
    const large = await startServer({ handler: echoHandler, maxHeaderSize: 64 * 1024 });
    const client = await connectWith(large.port, headersOfSize(32 * 1024));
    expect(client.response?.status).toBe(101);
    const over = await refusedWith(large.port, headersOfSize(80 * 1024));
    expect(over.statusLine).toBe(STATUS_431);
  });
});

/**
 * The work a synchronous call does, counted instead of timed (the count does not depend on the
 * machine): every call of a built-in method of strings, arrays, sets and maps counts the elements
 * it may touch: 1 for a character read, a lookup or a push; what a search scans (from its start to
 * the match, or to the end); the length of what a copy makes; the receiver's length for the rest
 * (split, trim, toLowerCase, includes on an array...). Regular expressions are recorded instead, by
 * the longest input they ran on: backtracking is work that a count of calls cannot see. The
 * built-ins are restored before this returns.
 */
function countWork(run: () => void): { work: number; longestRegExpInput: number } {
  type Cost = (receiver: { length: number }, args: unknown[], result: unknown) => number;
  let work = 0;
  let longestRegExpInput = 0;
  const restore: Array<() => void> = [];
  const wrap = (prototype: object, names: readonly string[], cost: Cost): void => {
    const target = prototype as Record<string, (...args: unknown[]) => unknown>;
    for (const name of names) {
      const original = target[name]!;
      target[name] = function (this: { length: number }, ...args: unknown[]) {
        const result = original.apply(this, args);
        work += cost(this, args, result);
        return result;
      };
      restore.push(() => (target[name] = original));
    }
  };
  const one: Cost = () => 1;
  const receiverLength: Cost = (receiver) => receiver.length;
  const resultLength: Cost = (_receiver, _args, result) => 1 + (result as { length: number }).length;
  const from = (args: unknown[]): number => Math.max(0, Number(args[1] ?? 0) || 0);
  const forwardSearch: Cost = (receiver, args, result) =>
    1 + (typeof result === 'number' && result >= 0 ? result + String(args[0]).length : receiver.length) - from(args);
  wrap(String.prototype, ['charCodeAt', 'charAt', 'codePointAt', 'at'], one);
  wrap(String.prototype, ['startsWith', 'endsWith'], (_receiver, args) => 1 + String(args[0]).length);
  wrap(String.prototype, ['indexOf'], forwardSearch);
  wrap(String.prototype, ['includes'], (receiver, args) => 1 + receiver.length - from(args));
  wrap(String.prototype, ['slice', 'substring', 'substr', 'concat', 'repeat', 'padStart', 'padEnd'], resultLength);
  wrap(
    String.prototype,
    ['lastIndexOf', 'trim', 'trimStart', 'trimEnd', 'toLowerCase', 'toUpperCase', 'split', 'replace', 'replaceAll', 'match',
      'matchAll', 'search', 'normalize', 'localeCompare'],
    receiverLength,
  );
  wrap(Array.prototype, ['push', 'pop', 'at'], one);
  wrap(Array.prototype, ['slice', 'concat'], resultLength);
  wrap(
    Array.prototype,
    ['includes', 'indexOf', 'lastIndexOf', 'find', 'findIndex', 'some', 'every', 'filter', 'map', 'forEach', 'reduce', 'join',
      'splice', 'shift', 'unshift', 'sort', 'reverse', 'flat', 'flatMap', 'fill'],
    receiverLength,
  );
  wrap(Set.prototype, ['has', 'add', 'delete'], one);
  wrap(Map.prototype, ['has', 'get', 'set', 'delete'], one);
  // RegExp.prototype.exec is what test(), match(), replace() and split() with a RegExp all call.
  const exec = RegExp.prototype.exec;
  RegExp.prototype.exec = function (this: RegExp, input: string) {
    longestRegExpInput = Math.max(longestRegExpInput, String(input).length);
    return exec.call(this, input);
  };
  restore.push(() => (RegExp.prototype.exec = exec));
  try {
    run();
  } finally {
    for (const undo of restore.reverse()) undo();
  }
  return { work, longestRegExpInput };
}

describe('hostile 64 KiB header values', () => {
  const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
  const SIZE = 64 * 1024;

  function request(extra: Record<string, string>): HandshakeRequest {
    return {
      method: 'GET',
      httpVersion: '1.1',
      headers: {
        host: 'example.com',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': KEY,
        'sec-websocket-version': '13',
        ...extra,
      },
    };
  }

  /** Distinct tokens `p0, p1, ...` joined by `separator`, about `size` characters long. */
  function distinctTokens(separator: string, size: number): string[] {
    const tokens: string[] = [];
    let length = 0;
    for (let i = 0; length < size && i < size; i++) {
      const token = `p${i}`;
      tokens.push(token);
      length += token.length + separator.length;
    }
    return tokens;
  }

  type Expected = { protocols: string[] } | 'refused';

  /** The hostile values at about `size` characters: name, value, what Sec-WebSocket-Protocol gives. */
  function hostileValues(size: number): Array<[string, string, Expected]> {
    const distinct = distinctTokens(', ', size);
    const tabbed = distinctTokens('\t,\t', size);
    return [
      ["'a,' repeated (duplicates)", 'a,'.repeat(size / 2), 'refused'],
      ["',' repeated (only empty elements)", ','.repeat(size), { protocols: [] }],
      ["' ' repeated then 'x'", `${' '.repeat(size - 1)}x`, { protocols: ['x'] }],
      ["'a ' repeated (spaces inside an element)", 'a '.repeat(size / 2), 'refused'],
      ['a single 64 KiB token', 'a'.repeat(size), { protocols: ['a'.repeat(size)] }],
      ['distinct tokens p0, p1, ...', distinct.join(', '), { protocols: distinct }],
      ['distinct tokens separated by tabs and commas', tabbed.join('\t,\t'), { protocols: tabbed }],
      ["'\\t,' repeated then 'x'", `${'\t,'.repeat(size / 2)}x`, { protocols: ['x'] }],
      ['distinct tokens, then a duplicate of the first at the very end', `${distinct.join(', ')}, p0`, 'refused'],
      ['distinct tokens, one invalid character at the very end', `${distinct.join(', ')}@`, 'refused'],
      ['a 64 KiB token with one invalid character at the very end', `${'a'.repeat(size - 1)}/`, 'refused'],
    ];
  }

  const protocolCases = hostileValues(SIZE);

  /** The same case's value at twice the size. */
  function doubled(name: string): string {
    return hostileValues(2 * SIZE).find(([other]) => other === name)![1];
  }

  type Outcome = { ok: true; value: ReturnType<typeof validateHandshakeRequest> } | { ok: false; error: unknown };

  function validate(input: HandshakeRequest): Outcome {
    try {
      return { ok: true, value: validateHandshakeRequest(input) };
    } catch (error) {
      return { ok: false, error };
    }
  }

  /**
   * Linear time, checked by counting instead of timing: validating a value twice as long does at
   * most 2.5 times the work (quadratic work would be 4 times), and no regular expression, whose
   * backtracking a count cannot see, ever runs over the value.
   */
  function expectLinear(header: string, value: string, twice: string): void {
    const once = countWork(() => validate(request({ [header]: value })));
    const double = countWork(() => validate(request({ [header]: twice })));
    expect(double.work / once.work).toBeLessThanOrEqual(2.5);
    expect(Math.max(once.longestRegExpInput, double.longestRegExpInput)).toBeLessThan(100);
  }

  it.each(protocolCases)('Sec-WebSocket-Protocol: %s is validated in linear time', (name, value, expected) => {
    expectLinear('sec-websocket-protocol', value, doubled(name));
    const outcome = validate(request({ 'sec-websocket-protocol': value }));
    if (expected === 'refused') {
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.error).toBeInstanceOf(HandshakeError);
      expect(outcome.error).toMatchObject({ status: 400, code: 'WS_ERR_HANDSHAKE_PROTOCOL' });
    } else {
      expect(outcome.ok).toBe(true);
      if (!outcome.ok) return;
      // Deep equality of a 10 000-element array is slow in vitest: compare it as one string.
      expect(outcome.value.protocols.length).toBe(expected.protocols.length);
      expect(outcome.value.protocols.join('\n')).toBe(expected.protocols.join('\n'));
      expect(outcome.value.key).toBe(KEY);
    }
  });

  it.each(protocolCases)('Sec-WebSocket-Extensions: %s is passed through untouched in linear time', (name, value) => {
    expectLinear('sec-websocket-extensions', value, doubled(name));
    const outcome = validate(request({ 'sec-websocket-extensions': value }));
    expect(outcome.ok).toBe(true);
    if (!outcome.ok) return;
    // No extension is negotiated: the offer is kept as is, and no subprotocol appears.
    expect(outcome.value.extensions === value).toBe(true);
    expect(outcome.value.protocols).toEqual([]);
  });

  const listCases = (size: number) =>
    [
      ['Connection', 'connection', `${', '.repeat(size / 2)}Upgrade`, true],
      ['Connection', 'connection', `${'keep-alive, '.repeat(size / 12)}nope`, false],
      ['Upgrade', 'upgrade', `${' \t'.repeat(size / 2)}websocket`, true],
    ] as const;

  it.each(listCases(SIZE).map((c, i) => [...c, i] as const))(
    '%s: a 64 KiB list is searched in linear time (%#)',
    (_name, header, value, accepted, index) => {
      expectLinear(header, value, listCases(2 * SIZE)[index]![2]);
      const outcome = validate(request({ [header]: value }));
      expect(outcome.ok).toBe(accepted);
      if (!outcome.ok) expect(outcome.error).toMatchObject({ status: 400 });
    },
  );

  // The values above that are not a valid Sec-WebSocket-Extensions list (a space inside a token,
  // a character no token may hold); the others are lists of well-formed, unknown extensions.
  const MALFORMED_EXTENSION_LISTS = new Set([
    "'a ' repeated (spaces inside an element)",
    'distinct tokens, one invalid character at the very end',
    'a 64 KiB token with one invalid character at the very end',
  ]);

  it('over the wire, an attached server (maxHeaderSize 256 KiB) answers each hostile request', async () => {
    const http = createServer({ maxHeaderSize: 256 * 1024 });
    const { port } = await appServer({ handler: echoHandler, maxHeaderSize: 256 * 1024 }, 'attach', http);
    for (const [name, value, expected] of protocolCases) {
      const status = await statusOf(port, upgradeRequest({ headers: { 'Sec-WebSocket-Protocol': value } }));
      expect({ name, status }).toEqual({ name, status: expected === 'refused' ? 400 : 101 });
      // RFC 6455 9.1 / 4.2.1: an extension list that breaks the ABNF is a bad request (issue 9);
      // a well-formed list of unknown extensions is declined silently.
      const extensions = await statusOf(port, upgradeRequest({ headers: { 'Sec-WebSocket-Extensions': value } }));
      expect({ name, extensions }).toEqual({ name, extensions: MALFORMED_EXTENSION_LISTS.has(name) ? 400 : 101 });
    }
  });
});

describe('handshake timeout (slowloris)', () => {
  const TIMEOUT = 300;

  // On a fake clock: the handshake clocks (setTimeout) and the slow client's drip (setInterval) move
  // only when the test advances them; sockets stay real. cleanup() restores real timers first.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });

  async function advance(ms: number): Promise<void> {
    await vi.advanceTimersByTimeAsync(ms);
  }

  /**
   * Waits until the server has started `count` more handshake clocks than `before` (pending fake
   * timers): each socket's clock must start at the current fake time for the test to know when it
   * expires.
   */
  async function clocksStarted(before: number, count: number): Promise<void> {
    await until(() => vi.getTimerCount() === before + count, `${count} handshake clocks to start`);
  }

  /** A complete, valid upgrade request, about 150 bytes: 3 s at one byte per 20 ms. */
  function slowRequest(): Buffer {
    return Buffer.from(upgradeRequest(), 'latin1');
  }

  async function expectTimedOut(client: RawClient): Promise<void> {
    await deadline(client.closed, 5000, "the client's socket to close");
    expect(client.response?.statusLine).toBe(STATUS_408);
    expect(client.body.toString()).toBe('the handshake did not complete in time\n');
  }

  /**
   * A silent client and a one-byte-per-20-ms client, side by side, both cut off with 408 at
   * handshakeTimeout; a third, connected with them, that completes its request 1 ms before then is
   * accepted (a clock that expired early would have answered it 408).
   */
  async function expectBothCutOff(port: number): Promise<void> {
    const before = vi.getTimerCount();
    const [silent, slow, punctual] = await Promise.all([openRawClient(port), openRawClient(port), openRawClient(port)]);
    await clocksStarted(before, 3);
    const dripping = drip(slow.socket, slowRequest(), 20);
    await advance(TIMEOUT - 1);
    // The slow client is mid-request: a byte every 20 ms so far.
    expect(dripping.sent()).toBe(Math.floor((TIMEOUT - 1) / 20));
    punctual.sendRequest();
    expect((await deadline(punctual.responseHead(), 5000, 'the 101')).status).toBe(101);
    await advance(1);
    await expectTimedOut(silent);
    await expectTimedOut(slow);
    expect(dripping.sent()).toBeLessThan(slowRequest().length);
  }

  it("listen()'s server answers a silent and a slow client 408 and disconnects them", async () => {
    const server = await startServer({ handler: echoHandler, handshakeTimeout: TIMEOUT });
    await expectBothCutOff(server.port);
    expect(server.connections.size).toBe(1); // the punctual one
  });

  it('an existing server that routes upgrades itself and calls guard(): the same', async () => {
    const { port, connections } = await appServer({ handler: echoHandler, handshakeTimeout: TIMEOUT }, 'handleUpgrade+guard');
    await expectBothCutOff(port);
    expect(connections.size).toBe(1); // the punctual one
  });

  it('without guard(), no handshake clock runs: a slow or silent client is still waiting at 3x handshakeTimeout', async () => {
    // Documents why guard() exists: Node itself only applies headersTimeout (60 s, checked every
    // 30 s, on real time).
    const http = createServer();
    let accepted = 0;
    http.on('connection', () => accepted++);
    const { port, connections } = await appServer({ handler: echoHandler, handshakeTimeout: TIMEOUT }, 'handleUpgrade', http);
    const [silent, slow] = await Promise.all([openRawClient(port), openRawClient(port)]);
    await until(() => accepted === 2, 'the server to accept both connections');
    const request = slowRequest();
    const dripping = drip(slow.socket, request, 20);
    await advance(3 * TIMEOUT);
    dripping.stop();
    expect(dripping.sent()).toBe((3 * TIMEOUT) / 20);
    expect(dripping.sent()).toBeLessThan(request.length);
    expect(connections.size).toBe(0);
    // Nothing was answered meanwhile: each completes its request now, and its first response is 101.
    silent.sendRequest();
    slow.send(request.subarray(dripping.sent()));
    expect((await deadline(silent.responseHead(), 5000, 'the silent client’s 101')).status).toBe(101);
    expect((await deadline(slow.responseHead(), 5000, 'the slow client’s 101')).status).toBe(101);
  });

  it('a client whose handshake completed in time is not cut off later', async () => {
    const server = await startServer({ handler: echoHandler, handshakeTimeout: TIMEOUT });
    const client = await rawConnect(server.port);
    await advance(3 * TIMEOUT);
    // Nothing arrived meanwhile: a late 408 would land in the frame stream before the echo.
    client.sendFrame({ opcode: OP.TEXT, payload: text('still here') });
    const echo = await deadline(client.nextFrame(), 5000, 'the echo');
    expect(echo.raw).toEqual(serverFrame(OP.TEXT, 'still here'));
  });

  it('a keep-alive HTTP connection on a guarded server keeps working past handshakeTimeout', async () => {
    const http = createServer((_request, response) => response.end('ok'));
    const { port } = await appServer({ handler: echoHandler, handshakeTimeout: TIMEOUT }, 'handleUpgrade+guard', http);
    const client = await openRawClient(port);
    let received = '';
    // RawClient's own parser reads the first head; count whole responses on the raw text instead.
    client.socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const responses = (): number => received.split('HTTP/1.1 200 OK\r\n').length - 1;
    const waitForResponses = async (count: number): Promise<void> => {
      while (responses() < count || !received.endsWith('ok')) {
        await deadline(once(client.socket, 'data'), 5000, `response ${count}`);
      }
    };
    const get = `GET /page HTTP/1.1\r\nHost: ${HOST}\r\nConnection: keep-alive\r\n\r\n`;
    client.send(Buffer.from(get, 'latin1'));
    await waitForResponses(1); // the connection was accepted (and its clock started) before that
    await advance(3 * TIMEOUT);
    // A 408 written meanwhile would arrive before the second response, or close the connection.
    client.send(Buffer.from(get, 'latin1'));
    await waitForResponses(2);
    expect(received).not.toContain('408');
  });

  it.each(['listen', 'handleUpgrade without guard()'] as const)(
    '%s: an allowRequest that never resolves gets 408 after handshakeTimeout',
    async (mode) => {
      const asked = deferred();
      const options: ServerOptions = {
        handler: echoHandler,
        handshakeTimeout: TIMEOUT,
        allowRequest: () => {
          asked.resolve();
          return new Promise<boolean>(() => undefined);
        },
      };
      const port = mode === 'listen' ? (await startServer(options)).port : (await appServer(options, 'handleUpgrade')).port;
      const client = await openRawClient(port);
      client.sendRequest();
      await deadline(asked.promise, 5000, 'allowRequest to be called');
      // The clock started at the connection (guard) or at the request (handleUpgrade), both at
      // fake time 0, and is still running a millisecond before it expires.
      await advance(TIMEOUT - 1);
      expect(vi.getTimerCount()).toBe(1);
      await advance(1);
      await expectTimedOut(client);
    },
  );
});

describe('maxPayload and maxFragments at their exact boundaries', () => {
  it('a message of exactly maxPayload bytes in 3 fragments is accepted; one byte more gets 1009', async () => {
    const server = await startServer({ handler: echoHandler, maxPayload: 1024 });
    const client = await rawConnect(server.port);
    const ws = await server.connections.next();
    const exact = randomBytes(1024);
    client.send(
      Buffer.concat([
        clientFrame({ opcode: OP.BINARY, fin: false, payload: exact.subarray(0, 400) }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: exact.subarray(400, 800) }),
        clientFrame({ opcode: OP.CONT, fin: true, payload: exact.subarray(800) }),
      ]),
    );
    const echo = await deadline(client.nextFrame(), 5000, 'the echo');
    expect(echo.raw.equals(serverFrame(OP.BINARY, exact))).toBe(true);

    // 400 + 400 + 225: each fragment is far under the limit; only their sum is over.
    const over = randomBytes(1025);
    client.send(
      Buffer.concat([
        clientFrame({ opcode: OP.BINARY, fin: false, payload: over.subarray(0, 400) }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: over.subarray(400, 800) }),
        clientFrame({ opcode: OP.CONT, fin: true, payload: over.subarray(800) }),
      ]),
    );
    const close = await deadline(client.nextFrame(), 5000, 'the close frame');
    expect(close.raw).toEqual(serverFrame(OP.CLOSE, closePayload(1009, 'message exceeds maxPayload (1024 bytes)')));
    expect(close.payload.readUInt16BE(0)).toBe(1009);
    expect(await deadline(ws.closed, 5000, 'the connection to close')).toMatchObject({ code: 1009, wasClean: false });
  });

  it('exactly maxFragments frames are accepted (a ping between them does not count); one more gets 1008', async () => {
    const server = await startServer({ handler: echoHandler, maxFragments: 4 });
    const client = await rawConnect(server.port);
    client.send(
      Buffer.concat([
        clientFrame({ opcode: OP.TEXT, fin: false, payload: text('a') }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: text('b') }),
        clientFrame({ opcode: OP.PING, payload: text('p') }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: text('c') }),
        clientFrame({ opcode: OP.CONT, fin: true, payload: text('d') }),
      ]),
    );
    expect((await deadline(client.nextFrame(), 5000, 'the pong')).raw).toEqual(serverFrame(OP.PONG, 'p'));
    expect((await deadline(client.nextFrame(), 5000, 'the echo')).raw).toEqual(serverFrame(OP.TEXT, 'abcd'));

    client.send(
      Buffer.concat([
        clientFrame({ opcode: OP.TEXT, fin: false, payload: text('a') }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: text('b') }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: text('c') }),
        clientFrame({ opcode: OP.CONT, fin: false, payload: text('d') }),
        clientFrame({ opcode: OP.CONT, fin: true, payload: text('e') }),
      ]),
    );
    const close = await deadline(client.nextFrame(), 5000, 'the close frame');
    expect(close.raw).toEqual(serverFrame(OP.CLOSE, closePayload(1008, 'message split into more than 4 frames')));
  });
});

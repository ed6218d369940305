/**
 * connect() end to end, against our WebSocketServer, against the `ws` npm server, and against a
 * raw server that shows the bytes on the wire: messages of every kind (16 MiB included),
 * fragments, ping/pong both ways, closing handshakes both ways (and who ends TCP first, RFC 6455
 * 7.1.1), subprotocols, permessage-deflate on and off, masking (RFC 6455 5.3), and what the
 * request carries.
 */

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connect, type ServerOptions, type Ws } from '../../../src/index.js';
import { acceptResponse, compressMessage as deflateMessage, inflateMessage } from '../../../testkit/index.js';
import { AsyncQueue, HOST, cleanup, deadline, defer, settle, startServer } from '../helpers.js';
import { dial, frame, parseClose, startRawServer, startWsServer, type ClientFrame, type RawPeer } from './helpers.js';

afterEach(cleanup);

const MULTIBYTE = 'héllo wörld € 𝄞 日本語 😀';
const MiB = 1024 * 1024;

/** A client connection closed after the test (terminate is a no-op once closed). */

interface Accepted {
  readonly ws: Ws;
  readonly request: IncomingMessage;
  /** Socket events in order: 'client-fin' (its FIN arrived), 'server-fin' (ours went out). */
  readonly events: string[];
}

/** Our server; each connection comes with its upgrade request and its socket's FIN order. */
async function startOurServer(options: ServerOptions = {}): Promise<{ url: string; port: number; accepted: AsyncQueue<Accepted> }> {
  const accepted = new AsyncQueue<Accepted>();
  const handler = options.handler;
  const server = await startServer({
    ...options,
    handler: (ws, request: IncomingMessage) => {
      const events: string[] = [];
      const socket = request.socket as Socket;
      socket.on('end', () => events.push('client-fin'));
      socket.on('finish', () => events.push('server-fin'));
      accepted.push({ ws, request, events });
      return handler?.(ws, request);
    },
  });
  return { url: server.url, port: server.port, accepted };
}

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}

/** Frames from a raw peer until (and including) the first of `opcode`. */
async function framesUntil(peer: RawPeer, opcode: number): Promise<ClientFrame[]> {
  const frames: ClientFrame[] = [];
  for (;;) {
    const next = await peer.nextFrame();
    frames.push(next);
    if (next.opcode === opcode) return frames;
  }
}

describe('connect() against our WebSocketServer', () => {
  it('sends a well-formed request: Host with the port, a fresh 16-byte key per connect, Origin, extra headers, the default deflate offer', async () => {
    const server = await startOurServer({ handler: echo, origins: ['https://app.example'] });
    const a = await dial(`${server.url}/chat?room=1`, { origin: 'https://app.example', headers: { 'X-Trace': 'abc', Cookie: 'session=1' } });
    const first = await server.accepted.next();
    await dial(server.url);
    const second = await server.accepted.next();
    const headers = first.request.headers;
    expect(first.request.url).toBe('/chat?room=1');
    expect(headers.host).toBe(`${HOST}:${server.port}`);
    expect(headers.upgrade).toBe('websocket');
    expect(headers.connection).toBe('Upgrade');
    expect(headers['sec-websocket-version']).toBe('13');
    expect(headers.origin).toBe('https://app.example');
    expect(headers['x-trace']).toBe('abc');
    expect(headers.cookie).toBe('session=1');
    expect(headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(headers['sec-websocket-protocol']).toBeUndefined();
    const key = headers['sec-websocket-key']!;
    expect(key).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(Buffer.from(key, 'base64')).toHaveLength(16);
    expect(second.request.headers['sec-websocket-key']).not.toBe(key);
    expect(second.request.headers.origin).toBeUndefined();
    expect(a.role).toBe('client');
    expect(a.readyState).toBe('open');
  });

  it('echoes text (multi-byte UTF-8), binary (every byte value) and empty messages', async () => {
    const server = await startOurServer({ handler: echo });
    const ws = await dial(server.url);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await ws.send(MULTIBYTE);
    await ws.send(bytes);
    await ws.send('');
    await ws.send(new Uint8Array(0));
    expect(await ws.recv()).toEqual({ type: 'text', data: MULTIBYTE });
    expect(await ws.recv()).toEqual({ type: 'binary', data: bytes });
    expect(await ws.recv()).toEqual({ type: 'text', data: '' });
    expect(await ws.recv()).toEqual({ type: 'binary', data: Buffer.alloc(0) });
  });

  for (const perMessageDeflate of [false, true]) {
    it(`echoes a 16 MiB random binary message, then more traffic and a ping (compression ${perMessageDeflate ? 'on' : 'off'})`, async () => {
      const server = await startOurServer({ handler: echo, perMessageDeflate });
      const ws = await dial(server.url, { perMessageDeflate });
      expect(ws.deflateAgreement !== null).toBe(perMessageDeflate);
      const big = randomBytes(16 * MiB);
      void ws.send(big);
      const back = await ws.recv();
      expect(back.type).toBe('binary');
      expect(back.data.length).toBe(big.length);
      expect((back.data as Buffer).equals(big)).toBe(true);
      await ws.send('after');
      expect(await ws.recv()).toEqual({ type: 'text', data: 'after' });
      expect(typeof (await ws.ping('still there'))).toBe('number');
    });
  }

  it('ping() resolves with the round-trip time; a ping from the server is answered', async () => {
    const server = await startOurServer({ handler: echo });
    const ws = await dial(server.url);
    const { ws: peer } = await server.accepted.next();
    // performance.now() on a fake clock: the round trip lasts exactly what the test moves it by.
    vi.useFakeTimers({ toFake: ['performance'] });
    const pinging = ws.ping('client ping');
    vi.advanceTimersByTime(7);
    expect(await deadline(pinging, 5000, 'the pong')).toBe(7);
    // The server's ping() resolves only when our client's pong with the same payload arrives.
    const serverRtt = await peer.ping('server ping');
    expect(serverRtt).toBeGreaterThanOrEqual(0);
  });

  it('a client close reaches the server with its code and reason; the server ends TCP first', async () => {
    const server = await startOurServer({ handler: echo });
    const ws = await dial(server.url);
    const peer = await server.accepted.next();
    const result = await ws.close(4001, 'client bye');
    expect(result.code).toBe(4001);
    expect(result.wasClean).toBe(true);
    expect(await peer.ws.closed).toEqual({ code: 4001, reason: 'client bye', wasClean: true });
    expect(ws.readyState).toBe('closed');
    // RFC 6455 7.1.1: the server closes the TCP connection first; the client's FIN comes after.
    expect(peer.events).toEqual(['server-fin', 'client-fin']);
  });

  it("a server close gives the client's closed its code and reason, wasClean; the client waits for the server's FIN", async () => {
    const server = await startOurServer({ handler: echo });
    const ws = await dial(server.url, { closeTimeout: 20_000 });
    const peer = await server.accepted.next();
    const serverResult = await peer.ws.close(4002, 'server bye');
    expect(serverResult).toEqual({ code: 4002, reason: '', wasClean: true });
    expect(await ws.closed).toEqual({ code: 4002, reason: 'server bye', wasClean: true });
    // The client did not end TCP on its own (its closeTimeout is 20 s): it answered the server's FIN.
    expect(peer.events).toEqual(['server-fin', 'client-fin']);
    const after = await settle(ws.recv());
    expect(after.ok).toBe(false);
    if (!after.ok) expect(after.error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 4002, reason: 'server bye' });
  });

  it('offers subprotocols in order; the one the server chose is ws.protocol', async () => {
    const offeredSeen: string[][] = [];
    const server = await startOurServer({
      handler: echo,
      selectProtocol: (offered) => {
        offeredSeen.push([...offered]);
        return offered.includes('chat.v1') ? 'chat.v1' : undefined;
      },
    });
    const ws = await dial(server.url, { protocols: ['chat.v2', 'chat.v1'] });
    const peer = await server.accepted.next();
    expect(peer.request.headers['sec-websocket-protocol']).toBe('chat.v2, chat.v1');
    expect(offeredSeen).toEqual([['chat.v2', 'chat.v1']]);
    expect(ws.protocol).toBe('chat.v1');
    expect(peer.ws.protocol).toBe('chat.v1');
    const single = await dial(server.url, { protocols: 'chat.v1' });
    expect(single.protocol).toBe('chat.v1');
    const none = await dial(server.url, { protocols: ['other'] });
    expect(none.protocol).toBe('');
  });

  it('compression on: permessage-deflate is agreed and messages of every size round-trip', async () => {
    const server = await startOurServer({ handler: echo, perMessageDeflate: { threshold: 0 } });
    const ws = await dial(server.url);
    const peer = await server.accepted.next();
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    expect(ws.deflateAgreement).not.toBeNull();
    expect(peer.ws.deflateAgreement).not.toBeNull();
    for (const size of [0, 1, 1023, 1024, 70_000]) {
      const data = 'a'.repeat(size);
      await ws.send(data);
      expect(await ws.recv()).toEqual({ type: 'text', data });
    }
  });

  it('compression off: no offer is sent, nothing is agreed', async () => {
    const server = await startOurServer({ handler: echo, perMessageDeflate: true });
    const ws = await dial(server.url, { perMessageDeflate: false });
    const peer = await server.accepted.next();
    expect(peer.request.headers['sec-websocket-extensions']).toBeUndefined();
    expect(ws.extensions).toBe('');
    expect(ws.deflateAgreement).toBeNull();
    expect(peer.ws.deflateAgreement).toBeNull();
    await ws.send('x'.repeat(5000));
    expect(await ws.recv()).toEqual({ type: 'text', data: 'x'.repeat(5000) });
  });

  it('a server that declines the offer gives an uncompressed connection', async () => {
    const server = await startOurServer({ handler: echo, perMessageDeflate: false });
    const ws = await dial(server.url);
    const peer = await server.accepted.next();
    expect(peer.request.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(ws.extensions).toBe('');
    expect(ws.deflateAgreement).toBeNull();
  });
});

describe('connect() against the ws npm server', () => {
  it('echoes text and binary', async () => {
    const server = await startWsServer();
    const ws = await dial(server.url);
    const peer = await server.peers.next();
    await ws.send(MULTIBYTE);
    expect(await peer.messages.next()).toEqual({ data: Buffer.from(MULTIBYTE), isBinary: false });
    const bytes = randomBytes(300);
    await ws.send(bytes);
    expect(await peer.messages.next()).toEqual({ data: bytes, isBinary: true });
    peer.ws.send(MULTIBYTE);
    peer.ws.send(bytes);
    expect(await ws.recv()).toEqual({ type: 'text', data: MULTIBYTE });
    expect(await ws.recv()).toEqual({ type: 'binary', data: bytes });
  });

  it('receives messages the server sends in fragments (send with fin: false)', async () => {
    const server = await startWsServer();
    const ws = await dial(server.url);
    const peer = await server.peers.next();
    peer.ws.send('frag', { fin: false });
    peer.ws.send('men', { fin: false });
    peer.ws.send('ted €', { fin: true });
    peer.ws.send(Buffer.from([1, 2]), { binary: true, fin: false });
    peer.ws.send(Buffer.from([3]), { binary: true, fin: true });
    expect(await ws.recv()).toEqual({ type: 'text', data: 'fragmented €' });
    expect(await ws.recv()).toEqual({ type: 'binary', data: Buffer.from([1, 2, 3]) });
  });

  it('receives a compressed message sent in fragments (RSV1 on the first only, one deflate stream)', async () => {
    const server = await startWsServer({ perMessageDeflate: { threshold: 0 } });
    const ws = await dial(server.url);
    const peer = await server.peers.next();
    const parts = ['first part, ', 'second part, ', 'third part'].map((part) => part.repeat(200));
    peer.ws.send(parts[0]!, { fin: false, compress: true });
    peer.ws.send(parts[1]!, { fin: false, compress: true });
    peer.ws.send(parts[2]!, { fin: true, compress: true });
    expect(await ws.recv()).toEqual({ type: 'text', data: parts.join('') });
  });

  for (const perMessageDeflate of [false, true]) {
    it(`exchanges a 16 MiB random message both ways (compression ${perMessageDeflate ? 'on' : 'off'})`, async () => {
      const server = await startWsServer({ perMessageDeflate });
      const ws = await dial(server.url, { perMessageDeflate });
      const peer = await server.peers.next();
      expect(ws.deflateAgreement !== null).toBe(perMessageDeflate);
      const big = randomBytes(16 * MiB);
      void ws.send(big);
      const received = await peer.messages.next();
      expect(received.isBinary).toBe(true);
      expect(received.data.equals(big)).toBe(true);
      peer.ws.send(big);
      const back = await ws.recv();
      expect(back.type).toBe('binary');
      expect((back.data as Buffer).equals(big)).toBe(true);
      peer.ws.send('after');
      expect(await ws.recv()).toEqual({ type: 'text', data: 'after' });
    });
  }

  it('ping/pong both ways: ping() resolves with the RTT, the server sees its payload; a server ping gets its pong', async () => {
    const server = await startWsServer();
    const ws = await dial(server.url);
    const peer = await server.peers.next();
    const rtt = await ws.ping('from client');
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(await peer.pings.next()).toEqual(Buffer.from('from client'));
    peer.ws.ping('from server');
    expect(await peer.pongs.next()).toEqual(Buffer.from('from server'));
  });

  it('a client close: the server sees the code and reason and ends TCP first', async () => {
    const server = await startWsServer();
    const ws = await dial(server.url);
    const peer = await server.peers.next();
    const result = await ws.close(4100, 'done here');
    expect(await peer.closed).toEqual({ code: 4100, reason: 'done here' });
    expect(result.code).toBe(4100);
    expect(result.wasClean).toBe(true);
    expect(peer.events.slice(0, 2)).toEqual(['server-fin', 'client-fin']);
  });

  it('a server close: closed has its code and reason, wasClean, and the client waited for the server to end TCP', async () => {
    const server = await startWsServer();
    const ws = await dial(server.url, { closeTimeout: 20_000 });
    const peer = await server.peers.next();
    peer.ws.close(4200, 'server is done');
    expect(await ws.closed).toEqual({ code: 4200, reason: 'server is done', wasClean: true });
    expect(await peer.closed).toEqual({ code: 4200, reason: '' });
    expect(peer.events.slice(0, 2)).toEqual(['server-fin', 'client-fin']);
  });

  it('subprotocols: the server gets the offered list, ws.protocol is its choice', async () => {
    let offered: string[] = [];
    const server = await startWsServer({
      handleProtocols: (protocols) => {
        offered = [...protocols];
        return 'b';
      },
    });
    const ws = await dial(server.url, { protocols: ['a', 'b', 'c'] });
    const peer = await server.peers.next();
    expect(offered).toEqual(['a', 'b', 'c']);
    expect(ws.protocol).toBe('b');
    expect(peer.ws.protocol).toBe('b');
  });

  it('compression on: ws agrees to the default offer and compressed messages round-trip', async () => {
    const server = await startWsServer({ perMessageDeflate: { threshold: 0 } });
    const ws = await dial(server.url);
    const peer = await server.peers.next();
    expect(peer.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(ws.extensions).toMatch(/^permessage-deflate/);
    expect(Object.keys((peer.ws as unknown as { _extensions: object })._extensions)).toEqual(['permessage-deflate']);
    const data = 'compress me '.repeat(500);
    await ws.send(data);
    expect((await peer.messages.next()).data.toString()).toBe(data);
    // Repeats compress against the server's window (context takeover): the client's inflater keeps it.
    for (let i = 0; i < 3; i++) peer.ws.send(data);
    for (let i = 0; i < 3; i++) expect(await ws.recv()).toEqual({ type: 'text', data });
    const binary = Buffer.from(data);
    peer.ws.send(binary);
    expect(await ws.recv()).toEqual({ type: 'binary', data: binary });
  });

  it('compression off: no offer header; ws agrees to nothing', async () => {
    const server = await startWsServer({ perMessageDeflate: true });
    const ws = await dial(server.url, { perMessageDeflate: false });
    const peer = await server.peers.next();
    expect(peer.headers['sec-websocket-extensions']).toBeUndefined();
    expect(ws.extensions).toBe('');
    expect(peer.ws.extensions).toBe('');
  });
});

describe('connect() on the wire (a raw server)', () => {
  async function rawSession(headers: Record<string, string | null> = {}, options: Parameters<typeof connect>[1] = {}) {
    const server = await startRawServer();
    const pending = connect(server.url, options);
    const peer = await server.peers.next();
    const request = await peer.request();
    peer.accept(headers);
    const ws = await pending;
    defer(() => ws.terminate());
    return { server, peer, request, ws };
  }

  it('masks every frame with a fresh key (RFC 6455 5.3), and the payloads unmask to what was sent', async () => {
    const { peer, ws } = await rawSession({}, { perMessageDeflate: false });
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(`message ${i}`);
      void ws.send(`message ${i}`);
    }
    void ws.send(Buffer.alloc(70_000, 7));
    void ws.ping('p');
    void ws.close(1000, 'end');
    const frames = await framesUntil(peer, 0x8);
    expect(frames).toHaveLength(43);
    for (const f of frames) {
      expect(f.masked).toBe(true);
      expect(f.mask).toHaveLength(4);
    }
    expect(new Set(frames.map((f) => f.mask.toString('hex'))).size).toBe(frames.length);
    expect(frames.slice(0, 40).map((f) => f.payload.toString())).toEqual(sent);
    expect(frames[40]!.payload.equals(Buffer.alloc(70_000, 7))).toBe(true);
    expect(frames[41]).toMatchObject({ opcode: 0x9, payload: Buffer.from('p') });
    expect(parseClose(frames[42]!.payload)).toEqual({ code: 1000, reason: 'end' });
  });

  it('a masked frame from the server fails the connection with 1002 (WS_ERR_MASKED_FRAME)', async () => {
    const { peer, ws } = await rawSession();
    peer.write(frame(0x1, 'masked', { mask: Buffer.from([1, 2, 3, 4]) }));
    const close = await peer.nextFrame();
    expect(close.opcode).toBe(0x8);
    expect(close.masked).toBe(true);
    expect(parseClose(close.payload).code).toBe(1002);
    peer.socket.end();
    const result = await ws.closed;
    expect(result.code).toBe(1002);
    expect(result.errorCode).toBe('WS_ERR_MASKED_FRAME');
    const next = await settle(ws.recv());
    expect(next.ok).toBe(false);
  });

  it('reassembles a fragmented message with a ping between its fragments, and answers the ping at once', async () => {
    const { peer, ws } = await rawSession();
    peer.write(frame(0x1, 'ab', { fin: false }));
    peer.write(frame(0x9, 'between'));
    peer.write(frame(0x0, 'c€', { fin: false }));
    peer.write(frame(0x0, 'd', { fin: true }));
    const pong = await peer.nextFrame();
    expect(pong).toMatchObject({ opcode: 0xa, fin: true, masked: true, payload: Buffer.from('between') });
    expect(await ws.recv()).toEqual({ type: 'text', data: 'abc€d' });
  });

  it('compression on: the offer is sent, data frames at or over the threshold are RSV1 and inflate to the message; control frames are not', async () => {
    const { peer, request, ws } = await rawSession({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    expect(request.headers['sec-websocket-extensions']).toBe('permessage-deflate; client_max_window_bits');
    expect(ws.extensions).toBe('permessage-deflate');
    const long = 'the same words again and again '.repeat(100);
    void ws.send(long);
    void ws.send('short');
    void ws.ping('p');
    const [compressed, short, ping] = [await peer.nextFrame(), await peer.nextFrame(), await peer.nextFrame()];
    expect(compressed.rsv).toBe(0b100);
    expect(compressed.opcode).toBe(0x1);
    expect(compressed.payload.length).toBeLessThan(long.length / 4);
    expect(inflateMessage(compressed.payload).toString()).toBe(long);
    // Under the default threshold (1024 bytes) a message goes uncompressed.
    expect(short).toMatchObject({ rsv: 0, payload: Buffer.from('short') });
    expect(ping).toMatchObject({ rsv: 0, opcode: 0x9 });
    // And a compressed frame from the server is inflated.
    peer.write(frame(0x1, deflateMessage(Buffer.from(long)), { rsv: 0b100 }));
    expect(await ws.recv()).toEqual({ type: 'text', data: long });
  });

  it("honours the server's client_no_context_takeover: every message is compressed from an empty window", async () => {
    const { peer, ws } = await rawSession({ 'Sec-WebSocket-Extensions': 'permessage-deflate; client_no_context_takeover' });
    expect(ws.deflateAgreement).toMatchObject({ ourNoContextTakeover: true });
    const message = randomBytes(600).toString('hex');
    await ws.send(message);
    await ws.send(message);
    const [first, second] = [await peer.nextFrame(), await peer.nextFrame()];
    expect(first.rsv).toBe(0b100);
    // With context takeover the second copy would be a few bytes of back-reference.
    expect(second.payload).toEqual(first.payload);
    expect(inflateMessage(second.payload).toString()).toBe(message);
  });

  it('with context takeover (the default) a repeated message compresses against the window', async () => {
    const { peer, ws } = await rawSession({ 'Sec-WebSocket-Extensions': 'permessage-deflate' });
    const message = randomBytes(600).toString('hex');
    await ws.send(message);
    await ws.send(message);
    const [first, second] = [await peer.nextFrame(), await peer.nextFrame()];
    expect(second.payload.length).toBeLessThan(first.payload.length / 10);
  });

  it("honours the server's client_max_window_bits=9", async () => {
    const { ws } = await rawSession({ 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits=9' });
    expect(ws.deflateAgreement).toMatchObject({ ourMaxWindowBits: 9 });
  });

  it('compression off: no offer, and large messages go out without RSV1', async () => {
    const { peer, request, ws } = await rawSession({}, { perMessageDeflate: false });
    expect(request.headers['sec-websocket-extensions']).toBeUndefined();
    const long = 'z'.repeat(5000);
    await ws.send(long);
    const sent = await peer.nextFrame();
    expect(sent).toMatchObject({ rsv: 0, opcode: 0x1 });
    expect(sent.payload.toString()).toBe(long);
  });

  it('after the closing handshake the client waits for the server to end TCP, then ends it itself after closeTimeout', async () => {
    // Timers on a fake clock (sockets stay real): closeTimeout runs out when the test moves time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const { peer, ws } = await rawSession({}, { closeTimeout: 300 });
    let finAt = -1;
    void peer.clientEnded.then(() => (finAt = performance.now()));
    peer.write(frame(0x8, Buffer.concat([Buffer.from([0x0f, 0xa3]), Buffer.from('bye')])));
    const answer = await peer.nextFrame();
    // The answer echoes the code (RFC 6455 5.5.1), masked like every client frame.
    expect(answer.masked).toBe(true);
    expect(parseClose(answer.payload)).toEqual({ code: 4003, reason: '' });
    // The raw server never ends TCP: the client's FIN comes only when its closeTimeout runs out,
    // its timer (the only one) still pending 1 ms before.
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(299);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await deadline(peer.clientEnded, 5000, "the client's FIN");
    expect(finAt).toBe(300); // the fake clock's time, 0 when the answer went out
    expect(peer.events).toEqual(['request', 'client-fin']);
    peer.socket.end();
    expect(await ws.closed).toEqual({ code: 4003, reason: 'bye', wasClean: true });
  });

  it('after the closing handshake a server FIN is answered at once', async () => {
    const { peer, ws } = await rawSession({}, { closeTimeout: 20_000 });
    peer.write(frame(0x8, Buffer.from([0x03, 0xe8])));
    await peer.nextFrame();
    peer.socket.end();
    expect(await ws.closed).toEqual({ code: 1000, reason: '', wasClean: true });
    await peer.clientEnded;
    expect(peer.events).toEqual(['request', 'server-fin', 'client-fin']);
  });

  it('the connection limits apply to a client too: maxPayload (1009), invalid UTF-8 (1007), RSV1 without an extension (1002)', async () => {
    const cases: Array<{ bytes: Buffer; options: Parameters<typeof connect>[1]; code: number; errorCode: string }> = [
      { bytes: frame(0x2, Buffer.alloc(2000)), options: { maxPayload: 1000 }, code: 1009, errorCode: 'WS_ERR_MESSAGE_TOO_BIG' },
      { bytes: frame(0x1, Buffer.from([0x68, 0xc3, 0x28])), options: {}, code: 1007, errorCode: 'WS_ERR_INVALID_UTF8' },
      { bytes: frame(0x1, 'x', { rsv: 0b100 }), options: { perMessageDeflate: false }, code: 1002, errorCode: 'WS_ERR_RESERVED_BITS' },
    ];
    for (const { bytes, options, code, errorCode } of cases) {
      const { peer, ws } = await rawSession({}, options);
      peer.write(bytes);
      const close = await peer.nextFrame();
      expect(close.opcode).toBe(0x8);
      expect(parseClose(close.payload).code).toBe(code);
      peer.socket.end();
      expect(await ws.closed).toMatchObject({ code, errorCode });
    }
  });

  it('keepalive: a silent server is pinged after pingInterval and cut off after pingTimeout (1006, WS_ERR_PING_TIMEOUT)', async () => {
    const { peer, ws } = await rawSession({}, { pingInterval: 50, pingTimeout: 100 });
    const ping = await peer.nextFrame();
    expect(ping).toMatchObject({ opcode: 0x9, masked: true, payload: Buffer.alloc(0) });
    // No pong: the client gives up on the server.
    const result = await ws.closed;
    expect(result).toMatchObject({ code: 1006, wasClean: false, errorCode: 'WS_ERR_PING_TIMEOUT' });
    await peer.gone;
  });

  it('a server that never answers our close: cut off after closeTimeout (1006, WS_ERR_CLOSE_TIMEOUT)', async () => {
    const { peer, ws } = await rawSession({}, { closeTimeout: 100 });
    const closing = ws.close(4000, 'leaving');
    const close = await peer.nextFrame();
    expect(parseClose(close.payload)).toEqual({ code: 4000, reason: 'leaving' });
    expect(await closing).toMatchObject({ code: 1006, wasClean: false, errorCode: 'WS_ERR_CLOSE_TIMEOUT' });
    await peer.gone;
  });

  it('a server that drops TCP: closed is 1006, not clean; recv() rejects', async () => {
    const { peer, ws } = await rawSession();
    peer.socket.destroy();
    expect(await ws.closed).toMatchObject({ code: 1006, wasClean: false });
    const next = await settle(ws.recv());
    expect(!next.ok && next.error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1006 });
  });

  it('frames that arrive in the same packet as the 101 are not lost', async () => {
    const server = await startRawServer();
    const pending = connect(server.url);
    const peer = await server.peers.next();
    const request = await peer.request();
    const key = request.headers['sec-websocket-key']!;
    peer.write(
      Buffer.concat([
        Buffer.from(acceptResponse(key), 'latin1'),
        frame(0x1, 'early'),
        frame(0x2, Buffer.from([9, 9])),
      ]),
    );
    const ws = await pending;
    defer(() => ws.terminate());
    expect(await ws.recv()).toEqual({ type: 'text', data: 'early' });
    expect(await ws.recv()).toEqual({ type: 'binary', data: Buffer.from([9, 9]) });
  });
});

/**
 * The Sans-I/O core on a transport that is not a net.Socket: a server and a client Connection from
 * rfc6455/protocol over a pair of node:stream Duplex objects, as an adapter for another transport
 * (an HTTP/2 stream, a test pipe) would drive it. The opening handshake with the core's own
 * functions (permessage-deflate offered and agreed; neither side compresses here, which RFC 7692
 * allows: that would take zlib), a text and a binary message, the closing handshake. Run it with
 * `node --import tsx/esm examples/duplex.ts`; it prints what happened.
 */
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import type { CloseResult } from 'rfc6455';
import {
  Connection,
  ResponseHeadParser,
  acceptHandshake,
  buildClientRequest,
  buildDeflateOffer,
  generateHandshakeKey,
  negotiatePermessageDeflate,
  validateClientResponse,
  type ConnectionHost,
  type ConnectionOptions,
  type DeflateConfig,
  type HandshakeRequest,
} from 'rfc6455/protocol';

// The core has no hash of its own: the handshake's SHA-1 comes from the runtime.
const sha1Base64 = (input: string): string => createHash('sha1').update(input).digest('base64');

// What both ends are willing to do for permessage-deflate (RFC 7692 7.1), by the RFC's names.
const DEFLATE: DeflateConfig = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
};

/** Two Duplex ends, each one's writes the other's reads (Node 20 has no stream.duplexPair). */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  for (const other of [1, 0]) {
    ends.push(
      new Duplex({
        read() {},
        write(chunk: Buffer, _encoding, done) {
          // A wire copies: the receiver may unmask in place.
          ends[other]!.push(Buffer.from(chunk));
          done();
        },
        final(done) {
          ends[other]!.push(null);
          done();
        },
      }),
    );
  }
  return [ends[0]!, ends[1]!];
}

/** Reads up to the end of an HTTP head (CRLFCRLF), then pauses: what follows is WebSocket frames. */
function readRequestHead(stream: Duplex): Promise<{ head: string; rest: Buffer }> {
  return new Promise((resolve) => {
    let bytes = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      bytes = Buffer.concat([bytes, chunk]);
      const end = bytes.indexOf('\r\n\r\n');
      if (end < 0) return;
      stream.off('data', onData).pause();
      resolve({ head: bytes.subarray(0, end).toString('latin1'), rest: bytes.subarray(end + 4) });
    };
    stream.on('data', onData);
  });
}

/** A request head as acceptHandshake reads it (a real server has an HTTP parser for this). */
function parseRequestHead(head: string): HandshakeRequest {
  const [requestLine, ...lines] = head.split('\r\n');
  const [method, , version] = requestLine!.split(' ');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, httpVersion: version!.replace('HTTP/', ''), headers };
}

/** What hosts a Connection here: a Duplex carries its bytes, a timer its closeTimeout. */
class DuplexHost implements ConnectionHost {
  readonly connection: Connection;
  readonly closed: Promise<CloseResult>;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly name: string,
    private readonly stream: Duplex,
    options: ConnectionOptions,
    firstBytes: Uint8Array,
  ) {
    this.connection = new Connection(this, options);
    this.closed = new Promise((resolve) => stream.on('close', () => resolve(this.connection.transportClosed())));
    if (firstBytes.length > 0) this.connection.receive(firstBytes);
    stream.on('data', (chunk: Buffer) => this.connection.receive(chunk));
    stream.on('end', () => this.connection.receiveEnd());
    stream.resume();
  }

  sendText(text: string): void {
    console.log(`${this.name} sends text: ${text}`);
    this.connection.sendText(text);
    this.flush();
  }

  sendBinary(bytes: Uint8Array): void {
    console.log(`${this.name} sends binary: ${Buffer.from(bytes).toString('hex')}`);
    this.connection.sendBinary(bytes);
    this.flush();
  }

  close(code: number, reason: string): void {
    console.log(`${this.name} closes: ${code} ${reason}`);
    this.connection.close(code, reason);
  }

  // ---- ConnectionHost -----------------------------------------------------------------------

  onMessage(payload: Uint8Array, isText: boolean): void {
    const shown = isText ? new TextDecoder().decode(payload) : Buffer.from(payload).toString('hex');
    console.log(`${this.name} received ${isText ? 'text' : 'binary'}: ${shown}`);
  }

  onPing(): void {}

  onPong(): void {}

  onEnd(): void {
    // Every message before the peer's close was handled as it came: answer the close now.
    console.log(`${this.name} got the peer's close frame and answers it`);
    this.connection.proceed();
  }

  onOutput(): void {
    this.flush();
  }

  endTransport(): void {
    this.flush();
    this.stream.end();
  }

  destroyTransport(): void {
    this.stream.destroy();
  }

  setCloseTimer(on: boolean): void {
    clearTimeout(this.timer);
    if (on) this.timer = setTimeout(() => this.connection.timeout(), 5000).unref();
  }

  private flush(): void {
    for (const chunk of this.connection.takeOutput()) this.stream.write(chunk);
  }
}

async function main(): Promise<void> {
  const [clientEnd, serverEnd] = duplexPair();

  // The client's request (RFC 6455 4.1): a fresh key, a subprotocol and a permessage-deflate offer.
  const key = generateHandshakeKey();
  clientEnd.write(
    buildClientRequest({ path: '/chat', host: 'example.test', key, protocols: ['chat'], extensions: buildDeflateOffer(DEFLATE) }),
    'latin1',
  );

  // The server reads it and answers with the 101 (RFC 6455 4.2).
  const request = await readRequestHead(serverEnd);
  const accepted = acceptHandshake(parseRequestHead(request.head), {
    sha1Base64,
    selectProtocol: (offered) => (offered.includes('chat') ? 'chat' : undefined),
    negotiateExtensions: (offers) => negotiatePermessageDeflate(offers, DEFLATE),
  });
  serverEnd.write(accepted.response, 'latin1');
  console.log(`server accepted: subprotocol ${accepted.protocol}, extensions ${accepted.extensions}`);
  const server = new DuplexHost('server', serverEnd, { role: 'server', allowRsv1: accepted.deflate !== null }, request.rest);

  // The client reads the 101 and checks it.
  const parser = new ResponseHeadParser({ maxHeaderSize: 16 * 1024, maxHeaderCount: 100 });
  const head = await new Promise<NonNullable<ReturnType<ResponseHeadParser['push']>>>((resolve) => {
    const onData = (chunk: Buffer): void => {
      const complete = parser.push(chunk);
      if (complete === null) return;
      clientEnd.off('data', onData).pause();
      resolve(complete);
    };
    clientEnd.on('data', onData);
  });
  const agreed = validateClientResponse(head, { key, protocols: ['chat'], deflate: DEFLATE, sha1Base64 });
  console.log(`client checked the ${head.status}: subprotocol ${agreed.protocol}, deflate ${JSON.stringify(agreed.deflate)}`);
  const client = new DuplexHost('client', clientEnd, { role: 'client', allowRsv1: agreed.deflate !== null }, parser.remainder);

  // Messages both ways (the client's frames are masked with crypto.getRandomValues, RFC 6455 5.3).
  client.sendText('Hello from the client');
  server.sendBinary(new Uint8Array([0xde, 0xad, 0xbe, 0xef]));

  // The closing handshake: the client starts it, the server answers and ends the stream first.
  await new Promise((resolve) => setImmediate(resolve));
  client.close(1000, 'done');
  const [serverResult, clientResult] = await Promise.all([server.closed, client.closed]);
  console.log(`server closed: ${JSON.stringify(serverResult)}`);
  console.log(`client closed: ${JSON.stringify(clientResult)}`);
}

await main();

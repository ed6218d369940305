/**
 * `Ws`: one WebSocket connection over a Node socket or an HTTP/2 stream (RFC 8441), server or
 * client. The only place that listens to the socket (or stream); every protocol decision is the
 * core Connection's, the queues are the Inbox's and the Outbox's, and what differs between a
 * socket and a stream is the Transport's (transport.ts).
 *
 * Data flows one way: socket bytes -> Connection (parser) -> Inbox -> recv() / iteration, and back
 * through the Outbox and the connection's single FrameWriter, flushed once per event-loop turn.
 *
 * Both roles are built the same way, from a resolved ConnectionConfig (limits, timeouts, the
 * heartbeat to join, who to tell when it closes) and what the handshake negotiated.
 */

import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { CloseCode } from '../protocol/close.js';
import {
  Connection,
  type CloseResult,
  type ConnectionHost,
  type ConnectionOptions,
  type ReadyState,
  type Role,
} from '../protocol/connection.js';
import { WebSocketError } from '../protocol/errors.js';
import { MAX_CONTROL_PAYLOAD } from '../protocol/frame.js';
import type { PreparedFrame } from '../protocol/prepared.js';
import type { DeflateAgreement } from '../protocol/permessage-deflate.js';
import type { PerMessageDeflate } from './deflate.js';
import { coarseClock, keepaliveAction, type Heartbeat, type HeartbeatSubject, type KeepaliveStamps } from './heartbeat.js';
import { alreadyReading, Inbox, type Message } from './inbox.js';
import { type MessageHandler, MessageLoop } from './message-loop.js';
import { MessageLimiter, type RateLimitEvent, type ResolvedMessageLimits } from './limits.js';
import type { ResolvedOptions } from './options.js';
import { Outbox } from './outbox.js';
import { Pings } from './pings.js';
import { closeArgumentsError, notData, sendArguments, type BinaryData, type SendOptions } from './send-arguments.js';
import { allocBuffer, bufferTextEncoding, isUtf8Buffer, randomMask, sharedSlab } from './runtime.js';
import { TCP_TRANSPORT, type Transport } from './transport.js';
import { asBuffer, rejected, toBytes } from './util.js';


/** Everything a connection needs to know, resolved once and shared by a server's connections. */
export interface ConnectionConfig extends ResolvedOptions {
  readonly role: Role;
  /** The keepalive registry this connection joins. */
  readonly heartbeat: Heartbeat;
  /** Told once the connection is closed (a server forgets it). */
  readonly onClosed?: ((ws: Ws) => void) | undefined;
  /** Server role: the per-connection rate limits (limits.ts), or null for none. */
  readonly messageLimits?: ResolvedMessageLimits | null;
  /** Told of each message over those limits (the server's onRateLimit, errors reported). */
  readonly onRateLimit?: ((ws: Ws, event: RateLimitEvent) => void) | undefined;
  /** What carries the connection (transport.ts): an HTTP/1.1 upgrade's socket when absent. */
  readonly transport?: Transport | undefined;
}

/** What the opening handshake agreed. */
export interface Negotiated {
  readonly protocol: string;
  /** The Sec-WebSocket-Extensions value agreed, '' for none. */
  readonly extensions: string;
  readonly deflate: PerMessageDeflate | null;
}


const kWs = Symbol('rfc6455.ws');
type OwnedSocket = Duplex & { [kWs]?: Ws };

const EMPTY = Buffer.alloc(0);

// The core's options, one object per config (a server's connections share its config) and
// compression, rather than a literal per connection: the Connection keeps it, to make its writer
// on first use (memory per idle connection). Keyed by the config itself, so it goes with it.
const connectionOptions = new WeakMap<ConnectionConfig, [plain?: ConnectionOptions, compressed?: ConnectionOptions]>();

function connectionOptionsFor(config: ConnectionConfig, compressed: boolean): ConnectionOptions {
  let pair = connectionOptions.get(config);
  if (pair === undefined) connectionOptions.set(config, (pair = []));
  return (pair[compressed ? 1 : 0] ??= {
    role: config.role,
    maxPayload: config.maxPayload,
    maxFragments: config.maxFragments,
    allowRsv1: compressed,
    slab: sharedSlab,
    alloc: allocBuffer,
    isUtf8: isUtf8Buffer,
    textEncoding: bufferTextEncoding,
    randomMask: config.role === 'client' ? randomMask : undefined,
  });
}

/**
 * What a connection needs only once it closes, is asked how it closed, or pings: four fields an
 * idle connection does without, made together when the first is set (memory per idle connection).
 */
class Extras {
  timer: NodeJS.Timeout | null = null;
  // `closed`, created when first asked for.
  closedPromise: Promise<CloseResult> | null = null;
  resolveClosed: ((result: CloseResult) => void) | null = null;
  pings: Pings | null = null;
}

// Ws is also the core's ConnectionHost, a HeartbeatSubject and its own KeepaliveStamps, but
// says so only where it is passed as one: those members are internal (stripped from the published
// types), which an `implements` clause would then contradict.
/**
 * One WebSocket connection, either role: what a server's `handler` gets and what connect()
 * resolves with. Read with recv(), `for await` or forEach(), write with send(), end with close(). A method
 * that returns a promise rejects, never throws: WS_ERR_INVALID_ARGUMENT for a bad argument, a
 * ConnectionClosedError (WS_ERR_CLOSED) once the connection can no longer do what was asked.
 */
export class Ws implements AsyncIterableIterator<Message> {
  /** The subprotocol agreed in the handshake, or '' when none was. */
  readonly protocol: string;
  /** The extensions agreed in the handshake (Sec-WebSocket-Extensions), or ''. */
  readonly extensions: string;

  private readonly socket: OwnedSocket;
  private readonly config: ConnectionConfig;
  private readonly connection: Connection;
  private readonly inbox: Inbox;
  // Made on first use (see `outbox`): a connection that has sent nothing yet carries none.
  private outboxState: Outbox | null = null;
  private readonly codec: PerMessageDeflate | null;
  // The rate limits' buckets; null when the server sets none (the usual case, one check per message).
  private readonly limiter: MessageLimiter | null;
  // The close timer, `closed` and the pings waiting for pongs, made when one is first needed
  // (see Extras and the accessors below).
  private extras: Extras | null = null;

  /** @internal Keepalive stamps (coarse clock, see heartbeat.ts). */
  lastSeen: number;
  /** @internal */
  lastMessageAt: number;
  /** @internal */
  pingSentAt = 0;

  // Documented, not hidden: stripped from the published types, the class would seem to have a
  // constructor without arguments.
  /**
   * Made by WebSocketServer once its 101 is written, and by connect() once the 101 is checked;
   * applications do not construct it.
   */
  constructor(socket: Duplex, config: ConnectionConfig, negotiated: Negotiated) {
    this.socket = socket;
    this.config = config;
    this.protocol = negotiated.protocol;
    this.extensions = negotiated.extensions;
    const codec = (this.codec = negotiated.deflate);
    const host: ConnectionHost = this;
    const connection = (this.connection = new Connection(host, connectionOptionsFor(config, codec !== null)));
    this.inbox = new Inbox(socket, connection, config, codec);
    const limits = config.messageLimits;
    this.limiter = limits == null ? null : new MessageLimiter(limits, performance.now());
    // Whole milliseconds, as the coarse clock's: small integers live in the field itself, where a
    // fraction would need a heap number per stamp (memory per idle connection).
    this.lastSeen = this.lastMessageAt = Math.floor(performance.now());
    this.socket[kWs] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    if (typeof (socket as Socket).setNoDelay === 'function') (socket as Socket).setNoDelay(true);
    if (typeof (socket as Socket).setTimeout === 'function') (socket as Socket).setTimeout(0);
    const subject: HeartbeatSubject = this;
    config.heartbeat.join(subject);
  }

  /**
   * What carries the connection: 'http/1.1' for a socket taken over by an HTTP/1.1 upgrade (TCP or
   * TLS), 'h2' for a stream of an HTTP/2 connection (RFC 8441), which it may share with others.
   */
  get transport(): 'http/1.1' | 'h2' {
    return (this.config.transport ?? TCP_TRANSPORT).name;
  }

  /** 'server' for a connection a server accepted, 'client' for one connect() made. */
  get role(): Role {
    // The config's, not a field of every connection (memory per idle connection).
    return this.config.role;
  }

  private get timer(): NodeJS.Timeout | null {
    return this.extras?.timer ?? null;
  }

  private set timer(timer: NodeJS.Timeout | null) {
    if (timer !== null || this.extras !== null) (this.extras ??= new Extras()).timer = timer;
  }

  private get closedPromise(): Promise<CloseResult> | null {
    return this.extras?.closedPromise ?? null;
  }

  private set closedPromise(promise: Promise<CloseResult> | null) {
    (this.extras ??= new Extras()).closedPromise = promise;
  }

  private get resolveClosed(): ((result: CloseResult) => void) | null {
    return this.extras?.resolveClosed ?? null;
  }

  private set resolveClosed(resolve: ((result: CloseResult) => void) | null) {
    (this.extras ??= new Extras()).resolveClosed = resolve;
  }

  private get pings(): Pings | null {
    return this.extras?.pings ?? null;
  }

  private set pings(pings: Pings | null) {
    (this.extras ??= new Extras()).pings = pings;
  }

  /**
   * 'open'; 'closing' once the closing handshake has started (either side's close frame) or the
   * connection failed; 'closed' once the socket is gone and `closed` has settled.
   */
  get readyState(): ReadyState {
    return this.connection.state;
  }

  /** Settles (never rejects) with how the connection ended, once the TCP connection is gone. */
  get closed(): Promise<CloseResult> {
    if (this.closedPromise === null) {
      const result = this.connection.closeResult;
      if (result !== null) this.closedPromise = Promise.resolve(result);
      else {
        this.closedPromise = new Promise((resolve) => {
          this.resolveClosed = resolve;
        });
      }
    }
    return this.closedPromise;
  }

  /** How the connection ended; undefined while it is open. */
  get closeResult(): CloseResult | undefined {
    return this.connection.closeResult ?? undefined;
  }

  /** Bytes accepted by send() that the kernel has not taken yet, messages waiting to be compressed included. */
  get bufferedAmount(): number {
    const outbox = this.outboxState;
    // Without an outbox nothing waits for compression: what the writer and the socket hold.
    return outbox !== null ? outbox.bufferedAmount : this.connection.pendingBytes + this.socket.writableLength;
  }

  /**
   * What permessage-deflate the handshake agreed, from this side's point of view, or null when it
   * agreed none (the option that offers or accepts it is `perMessageDeflate`).
   */
  get deflateAgreement(): DeflateAgreement | null {
    return this.codec?.agreement ?? null;
  }

  /**
   * The next message. Messages that arrived before the connection closed are still returned;
   * after them, rejects with ConnectionClosedError (code WS_ERR_CLOSED) saying how it closed.
   */
  recv(): Promise<Message> {
    return this.inbox.take(false) as Promise<Message>;
  }

  /**
   * The connection is its own async iterator: `for await (const message of ws)`. (No iterator
   * object with closures per connection.) The loop ends, without throwing, when it closes.
   */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** AsyncIterator: the next message, or done once the connection has closed. */
  next(): Promise<IteratorResult<Message>> {
    return this.inbox.take(true) as Promise<IteratorResult<Message>>;
  }

  /**
   * Calls `handler` with every message, in order, one at a time, until the connection closes: a
   * for-await loop without its cost per message (no promise per read, and nothing of the last
   * message kept while the next is awaited). When the handler returns a promise, the next message
   * waits until it settles. Resolves once the connection has closed and every message before the
   * close was handled; rejects with what the handler threw (or its promise rejected with), and
   * then stops reading, without closing the connection (as a for-await loop whose body throws).
   * Only one reader at a time: forEach() while recv() or a for-await loop waits for a message, or
   * while another forEach() runs, rejects with WS_ERR_ALREADY_READING, and so do those while it runs.
   */
  forEach(handler: MessageHandler): Promise<void> {
    if (typeof handler !== 'function') return rejected(new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'forEach() needs a function'));
    if (this.inbox.hasReader) return rejected(alreadyReading('forEach()'));
    return new Promise<void>((resolve, reject) => new MessageLoop(this.inbox, handler, resolve, reject).start());
  }

  /** AsyncIterator: leaving a for-await loop does not close the connection. */
  return(): Promise<IteratorResult<Message>> {
    return Promise.resolve({ done: true, value: undefined });
  }

  /**
   * Sends a message: a string as text, bytes as binary (or as text with `{ text: true }`, when
   * they are UTF-8 already: WS_ERR_INVALID_ARGUMENT if they are not). Resolves when the kernel has
   * the frame, so `await ws.send()` is backpressure; rejects with ConnectionClosedError if the
   * connection closed first. Over `maxBufferedAmount`, `sendOverflow` decides. All sends of one
   * event-loop turn go out in one socket write. Bytes are not copied: leave a buffer unchanged until
   * its send() has resolved. A rejected send that nobody awaits is not an unhandled rejection.
   */
  send(data: string | BinaryData, options?: SendOptions): Promise<void> {
    const message = sendArguments(data, options);
    if (message instanceof WebSocketError) return rejected(message);
    return this.outbox.send(message.payload, message.isText, message.fragmentSize);
  }

  /**
   * Sends a frame built once for many connections (prepareFrame; the hub does this): the same
   * bytes as every other server connection (a client re-masks), ordered with send(). Rejects with
   * WS_ERR_INVALID_ARGUMENT for a compressed frame this connection cannot take (no
   * permessage-deflate, or a larger window than the peer allows).
   */
  sendPrepared(frame: PreparedFrame): Promise<void> {
    const refusal = this.preparedRefusal(frame, 'sendPrepared()');
    if (refusal !== null) return rejected(refusal);
    return this.outbox.sendPrepared(frame);
  }

  /**
   * sendPrepared(), or send() of `payload` when `frame` is null (as text when `isText`: UTF-8
   * bytes), without a promise: returns the number of the batch of writes the message joined, or 0
   * when the connection refused it: it is closing or closed, or `maxBufferedAmount` is reached
   * (`sendOverflow` applies, as for send()). Batch numbers grow from 1; the message was written once
   * `writtenBatches` reaches its number, and lost if the connection goes before. This is the
   * hub's delivery path (a broadcast to 10,000 connections costs no promise per connection); a
   * HubConnection that wraps a Ws forwards it, and `writtenBatches`, to keep it (README, "The
   * hub"). Throws WS_ERR_INVALID_ARGUMENT for what send() or sendPrepared() would reject.
   */
  sendNumbered(frame: PreparedFrame | null, payload: Uint8Array, isText: boolean): number {
    const refusal =
      frame !== null
        ? this.preparedRefusal(frame, 'sendNumbered()')
        : !(payload instanceof Uint8Array)
          ? notData('sendNumbered()')
          : isText && !isUtf8Buffer(payload)
            ? new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'sendNumbered(null, bytes, true): the bytes are not valid UTF-8')
            : null;
    if (refusal !== null) throw refusal;
    return this.outbox.sendNumbered(frame, payload, isText);
  }

  /** Why sendPrepared() cannot take `frame` (not a prepared frame, or compressed for a window this peer did not agree), or null. */
  private preparedRefusal(frame: PreparedFrame, method: string): WebSocketError | null {
    if (typeof frame !== 'object' || frame === null || !(frame.frame instanceof Uint8Array)) {
      return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `${method} takes a frame from prepareFrame()`);
    }
    const bits = frame.deflateWindowBits;
    if (bits === undefined) return null;
    const agreement = this.deflateAgreement;
    if (agreement !== null && agreement.ourMaxWindowBits >= bits) return null;
    return new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      agreement === null
        ? 'a compressed frame for a connection without permessage-deflate'
        : `a frame compressed with a ${bits}-bit window for a peer that allows ${agreement.ourMaxWindowBits}`,
    );
  }

  /**
   * The number of the latest batch of writes the kernel took, with every batch before it (see
   * sendNumbered()); 0 before the first.
   */
  get writtenBatches(): number {
    return this.outboxState?.writtenBatches ?? 0;
  }

  /**
   * Sends a ping (at most 125 bytes of payload) and resolves with the round-trip time in
   * milliseconds once its pong arrives (a pong answers the latest ping with its payload and every
   * ping before it, RFC 6455 5.5.3). Rejects with ConnectionClosedError if the connection closes
   * first, with WS_ERR_INVALID_ARGUMENT for data that is not a string or bytes or is too long.
   */
  ping(data: string | BinaryData = EMPTY): Promise<number> {
    let payload: Buffer;
    if (typeof data === 'string') payload = Buffer.from(data);
    else {
      const bytes = toBytes(data);
      if (bytes === null) return rejected(notData('ping()'));
      payload = Buffer.from(bytes);
    }
    // RFC 6455 5.5: a control frame's payload is at most 125 bytes.
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      return rejected(
        new WebSocketError('WS_ERR_INVALID_ARGUMENT', `ping(): a payload of ${payload.length} bytes (at most ${MAX_CONTROL_PAYLOAD})`),
      );
    }
    if (!this.connection.canSend) return rejected(this.connection.closedError());
    this.outbox.ping(payload);
    return (this.pings ??= new Pings()).sent(payload);
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2) with `code` (default 1000) and `reason` (at most
   * 123 bytes of UTF-8). Messages sent before are delivered first. Resolves when the connection is
   * closed: the peer answered, or closeTimeout passed and the socket was destroyed. Rejects with
   * WS_ERR_INVALID_ARGUMENT, before anything is sent, for a code that may not be sent or a reason
   * too long.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): Promise<CloseResult> {
    const invalid = closeArgumentsError(code, reason);
    if (invalid !== null) return rejected(invalid);
    const connection = this.connection;
    if (connection.state !== 'closed' && connection.canSend) connection.close(code, reason);
    return this.closed;
  }

  /** Destroys the connection at once, without a closing handshake (code 1006). */
  terminate(reason = 'terminated'): void {
    this.connection.terminate(reason);
  }

  /**
   * Resolves once everything accepted has been written to the kernel (bufferedAmount 0); rejects
   * with ConnectionClosedError if the connection closes first.
   */
  drain(): Promise<void> {
    return this.outbox.drain();
  }

  // ---- internals -------------------------------------------------------------------------------

  /**
   * The outbound side, made when something is first sent or queued (a message, a ping, a pong, a
   * close frame): until then an idle connection carries no Outbox (memory per idle connection).
   */
  private get outbox(): Outbox {
    return (this.outboxState ??= new Outbox(
      this.connection,
      (this.config.transport ?? TCP_TRANSPORT).sink(this.socket),
      this.config,
      this.codec,
      this.config.perMessageDeflate?.threshold ?? 0,
    ));
  }

  /** @internal Bytes from the socket (also the `head` of the upgrade). */
  receiveChunk(chunk: Buffer): void {
    this.lastSeen = coarseClock.now;
    this.connection.receive(chunk);
  }

  /** @internal Fails the connection ourselves: a handler that threw (1011), a server shutdown. */
  abort(code: number, reason: string, errorCode?: WebSocketError['code']): void {
    this.connection.fail(code, reason, errorCode);
  }

  /** @internal ConnectionHost */
  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void {
    this.lastMessageAt = coarseClock.now;
    const limiter = this.limiter;
    if (limiter !== null) {
      const over = limiter.check(payload.length, performance.now());
      if (over !== null) return this.overLimit(limiter, over, asBuffer(payload), isText, compressed);
    }
    this.inbox.push(asBuffer(payload), isText, compressed);
  }

  /** A message over the rate limits: not delivered; the application is told; a peer that keeps on is closed. */
  private overLimit(limiter: MessageLimiter, event: RateLimitEvent, payload: Buffer, isText: boolean, compressed: boolean): void {
    this.inbox.discard(payload, isText, compressed);
    this.config.onRateLimit?.(this, event);
    // RFC 6455 7.4.1: 1008, a message that violates the endpoint's policy.
    if (limiter.exhausted) this.connection.fail(CloseCode.POLICY_VIOLATION, 'rate limit exceeded', 'WS_ERR_RATE_LIMITED');
  }

  /** @internal ConnectionHost: the pong is queued by the core. */
  onPing(): void {}

  /** @internal ConnectionHost: settles the pings this pong answers. */
  onPong(payload: Uint8Array): void {
    this.pings?.pong(payload);
  }

  /** @internal ConnectionHost */
  onEnd(): void {
    this.inbox.endOfStream();
  }

  /** @internal ConnectionHost */
  onOutput(): void {
    this.outbox.scheduleFlush();
  }

  /** @internal ConnectionHost */
  endTransport(): void {
    this.outbox.requestEnd();
  }

  /** @internal ConnectionHost: a TCP socket is destroyed, an HTTP/2 stream reset (transport.ts). */
  destroyTransport(): void {
    (this.config.transport ?? TCP_TRANSPORT).abort(this.socket);
  }

  /** @internal ConnectionHost */
  setCloseTimer(on: boolean): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (!on) return;
    this.timer = setTimeout(onTimeout, this.config.closeTimeout, this);
    this.timer.unref();
  }

  /** @internal */
  timedOut(): void {
    this.timer = null;
    this.connection.timeout();
  }

  /** @internal A sweep of the heartbeat this connection joined. */
  heartbeat(now: number, period: number): void {
    if (this.connection.state !== 'open') return;
    // While reading is paused the silence is ours, not the peer's.
    if (this.inbox.isPaused) {
      this.lastSeen = now;
      return;
    }
    const config = this.config;
    const stamps: KeepaliveStamps = this;
    switch (keepaliveAction(stamps, now, period, config)) {
      case 'idle':
        void this.close(CloseCode.GOING_AWAY, 'idle timeout');
        break;
      case 'terminate':
        this.connection.terminate(`ping timeout: no answer within ${config.pingTimeout} ms`, 'WS_ERR_PING_TIMEOUT');
        break;
      case 'ping':
        this.outbox.ping(EMPTY);
        break;
      case 'none':
        break;
    }
  }

  /** @internal The transport closed a while ago and the application left messages compressed. */
  abandonInbox(): void {
    this.timer = null;
    this.inbox.abandon();
  }

  private freeCodec(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.codec?.close();
  }

  /** @internal The peer ended its side of TCP. */
  socketEnd(): void {
    this.connection.receiveEnd();
  }

  /** @internal The socket is gone. */
  socketClosed(): void {
    if (this.connection.closeResult !== null) return;
    const result = this.connection.transportClosed();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.outboxState?.transportClosed();
    // Messages that arrived before the end are still inflated for the application; the zlib
    // contexts and their budget are freed once they are, or after closeTimeout if it stops reading.
    this.inbox.close(() => this.freeCodec());
    if (this.inbox.compressed > 0) {
      this.timer = setTimeout(onAbandon, this.config.closeTimeout, this);
      this.timer.unref();
    }
    this.pings?.closed(() => this.connection.closedError());
    this.config.heartbeat.leave(this);
    this.resolveClosed?.(result);
    this.config.onClosed?.(this);
  }
}

// Socket listeners are module-level functions, not closures per connection (as in ws).
function onSocketData(this: OwnedSocket, chunk: Buffer): void {
  this[kWs]!.receiveChunk(chunk);
}

function onSocketEnd(this: OwnedSocket): void {
  this[kWs]!.socketEnd();
}

function onSocketClose(this: OwnedSocket): void {
  this[kWs]!.socketClosed();
}

function onSocketError(this: OwnedSocket): void {
  // A 'close' event always follows; the error itself (ECONNRESET, EPIPE...) changes nothing.
}

function onTimeout(ws: Ws): void {
  ws.timedOut();
}

function onAbandon(ws: Ws): void {
  ws.abandonInbox();
}

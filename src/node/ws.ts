/**
 * `Ws`: one WebSocket connection over a Node socket. The only place that reads from and writes to
 * the socket; every protocol decision is the core Connection's.
 *
 * Data flows one way: socket bytes -> Connection (parser) -> message queue -> recv() / iteration,
 * and back through the connection's single FrameWriter, flushed once per event-loop turn.
 */

import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { CloseCode, encodeClosePayload, truncateCloseReason, type CloseInfo } from '../protocol/close.js';
import { Connection, type ConnectionHandler } from '../protocol/connection.js';
import { ConnectionClosedError, ProtocolError, WebSocketError } from '../protocol/errors.js';
import type { PerMessageDeflate } from './deflate.js';
import { DeflatePipeline, type PipelineHost } from './deflate-pipeline.js';
import { coarseClock, type HeartbeatSubject } from './heartbeat.js';
import type { ResolvedServerOptions } from './options.js';
import { allocBuffer, asBuffer, bufferTextEncoding, isUtf8Buffer, sharedSlab } from './runtime.js';

export type Message =
  | { readonly type: 'text'; readonly data: string }
  | { readonly type: 'binary'; readonly data: Buffer };

export type ReadyState = 'open' | 'closing' | 'closed';

/** How a connection ended. */
export interface CloseResult {
  /**
   * The code of the peer's close frame (1005 if it had none); the code we failed the connection
   * with (1002, 1007, 1009, 1011...) when we did; 1006 when it ended without a closing handshake.
   */
  readonly code: number;
  readonly reason: string;
  /** True when close frames went both ways before TCP ended (RFC 6455 7.1.4). */
  readonly wasClean: boolean;
}

/** Binary data `send()` accepts. */
export type BinaryData = Uint8Array | ArrayBuffer | DataView;

interface Waiter {
  readonly resolve: (value: Message | IteratorResult<Message>) => void;
  readonly reject: (error: Error) => void;
  /** Waiting for the async iterator: settles with { done } instead of rejecting at close. */
  readonly iterator: boolean;
}

/**
 * Sends queued in one event-loop turn share one promise, settled by the socket's write callback:
 * resolved once the kernel has the bytes, rejected if the socket dies first. So `await send()`
 * is real backpressure, and nothing send() accepted is lost without its promise rejecting.
 */
class Batch {
  readonly promise: Promise<void>;
  readonly settle: (error?: Error | null) => void;

  constructor(ws: Ws) {
    let resolve!: () => void;
    let reject!: (error: Error) => void;
    this.promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // Fire-and-forget sends must not become unhandled rejections; awaiting callers still see it.
    this.promise.catch(noop);
    // Node calls the callback of a write cut short by destroy() with no error (onWriteComplete in
    // stream_base_commons), so a destroyed socket counts as a failure: better to reject bytes that
    // may have arrived than to resolve bytes that were thrown away.
    this.settle = (error) => (error || ws.socketDestroyed() ? reject(ws.closedError()) : resolve());
  }
}

/** What the connection reports to whoever accepted it (the server). */
export interface WsOwner {
  readonly options: ResolvedServerOptions;
  connectionClosed(ws: Ws): void;
}

// A received close or a protocol error, waiting for the application to read what came before it.
type Terminal = { readonly kind: 'close' } | { readonly kind: 'fail'; readonly error: ProtocolError };

const kWs = Symbol('rfc6455.ws');
type OwnedSocket = Duplex & { [kWs]?: Ws };

function noop(): void {}

function rejected<T>(error: Error): Promise<T> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

const EMPTY = new Uint8Array(0);

export class Ws implements AsyncIterableIterator<Message>, HeartbeatSubject {
  /** The subprotocol agreed in the handshake, or '' when none was. */
  readonly protocol: string;

  private readonly socket: OwnedSocket;
  private readonly owner: WsOwner;
  private readonly connection: Connection;
  /** permessage-deflate, when negotiated: keeps messages in order around zlib. */
  private readonly pipeline: DeflatePipeline | null;

  // Unread messages and their sizes, alternating; created on first use (an idle connection that is
  // being read from never needs one). Per-connection memory matters at 10,000 connections.
  private queue: (Message | number)[] | null = null;
  private queueHead = 0;
  private queuedBytes = 0;
  /** Reading is paused because the application left receiveHighWaterMark bytes unread. */
  private paused = false;
  // Readers waiting for a message: almost always one (a for-await loop), so it has a field of its
  // own and only further concurrent recv() calls need an array.
  private waiter: Waiter | null = null;
  private moreWaiters: Waiter[] | null = null;
  /** Set once the application has asked for a message: it then gets every message first. */
  private reading = false;
  private terminal: Terminal | null = null;

  private flushScheduled = false;
  private batch: Batch | null = null;

  private state: ReadyState = 'open';
  /** close() was called or the connection is failing: no more sends are accepted. */
  private closeQueued = false;
  private socketEnded = false;
  private timer: NodeJS.Timeout | null = null;
  private result: CloseResult | null = null;
  // `closed`, created when first asked for.
  private closedPromise: Promise<CloseResult> | null = null;
  private resolveClosed: ((result: CloseResult) => void) | null = null;

  // Keepalive, stamped with the coarse clock (see heartbeat.ts).
  private lastSeen: number;
  private lastMessageAt: number;
  private pingSentAt = 0;

  /** @internal Created by the server once the handshake response is written. */
  constructor(socket: Duplex, owner: WsOwner, protocol: string, deflate: PerMessageDeflate | null = null) {
    this.socket = socket;
    this.owner = owner;
    this.protocol = protocol;
    const options = owner.options;
    const events = new ConnectionEvents(this);
    this.connection = new Connection(events, {
      role: 'server',
      maxPayload: options.maxPayload,
      maxFragments: options.maxFragments,
      allowRsv1: deflate !== null,
      slab: sharedSlab,
      alloc: allocBuffer,
      isUtf8: isUtf8Buffer,
      textEncoding: bufferTextEncoding,
    });
    this.pipeline =
      deflate === null
        ? null
        : new DeflatePipeline(deflate, events, options.deflate?.threshold ?? 0, options.maxPayload);
    this.lastSeen = this.lastMessageAt = performance.now();
    this.socket[kWs] = this;
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    if (typeof (socket as Socket).setNoDelay === 'function') (socket as Socket).setNoDelay(true);
    if (typeof (socket as Socket).setTimeout === 'function') (socket as Socket).setTimeout(0);
  }

  get readyState(): ReadyState {
    return this.state;
  }

  /** Settles (never rejects) with how the connection ended, once the TCP connection is gone. */
  get closed(): Promise<CloseResult> {
    if (this.closedPromise === null) {
      if (this.state === 'closed') this.closedPromise = Promise.resolve(this.result!);
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
    return this.state === 'closed' ? (this.result ?? undefined) : undefined;
  }

  /** Bytes accepted by send() that the kernel has not taken yet. */
  get bufferedAmount(): number {
    const waiting = this.pipeline === null ? 0 : this.pipeline.outboundBytes;
    return waiting + this.connection.writer.pendingBytes + this.socket.writableLength;
  }

  /** Whether permessage-deflate was negotiated for this connection. */
  get compressed(): boolean {
    return this.pipeline !== null;
  }

  /**
   * The next message. Messages that arrived before the connection closed are still returned;
   * after them, rejects with ConnectionClosedError (code WS_ERR_CLOSED) saying how it closed.
   */
  recv(): Promise<Message> {
    return this.take(false) as Promise<Message>;
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
    return this.take(true) as Promise<IteratorResult<Message>>;
  }

  /** AsyncIterator: leaving a for-await loop does not close the connection. */
  return(): Promise<IteratorResult<Message>> {
    return Promise.resolve({ done: true, value: undefined });
  }

  /**
   * Sends a message: a string as text, bytes as binary. Resolves when the frame has been handed to
   * the socket; rejects with ConnectionClosedError if the connection closed first.
   */
  send(data: string | BinaryData): Promise<void> {
    if (!this.canSend()) return rejected(this.closedError());
    const bytes = typeof data === 'string' ? undefined : toBytes(data);
    if (this.bufferedAmount >= this.owner.options.maxBufferedAmount) return this.overflow();
    if (this.pipeline !== null) {
      const waiting = this.pipeline.send(bytes === undefined ? (data as string) : asBuffer(bytes), bytes === undefined);
      if (waiting !== null) return waiting;
    }
    if (bytes === undefined) this.connection.sendText(data as string);
    else this.connection.sendBinary(bytes);
    return this.queued();
  }

  /** Sends a ping (at most 125 bytes of payload). Resolves when the kernel has it. */
  ping(data: string | BinaryData = EMPTY): Promise<void> {
    const payload = typeof data === 'string' ? Buffer.from(data) : toBytes(data);
    if (!this.canSend()) return rejected(this.closedError());
    this.connection.sendPing(payload);
    return this.queued();
  }

  /**
   * Starts the closing handshake (RFC 6455 7.1.2) with `code` (default 1000) and `reason` (at most
   * 123 bytes of UTF-8). Messages sent before are delivered first. Resolves when the connection is
   * closed: the peer answered, or closeTimeout passed and the socket was destroyed. Throws
   * WS_ERR_INVALID_ARGUMENT for a code that may not be sent.
   */
  close(code: number = CloseCode.NORMAL, reason = ''): Promise<CloseResult> {
    if (this.state === 'closed' || this.closeQueued) return this.closed;
    encodeClosePayload(code, reason); // validates, and throws before anything changes
    this.closeQueued = true;
    this.state = 'closing';
    this.terminal = null;
    this.startTimer(this.owner.options.closeTimeout);
    // Behind anything still being compressed, so every message sent before goes out first.
    this.afterSends(() => {
      this.connection.sendClose(code, reason);
      // Answering the peer's close completes the handshake; otherwise wait for its answer.
      if (this.connection.closeReceived !== null) this.finishClosing();
      else this.flush();
    });
    return this.closed;
  }

  /** Destroys the connection at once, without a closing handshake (code 1006). */
  terminate(reason = 'terminated'): void {
    if (this.state === 'closed') return;
    this.recordResult(CloseCode.ABNORMAL, reason, false);
    this.socket.destroy();
  }

  // ---- internals -------------------------------------------------------------------------------

  /** @internal Bytes from the socket (also the `head` of the upgrade). */
  receiveChunk(chunk: Buffer): void {
    this.lastSeen = coarseClock.now;
    try {
      this.connection.receive(chunk);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.deferTerminal({ kind: 'fail', error });
    }
    if (this.connection.writer.pendingBytes > 0) this.scheduleFlush();
  }

  /** @internal A complete message of `size` bytes on the wire, ready for the application. */
  deliver(data: Buffer, isText: boolean, size: number): void {
    const message: Message = isText ? { type: 'text', data: data.toString('utf8') } : { type: 'binary', data };
    this.lastMessageAt = coarseClock.now;
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = this.moreWaiters?.shift() ?? null;
      if (waiter.iterator) waiter.resolve({ done: false, value: message });
      else waiter.resolve(message);
      // An inflated message leaves the pipeline's count too: reading may have paused on it.
      this.resumeIfRoom();
      return;
    }
    (this.queue ??= []).push(message, size);
    this.queuedBytes += size;
    this.checkBackpressure();
  }

  /** @internal A compressed message went to the pipeline: it counts against the inbound limit too. */
  received(data: Buffer, isText: boolean, compressed: boolean): void {
    if (this.pipeline !== null && this.pipeline.receive(data, isText, compressed)) this.checkBackpressure();
    else this.deliver(data, isText, data.length);
  }

  /** Inbound backpressure: stop reading, so TCP pushes back on the peer instead of us buffering. */
  private checkBackpressure(): void {
    if (this.paused) return;
    if (this.unreadBytes() >= this.owner.options.receiveHighWaterMark) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** Reading paused on receiveHighWaterMark resumes once the unread bytes fall to half of it. */
  private resumeIfRoom(): void {
    if (this.paused && this.unreadBytes() <= this.owner.options.receiveHighWaterMark / 2) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** @internal The pipeline may inflate while the application has room (receiveHighWaterMark). */
  mayInflate(): boolean {
    return this.queuedBytes < this.owner.options.receiveHighWaterMark;
  }

  private unreadBytes(): number {
    return this.queuedBytes + (this.pipeline === null ? 0 : this.pipeline.inboundBytes);
  }

  /** @internal The pipeline delivered everything it held. */
  inboundIdle(): void {
    if (this.terminal !== null && this.caughtUp()) this.runTerminal();
  }

  /** @internal Inflation failed: fail the connection like any protocol error. */
  inflateFailed(error: ProtocolError): void {
    this.connection.stopReceiving();
    this.deferTerminal({ kind: 'fail', error });
  }

  /** @internal The pipeline writes a message whose turn has come. */
  writeMessage(payload: Buffer | string, isText: boolean, compressed: boolean): Promise<void> {
    // A message queued before close() is still written: only the connection's state decides.
    if (!this.writable()) throw this.closedError();
    if (compressed) this.connection.sendCompressed(payload as Buffer, isText);
    else if (typeof payload === 'string') this.connection.sendText(payload);
    else this.connection.sendBinary(payload);
    return this.queued();
  }

  /** @internal ConnectionEvents: the peer's close frame. */
  peerClosed(info: CloseInfo): void {
    this.recordResult(info.code, info.reason, false);
    this.state = 'closing';
    if (this.connection.closeSent !== null) {
      // We started the handshake and this is the answer: close TCP (the server goes first, 7.1.1).
      this.finishClosing();
    } else {
      this.deferTerminal({ kind: 'close' });
    }
  }

  /** @internal The server failing the connection itself (handler error, shutdown). */
  abort(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.closeQueued = true;
    // Failing now: what waits for compression is dropped (its send() rejects).
    this.pipeline?.abort(() => new ConnectionClosedError(code, reason));
    if (this.connection.closeSent === null) {
      this.recordResult(code, reason, false);
      this.connection.sendClose(code, truncateCloseReason(reason));
    }
    this.state = 'closing';
    this.terminal = null;
    this.finishClosing();
  }

  private take(iterator: boolean): Promise<Message | IteratorResult<Message>> {
    this.reading = true;
    const queue = this.queue;
    if (queue !== null && this.queueHead < queue.length) {
      const message = queue[this.queueHead] as Message;
      this.queuedBytes -= queue[this.queueHead + 1] as number;
      this.queueHead += 2;
      if (this.queueHead === queue.length) {
        this.queue = null;
        this.queueHead = 0;
      } else if (this.queueHead >= 2048 && this.queueHead * 2 >= queue.length) {
        queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      this.resumeIfRoom();
      // Messages waiting to be inflated were held back while the application's queue was full.
      if (this.pipeline?.inboundBusy) this.pipeline.resumeInbound();
      return Promise.resolve(iterator ? { done: false, value: message } : message);
    }
    // The application has read everything that came before a close or an error: act on it now.
    if (this.terminal !== null && !this.pipeline?.inboundBusy) this.runTerminal();
    if (this.state === 'closed' || this.connection.closeReceived !== null || this.result !== null) {
      return iterator ? Promise.resolve({ done: true, value: undefined }) : rejected(this.closedError());
    }
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, iterator };
      if (this.waiter === null) this.waiter = waiter;
      else (this.moreWaiters ??= []).push(waiter);
    });
  }

  /** send() accepts messages: close() has not been called and frames can still be written. */
  private canSend(): boolean {
    return !this.closeQueued && this.writable();
  }

  /** Frames can still be written: no close frame of ours yet, and the socket takes writes. */
  private writable(): boolean {
    return this.state !== 'closed' && this.connection.closeSent === null && !this.socketEnded && !this.socket.destroyed;
  }

  /** @internal */
  socketDestroyed(): boolean {
    return this.socket.destroyed;
  }

  /** @internal */
  closedError(): ConnectionClosedError {
    const result = this.result;
    return result
      ? new ConnectionClosedError(result.code, result.reason)
      : new ConnectionClosedError(CloseCode.ABNORMAL, 'closing');
  }

  private queued(): Promise<void> {
    this.scheduleFlush();
    let batch = this.batch;
    if (batch === null) batch = this.batch = new Batch(this);
    return batch.promise;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    process.nextTick(flushSoon, this);
  }

  /** @internal Writes everything pending, in one socket write where possible. */
  flush(): void {
    this.flushScheduled = false;
    const chunks = this.connection.writer.take();
    const batch = this.batch;
    this.batch = null;
    if (chunks.length === 0) {
      batch?.settle();
      return;
    }
    const socket = this.socket;
    if (socket.destroyed || !socket.writable) {
      batch?.settle(new Error('socket closed'));
      return;
    }
    const last = chunks.length - 1;
    if (last > 0) socket.cork();
    for (let i = 0; i < last; i++) socket.write(chunks[i]!);
    // Writes complete in order: the last one's callback speaks for the whole batch.
    if (batch === null) socket.write(chunks[last]!);
    else socket.write(chunks[last]!, batch.settle);
    if (last > 0) socket.uncork();
  }

  /** An overflowing send(), by the sendOverflow policy. */
  private overflow(): Promise<void> {
    const limit = this.owner.options.maxBufferedAmount;
    if (this.owner.options.sendOverflow === 'reject') {
      return rejected(
        new WebSocketError(
          'WS_ERR_BUFFER_FULL',
          `send() refused: ${this.bufferedAmount} bytes are already buffered (maxBufferedAmount ${limit})`,
        ),
      );
    }
    // The peer does not read fast enough: close, and let closeTimeout cut it off if it never does.
    this.abort(CloseCode.POLICY_VIOLATION, 'too slow');
    return rejected(this.closedError());
  }

  /** @internal A sweep of the server's heartbeat (see heartbeat.ts). */
  heartbeat(now: number, period: number): void {
    if (this.state !== 'open') return;
    // While reading is paused the silence is ours, not the peer's.
    if (this.paused) {
      this.lastSeen = now;
      return;
    }
    const { pingInterval, pingTimeout, idleTimeout } = this.owner.options;
    // Stamps are coarse (up to one period early): `+ period` keeps every timeout from firing early.
    if (idleTimeout > 0 && now - this.lastMessageAt >= idleTimeout + period) {
      void this.close(CloseCode.GOING_AWAY, 'idle timeout');
      return;
    }
    if (this.pingSentAt !== 0) {
      // Anything received since the ping, its pong or data, shows the peer is alive.
      if (this.lastSeen >= this.pingSentAt) this.pingSentAt = 0;
      else {
        if (now - this.pingSentAt >= pingTimeout) {
          this.terminate(`ping timeout: no answer within ${pingTimeout} ms`);
        }
        return;
      }
    }
    if (pingInterval > 0 && now - this.lastSeen >= pingInterval + period) {
      this.connection.sendPing(EMPTY);
      this.scheduleFlush();
      this.pingSentAt = now;
    }
  }

  /**
   * A received close or a protocol error: act at once if the application is not reading or has
   * read everything before it; otherwise when it next asks for a message, or at closeTimeout.
   */
  private deferTerminal(terminal: Terminal): void {
    if (this.terminal !== null) return;
    this.terminal = terminal;
    this.state = 'closing';
    if (!this.reading || this.caughtUp()) this.runTerminal();
    else this.startTimer(this.owner.options.closeTimeout);
  }

  /** The application has taken every message and waits for the next one. */
  private caughtUp(): boolean {
    return this.queue === null && this.waiter !== null && !this.pipeline?.inboundBusy;
  }

  /** Runs `action` once everything sent before is written (at once without compression). */
  private afterSends(action: () => void): void {
    if (this.pipeline === null) action();
    else this.pipeline.afterSends(action);
  }

  private runTerminal(): void {
    const terminal = this.terminal;
    if (terminal === null) return;
    this.terminal = null;
    this.closeQueued = true;
    if (terminal.kind === 'fail') this.recordResult(terminal.error.closeCode, terminal.error.message, false);
    // Replies to the messages before it (possibly still compressing) go out first.
    this.afterSends(() => {
      if (terminal.kind === 'close') {
        // RFC 6455 5.5.1: answer a close with a close; a clean end once TCP goes.
        this.connection.acknowledgeClose();
      } else {
        // RFC 6455 7.1.7: fail the connection, with a close frame saying why.
        this.connection.sendClose(terminal.error.closeCode, truncateCloseReason(terminal.error.message));
      }
      this.finishClosing();
    });
    this.settleWaiters();
  }

  /** Our close frame is queued: write it, end TCP, and give the peer closeTimeout to end too. */
  private finishClosing(): void {
    this.flush();
    this.settleWaiters();
    if (this.socketEnded) return;
    this.socketEnded = true;
    this.socket.end();
    this.startTimer(this.owner.options.closeTimeout);
  }

  private startTimer(ms: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(onTimeout, ms, this);
    this.timer.unref();
  }

  /** @internal closeTimeout passed: whatever we were waiting for, stop waiting. */
  timedOut(): void {
    this.timer = null;
    if (this.state === 'closed') return;
    if (this.terminal !== null) {
      // The application did not read the messages before the close in time.
      this.runTerminal();
      return;
    }
    if (this.connection.closeSent !== null && this.connection.closeReceived === null) {
      this.recordResult(CloseCode.ABNORMAL, 'closing handshake timed out', false, true);
    }
    this.socket.destroy();
  }

  /** @internal The peer ended its side of TCP. */
  socketEnd(): void {
    // A close or failure still waiting for the application keeps the socket open for our reply.
    if (this.terminal !== null) return;
    this.state = 'closing';
    this.finishClosing();
  }

  /** @internal The socket is gone. */
  socketClosed(): void {
    if (this.state === 'closed' && this.result !== null) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const connection = this.connection;
    const clean = connection.closeSent !== null && connection.closeReceived !== null;
    if (this.result === null) {
      this.recordResult(CloseCode.ABNORMAL, 'connection ended without a closing handshake', false);
    } else if (clean && this.result.code !== CloseCode.ABNORMAL) {
      this.result = { ...this.result, wasClean: true };
    }
    this.state = 'closed';
    this.terminal = null;
    this.batch?.settle(new Error('socket closed'));
    this.batch = null;
    // Sends still waiting for compression reject; the zlib contexts and their budget are freed.
    this.pipeline?.abort(() => this.closedError());
    this.settleWaiters();
    this.resolveClosed?.(this.result!);
    this.owner.connectionClosed(this);
  }

  /** Keeps the first explanation of why the connection ended, unless `override`. */
  private recordResult(code: number, reason: string, wasClean: boolean, override = false): void {
    if (this.result === null || override) this.result = { code, reason, wasClean };
  }

  /** Wakes readers waiting for a message that will not come. */
  private settleWaiters(): void {
    if (this.waiter === null || this.terminal !== null) return;
    const waiters = [this.waiter, ...(this.moreWaiters ?? [])];
    this.waiter = this.moreWaiters = null;
    // An Error captures a stack: only made for recv() callers, never for iterators, which the
    // normal end of every connection wakes.
    let error: ConnectionClosedError | undefined;
    for (const waiter of waiters) {
      if (waiter.iterator) waiter.resolve({ done: true, value: undefined });
      else waiter.reject((error ??= this.closedError()));
    }
  }
}

/**
 * The core's and the compression pipeline's events, forwarded to the Ws (kept apart so that Ws's
 * public surface stays small).
 */
class ConnectionEvents implements ConnectionHandler, PipelineHost {
  constructor(private readonly ws: Ws) {}

  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void {
    this.ws.received(asBuffer(payload), isText, compressed);
  }

  deliver(data: Buffer, isText: boolean, size: number): void {
    this.ws.deliver(data, isText, size);
  }

  inflateFailed(error: ProtocolError): void {
    this.ws.inflateFailed(error);
  }

  inboundIdle(): void {
    this.ws.inboundIdle();
  }

  mayInflate(): boolean {
    return this.ws.mayInflate();
  }

  write(payload: Buffer | string, isText: boolean, compressed: boolean): Promise<void> {
    return this.ws.writeMessage(payload, isText, compressed);
  }

  onPing(): void {}

  onPong(): void {}

  onClose(info: CloseInfo): void {
    this.ws.peerClosed(info);
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

function flushSoon(ws: Ws): void {
  ws.flush();
}

function onTimeout(ws: Ws): void {
  ws.timedOut();
}

function toBytes(data: BinaryData): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'send() takes a string, a Uint8Array, an ArrayBuffer or a DataView');
}

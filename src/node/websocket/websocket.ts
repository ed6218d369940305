/**
 * `WebSocket`: the WHATWG WebSocket interface (https://websockets.spec.whatwg.org/) over
 * connect() and Ws, so code and libraries written for the browser's WebSocket run unchanged.
 *
 * The standard's algorithms map onto ours like this:
 * - "establish a WebSocket connection" is connect(); its rejection is "fail the WebSocket
 *   connection" before it is established.
 * - "a WebSocket message has been received" is the next message of the Ws's async iteration;
 *   the iteration ending is "the WebSocket closing handshake is started" (or the transport ended).
 * - "the WebSocket connection is closed" is the Ws's `closed` promise, whose CloseResult gives
 *   the close code, reason and wasClean; an errorCode in it means we failed the connection.
 *
 * Beyond the standard (as undici allows): the second argument may be an options object with
 * `protocols` and every connect() option, and binaryType may be 'nodebuffer'.
 */

import { types } from 'node:util';
import type { CloseResult } from '../../protocol/connection.js';
import { WebSocketError } from '../../protocol/errors.js';
import { connect } from '../client/connect.js';
import { ConnectError } from '../client/connect-error.js';
import { resolveClientOptions, type ClientOptions } from '../client/options.js';
import type { Message } from '../inbox.js';
import { noop } from '../util.js';
import type { Ws } from '../ws.js';
import { CloseEvent, ErrorEvent } from './events.js';
import { EventHandlers, type EventHandler } from './handlers.js';
import { checkClose, checkProtocols, clampUnsignedShort, parseWebSocketUrl, toProtocolList, toUSVString } from './webidl.js';

/** How binary messages are handed to `message` listeners. 'nodebuffer' is our extension. */
export type BinaryType = 'blob' | 'arraybuffer' | 'nodebuffer';

/** What send() takes: Web IDL `(BufferSource or Blob or USVString)`. */
export type WebSocketData = string | Blob | ArrayBuffer | ArrayBufferView;

type State = 0 | 1 | 2 | 3;
const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const BINARY_TYPES: ReadonlySet<string> = new Set<BinaryType>(['blob', 'arraybuffer', 'nodebuffer']);
// RFC 6455 7.1.5: no close frame was received (we failed the connection, or it was lost).
const ABNORMAL = 1006;

function isOptionsObject(value: unknown): value is ClientOptions {
  return typeof value === 'object' && value !== null && !(Symbol.iterator in value);
}

/**
 * The browser's WebSocket (the WHATWG WebSockets Standard) over connect(), so code and libraries
 * written for it run unchanged. Events come in the standard's order: a connection that could not
 * be established fires `error`, then `close` with 1006, never `open`; after `open`, one `message`
 * per message while OPEN, then `close` (after `error` when the connection was failed). Beyond the
 * standard, as undici allows: the second argument may be connect()'s options, `binaryType` may be
 * 'nodebuffer', and the `error` event's ErrorEvent says what failed.
 */
export class WebSocket extends EventTarget {
  /** `readyState` until the server's 101 is checked: 0. */
  declare static readonly CONNECTING: 0;
  /** `readyState` once the connection is established: 1. */
  declare static readonly OPEN: 1;
  /** `readyState` once the closing handshake has started: 2. */
  declare static readonly CLOSING: 2;
  /** `readyState` once the `close` event has fired: 3. */
  declare static readonly CLOSED: 3;
  /** WebSocket.CONNECTING (0), also on every instance, as Web IDL constants are. */
  declare readonly CONNECTING: 0;
  /** WebSocket.OPEN (1), also on every instance. */
  declare readonly OPEN: 1;
  /** WebSocket.CLOSING (2), also on every instance. */
  declare readonly CLOSING: 2;
  /** WebSocket.CLOSED (3), also on every instance. */
  declare readonly CLOSED: 3;

  readonly #url: URL;
  readonly #protocols: readonly string[];
  readonly #abort = new AbortController();
  readonly #handlers = new EventHandlers(this);
  #state: State = CONNECTING;
  #ws: Ws | null = null;
  #binaryType: BinaryType = 'blob';
  #bufferedAmount = 0;
  #protocol = '';
  #extensions = '';
  // Sends waiting behind a Blob being read, in order (a Blob's bytes arrive asynchronously).
  #queued: Array<{ readonly data: string | Uint8Array | Promise<ArrayBuffer>; readonly size: number }> | null = null;
  // Why we failed the connection ourselves, when the Ws's CloseResult cannot say.
  #failure: Error | null = null;

  /**
   * WebSockets Standard, "new WebSocket(url, protocols)". Throws a SyntaxError DOMException for a
   * URL that does not parse, is not ws:/wss: (or http:/https:) or has a fragment, and for
   * subprotocols that repeat or are not tokens; a WebSocketError (WS_ERR_INVALID_ARGUMENT) for an
   * option of ours out of its bounds. As undici allows, `protocols` may be connect()'s options
   * (ClientOptions: `protocols`, headers, origin, TLS, limits...); `sendOverflow` is always
   * 'close', since the standard closes a connection whose data cannot be buffered. Connects at once.
   */
  constructor(url: string | URL, protocols?: string | Iterable<string> | ClientOptions) {
    super();
    if (arguments.length === 0) throw new TypeError("Failed to construct 'WebSocket': 1 argument required, but only 0 present.");
    const urlRecord = parseWebSocketUrl(url);
    const options: ClientOptions = isOptionsObject(protocols) ? protocols : {};
    const list = toProtocolList(isOptionsObject(protocols) ? options.protocols : protocols);
    checkProtocols(list);
    // "If the data cannot be sent, ... flag the WebSocket as full and then close the WebSocket
    // connection" (send()): an overflowing send always closes, it is never silently rejected.
    resolveClientOptions({ ...options, protocols: list });
    const connectOptions: ClientOptions = { ...options, protocols: list, sendOverflow: 'close', signal: this.#abort.signal };
    this.#url = urlRecord;
    this.#protocols = list;
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) this.#abort.abort(signal.reason);
      else signal.addEventListener('abort', () => this.#abort.abort(signal.reason), { once: true, signal: this.#abort.signal });
    }
    void this.#establish(connectOptions);
  }

  /** The URL, serialized (after http: -> ws:, https: -> wss:). */
  get url(): string {
    return this.#url.href;
  }

  /**
   * CONNECTING (0) until the 101 is checked; OPEN (1); CLOSING (2) once close() was called or the
   * server's close frame arrived (after the messages before it); CLOSED (3) when `close` fires.
   */
  get readyState(): State {
    return this.#state;
  }

  /**
   * Bytes of application data queued by send() and not yet handed to the kernel. It only grows
   * once the connection is closing or closed: what send() discards then is still counted.
   */
  get bufferedAmount(): number {
    return this.#bufferedAmount;
  }

  /** The extensions the server agreed to (Sec-WebSocket-Extensions), '' until open. */
  get extensions(): string {
    return this.#extensions;
  }

  /** The subprotocol the server selected, '' until open or when none. */
  get protocol(): string {
    return this.#protocol;
  }

  /**
   * How binary messages reach `message` listeners: 'blob', 'arraybuffer', or 'nodebuffer' (a
   * Buffer: our extension). Read when each message is dispatched.
   * @defaultValue 'blob'
   */
  get binaryType(): BinaryType {
    return this.#binaryType;
  }

  /** Web IDL enumeration attribute: a value outside the enumeration is ignored. */
  set binaryType(value: BinaryType) {
    const type = String(value);
    if (BINARY_TYPES.has(type)) this.#binaryType = type as BinaryType;
  }

  /**
   * The `open` listener set through this attribute, or null. As in a browser, it is one listener
   * among addEventListener's: replacing it keeps its place, null removes it.
   */
  get onopen(): EventHandler<Event, WebSocket> {
    return this.#handlers.get('open') as EventHandler<Event, WebSocket>;
  }

  /** Sets the `open` attribute listener; null, or anything that is not a function, removes it. */
  set onopen(value: EventHandler<Event, WebSocket>) {
    this.#handlers.set('open', value);
  }

  /**
   * The `message` listener set through this attribute, or null. It gets a MessageEvent (Node's)
   * whose `data` is a string or, by `binaryType`, a Blob, an ArrayBuffer or a Buffer, and whose
   * `origin` is the URL's origin.
   */
  get onmessage(): EventHandler<MessageEvent, WebSocket> {
    return this.#handlers.get('message') as EventHandler<MessageEvent, WebSocket>;
  }

  /** Sets the `message` attribute listener; null, or anything that is not a function, removes it. */
  set onmessage(value: EventHandler<MessageEvent, WebSocket>) {
    this.#handlers.set('message', value);
  }

  /**
   * The `error` listener set through this attribute, or null. It gets an ErrorEvent whose `error`
   * is the ConnectError or WebSocketError that failed the connection; `close` follows.
   */
  get onerror(): EventHandler<Event, WebSocket> {
    return this.#handlers.get('error') as EventHandler<Event, WebSocket>;
  }

  /** Sets the `error` attribute listener; null, or anything that is not a function, removes it. */
  set onerror(value: EventHandler<Event, WebSocket>) {
    this.#handlers.set('error', value);
  }

  /**
   * The `close` listener set through this attribute, or null. It gets a CloseEvent: the server's
   * code and reason (1005 and '' when its close frame had none), or 1006 when no close frame was
   * received (RFC 6455 7.1.5); `wasClean` once the closing handshake completed.
   */
  get onclose(): EventHandler<CloseEvent, WebSocket> {
    return this.#handlers.get('close') as EventHandler<CloseEvent, WebSocket>;
  }

  /** Sets the `close` attribute listener; null, or anything that is not a function, removes it. */
  set onclose(value: EventHandler<CloseEvent, WebSocket>) {
    this.#handlers.set('close', value);
  }

  /**
   * WebSockets Standard, send(data): a string (as UTF-8, lone surrogates as U+FFFD), a Blob, an
   * ArrayBuffer or an ArrayBufferView (only the bytes it views); anything else is sent as
   * String(data). Messages go out in call order, Blobs included. A buffer's bytes are those of the
   * call: changing it afterwards changes nothing sent. Throws an InvalidStateError
   * DOMException while CONNECTING. Data that cannot be buffered (over `maxBufferedAmount`) closes
   * the connection (`error`, then `close`). Once the closing handshake has started, the data is
   * discarded and bufferedAmount still grows.
   */
  send(data: WebSocketData): void {
    if (arguments.length === 0) throw new TypeError("Failed to execute 'send' on 'WebSocket': 1 argument required, but only 0 present.");
    if (this.#state === CONNECTING) throw new DOMException('send() before the connection is open', 'InvalidStateError');
    let item: string | Uint8Array | Promise<ArrayBuffer>;
    let size: number;
    if (data instanceof Blob) {
      item = data.arrayBuffer();
      size = data.size;
      // Read now, in parallel; sent in order. A read that fails sends nothing.
      item.catch(noop);
    } else if (types.isArrayBuffer(data)) {
      item = new Uint8Array(data);
      size = data.byteLength;
    } else if (ArrayBuffer.isView(data)) {
      item = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      size = data.byteLength;
    } else {
      item = toUSVString(data);
      size = Buffer.byteLength(item);
    }
    this.#bufferedAmount += size;
    if (this.#state !== OPEN) return;
    if (this.#queued === null && !(item instanceof Promise)) {
      this.#write(item, size);
      return;
    }
    const start = this.#queued === null;
    // Behind a Blob still being read, a buffer waits: its bytes are copied now, so that the bytes
    // sent are those of the call, as in a browser (Ws.send() takes them when it is called).
    if (item instanceof Uint8Array) item = Buffer.from(item);
    (this.#queued ??= []).push({ data: item, size });
    if (start) void this.#drainQueued();
  }

  /**
   * WebSockets Standard, close(code, reason): an InvalidAccessError DOMException for a code other
   * than 1000 or 3000-4999, a SyntaxError for a reason over 123 bytes of UTF-8. While connecting,
   * it fails the connection (error, then close with 1006); once open, it starts the closing
   * handshake (with 1000 when no code is given, where the standard sends a close frame without a
   * body); while closing or closed, it does nothing.
   */
  close(code?: number, reason?: string): void {
    const closeCode = code === undefined ? undefined : clampUnsignedShort(code);
    const closeReason = reason === undefined ? undefined : toUSVString(reason);
    checkClose(closeCode, closeReason);
    if (this.#state === CLOSING || this.#state === CLOSED) return;
    const ws = this.#ws;
    this.#state = CLOSING;
    if (ws === null) {
      // "If the WebSocket connection is not yet established: fail the WebSocket connection".
      this.#abort.abort(new DOMException('close() was called before the connection was established', 'AbortError'));
      return;
    }
    // "If code is null but reason is not empty, set code to 1000." A close() without arguments
    // sends 1000 too: Ws.close() cannot send a close frame without a body.
    void ws.close(closeCode ?? 1000, closeReason ?? '');
  }

  /** 'WebSocket', as in a browser (`Object.prototype.toString` gives `[object WebSocket]`). */
  get [Symbol.toStringTag](): string {
    return 'WebSocket';
  }

  // ---- feedback from the protocol --------------------------------------------------------------

  async #establish(options: ClientOptions): Promise<void> {
    let ws: Ws;
    try {
      ws = await connect(this.#url, options);
    } catch (error) {
      this.#abort.abort();
      this.#task(() => this.#closedBeforeOpen(error));
      return;
    }
    // The signal only guards the connect; the listener on the caller's signal goes with it.
    this.#abort.abort();
    this.#ws = ws;
    if (this.#state !== CONNECTING) {
      // close() came while the 101 was being checked: the connection is failed all the same.
      ws.terminate('close() was called before the connection was established');
      this.#failure = new ConnectError('WS_ERR_ABORTED', 'close() was called before the connection was established', {
        url: this.#url.href,
      });
    } else if (this.#protocols.length > 0 && ws.protocol === '') {
      // Establish a WebSocket connection, processResponse step 2: subprotocols were requested
      // and the response selected none: fail the WebSocket connection.
      ws.terminate('the server selected no subprotocol');
      this.#failure = new ConnectError('WS_ERR_INVALID_RESPONSE', 'the server selected none of the subprotocols requested', {
        url: this.#url.href,
      });
    } else {
      // "When the WebSocket connection is established": OPEN, extensions, protocol, then open.
      this.#state = OPEN;
      this.#extensions = ws.extensions;
      this.#protocol = ws.protocol;
      this.dispatchEvent(new Event('open'));
    }
    await this.#receive(ws);
  }

  /** The message loop: one message event per message, while OPEN; then the close. */
  async #receive(ws: Ws): Promise<void> {
    // forEach: no promise per message, nothing of one kept while the next is awaited (Ws.forEach).
    await ws.forEach((message) => {
      // "When a WebSocket message has been received": "If readyState is not OPEN, return."
      if (this.#state === OPEN) this.#dispatchMessage(message);
    });
    // "When the WebSocket closing handshake is started": CLOSING (already so after close()).
    if (this.#state === OPEN) this.#state = CLOSING;
    const result = await ws.closed;
    this.#task(() => this.#closedAfterOpen(result));
  }

  #dispatchMessage(message: Message): void {
    let data: string | Blob | ArrayBuffer | Buffer;
    if (message.type === 'text') data = message.data;
    else if (this.#binaryType === 'blob') data = new Blob([message.data]);
    else if (this.#binaryType === 'nodebuffer') data = message.data;
    else data = toArrayBuffer(message.data);
    this.dispatchEvent(new MessageEvent('message', { data, origin: this.#url.origin }));
  }

  /** The connection could not be established (or was failed while connecting). */
  #closedBeforeOpen(error: unknown): void {
    this.#state = CLOSED;
    this.#fireError(error);
    this.dispatchEvent(new CloseEvent('close', { wasClean: false, code: ABNORMAL, reason: '' }));
  }

  /** "When the WebSocket connection is closed": CLOSED, error if it was failed, then close. */
  #closedAfterOpen(result: CloseResult): void {
    this.#state = CLOSED;
    const errorCode = result.errorCode;
    // An errorCode means we ended it: no close frame came from the peer, so the code is 1006.
    const abnormal = errorCode !== undefined || result.code === ABNORMAL || this.#failure !== null;
    // Failed by us, or flagged as full (WS_ERR_BUFFER_FULL). A closing handshake the peer did not
    // answer in time is not a failure (RFC 6455 7.1.1: the TCP connection is just closed).
    const failure =
      this.#failure ?? (errorCode !== undefined && errorCode !== 'WS_ERR_CLOSE_TIMEOUT' ? new WebSocketError(errorCode, result.reason) : null);
    if (failure !== null) this.#fireError(failure);
    this.dispatchEvent(
      new CloseEvent('close', {
        wasClean: result.wasClean && !abnormal,
        code: abnormal ? ABNORMAL : result.code,
        reason: abnormal ? '' : result.reason,
      }),
    );
  }

  #fireError(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.dispatchEvent(new ErrorEvent('error', { message, error }));
  }

  /** Queues a task, as the standard's "queue a task" on the WebSocket task source. */
  #task(run: () => void): void {
    setImmediate(run);
  }

  #write(data: string | Uint8Array, size: number): void {
    const ws = this.#ws!;
    // A compressed message is read asynchronously: it must not see later changes to the caller's
    // buffer. (Uncompressed, the client's writer copies while masking.)
    const bytes = typeof data === 'string' || ws.deflateAgreement === null ? data : Buffer.from(data);
    ws.send(bytes).then(() => {
      this.#bufferedAmount -= size;
    }, noop);
  }

  async #drainQueued(): Promise<void> {
    const queued = this.#queued!;
    while (queued.length > 0) {
      const { data, size } = queued[0]!;
      let bytes: string | Uint8Array | null;
      if (data instanceof Promise) {
        try {
          bytes = new Uint8Array(await data);
        } catch {
          bytes = null;
        }
      } else {
        bytes = data;
      }
      queued.shift();
      if (bytes !== null && this.#state === OPEN) this.#write(bytes, size);
    }
    this.#queued = null;
  }
}

const constant = (value: number): PropertyDescriptor => ({ value, enumerable: true, writable: false, configurable: false });
// Web IDL constants live on the interface object and on its prototype.
for (const target of [WebSocket, WebSocket.prototype]) {
  Object.defineProperties(target, {
    CONNECTING: constant(CONNECTING),
    OPEN: constant(OPEN),
    CLOSING: constant(CLOSING),
    CLOSED: constant(CLOSED),
  });
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  // A fresh ArrayBuffer holding exactly the message (a Buffer may be a view of a larger one).
  const copy = new ArrayBuffer(bytes.length);
  new Uint8Array(copy).set(bytes);
  return copy;
}

/**
 * The event classes the WebSocket interface fires that Node 20 lacks as globals: CloseEvent
 * (WebSockets Standard, "The CloseEvent interface") and ErrorEvent (HTML Standard; the standard
 * fires a plain Event named error, this one is an Event too and also says what went wrong, as
 * undici's does). MessageEvent is Node's own global.
 */

import { toUSVString, toUnsignedShort } from './webidl.js';

/** DOM Standard: `dictionary EventInit` (@types/node does not export its own). */
export interface EventInit {
  /**
   * Whether the event propagates to the target's ancestors; a WebSocket has none.
   * @defaultValue false
   */
  bubbles?: boolean;
  /**
   * Whether `preventDefault()` can cancel the event.
   * @defaultValue false
   */
  cancelable?: boolean;
  /**
   * Whether the event crosses shadow DOM boundaries; Node has none.
   * @defaultValue false
   */
  composed?: boolean;
}

/** WebSockets Standard: `dictionary CloseEventInit : EventInit`. */
export interface CloseEventInit extends EventInit {
  /**
   * The event's `wasClean`.
   * @defaultValue false
   */
  wasClean?: boolean;
  /**
   * The event's `code`, converted as a Web IDL unsigned short (modulo 65536).
   * @defaultValue 0
   */
  code?: number;
  /**
   * The event's `reason` (lone surrogates become U+FFFD).
   * @defaultValue ''
   */
  reason?: string;
}

/** WebSockets Standard: `interface CloseEvent : Event`. */
export class CloseEvent extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  /** As in a browser: `new CloseEvent('close', { code, reason, wasClean })`. */
  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    // Dictionary defaults: wasClean false, code 0, reason "".
    this.#wasClean = Boolean(init.wasClean ?? false);
    this.#code = toUnsignedShort(init.code ?? 0);
    this.#reason = toUSVString(init.reason ?? '');
  }

  /** Whether the connection closed cleanly (the closing handshake completed, RFC 6455 7.1.4). */
  get wasClean(): boolean {
    return this.#wasClean;
  }

  /** The WebSocket connection close code (RFC 6455 7.1.5). */
  get code(): number {
    return this.#code;
  }

  /** The WebSocket connection close reason (RFC 6455 7.1.6). */
  get reason(): string {
    return this.#reason;
  }

  /** 'CloseEvent', as in a browser. */
  get [Symbol.toStringTag](): string {
    return 'CloseEvent';
  }
}

/** HTML Standard: `dictionary ErrorEventInit : EventInit`. */
export interface ErrorEventInit extends EventInit {
  /**
   * The event's `message`.
   * @defaultValue ''
   */
  message?: string;
  /**
   * The event's `filename`.
   * @defaultValue ''
   */
  filename?: string;
  /**
   * The event's `lineno` (converted to an unsigned 32-bit integer).
   * @defaultValue 0
   */
  lineno?: number;
  /**
   * The event's `colno` (converted to an unsigned 32-bit integer).
   * @defaultValue 0
   */
  colno?: number;
  /**
   * The event's `error`.
   * @defaultValue undefined
   */
  error?: unknown;
}

/**
 * HTML Standard: `interface ErrorEvent : Event`. The WebSocket's error events carry the error that
 * failed the connection (a ConnectError, a ProtocolError...) in `error` and its text in `message`.
 */
export class ErrorEvent extends Event {
  readonly #message: string;
  readonly #filename: string;
  readonly #lineno: number;
  readonly #colno: number;
  readonly #error: unknown;

  /** As in a browser: `new ErrorEvent('error', { message, error })`. */
  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.#message = String(init.message ?? '');
    this.#filename = toUSVString(init.filename ?? '');
    this.#lineno = Number(init.lineno ?? 0) >>> 0;
    this.#colno = Number(init.colno ?? 0) >>> 0;
    this.#error = init.error;
  }

  /** What went wrong, for people: on a WebSocket's `error` event, the message of `error`. */
  get message(): string {
    return this.#message;
  }

  /** The script a script error came from (HTML Standard); '' on a WebSocket's `error` event. */
  get filename(): string {
    return this.#filename;
  }

  /** The line of a script error (HTML Standard); 0 on a WebSocket's `error` event. */
  get lineno(): number {
    return this.#lineno;
  }

  /** The column of a script error (HTML Standard); 0 on a WebSocket's `error` event. */
  get colno(): number {
    return this.#colno;
  }

  /**
   * On a WebSocket's `error` event, the error that failed the connection: a ConnectError when it
   * could not be established, a WebSocketError (a ProtocolError, WS_ERR_BUFFER_FULL...) after.
   */
  get error(): unknown {
    return this.#error;
  }

  /** 'ErrorEvent', as in a browser. */
  get [Symbol.toStringTag](): string {
    return 'ErrorEvent';
  }
}

/**
 * The event classes the WebSocket interface fires that Node 20 lacks as globals: CloseEvent
 * (WebSockets Standard, "The CloseEvent interface") and ErrorEvent (HTML Standard; the standard
 * fires a plain Event named error, this one is an Event too and also says what went wrong, as
 * undici's does). MessageEvent is Node's own global.
 */

import { toUSVString, toUnsignedShort } from './webidl.js';

/** DOM Standard: `dictionary EventInit` (@types/node does not export its own). */
export interface EventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
}

/** WebSockets Standard: `dictionary CloseEventInit : EventInit`. */
export interface CloseEventInit extends EventInit {
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/** WebSockets Standard: `interface CloseEvent : Event`. */
export class CloseEvent extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

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

  get [Symbol.toStringTag](): string {
    return 'CloseEvent';
  }
}

/** HTML Standard: `dictionary ErrorEventInit : EventInit`. */
export interface ErrorEventInit extends EventInit {
  message?: string;
  filename?: string;
  lineno?: number;
  colno?: number;
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

  constructor(type: string, init: ErrorEventInit = {}) {
    super(type, init);
    this.#message = String(init.message ?? '');
    this.#filename = toUSVString(init.filename ?? '');
    this.#lineno = Number(init.lineno ?? 0) >>> 0;
    this.#colno = Number(init.colno ?? 0) >>> 0;
    this.#error = init.error;
  }

  get message(): string {
    return this.#message;
  }

  get filename(): string {
    return this.#filename;
  }

  get lineno(): number {
    return this.#lineno;
  }

  get colno(): number {
    return this.#colno;
  }

  get error(): unknown {
    return this.#error;
  }

  get [Symbol.toStringTag](): string {
    return 'ErrorEvent';
  }
}

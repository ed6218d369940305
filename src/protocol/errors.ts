/**
 * One error hierarchy for the whole library. Every error carries a stable string `code` that
 * applications can switch on; protocol errors also carry the close code they fail the connection
 * with (RFC 6455 7.4.1), handshake errors the HTTP status they are answered with.
 */

/** Stable codes of errors raised while parsing frames: each maps to one close code. */
export type ProtocolErrorCode =
  | 'WS_ERR_UNMASKED_FRAME'
  | 'WS_ERR_MASKED_FRAME'
  | 'WS_ERR_RESERVED_BITS'
  | 'WS_ERR_RESERVED_OPCODE'
  | 'WS_ERR_CONTROL_FRAME_TOO_LONG'
  | 'WS_ERR_FRAGMENTED_CONTROL_FRAME'
  | 'WS_ERR_UNEXPECTED_CONTINUATION'
  | 'WS_ERR_EXPECTED_CONTINUATION'
  | 'WS_ERR_INVALID_LENGTH'
  | 'WS_ERR_INVALID_CLOSE_PAYLOAD'
  | 'WS_ERR_INVALID_CLOSE_CODE'
  | 'WS_ERR_INVALID_UTF8'
  | 'WS_ERR_INVALID_COMPRESSED_DATA'
  | 'WS_ERR_MESSAGE_TOO_BIG'
  | 'WS_ERR_TOO_MANY_FRAGMENTS';

/**
 * Stable codes of errors raised by the opening handshake: each maps to an HTTP status (on the
 * client side, the status of the response that was refused).
 */
export type HandshakeErrorCode =
  | 'WS_ERR_HANDSHAKE_METHOD'
  | 'WS_ERR_HANDSHAKE_HTTP_VERSION'
  | 'WS_ERR_HANDSHAKE_UPGRADE'
  | 'WS_ERR_HANDSHAKE_CONNECTION'
  | 'WS_ERR_HANDSHAKE_KEY'
  | 'WS_ERR_HANDSHAKE_VERSION'
  | 'WS_ERR_HANDSHAKE_HOST'
  | 'WS_ERR_HANDSHAKE_FORBIDDEN'
  | 'WS_ERR_HANDSHAKE_REFUSED'
  | 'WS_ERR_HANDSHAKE_ORIGIN'
  | 'WS_ERR_HANDSHAKE_RATE_LIMITED'
  | 'WS_ERR_HANDSHAKE_TOO_MANY_CONNECTIONS'
  | 'WS_ERR_HANDSHAKE_PROTOCOL'
  | 'WS_ERR_HANDSHAKE_SHUTTING_DOWN'
  | 'WS_ERR_HANDSHAKE_TIMEOUT'
  | 'WS_ERR_HANDSHAKE_HEADERS'
  | 'WS_ERR_HANDSHAKE_EXTENSIONS'
  | 'WS_ERR_HANDSHAKE_STATUS'
  | 'WS_ERR_HANDSHAKE_ACCEPT'
  | 'WS_ERR_INVALID_HTTP_RESPONSE'
  | 'WS_ERR_INVALID_HTTP_REQUEST'
  | 'WS_ERR_HOOK_FAILED';

/** Stable codes of errors raised by the API (bad arguments, use after close). */
export type UsageErrorCode =
  | 'WS_ERR_CLOSED'
  | 'WS_ERR_INVALID_ARGUMENT'
  | 'WS_ERR_BUFFER_FULL'
  | 'WS_ERR_ALREADY_READING';

/**
 * Why we ended a connection ourselves, as carried by CloseResult.errorCode (besides the protocol
 * errors above and WS_ERR_BUFFER_FULL for a peer too slow to read).
 */
export type TerminationCode =
  | 'WS_ERR_CLOSE_TIMEOUT'
  | 'WS_ERR_PING_TIMEOUT'
  | 'WS_ERR_HANDLER_FAILED'
  | 'WS_ERR_COMPRESSION_FAILED'
  | 'WS_ERR_RATE_LIMITED';

/** Stable codes of connect() failures: each says in which phase it failed (see ConnectError). */
export type ConnectErrorCode =
  | 'WS_ERR_INVALID_URL'
  | 'WS_ERR_DNS'
  | 'WS_ERR_CONNECT'
  | 'WS_ERR_TLS'
  | 'WS_ERR_PROXY'
  | 'WS_ERR_TIMEOUT'
  | 'WS_ERR_ABORTED'
  | 'WS_ERR_UNEXPECTED_RESPONSE'
  | 'WS_ERR_INVALID_RESPONSE'
  | 'WS_ERR_TOO_MANY_REDIRECTS'
  | 'WS_ERR_REDIRECT_REFUSED'
  | 'WS_ERR_HTTP2_UNSUPPORTED';

/**
 * Stable codes of the reconnecting client (reconnect(), ReconnectingClient): a send() that was never
 * handed to a live connection, and why, or reconnection stopped for good.
 */
export type ReconnectErrorCode = 'WS_ERR_DROPPED' | 'WS_ERR_GAVE_UP';

/** Stable codes of the hub: its broker cannot carry a message or read a stream now. */
export type HubErrorCode = 'WS_ERR_UNAVAILABLE';

/**
 * Every stable code an error of the library can carry: the codes of each kind above together.
 * Each one is in the README's errors table, with when it is raised.
 */
export type WebSocketErrorCode =
  | ProtocolErrorCode
  | HandshakeErrorCode
  | UsageErrorCode
  | TerminationCode
  | ConnectErrorCode
  | ReconnectErrorCode
  | HubErrorCode;

/**
 * The base of every error the library raises, and the class of those that need no more fields
 * (WS_ERR_INVALID_ARGUMENT, WS_ERR_BUFFER_FULL, WS_ERR_UNAVAILABLE...). Switch on `code`, which is
 * stable; `message` is for people and may change. `name` is the class's name.
 */
export class WebSocketError extends Error {
  /** The stable code saying what went wrong. */
  readonly code: WebSocketErrorCode;

  /**
   * Exported for `instanceof` and for code that must raise one of the library's codes itself (a
   * Broker of your own rejects with `new WebSocketError('WS_ERR_UNAVAILABLE', ...)`).
   */
  constructor(code: WebSocketErrorCode, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * The peer broke a rule of RFC 6455 (or went over a limit). The connection is failed (RFC 6455
 * 7.1.7) with `closeCode`, and the error's code is `CloseResult.errorCode`.
 */
export class ProtocolError extends WebSocketError {
  /** Which rule of RFC 6455 (or RFC 7692, or a limit) the peer broke. */
  declare readonly code: ProtocolErrorCode;
  /**
   * The close code the connection is failed with (RFC 6455 7.4.1): 1002 (protocol error), 1007
   * (invalid UTF-8 or compressed data), 1008 (too many fragments) or 1009 (message too big).
   */
  readonly closeCode: number;

  /** Raised by the frame parser; `closeCode` goes with `code` as the README's errors table says. */
  constructor(code: ProtocolErrorCode, closeCode: number, message: string) {
    super(code, message);
    this.closeCode = closeCode;
  }
}

/**
 * The opening handshake was refused. Server side: answered with `status` and `headers`, then the
 * socket closed. Client side: `status` is the status of the server's response that was refused
 * (101 when the response itself was a 101 that broke a rule of RFC 6455 4.1).
 */
export class HandshakeError extends WebSocketError {
  /** What was wrong with the request (server side) or with the server's response (client side). */
  declare readonly code: HandshakeErrorCode;
  /**
   * Server side: the HTTP status the request is answered with (400, 403, 405, 408, 426, 429, 431,
   * 500, 503). Client side: the status of the response refused (101 for a 101 that broke a rule).
   */
  readonly status: number;
  /**
   * Server side: the headers sent with the refusal besides the body's (`Allow: GET` with 405,
   * `Sec-WebSocket-Version: 13` with 426, `Retry-After` with a rate limit's 429); otherwise `{}`.
   */
  readonly headers: Readonly<Record<string, string>>;

  /** Raised by the handshake checks of either role; `headers` defaults to none. */
  constructor(
    code: HandshakeErrorCode,
    status: number,
    message: string,
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/**
 * Raised by `recv()` once the messages that arrived before the close are read, and by `send()`,
 * `ping()` and `drain()` once the connection can send no more; says how it closed. `closeCode` is
 * the code the peer sent (1005 if its close frame had none), or 1006 when the connection ended
 * without a closing handshake (RFC 6455 7.1.5).
 */
export class ConnectionClosedError extends WebSocketError {
  /** Always WS_ERR_CLOSED. */
  declare readonly code: 'WS_ERR_CLOSED';
  /**
   * How the connection closed or is closing, as `CloseResult.code` says it: the peer's code, the
   * code we failed the connection with, or 1006; before either is known, the code we sent.
   */
  readonly closeCode: number;
  /** The reason that goes with `closeCode` ('' for none). */
  readonly reason: string;

  /** Raised by a connection refusing an operation because it is closed or closing. */
  constructor(closeCode: number, reason: string) {
    super('WS_ERR_CLOSED', `WebSocket is closed (code ${closeCode}${reason ? `: ${reason}` : ''})`);
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

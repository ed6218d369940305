/**
 * Why connect() failed, and where: every failure rejects with a ConnectError whose stable `code`
 * names the phase (DNS, TCP connect, TLS, proxy, the HTTP handshake, a timeout, an abort), with
 * what a user needs to act on it: the status, headers and first KiB of the body of a refused
 * handshake, and how long each phase took.
 */

import { WebSocketError, type ConnectErrorCode } from '../../protocol/errors.js';

/** The phases of a connect, in order. A redirect starts them again. */
export type ConnectPhase = 'dns' | 'connect' | 'proxy' | 'tls' | 'handshake';

/** Milliseconds each phase took (those that ran), and in all. */
export interface ConnectTimings {
  /** Resolving the host name (the proxy's, through a proxy); absent for an IP address. */
  dns?: number;
  /** Opening TCP (or the Unix socket, or what `createConnection` returned resolving). */
  connect?: number;
  /** The proxy's CONNECT tunnel, from the request to its 200. */
  proxy?: number;
  /** The TLS handshake (wss:). */
  tls?: number;
  /** From sending the upgrade request to the checked 101 (or the answer refused). */
  handshake?: number;
  /** From connect() to the failure, every phase and redirect included. */
  total: number;
}

export interface ConnectErrorDetails {
  readonly phase?: ConnectPhase | undefined;
  readonly url?: string | undefined;
  readonly timings?: ConnectTimings | undefined;
  readonly status?: number | undefined;
  readonly headers?: Readonly<Record<string, string | string[]>> | undefined;
  readonly body?: Buffer | undefined;
  readonly cause?: unknown;
}

/**
 * Why connect() failed, and where: `code` names the phase (see ConnectErrorCode and the README's
 * errors table), `cause` holds the underlying error (a Node ECONNREFUSED, a TLS certificate error,
 * the HandshakeError saying what was wrong with a 101). The reconnecting clients report their
 * failed attempts with it too.
 */
export class ConnectError extends WebSocketError {
  /** Which failure: WS_ERR_DNS, WS_ERR_CONNECT, WS_ERR_TLS, WS_ERR_UNEXPECTED_RESPONSE... */
  declare readonly code: ConnectErrorCode;
  /** The phase that failed (undefined for an invalid URL or options, before any phase). */
  readonly phase: ConnectPhase | undefined;
  /** The URL being connected to when it failed (after redirects, the last one). */
  readonly url: string | undefined;
  /** Milliseconds per phase that ran, summed over redirects; `{ total: 0 }` before any phase. */
  readonly timings: ConnectTimings;
  /** The HTTP status of a response other than a valid 101 (the proxy's, for WS_ERR_PROXY). */
  readonly status: number | undefined;
  /** The headers of that response: lower-case names, a repeated header as an array of its values. */
  readonly headers: Readonly<Record<string, string | string[]>> | undefined;
  /** The first KiB of the body of a refused handshake. */
  readonly body: Buffer | undefined;

  /**
   * Made by connect(); exported for `instanceof`. `details` fills the fields below and `cause`;
   * what it leaves out is undefined.
   */
  constructor(code: ConnectErrorCode, message: string, details: ConnectErrorDetails = {}) {
    super(code, message);
    if (details.cause !== undefined) (this as { cause?: unknown }).cause = details.cause;
    this.phase = details.phase;
    this.url = details.url;
    this.timings = details.timings ?? { total: 0 };
    this.status = details.status;
    this.headers = details.headers;
    this.body = details.body;
  }
}

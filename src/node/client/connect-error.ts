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
  dns?: number;
  connect?: number;
  proxy?: number;
  tls?: number;
  handshake?: number;
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

export class ConnectError extends WebSocketError {
  declare readonly code: ConnectErrorCode;
  /** The phase that failed (undefined for an invalid URL or options, before any phase). */
  readonly phase: ConnectPhase | undefined;
  /** The URL being connected to when it failed (after redirects, the last one). */
  readonly url: string | undefined;
  readonly timings: ConnectTimings;
  /** The HTTP status of a response other than a valid 101 (the proxy's, for WS_ERR_PROXY). */
  readonly status: number | undefined;
  readonly headers: Readonly<Record<string, string | string[]>> | undefined;
  /** The first KiB of the body of a refused handshake. */
  readonly body: Buffer | undefined;

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

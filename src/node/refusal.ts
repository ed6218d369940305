/**
 * What `allowRequest` decided (issue 15): `true` accepts; `false` is the plain 403; a
 * `HandshakeRefusal` is a response of the application's own (a 400 whose JSON body names the bad
 * field, a 401 for a bad token), which the server writes and reports to `onRefused` as
 * WS_ERR_HANDSHAKE_REFUSED. Anything else is the hook's bug: WS_ERR_INVALID_ARGUMENT, which the
 * server reports to `onError` and answers with 500, as for a hook that threw.
 */

import { HandshakeError, WebSocketError } from '../protocol/errors.js';
import { closingResponseHead } from '../protocol/handshake.js';

/** A refusal of the application's own, answered instead of 403 by `allowRequest`. */
export interface HandshakeRefusal {
  /** The status: 400 to 599 (a refusal is an error). */
  readonly status: number;
  /**
   * The response body, sent as given (UTF-8).
   * @defaultValue `the request was refused` and a newline, as text/plain
   */
  readonly body?: string;
  /**
   * More response headers. `Content-Type` among them types the body (default
   * `text/plain; charset=utf-8`); `Connection` and `Content-Length` are the server's.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

/** The answer to a request allowRequest refused with a HandshakeRefusal. */
export class RequestRefusal extends HandshakeError {
  /** The body as given, and its type: what an HTTP/2 stream is answered with. */
  readonly body: string;
  readonly contentType: string;
  /** The whole HTTP/1.1 response: head (latin1) and body (UTF-8). */
  readonly response: Buffer;

  constructor(status: number, body: string, contentType: string, headers: Readonly<Record<string, string>>, response: Buffer) {
    super('WS_ERR_HANDSHAKE_REFUSED', status, body, headers);
    this.body = body;
    this.contentType = contentType;
    this.response = response;
  }
}

const DEFAULT_BODY = 'the request was refused\n';

function invalid(value: unknown): WebSocketError {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return new WebSocketError(
    'WS_ERR_INVALID_ARGUMENT',
    `allowRequest must return true, false or { status: 400-599, body?: string, headers?: object }, got ${shown}`,
  );
}

/**
 * The error a refused request is answered with: WS_ERR_HANDSHAKE_FORBIDDEN (403) for `false`, a
 * RequestRefusal for a HandshakeRefusal. Throws WS_ERR_INVALID_ARGUMENT for a value that is neither.
 */
export function refusalOf(decision: unknown): HandshakeError {
  if (decision === false) return new HandshakeError('WS_ERR_HANDSHAKE_FORBIDDEN', 403, 'the request was refused');
  if (typeof decision !== 'object' || decision === null) throw invalid(decision);
  const { status, body = DEFAULT_BODY, headers = {} } = decision as HandshakeRefusal;
  if (!Number.isInteger(status) || status < 400 || status > 599) throw invalid(decision);
  if (typeof body !== 'string' || typeof headers !== 'object' || headers === null) throw invalid(decision);
  let contentType = 'text/plain; charset=utf-8';
  const rest: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw invalid(decision);
    if (name.toLowerCase() === 'content-type') contentType = value;
    else rest[name] = value;
  }
  const bytes = Buffer.from(body, 'utf8');
  // Throws WS_ERR_INVALID_ARGUMENT for a header that breaks the syntax or that the server writes.
  const head = closingResponseHead(status, bytes.length, contentType, rest);
  return new RequestRefusal(status, body, contentType, rest, Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
}

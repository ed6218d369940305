/**
 * connect() over HTTP/2 (RFC 8441): the WebSocket is a stream of an HTTP/2 session to the origin,
 * shared with the other WebSockets to it (http2-sessions.ts). Phase by phase, as over HTTP/1.1:
 * the transport (DNS, TCP, proxy, TLS, with ALPN offering h2 then http/1.1), the session's
 * SETTINGS, the extended CONNECT and its response ('handshake').
 *
 * Falling back: when the server's TLS chose HTTP/1.1, the WebSocket is opened over HTTP/1.1 on
 * that same connection; when the server speaks HTTP/2 but does not advertise
 * SETTINGS_ENABLE_CONNECT_PROTOCOL, or a cleartext server does not speak HTTP/2 at all (no prior
 * knowledge), on a new connection. With `http2: 'only'` each of these is WS_ERR_HTTP2_UNSUPPORTED
 * instead.
 */

import { constants, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { buildExtendedConnectRequest, validateExtendedConnectResponse } from '../../protocol/extended-connect.js';
import { buildDeflateOffer } from '../../protocol/permessage-deflate.js';
import { HTTP2_STREAM_TRANSPORT } from '../http2/stream-transport.js';
import { noop } from '../util.js';
import type { Ws } from '../ws.js';
import { agreedWs, rejectResponse, type OfferedDeflate } from './agreed.js';
import { ConnectError } from './connect-error.js';
import type { Attempt } from './dial.js';
import { http2Sessions, sessionKey, type PooledSession } from './http2-sessions.js';
import type { ClientOptions, ResolvedClientOptions } from './options.js';
import type { ProxyTarget } from './proxy.js';
import { readStreamBody } from './response-body.js';
import type { Target } from './url.js';

/** ALPN (RFC 7301): HTTP/2 preferred, HTTP/1.1 accepted, so a server without h2 still answers. */
const ALPN = ['h2', 'http/1.1'] as const;

/** A response other than 2xx: what connect() reports, or the redirect it follows. */
export interface Http2Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** The first KiB of the body; the stream is then closed. */
  readBody(): Promise<Buffer>;
  /** Closes the stream without reading the body. */
  discard(): void;
}

export type Http2Outcome =
  | { readonly kind: 'open'; readonly ws: Ws }
  | { readonly kind: 'answered'; readonly answer: Http2Answer }
  /** Over HTTP/1.1 instead: on `socket` (TLS chose http/1.1), or on a new connection. */
  | { readonly kind: 'fallback'; readonly socket: Duplex | undefined };

export interface Http2Request {
  readonly target: Target;
  readonly options: ResolvedClientOptions;
  readonly given: ClientOptions;
  readonly proxy: ProxyTarget | null;
  /** Extra headers, credentials included. */
  readonly headers: Readonly<Record<string, string>>;
  readonly deflate: OfferedDeflate | null;
}

/**
 * Opens the WebSocket as an HTTP/2 stream, or says how connect() goes on: a refused answer to
 * report, or HTTP/1.1. Rejects with a ConnectError (the attempt's, by phase).
 */
export async function connectOverHttp2(attempt: Attempt, request: Http2Request): Promise<Http2Outcome> {
  const { target, options, proxy } = request;
  const only = options.http2 === 'only';
  // Built before anything is dialled: a bad header throws WS_ERR_INVALID_ARGUMENT, as
  // buildClientRequest does over HTTP/1.1.
  const fields = buildExtendedConnectRequest({
    scheme: target.secure ? 'https' : 'http',
    authority: target.hostHeader,
    path: target.path,
    origin: options.origin,
    protocols: options.protocols,
    extensions: request.deflate === null ? undefined : buildDeflateOffer(request.deflate.config),
    headers: request.headers,
  });
  const key = sessionKey(target, options, proxy);
  let pooled = http2Sessions.find(key);
  if (pooled === null) {
    const dial = http2Sessions.dialing(key);
    if (dial !== undefined) {
      // Someone is opening a session to this origin: wait for it rather than open a second.
      attempt.enter('connect');
      const shared = await attempt.race(dial);
      if (shared === 'http/1.1') return unsupported(attempt, only, 'tls', 'the server chose HTTP/1.1 in the TLS handshake (ALPN)');
      if (shared !== null && shared.available) pooled = shared;
    }
  }
  if (pooled === null) {
    const dialled = await dialSession(attempt, key, target);
    if (!('session' in dialled)) {
      if (only) {
        dialled.socket.destroy();
        return unsupported(attempt, only, 'tls', 'the server chose HTTP/1.1 in the TLS handshake (ALPN)');
      }
      return { kind: 'fallback', socket: dialled.socket };
    }
    pooled = dialled;
  }
  return openStream(attempt, pooled, request, fields);
}

/** Opens the transport for a new session; the TLS socket itself when the server chose HTTP/1.1. */
async function dialSession(attempt: Attempt, key: string, target: Target): Promise<PooledSession | { socket: Duplex }> {
  let settle!: (result: PooledSession | 'http/1.1' | null) => void;
  http2Sessions.startDial(key, new Promise((resolve) => (settle = resolve)));
  let socket: Duplex;
  try {
    socket = await attempt.openTransport(ALPN);
  } catch (error) {
    // Those waiting for this dial dial themselves: their errors, phases and timings are theirs.
    settle(null);
    throw error;
  }
  // A TLS socket says what ALPN chose (false: nothing, an HTTP/1.1 server); a cleartext one is
  // HTTP/2 by prior knowledge (RFC 9113 3.3), as is a transport of createConnection's without ALPN.
  const alpn = (socket as Partial<TLSSocket>).alpnProtocol;
  if (alpn !== undefined && alpn !== 'h2') {
    settle('http/1.1');
    return { socket };
  }
  // From now on the session owns the transport: one connect's timeout must not end it for all.
  attempt.detach();
  const pooled = http2Sessions.open(key, `${target.secure ? 'https' : 'http'}://${target.hostHeader}`, socket);
  settle(pooled);
  return pooled;
}

async function openStream(
  attempt: Attempt,
  pooled: PooledSession,
  request: Http2Request,
  fields: Record<string, string>,
): Promise<Http2Outcome> {
  const { options } = request;
  const only = options.http2 === 'only';
  pooled.acquire();
  // The session reference goes to the WebSocket, or to the answer; otherwise it is given back.
  let kept = false;
  let stream: ClientHttp2Stream | null = null;
  try {
    attempt.enter('handshake');
    let allowed: boolean;
    try {
      allowed = await attempt.race(pooled.ready);
    } catch (error) {
      if (error instanceof ConnectError) throw error;
      // Not an HTTP/2 server (an HTTP/1.1 one answers the connection preface with a 400).
      return unsupported(attempt, only, 'handshake', `the server does not speak HTTP/2 (${(error as Error).message})`);
    }
    // RFC 8441 3: no extended CONNECT before the server has said it takes one.
    if (!allowed) {
      return unsupported(attempt, only, 'handshake', 'the server does not allow WebSockets over HTTP/2 (no SETTINGS_ENABLE_CONNECT_PROTOCOL)');
    }
    const opened = pooled.session.request(fields, { endStream: false });
    stream = opened;
    opened.on('error', noop);
    const response = await attempt.wait<IncomingHttpHeaders>((resolve, reject) => {
      const onResponse = (headers: IncomingHttpHeaders): void => {
        opened.off('close', onClose);
        resolve(headers);
      };
      const onClose = (): void => {
        opened.off('response', onResponse);
        reject(attempt.error('WS_ERR_INVALID_RESPONSE', `the server reset the stream before answering (${rstName(opened.rstCode)})`));
      };
      opened.once('response', onResponse);
      opened.once('close', onClose);
    });
    const status = Number(response[':status']);
    const headers = plainHeaders(response);
    if (status >= 200 && status <= 299) {
      const ws = open(attempt, pooled, opened, status, headers, request);
      kept = true;
      return { kind: 'open', ws };
    }
    kept = true;
    let released = false;
    const done = (): void => {
      if (released) return;
      released = true;
      if (!opened.closed) opened.close(constants.NGHTTP2_CANCEL);
      pooled.release();
    };
    return {
      kind: 'answered',
      answer: {
        status,
        headers,
        readBody: async () => {
          try {
            return await readStreamBody(opened);
          } finally {
            done();
          }
        },
        discard: done,
      },
    };
  } catch (error) {
    if (stream !== null && !stream.closed) stream.close(constants.NGHTTP2_CANCEL);
    throw error;
  } finally {
    if (!kept) pooled.release();
  }
}

/** The 2xx: checked (RFC 8441 5, RFC 6455 4.1's steps 5 and 6), then the WebSocket on the stream. */
function open(
  attempt: Attempt,
  pooled: PooledSession,
  stream: ClientHttp2Stream,
  status: number,
  headers: Readonly<Record<string, string | string[]>>,
  request: Http2Request,
): Ws {
  const { options, deflate } = request;
  let agreed;
  try {
    agreed = validateExtendedConnectResponse({ status, headers }, { protocols: options.protocols, deflate: deflate?.config ?? null });
  } catch (error) {
    rejectResponse(attempt, error, status, headers);
  }
  // Frames that came with the response are parsed once the application can read (see connect.ts).
  stream.pause();
  const ws = agreedWs(stream, agreed, request, {
    // The WebSocket's reference to its session: the last one gone closes it.
    onClosed: () => pooled.release(),
    transport: HTTP2_STREAM_TRANSPORT,
  });
  stream.off('error', noop);
  setImmediate(() => stream.resume());
  return ws;
}

/** HTTP/1.1 on a new connection instead, or, with `http2: 'only'`, the error that says why not. */
function unsupported(attempt: Attempt, only: boolean, phase: 'tls' | 'handshake', why: string): Http2Outcome {
  if (!only) return { kind: 'fallback', socket: undefined };
  throw attempt.error('WS_ERR_HTTP2_UNSUPPORTED', `http2: 'only', but ${why}`, { phase });
}

function plainHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    out[name] = value;
  }
  return out;
}

// RFC 9113 7: the error codes of RST_STREAM and GOAWAY, by value.
const ERROR_CODES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

function rstName(code: number | undefined): string {
  if (code === undefined) return 'no error code';
  return `${ERROR_CODES[code] ?? 'error code'} ${code}`;
}

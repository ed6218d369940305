/**
 * `connect(url, options)`: the client (issue 9; seed 003's Dial). It sends a fresh random key,
 * Host, optional Origin, extra headers, the offered subprotocols and by default a
 * permessage-deflate offer; checks the 101 with the core's rules (client-handshake.ts); follows
 * redirects when asked; and resolves with a `Ws` built the same way as a server's, in the client
 * role. Every failure rejects with a ConnectError naming its phase. A connect never hangs:
 * handshakeTimeout (10 s by default) bounds it all, redirects included.
 */

import type { Duplex } from 'node:stream';
import { buildClientRequest, generateHandshakeKey, validateClientResponse } from '../../protocol/client-handshake.js';
import { buildDeflateOffer, type DeflateConfig } from '../../protocol/permessage-deflate.js';
import { PerMessageDeflate, takeoverBytes } from '../deflate.js';
import { DEFLATE_DEFAULTS, type ResolvedDeflateOptions } from '../options.js';
import { randomKeyBytes, sha1Base64 } from '../runtime.js';
import type { Ws } from '../ws.js';
import { ZlibResources, deflateContextBytes, inflateContextBytes } from '../zlib-resources.js';
import { agreedWs, rejectResponse, type OfferedDeflate } from './agreed.js';
import { ConnectError } from './connect-error.js';
import { Attempt, describe, type Answered } from './dial.js';
import { connectOverHttp2, type Http2Outcome } from './http2-connect.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions } from './options.js';
import { proxyFor } from './proxy.js';
import { parseTarget, type Target } from './url.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Headers that carry credentials: never sent on to another host (RFC 9110 15.4 leaves it to the
// client; browsers and fetch drop them too).
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** Opens a WebSocket connection to `url` (ws:, wss:, ws+unix:; http: and https: are mapped). */
export async function connect(url: string | URL, options: ClientOptions = {}): Promise<Ws> {
  const resolved = resolveClientOptions(options);
  let target = parseTarget(url);
  const signal = resolved.signal;
  if (signal?.aborted === true) {
    throw new ConnectError('WS_ERR_ABORTED', 'connect() was aborted before it started', { url: target.href, cause: signal.reason });
  }
  let attempt: Attempt | null = null;
  const started = performance.now();
  const timer = setTimeout(() => {
    attempt?.cancel(
      attempt.error('WS_ERR_TIMEOUT', `no WebSocket handshake within handshakeTimeout (${resolved.handshakeTimeout} ms)`),
    );
  }, resolved.handshakeTimeout);
  const onAbort = (): void => {
    attempt?.cancel(attempt.error('WS_ERR_ABORTED', 'connect() was aborted', { cause: signal?.reason }));
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  let headers = { ...resolved.headers };
  try {
    for (let redirects = 0; ; redirects++) {
      const proxy = proxyFor(target, resolved.proxy);
      attempt = new Attempt(target, resolved, proxy);
      // Cancelled while the previous attempt ended (a timeout between redirects).
      if (performance.now() - started >= resolved.handshakeTimeout) {
        throw attempt.error('WS_ERR_TIMEOUT', `no WebSocket handshake within handshakeTimeout (${resolved.handshakeTimeout} ms)`);
      }
      const deflate = offerDeflate(resolved.perMessageDeflate, options.perMessageDeflate);
      let answer: Answer | undefined;
      // An open transport to go on with over HTTP/1.1 (the server's TLS chose it over h2).
      let opened: Duplex | undefined;
      if (resolved.http2 !== false) {
        let outcome: Http2Outcome;
        try {
          outcome = await connectOverHttp2(attempt, {
            target,
            options: resolved,
            given: options,
            proxy,
            headers: withCredentials(headers, target),
            deflate,
          });
        } catch (error) {
          deflate?.release();
          throw error;
        }
        if (outcome.kind === 'open') return outcome.ws;
        if (outcome.kind === 'answered') {
          deflate?.release();
          const { answer: refused } = outcome;
          answer = { status: refused.status, statusText: '', headers: refused.headers, readBody: () => refused.readBody(), discard: () => refused.discard() };
        } else opened = outcome.socket;
      }
      if (answer === undefined) {
        const key = generateHandshakeKey(randomKeyBytes());
        let answered: Answered;
        try {
          // Inside the try: a request that cannot be built (a bad header) must release the offer's
          // reservation too, or every such failure would shrink the shared context budget.
          const request = buildClientRequest({
            path: target.path,
            host: target.hostHeader,
            key,
            origin: resolved.origin,
            protocols: resolved.protocols,
            extensions: deflate === null ? undefined : buildDeflateOffer(deflate.config),
            headers: withCredentials(headers, target),
          });
          answered = await attempt.run(request, opened);
        } catch (error) {
          deflate?.release();
          opened?.destroy();
          throw error;
        }
        const { head } = answered;
        if (head.status === 101) return upgrade(answered, key, options, resolved, deflate, attempt);
        deflate?.release();
        const refusedOn = answered;
        const onAttempt = attempt;
        answer = {
          status: head.status,
          statusText: head.statusText,
          headers: head.headers,
          readBody: async () => {
            const body = await onAttempt.readBody(refusedOn);
            refusedOn.socket.destroy();
            return body;
          },
          discard: () => refusedOn.socket.destroy(),
        };
      }
      const location = answer.headers['location'];
      if (resolved.followRedirects && REDIRECTS.has(answer.status) && typeof location === 'string') {
        answer.discard();
        if (redirects >= resolved.maxRedirects) {
          throw attempt.error('WS_ERR_TOO_MANY_REDIRECTS', `more than ${resolved.maxRedirects} redirects (the last to ${location})`, {
            status: answer.status,
            headers: answer.headers,
          });
        }
        const next = redirectTarget(location, target, attempt, answer.status);
        if (next.origin !== target.origin) headers = withoutCredentials(headers);
        target = next;
        continue;
      }
      const body = await answer.readBody();
      throw attempt.error(
        'WS_ERR_UNEXPECTED_RESPONSE',
        `the server answered the handshake with ${answer.status} ${answer.statusText}`.trimEnd(),
        { status: answer.status, headers: answer.headers, body },
      );
    }
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** An answer other than the WebSocket's (101, or 2xx over HTTP/2): a redirect, or a refusal to report. */
interface Answer {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** The first KiB of its body; its transport is closed after. */
  readBody(): Promise<Buffer>;
  /** Closes its transport (or its HTTP/2 stream) without reading the body. */
  discard(): void;
}

/** The 101: checked by RFC 6455 4.1, then the connection starts on the same socket. */
function upgrade(
  answered: Answered,
  key: string,
  given: ClientOptions,
  options: ResolvedClientOptions,
  deflate: OfferedDeflate | null,
  attempt: Attempt,
): Ws {
  const { socket, head, rest } = answered;
  let agreed;
  try {
    agreed = validateClientResponse(head, {
      key,
      protocols: options.protocols,
      deflate: deflate?.config ?? null,
      sha1Base64,
    });
  } catch (error) {
    // RFC 6455 4.1: "the client MUST _Fail the WebSocket Connection_".
    socket.destroy();
    deflate?.release();
    rejectResponse(attempt, error, head.status, head.headers);
  }
  const ws = agreedWs(socket, agreed, { options, given, deflate }, { onClosed: undefined });
  // Frames that came with the 101 (a server may send at once) are parsed one turn later, once the
  // application that awaited connect() has had the chance to start reading: a close or a bad frame
  // among them then waits for it to read the messages before (as on a server), instead of
  // failing the connection before anyone read them (Autobahn 3.2, 4.2.3, 5.15 as a client).
  setImmediate(() => {
    if (rest.length > 0) ws.receiveChunk(Buffer.from(rest));
    socket.resume();
  });
  return ws;
}

function redirectTarget(location: string, from: Target, attempt: Attempt, status: number): Target {
  let next: Target;
  try {
    next = parseTarget(resolveLocation(location, from));
  } catch (error) {
    throw attempt.error('WS_ERR_REDIRECT_REFUSED', `the redirect to ${JSON.stringify(location)} is not a WebSocket URL: ${describe(error)}`, {
      status,
      cause: error,
    });
  }
  // Never from wss: to ws: (a redirect must not strip TLS).
  if (from.secure && !next.secure) {
    throw attempt.error('WS_ERR_REDIRECT_REFUSED', `refused to follow a redirect from ${from.href} to ${next.href}: it drops TLS`, { status });
  }
  if (next.socketPath !== undefined && from.socketPath === undefined) {
    throw attempt.error('WS_ERR_REDIRECT_REFUSED', `refused to follow a redirect to a Unix socket (${next.href})`, { status });
  }
  return next;
}

/**
 * The absolute URL a Location names (RFC 9110 10.2.2: a reference relative to the request's URL).
 * On a Unix socket a relative reference stays on that socket: ws+unix: has no authority to
 * resolve against, so the path is resolved as an http: one and put back after the socket path.
 */
function resolveLocation(location: string, from: Target): string {
  if (from.socketPath === undefined || /^[a-z][a-z0-9+.-]*:/i.test(location)) {
    return new URL(location, from.href.replace(/^ws/, 'http')).href;
  }
  const resolved = new URL(location, `http://localhost${from.path}`);
  const socketPath = from.socketPath.split('/').map(encodeURIComponent).join('/');
  return `${from.secure ? 'wss' : 'ws'}+unix:${socketPath}:${resolved.pathname}${resolved.search}`;
}

function withCredentials(headers: Readonly<Record<string, string>>, target: Target): Record<string, string> {
  if (target.authorization === undefined || Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
    return { ...headers };
  }
  return { ...headers, Authorization: target.authorization };
}

function withoutCredentials(headers: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (!CREDENTIAL_HEADERS.has(name.toLowerCase())) out[name] = value;
  return out;
}

// ---- permessage-deflate for clients ----------------------------------------------------------

// Client connections share their zlib limits and pools (a process may dial thousands): all those
// with the default zlib settings one, the others one per perMessageDeflate object they were made
// with. Keyed by the object, so an entry goes with it: no map of every setting ever used.
const clientZlib = new WeakMap<object, ZlibResources>();

function zlibFor(settings: ResolvedDeflateOptions, given: ClientOptions['perMessageDeflate']): ZlibResources {
  const D = DEFLATE_DEFAULTS;
  const defaults =
    settings.level === D.level && settings.memLevel === D.memLevel && settings.concurrency === D.concurrency && settings.maxContextMemory === D.maxContextMemory;
  const key = defaults || typeof given !== 'object' ? D : given;
  let resources = clientZlib.get(key);
  // Also when the same object now holds other settings (changed since): connections made before keep theirs.
  if (resources === undefined || !resources.serves(settings)) clientZlib.set(key, (resources = new ZlibResources(settings)));
  return resources;
}

/**
 * The offer for these settings. Context takeover is offered while the shared context budget lasts;
 * past it, the offer asks for no context takeover both ways (RFC 7692 7.1.1), so that a process
 * with thousands of compressed client connections stays within maxContextMemory.
 */
function offerDeflate(settings: ResolvedDeflateOptions | null, given: ClientOptions['perMessageDeflate']): OfferedDeflate | null {
  if (settings === null) return null;
  const zlib = zlibFor(settings, given);
  let config: DeflateConfig = settings;
  let reserved = 0;
  const most =
    (settings.clientNoContextTakeover ? 0 : deflateContextBytes(settings.clientMaxWindowBits, settings.memLevel)) +
    (settings.serverNoContextTakeover ? 0 : inflateContextBytes(settings.serverMaxWindowBits));
  if (most > 0) {
    if (zlib.budget.tryReserve(most)) reserved = most;
    else config = { ...settings, serverNoContextTakeover: true, clientNoContextTakeover: true };
  }
  let released = false;
  return {
    config,
    codec(agreement) {
      const needed = takeoverBytes(agreement, settings.memLevel);
      // The server may have agreed to less than we reserved for.
      if (needed < reserved) zlib.budget.release(reserved - needed);
      released = true;
      return new PerMessageDeflate(agreement, zlib, Math.min(needed, reserved));
    },
    release() {
      if (released) return;
      released = true;
      zlib.budget.release(reserved);
    },
  };
}

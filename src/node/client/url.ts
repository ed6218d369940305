/**
 * Where connect() goes: the WHATWG URL of the target, checked the way the WebSocket standard's
 * constructor checks it (https://websockets.spec.whatwg.org/#dom-websocket-websocket): http: and
 * https: become ws: and wss:, any other scheme or a fragment is refused. `ws+unix:` (and
 * `wss+unix:`) reach a Unix socket: `ws+unix:/path/to.sock:/request/path?query`.
 */

import { ConnectError } from './connect-error.js';

export interface Target {
  /** The URL as connected to (ws: or wss:; ws+unix: as given). */
  readonly href: string;
  readonly secure: boolean;
  /** The host name or address, without IPv6 brackets (for DNS, TLS SNI and the proxy). */
  readonly hostname: string;
  readonly port: number;
  /** The Unix socket path, for ws+unix:. */
  readonly socketPath: string | undefined;
  /** The request target: path and query. */
  readonly path: string;
  /** The Host header: the host, and the port when it is not the scheme's default (RFC 6455 4.1). */
  readonly hostHeader: string;
  /** Basic credentials from `user:password@` in the URL, as an Authorization value. */
  readonly authorization: string | undefined;
  /** The origin the target belongs to, to tell whether a redirect changes host. */
  readonly origin: string;
}

function invalidUrl(message: string, url: string | undefined): ConnectError {
  return new ConnectError('WS_ERR_INVALID_URL', message, { url });
}

export function parseTarget(input: string | URL, base?: string): Target {
  let url: URL;
  try {
    url = new URL(String(input), base);
  } catch (error) {
    throw invalidUrl(`invalid URL ${JSON.stringify(String(input))}`, String(input));
  }
  const href = url.href;
  let scheme = url.protocol;
  if (scheme === 'http:') scheme = 'ws:';
  else if (scheme === 'https:') scheme = 'wss:';
  const unix = scheme === 'ws+unix:' || scheme === 'wss+unix:';
  if (scheme !== 'ws:' && scheme !== 'wss:' && !unix) {
    throw invalidUrl(`the URL scheme must be ws:, wss: (or http:, https:, ws+unix:), got ${url.protocol}`, href);
  }
  // WHATWG WebSocket: "If urlRecord's fragment is non-null, throw a SyntaxError" (RFC 6455 3 too).
  if (url.hash !== '' || href.endsWith('#')) throw invalidUrl('a WebSocket URL may not have a fragment', href);
  const secure = scheme === 'wss:' || scheme === 'wss+unix:';
  const authorization =
    url.username === '' && url.password === ''
      ? undefined
      : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;

  if (unix) {
    // ws+unix:/tmp/app.sock:/chat -> socket /tmp/app.sock, request /chat. Only the socket path
    // is decoded (it names a file); the request path goes on the wire percent-encoded, as given.
    const full = url.pathname;
    const colon = full.indexOf(':');
    let socketPath: string;
    try {
      socketPath = decodeURIComponent(colon < 0 ? full : full.slice(0, colon));
    } catch {
      throw invalidUrl('the socket path of the ws+unix: URL is not valid percent-encoding', href);
    }
    const path = (colon < 0 ? '/' : full.slice(colon + 1) || '/') + url.search;
    if (socketPath === '') throw invalidUrl('a ws+unix: URL needs a socket path', href);
    if (!path.startsWith('/')) throw invalidUrl('the request path after the socket path must start with "/"', href);
    return {
      href,
      secure,
      hostname: 'localhost',
      port: 0,
      socketPath,
      path,
      hostHeader: 'localhost',
      authorization,
      origin: `unix:${socketPath}`,
    };
  }
  const wsUrl = scheme === url.protocol ? url : new URL(`${scheme}${href.slice(url.protocol.length)}`);
  if (wsUrl.hostname === '') throw invalidUrl('the URL has no host', href);
  const port = wsUrl.port === '' ? (secure ? 443 : 80) : Number(wsUrl.port);
  const hostname = wsUrl.hostname.startsWith('[') ? wsUrl.hostname.slice(1, -1) : wsUrl.hostname;
  // URL.host leaves out the scheme's default port already (ws: 80, wss: 443 are special schemes).
  return {
    href: wsUrl.href,
    secure,
    hostname,
    port,
    socketPath: undefined,
    path: (wsUrl.pathname || '/') + wsUrl.search,
    hostHeader: wsUrl.host,
    authorization,
    origin: `${secure ? 'wss' : 'ws'}://${wsUrl.host}`,
  };
}

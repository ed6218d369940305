/**
 * The echo test page (issue 10, after seed 001): `GET /` on the echo server's port serves a page
 * that opens a WebSocket to its own origin, sends text and binary, closes with a code and reason,
 * and logs every event. `npm start` passes `serveEchoPage` as the server's `onHttpRequest` hook;
 * every request it does not claim keeps the server's `426 Upgrade Required`.
 *
 * Each response carries a Content-Security-Policy that allows only the page's own script and
 * stylesheet and the WebSocket origin it connects to, computed from the request's Host header.
 */

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { ECHO_CSS, ECHO_HTML, ECHO_JS } from './assets.js';

/**
 * The page's WebSocket URL asks (`/?transport`) what carries it: the echo server then sends
 * `transport: h2` (or `transport: http/1.1`) as its first message, before any echo. Other
 * servers ignore the query.
 */
export function asksForTransport(url: string | undefined): boolean {
  return url !== undefined && /[?&]transport(?:&|=|$)/.test(url);
}

/**
 * What the page needs of a request and its response: Node's HTTP/1.1 ones, and those of its
 * HTTP/2 compatibility API (Http2ServerRequest, Http2ServerResponse), alike.
 */
export interface PageRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean | undefined } | null;
}

export interface PageResponse {
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(): unknown;
  end(body: Buffer | string): unknown;
}

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

const ASSETS: ReadonlyMap<string, Asset> = new Map([
  ['/', { type: 'text/html; charset=utf-8', body: Buffer.from(ECHO_HTML, 'utf8') }],
  ['/echo.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(ECHO_JS, 'utf8') }],
  ['/echo.css', { type: 'text/css; charset=utf-8', body: Buffer.from(ECHO_CSS, 'utf8') }],
]);

/**
 * The page's Content-Security-Policy, for a page whose WebSocket goes to `socketOrigin`
 * (`ws://host:port`). `connect-src 'self'` covers ws: of the same host only in browsers that
 * follow CSP Level 3 on this point (https://w3c.github.io/webappsec-csp/#match-url-to-source-expression);
 * the explicit origin covers the others.
 */
export function contentSecurityPolicy(socketOrigin: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self' ${socketOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

// RFC 9110 7.2: Host = uri-host [ ":" port ]. Of RFC 3986's uri-host only DNS names, IPv4 and
// bracketed IPv6 literals are accepted: the value is copied into the CSP header, and a reg-name may
// carry the characters that delimit CSP directives and sources (";", ",", "'", spaces).
const HOST_PATTERN = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d{1,5}))?$/;
const MAX_HOST_LENGTH = 255 + 6;

/** The Host header as `host[:port]` in lower case, or null when it is missing or not accepted. */
export function parseHostHeader(value: string | undefined): string | null {
  if (value === undefined || value.length > MAX_HOST_LENGTH) return null;
  const host = value.toLowerCase();
  const match = HOST_PATTERN.exec(host);
  if (match === null) return null;
  const port = match[2];
  if (port !== undefined && Number(port) > 65535) return null;
  return host;
}

/**
 * Serves the page, its script and its stylesheet on GET and HEAD, over HTTP/1.1 or HTTP/2 (where
 * the host is `:authority`). Returns false, leaving the request to the server, for any other path
 * and for requests that carry `Upgrade` (the server explains what is wrong with those).
 */
export function serveEchoPage(request: PageRequest, response: PageResponse): boolean {
  if (request.headers.upgrade !== undefined) return false;
  const target = request.url ?? '';
  const query = target.indexOf('?');
  const asset = ASSETS.get(query < 0 ? target : target.slice(0, query));
  if (asset === undefined) return false;
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    respondText(response, 405, `${request.method} is not allowed here: use GET or HEAD`, { Allow: 'GET, HEAD' });
    return true;
  }
  const authority = request.headers[':authority'];
  const host = parseHostHeader(request.headers.host ?? (typeof authority === 'string' ? authority : undefined));
  if (host === null) {
    respondText(response, 400, 'missing or invalid Host header');
    return true;
  }
  response.writeHead(200, {
    'Content-Type': asset.type,
    'Content-Length': asset.body.length,
    'Cache-Control': 'no-cache',
    // The page's socket goes to the same host and port: ws: from an http: page, wss: from https:.
    'Content-Security-Policy': contentSecurityPolicy(`${request.socket?.encrypted === true ? 'wss' : 'ws'}://${host}`),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  // HEAD: the same headers, Content-Length included, and no body (RFC 9110 9.3.2).
  if (request.method === 'HEAD') response.end();
  else response.end(asset.body);
  return true;
}

/** Any other plain request on the echo server's TLS port (HTTP/1.1 or HTTP/2): 404. */
export function serveNotFound(request: PageRequest, response: PageResponse): void {
  respondText(response, 404, `nothing at ${request.url ?? '?'}: the echo page is /, WebSockets go to any path`);
}

function respondText(response: PageResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  response.writeHead(status, {
    ...headers,
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(body);
}

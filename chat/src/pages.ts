/**
 * The chat's pages, static files in pages/ with no framework and no build step: `/ws/test` (the
 * test client) and `/websocket` (the integration page with snippets), their script and stylesheet.
 * Every response carries a strict Content-Security-Policy: the page's own script and stylesheet
 * only (no inline script, no eval), and WebSockets to its own origin.
 */

import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { respond } from './http.js';

interface Page {
  readonly type: string;
  readonly body: Buffer;
}

function load(name: string, type: string): Page {
  return { type, body: readFileSync(new URL(`./pages/${name}`, import.meta.url)) };
}

const PAGES: ReadonlyMap<string, Page> = new Map([
  ['/ws/test', load('test.html', 'text/html; charset=utf-8')],
  ['/ws/test.js', load('test.js', 'text/javascript; charset=utf-8')],
  ['/ws/chat.css', load('chat.css', 'text/css; charset=utf-8')],
  // Linked from both pages, so a browser does not ask for /favicon.ico (a 404 in its console).
  ['/ws/favicon.svg', load('favicon.svg', 'image/svg+xml')],
  ['/websocket', load('websocket.html', 'text/html; charset=utf-8')],
]);

// RFC 9110 7.2: Host = uri-host [ ":" port ]. Only DNS names, IPv4 and bracketed IPv6 literals: the
// value goes into the CSP header, where ";", ",", "'" or spaces would change its meaning.
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::\d{1,5})?$/;

/**
 * The pages' policy. `connect-src 'self'` covers ws: and wss: of the same host in browsers that
 * follow CSP Level 3 there; the explicit origins cover the others.
 */
export function contentSecurityPolicy(hostHeader: string | undefined): string {
  const host = hostHeader?.toLowerCase();
  const sockets = host !== undefined && host.length <= 261 && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `connect-src 'self'${sockets}`,
    "img-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Serves a page or one of its files; false for any other path. */
export function servePage(path: string, request: IncomingMessage, response: ServerResponse): boolean {
  const page = PAGES.get(path);
  if (page === undefined) return false;
  return respond(request, response, 200, page.type, page.body, {
    'Content-Security-Policy': contentSecurityPolicy(request.headers.host),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
}

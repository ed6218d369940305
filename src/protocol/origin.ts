/**
 * Which browser origins may open a WebSocket (issue 14): the defence against cross-site WebSocket
 * hijacking. A browser sends `Origin` with every WebSocket handshake and lets any page connect
 * anywhere (RFC 6455 10.2: the server must check it); the cookies of the target site go along, so a
 * server that accepts every origin lets any web page act as its logged-in users. Non-browser
 * clients send no `Origin` (or whatever they like: for them it proves nothing either way).
 *
 * The default, as in gorilla/websocket and coder/websocket rather than ws: requests without
 * `Origin` and same-origin ones (the Origin's host and port equal `Host`'s) are accepted, others
 * refused. Pure: no I/O, usable by any transport (HTTP/1.1 `Host`, HTTP/2 `:authority`).
 */

import { WebSocketError } from './errors.js';

/**
 * An entry of the `origins` option:
 * - `'same-origin'`: the Origin's host and port equal the request's `Host` (the default);
 * - an exact origin, `scheme://host[:port]` (`https://app.example.com`; the scheme's default port
 *   may be written or not);
 * - a host pattern, matched against the Origin's host and port as written (`example.com`,
 *   `*.example.com` for any subdomain, `localhost:*` for any port): `*` stands for any run of
 *   characters.
 */
export type OriginRule = string;

/** `'*'` accepts every origin; a list accepts what one of its rules accepts. */
export type OriginsOption = '*' | readonly OriginRule[];

/** An `origins` option checked once: what a handshake is matched against. */
export interface OriginPolicy {
  readonly any: boolean;
  readonly sameOrigin: boolean;
  /** Normalized exact origins (`scheme://host:port`, lower case, default port written). */
  readonly exact: ReadonlySet<string>;
  readonly patterns: readonly RegExp[];
  /** A request without `Origin` is refused (it did not come from a browser page). */
  readonly requireOrigin: boolean;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

function invalid(message: string): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `option origins: ${message}`);
}

/** Checks an `origins` option (throws WS_ERR_INVALID_ARGUMENT) and makes it fast to match. */
export function originPolicy(option: OriginsOption | undefined, requireOrigin = false): OriginPolicy {
  if (typeof requireOrigin !== 'boolean') {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `option requireOrigin must be true or false, got ${String(requireOrigin)}`);
  }
  if (option === undefined) return { any: false, sameOrigin: true, exact: new Set(), patterns: [], requireOrigin };
  if (option === '*') return { any: true, sameOrigin: false, exact: new Set(), patterns: [], requireOrigin };
  if (!Array.isArray(option)) throw invalid(`must be '*' or an array of strings, got ${JSON.stringify(option)}`);
  let sameOrigin = false;
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const rule of option as readonly unknown[]) {
    if (typeof rule !== 'string' || rule.length === 0) throw invalid(`every entry must be a non-empty string, got ${JSON.stringify(rule)}`);
    if (rule === 'same-origin') sameOrigin = true;
    else if (rule === '*') throw invalid("'*' is the whole option (origins: '*'), not an entry");
    else if (rule.includes('://')) {
      const origin = normalizeOrigin(rule);
      if (origin === null) throw invalid(`${JSON.stringify(rule)} is not an origin (scheme://host[:port])`);
      exact.add(origin.normalized);
    } else {
      if (/[/\s@]/.test(rule)) throw invalid(`${JSON.stringify(rule)} is not a host pattern (host[:port], * for any run)`);
      patterns.push(globToRegExp(rule.toLowerCase()));
    }
  }
  return { any: false, sameOrigin, exact, patterns, requireOrigin };
}

interface ParsedOrigin {
  /** `scheme://host:port`, lower case, default port written. */
  readonly normalized: string;
  /** Host and port as the Origin wrote them (lower case): what host patterns match. */
  readonly hostAsWritten: string;
  readonly hostname: string;
  readonly port: string;
}

/** An Origin header value (RFC 6454 7: `scheme://host[:port]`, no path), or null if it is not one. */
function normalizeOrigin(value: string): ParsedOrigin | null {
  const match = /^([a-z][a-z0-9+.-]*:)\/\/(\[[0-9a-f:.]+\]|[^\s/:?#@[\]]+)(?::(\d{1,5}))?\/?$/i.exec(value);
  if (match === null) return null;
  const scheme = match[1]!.toLowerCase();
  const hostname = match[2]!.toLowerCase();
  const port = match[3] ?? DEFAULT_PORTS[scheme] ?? '';
  const hostAsWritten = match[3] === undefined ? hostname : `${hostname}:${match[3]}`;
  return { normalized: `${scheme}//${hostname}:${port}`, hostAsWritten, hostname, port };
}

function globToRegExp(pattern: string): RegExp {
  const source = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
  return new RegExp(`^${source}$`);
}

/**
 * The host and port of a `Host` header (or HTTP/2 `:authority`); `secure`: the request came over
 * TLS, which decides the default port when Host has none.
 */
function hostAndPort(host: string, secure: boolean): { hostname: string; port: string } | null {
  const match = /^(\[[0-9a-f:.]+\]|[^\s/:?#@[\]]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  if (match === null) return null;
  return { hostname: match[1]!.toLowerCase(), port: match[2] ?? (secure ? '443' : '80') };
}

/** Why a handshake's origin is refused, or null when it is accepted. */
export function checkOrigin(
  policy: OriginPolicy,
  origin: string | undefined,
  host: string | undefined,
  secure: boolean,
): string | null {
  if (origin === undefined) return policy.requireOrigin ? 'a request without Origin' : null;
  if (policy.any) return null;
  const parsed = normalizeOrigin(origin);
  // "null" (a sandboxed page, a file: URL) and anything malformed match no rule.
  if (parsed === null) return `origin ${JSON.stringify(origin)} is not allowed`;
  if (policy.sameOrigin && host !== undefined) {
    const target = hostAndPort(host, secure);
    if (target !== null && target.hostname === parsed.hostname && target.port === parsed.port) return null;
  }
  if (policy.exact.has(parsed.normalized)) return null;
  for (const pattern of policy.patterns) if (pattern.test(parsed.hostAsWritten)) return null;
  return `origin ${origin} is not allowed`;
}

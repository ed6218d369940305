/**
 * HTTP CONNECT proxies (RFC 9110 9.3.6): which proxy a target goes through, and the request that
 * opens the tunnel. `proxy: 'env'` reads the conventional variables: HTTPS_PROXY for wss:,
 * HTTP_PROXY for ws: (lower-case names too, which curl prefers), and NO_PROXY, a list of hosts
 * (`example.com` also covers its subdomains, `.example.com` only them, `*` everything, an
 * optional `:port`) that connect directly.
 */

import { ConnectError } from './connect-error.js';
import type { Target } from './url.js';

export interface ProxyTarget {
  readonly hostname: string;
  readonly port: number;
  /** Proxy-Authorization, from `user:password@` in the proxy URL. */
  readonly authorization: string | undefined;
  readonly href: string;
}

function env(name: string, environment: NodeJS.ProcessEnv): string | undefined {
  const value = environment[name.toLowerCase()] ?? environment[name.toUpperCase()];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Whether NO_PROXY exempts `target`. */
export function bypassesProxy(target: Target, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  const host = target.hostname.toLowerCase();
  for (let entry of noProxy.split(/[\s,]+/)) {
    entry = entry.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    let port: number | undefined;
    const match = /^(.*?)(?::(\d+))?$/.exec(entry.startsWith('[') ? entry.replace(/^\[(.*)\]/, '$1') : entry)!;
    if (match[2] !== undefined && !entry.endsWith(']')) port = Number(match[2]);
    let name = match[1]!;
    if (port !== undefined && port !== target.port) continue;
    if (name.startsWith('*.')) name = name.slice(1);
    if (name.startsWith('.')) {
      if (host.endsWith(name)) return true;
    } else if (host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** Parses a proxy URL (http: only: the tunnel itself carries TLS for wss:). */
export function parseProxy(value: string): ProxyTarget {
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `http://${value}`);
  } catch {
    throw new ConnectError('WS_ERR_INVALID_URL', `invalid proxy URL ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:') {
    throw new ConnectError('WS_ERR_INVALID_URL', `only http: proxies are supported, got ${url.protocol}`, { url: url.href });
  }
  const authorization =
    url.username === '' && url.password === ''
      ? undefined
      : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  return {
    hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
    port: url.port === '' ? 80 : Number(url.port),
    authorization,
    href: url.href,
  };
}

/** The proxy for `target`: from the option, or the environment for 'env'; null to connect directly. */
export function proxyFor(
  target: Target,
  option: string | false | undefined,
  environment: NodeJS.ProcessEnv = process.env,
): ProxyTarget | null {
  if (option === undefined || option === false || target.socketPath !== undefined) return null;
  if (option !== 'env') return parseProxy(option);
  const value = target.secure ? (env('https_proxy', environment) ?? env('all_proxy', environment)) : (env('http_proxy', environment) ?? env('all_proxy', environment));
  if (value === undefined || bypassesProxy(target, env('no_proxy', environment))) return null;
  return parseProxy(value);
}

/** The CONNECT request for `target` (RFC 9110 9.3.6: the authority form, host:port). */
export function buildConnectRequest(target: Target, proxy: ProxyTarget): string {
  const host = target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname;
  const authority = `${host}:${target.port}`;
  let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
  if (proxy.authorization !== undefined) head += `Proxy-Authorization: ${proxy.authorization}\r\n`;
  return `${head}\r\n`;
}

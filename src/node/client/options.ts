/** connect()'s options: every connection limit a server has, plus what a client decides. */

import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import { invalidOption, resolveOptions, withResolved, type ResolvedOptions, type WsOptions } from '../options.js';

/** What createConnection is asked for. */
export interface TransportRequest {
  /** The URL's host name, without the brackets of an IPv6 address; not resolved (the transport may). */
  readonly hostname: string;
  /** The URL's port, or the scheme's default (80 for ws:, 443 for wss:). */
  readonly port: number;
  /** wss: the transport must provide TLS itself (or return a plain stream for a TLS terminator you trust). */
  readonly secure: boolean;
  /**
   * Aborted when the connect is given up (handshakeTimeout, the caller's `signal`): stop opening the
   * transport then. A transport that still arrives is destroyed.
   */
  readonly signal: AbortSignal;
}

/**
 * The options of connect(): the options of every connection (WsOptions, with permessage-deflate
 * offered by default), and what a client decides (subprotocols, headers, TLS, redirects, proxy,
 * transport). The reconnecting clients and `new WebSocket(url, options)` take them too.
 */
export interface ClientOptions extends WsOptions {
  /**
   * Subprotocols to offer, in order of preference (RFC 6455 4.1).
   * @defaultValue none
   */
  protocols?: string | readonly string[];
  /**
   * Extra request headers (cookies, authorization...).
   * @defaultValue none
   */
  headers?: Readonly<Record<string, string>>;
  /**
   * The Origin header.
   * @defaultValue none (browsers send one; servers may require it)
   */
  origin?: string;
  /** Aborts the connect (WS_ERR_ABORTED). Once connected, it no longer affects the connection. */
  signal?: AbortSignal;
  /** wss: trusted CA certificates instead of Node's defaults (PEM). */
  ca?: SecureContextOptions['ca'];
  /** wss: a client certificate and its key (PEM), for servers that ask for one. */
  cert?: SecureContextOptions['cert'];
  /** wss: the private key of `cert` (PEM). */
  key?: SecureContextOptions['key'];
  /** wss: the passphrase of an encrypted `key`. */
  passphrase?: string;
  /**
   * wss: refuse a server whose certificate does not verify.
   * @defaultValue true
   */
  rejectUnauthorized?: boolean;
  /**
   * wss: the TLS server name (SNI) and the name the certificate must match.
   * @defaultValue the URL's host
   */
  servername?: string;
  /**
   * Follow 301, 302, 303, 307 and 308 answers to the handshake.
   * @defaultValue false
   */
  followRedirects?: boolean;
  /**
   * Most redirects followed.
   * @defaultValue 10
   */
  maxRedirects?: number;
  /**
   * An HTTP CONNECT proxy: 'http://user:pass@host:port'; 'env' for HTTPS_PROXY / HTTP_PROXY /
   * NO_PROXY; false for none.
   * @defaultValue false
   */
  proxy?: string | false;
  /**
   * Any transport instead of TCP/TLS (a test pipe, a socket you opened).
   * @defaultValue TCP, and TLS for wss:
   */
  createConnection?: (request: TransportRequest) => Duplex | Promise<Duplex>;
  /**
   * Resolves host names.
   * @defaultValue dns.lookup
   */
  lookup?: LookupFunction;
  /**
   * Resolve to IPv4 (4) or IPv6 (6) addresses only; 0 to either.
   * @defaultValue 0
   */
  family?: 0 | 4 | 6;
  /**
   * WebSockets over HTTP/2 (RFC 8441). `true`: open the WebSocket as a stream of an HTTP/2
   * connection to the server, reusing one already open to the same origin with the same TLS
   * options, when the server allows it (ALPN h2 for wss:, prior knowledge for ws:, then
   * SETTINGS_ENABLE_CONNECT_PROTOCOL); otherwise fall back to HTTP/1.1. `'only'`: never fall back,
   * fail with WS_ERR_HTTP2_UNSUPPORTED instead. `false`: HTTP/1.1.
   * @defaultValue false
   */
  http2?: boolean | 'only';
}

export interface ResolvedClientOptions extends ResolvedOptions {
  readonly protocols: readonly string[];
  readonly headers: Readonly<Record<string, string>>;
  readonly origin: string | undefined;
  readonly signal: AbortSignal | undefined;
  readonly tls: {
    readonly ca: SecureContextOptions['ca'];
    readonly cert: SecureContextOptions['cert'];
    readonly key: SecureContextOptions['key'];
    readonly passphrase: string | undefined;
    readonly rejectUnauthorized: boolean;
    readonly servername: string | undefined;
  };
  readonly followRedirects: boolean;
  readonly maxRedirects: number;
  readonly proxy: string | false;
  readonly createConnection: ClientOptions['createConnection'];
  readonly lookup: LookupFunction | undefined;
  readonly family: 0 | 4 | 6;
  readonly http2: boolean | 'only';
}

/** Client defaults that differ from a server's: a client offers permessage-deflate by default. */
export const CLIENT_DEFAULTS = {
  perMessageDeflate: true,
  rejectUnauthorized: true,
  followRedirects: false,
  maxRedirects: 10,
  proxy: false,
  http2: false,
} as const;

function optionalFunction<T>(name: string, value: T | undefined): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw invalidOption(name, 'a function', value);
  return value;
}

export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object', options);
  const base = resolveOptions(options, CLIENT_DEFAULTS.perMessageDeflate);
  const protocols = options.protocols === undefined ? [] : typeof options.protocols === 'string' ? [options.protocols] : [...options.protocols];
  for (const protocol of protocols) if (typeof protocol !== 'string') throw invalidOption('protocols', 'strings', protocol);
  const headers = options.headers ?? {};
  if (typeof headers !== 'object' || headers === null) throw invalidOption('headers', 'an object', headers);
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw invalidOption(`headers[${JSON.stringify(name)}]`, 'a string', value);
  }
  if (options.origin !== undefined && typeof options.origin !== 'string') throw invalidOption('origin', 'a string', options.origin);
  const signal = options.signal;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.aborted !== 'boolean')) {
    throw invalidOption('signal', 'an AbortSignal', signal);
  }
  const rejectUnauthorized = options.rejectUnauthorized ?? CLIENT_DEFAULTS.rejectUnauthorized;
  if (typeof rejectUnauthorized !== 'boolean') throw invalidOption('rejectUnauthorized', 'true or false', rejectUnauthorized);
  const followRedirects = options.followRedirects ?? CLIENT_DEFAULTS.followRedirects;
  if (typeof followRedirects !== 'boolean') throw invalidOption('followRedirects', 'true or false', followRedirects);
  const maxRedirects = options.maxRedirects ?? CLIENT_DEFAULTS.maxRedirects;
  if (!Number.isInteger(maxRedirects) || maxRedirects < 0 || maxRedirects > 100) {
    throw invalidOption('maxRedirects', 'an integer from 0 to 100', maxRedirects);
  }
  const proxy = options.proxy ?? CLIENT_DEFAULTS.proxy;
  if (proxy !== false && typeof proxy !== 'string') throw invalidOption('proxy', "a URL, 'env' or false", proxy);
  const family = options.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) throw invalidOption('family', '0, 4 or 6', family);
  if (options.servername !== undefined && typeof options.servername !== 'string') throw invalidOption('servername', 'a string', options.servername);
  const http2 = options.http2 ?? CLIENT_DEFAULTS.http2;
  if (typeof http2 !== 'boolean' && http2 !== 'only') throw invalidOption('http2', "true, false or 'only'", http2);
  return withResolved(base, {
    protocols,
    headers,
    origin: options.origin,
    signal,
    tls: {
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      passphrase: options.passphrase,
      rejectUnauthorized,
      servername: options.servername,
    },
    followRedirects,
    maxRedirects,
    proxy,
    createConnection: optionalFunction('createConnection', options.createConnection),
    lookup: optionalFunction('lookup', options.lookup),
    family,
    http2,
  });
}

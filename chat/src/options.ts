/**
 * The chat server's options, their defaults, and how the command line (`npm run chat -- --flag`)
 * and the environment set them. chat/README.md lists them all; `CHAT_LIMITS` are the abuse limits
 * on by default (`--no-limits` or `limits: false` turns them off, for benchmarks).
 */

import { readFileSync } from 'node:fs';
import type { LimitOptions } from 'rfc6455';
import type { Broker } from 'rfc6455/hub';
import { LOG_LEVELS, type LogLevel, type Logger } from './log.js';
import type { Presence } from './presence.js';

export interface ChatOptions {
  /** Rooms' history: `memory`, or `sqlite:<file>` (persistent: recovery works across a restart). Default `memory`. */
  readonly history?: string;
  /** Messages kept per room (the recovery window, and that of idempotent sends). Default 100. */
  readonly historySize?: number;
  /** Milliseconds a user whose last connection closed stays present (no user_left if back in time). Default 5000. */
  readonly presenceGrace?: number;
  /** `none` (query parameters; nobody has the notify right) or `jwt`. Default `none`. */
  readonly auth?: 'none' | 'jwt';
  /** HS256 secret, with `auth: 'jwt'`. */
  readonly jwtSecret?: string;
  /** RS256 public key (PEM, SPKI), with `auth: 'jwt'`. */
  readonly jwtPublicKey?: string;
  /** Browser origins allowed besides the server's own (exact origins or host patterns, as the library's `origins`). Default none. */
  readonly allowOrigins?: readonly string[];
  /** Refuse requests without Origin (every client but a browser page). Default false. */
  readonly requireOrigin?: boolean;
  /**
   * The library's abuse limits over CHAT_LIMITS (a limit given replaces its default; one given as
   * undefined is off), or false for none. Default CHAT_LIMITS.
   */
  readonly limits?: LimitOptions | false;
  /** Longest `content`, in characters (code points); longer is a `too_large` error. Default 4096. */
  readonly maxContent?: number;
  /** Rooms one connection may be in at once; a join past it is `forbidden`. Default 32. */
  readonly maxRooms?: number;
  /** Milliseconds close() (SIGTERM) waits for the closing handshakes before cutting connections. Default 5000. */
  readonly closeTimeout?: number;
  /** Log level. Default `info` (no line per message). */
  readonly logLevel?: LogLevel;
  /** A pino logger of your own (then `logLevel` is not used). */
  readonly logger?: Logger;
  /** Serve `/metrics` and count for it. Default true. */
  readonly metrics?: boolean;
  /** A broker of your own for rooms' pub/sub and history (the Redis engine); then `history` is not used. */
  readonly broker?: Broker;
  /** A presence of your own (the Redis one); then `presenceGrace` is not used. */
  readonly presence?: Presence;
  /**
   * A Redis URL (`redis://host:port`, `rediss://` for TLS): rooms' pub/sub and history
   * (@rfc6455/redis's RedisBroker) and presence (RedisPresence) go through it, so several chat
   * servers serve one chat. Replaces `history`. Default: none (one process, in memory).
   */
  readonly redis?: string;
  /** URLs of some nodes of a Redis Cluster, instead of `redis`. */
  readonly redisCluster?: readonly string[];
  /** With Redis: milliseconds a server's presence lease lasts (a dead server's users leave within lease + lease/8 + grace). Default 8000. */
  readonly presenceLease?: number;
  /**
   * Addresses of proxies in front of the chat whose `X-Forwarded-For` is believed: for a request from
   * one of them, the client's address (for the per-address limits and the logs) is the header's last
   * entry. Default none: the socket's address.
   */
  readonly trustProxy?: readonly string[];
  /** A certificate and its key (PEM) for `listen()`: it then serves `https://` and `wss://`. */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** Milliseconds `drain()` spreads the closes over (1012 to every client, in waves). Default 10000. */
  readonly drainDeadline?: number;
}

/** The abuse limits the chat turns on by default. */
export const CHAT_LIMITS: LimitOptions = Object.freeze({
  messageRate: Object.freeze({ perSecond: 20, burst: 40 }),
  byteRate: Object.freeze({ perSecond: 64 * 1024, burst: 256 * 1024 }),
  maxDropped: 10,
  handshakeRate: Object.freeze({ perSecond: 10, burst: 30 }),
  connectionsPerAddress: 50,
});

export interface ResolvedChatOptions {
  readonly history: { readonly kind: 'memory' } | { readonly kind: 'sqlite'; readonly file: string };
  readonly historySize: number;
  readonly presenceGrace: number;
  readonly auth: 'none' | 'jwt';
  readonly jwtSecret: string | undefined;
  readonly jwtPublicKey: string | undefined;
  readonly allowOrigins: readonly string[];
  readonly requireOrigin: boolean;
  readonly limits: LimitOptions | false;
  readonly maxContent: number;
  /** The library's maxPayload: the largest valid message, and a little more (1009 past it). */
  readonly maxPayload: number;
  readonly maxRooms: number;
  readonly closeTimeout: number;
  readonly logLevel: LogLevel;
  readonly metrics: boolean;
  readonly redis: { readonly url: string } | { readonly cluster: readonly string[] } | null;
  readonly presenceLease: number;
  readonly trustProxy: readonly string[];
  readonly drainDeadline: number;
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}

export function parseHistory(value: string): ResolvedChatOptions['history'] {
  if (value === 'memory') return { kind: 'memory' };
  if (value.startsWith('sqlite:') && value.length > 'sqlite:'.length) return { kind: 'sqlite', file: value.slice('sqlite:'.length) };
  throw new RangeError(`history must be memory or sqlite:<file>, got ${JSON.stringify(value)}`);
}

export function resolveChatOptions(options: ChatOptions = {}): ResolvedChatOptions {
  const auth = options.auth ?? 'none';
  if (auth !== 'none' && auth !== 'jwt') throw new RangeError(`auth must be none or jwt, got ${String(auth)}`);
  const logLevel = options.logLevel ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new RangeError(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${String(logLevel)}`);
  const maxContent = integer('maxContent', options.maxContent, 4096, 1, 1_000_000);
  return {
    history: parseHistory(options.history ?? 'memory'),
    historySize: integer('historySize', options.historySize, 100, 0, 1_000_000),
    presenceGrace: integer('presenceGrace', options.presenceGrace, 5000, 0, 2 ** 31 - 1),
    auth,
    jwtSecret: options.jwtSecret,
    jwtPublicKey: options.jwtPublicKey,
    allowOrigins: [...(options.allowOrigins ?? [])],
    requireOrigin: options.requireOrigin ?? false,
    limits: options.limits === false ? false : { ...CHAT_LIMITS, ...options.limits },
    maxContent,
    // 12 bytes per character: the longest JSON escape of one (a surrogate pair as two \uXXXX),
    // and 4 KiB for the other fields.
    maxPayload: maxContent * 12 + 4096,
    maxRooms: integer('maxRooms', options.maxRooms, 32, 1, 100_000),
    closeTimeout: integer('closeTimeout', options.closeTimeout, 5000, 0, 2 ** 31 - 1),
    logLevel,
    metrics: options.metrics ?? true,
    redis: resolveRedis(options),
    presenceLease: integer('presenceLease', options.presenceLease, 8000, 100, 600_000),
    trustProxy: [...(options.trustProxy ?? [])],
    drainDeadline: integer('drainDeadline', options.drainDeadline, 10_000, 0, 2 ** 31 - 1),
  };
}

function resolveRedis(options: ChatOptions): ResolvedChatOptions['redis'] {
  if (options.redis !== undefined && options.redisCluster !== undefined) throw new RangeError('give redis (one Redis) or redisCluster (its nodes), not both');
  const check = (url: string): string => {
    if (!/^rediss?:\/\/./.test(url)) throw new RangeError(`a Redis URL must be redis://host[:port] or rediss://..., got ${JSON.stringify(url)}`);
    return url;
  };
  if (options.redis !== undefined) return { url: check(options.redis) };
  if (options.redisCluster !== undefined) {
    if (options.redisCluster.length === 0) throw new RangeError('redisCluster must name at least one node');
    return { cluster: options.redisCluster.map(check) };
  }
  return null;
}

// ---- the command line ---------------------------------------------------------------------------

export const USAGE = `usage: npm run chat -- [options]

  --port N                      port to listen on (env PORT; default 3000; 0 picks a free one)
  --host HOST                   address to listen on (env HOST; default: every interface)
  --history memory|sqlite:FILE  rooms' history (env CHAT_HISTORY; default memory)
  --history-size N              messages kept per room (default 100)
  --presence-grace MS           how long a user who dropped stays present (default 5000)
  --auth none|jwt               tokens (env CHAT_AUTH; default none)
  --jwt-secret SECRET           HS256 secret (env JWT_SECRET)
  --jwt-public-key FILE         RS256 public key, PEM (env JWT_PUBLIC_KEY_FILE)
  --allow-origin ORIGIN         allow a browser origin besides the server's own (repeatable;
                                env CHAT_ALLOW_ORIGINS, comma-separated)
  --require-origin              refuse requests without Origin
  --no-limits                   no abuse limits (benchmarks)
  --message-rate N[/BURST]      messages a second per connection (default 20/40)
  --byte-rate N[/BURST]         bytes a second per connection (default 65536/262144)
  --max-dropped N               messages over the limits in a row before 1008 (default 10)
  --handshake-rate N[/BURST]    handshakes a second per address (default 10/30)
  --connections-per-address N   open connections per address (default 50)
  --max-content N               longest content in characters (default 4096)
  --max-rooms N                 rooms per connection (default 32)
  --close-timeout MS            how long shutdown waits for closing handshakes (default 5000)
  --redis URL                   rooms and presence through Redis: several servers, one chat
                                (env REDIS_URL; e.g. redis://127.0.0.1:6379)
  --redis-cluster URL,URL...    the same through a Redis Cluster (some of its nodes)
  --presence-lease MS           with Redis: a dead server's users leave within
                                lease + lease/8 + grace (default 8000)
  --workers N                   N worker processes sharing the port (node:cluster); needs --redis;
                                a worker that dies is restarted
  --cert FILE --key FILE        serve https:// and wss:// (PEM files, reloaded on SIGHUP)
  --trust-proxy ADDRESS,...     believe X-Forwarded-For from these proxies (client addresses
                                for the limits and the logs)
  --drain-deadline MS           SIGTERM: /readyz 503, then clients closed with 1012 in waves
                                over MS (default 10000; 0: all at once with 1001, as SIGINT)
  --log-level LEVEL             fatal, error, warn, info, debug, trace, silent (env LOG_LEVEL; default info)
  --no-metrics                  no /metrics
  --help                        this text
`;

export interface CommandLine {
  readonly port: number;
  readonly host: string | undefined;
  readonly options: ChatOptions;
  readonly help: boolean;
  /** `--workers N`: worker processes (0: this process serves). */
  readonly workers: number;
  /** `--cert` and `--key`: the files, read (and read again on SIGHUP) by the server process. */
  readonly tlsFiles: { readonly cert: string; readonly key: string } | null;
}

function rate(flag: string, value: string): { perSecond: number; burst?: number } {
  const match = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(value);
  if (match === null) throw new RangeError(`${flag} must be N or N/BURST, got ${JSON.stringify(value)}`);
  return match[2] === undefined ? { perSecond: Number(match[1]) } : { perSecond: Number(match[1]), burst: Number(match[2]) };
}

function list(flag: string, value: string): string[] {
  const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) throw new RangeError(`${flag} needs at least one value`);
  return items;
}

function whole(flag: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new RangeError(`${flag} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Reads flags (after the script's name) and the environment; throws a RangeError naming what is wrong. */
export function parseCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CommandLine {
  let port = env['PORT'] === undefined ? 3000 : whole('PORT', env['PORT']);
  let host = env['HOST'] || undefined;
  let help = false;
  let workers = 0;
  let certFile: string | undefined;
  let keyFile: string | undefined;
  const options: {
    -readonly [K in keyof ChatOptions]: ChatOptions[K];
  } = {};
  if (env['CHAT_HISTORY']) options.history = env['CHAT_HISTORY'];
  if (env['CHAT_AUTH']) options.auth = env['CHAT_AUTH'] as 'none' | 'jwt';
  if (env['JWT_SECRET']) options.jwtSecret = env['JWT_SECRET'];
  let publicKeyFile = env['JWT_PUBLIC_KEY_FILE'] || undefined;
  const origins = env['CHAT_ALLOW_ORIGINS'] ? env['CHAT_ALLOW_ORIGINS'].split(',').map((origin) => origin.trim()).filter((origin) => origin !== '') : [];
  if (env['LOG_LEVEL']) options.logLevel = env['LOG_LEVEL'] as LogLevel;
  if (env['REDIS_URL']) options.redis = env['REDIS_URL'];
  let noLimits = false;
  const limits: { -readonly [K in keyof LimitOptions]: LimitOptions[K] } = { ...CHAT_LIMITS };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[++i];
      if (next === undefined) throw new RangeError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case '--port': port = whole(flag, value()); break;
      case '--host': host = value(); break;
      case '--history': options.history = value(); break;
      case '--history-size': options.historySize = whole(flag, value()); break;
      case '--presence-grace': options.presenceGrace = whole(flag, value()); break;
      case '--auth': options.auth = value() as 'none' | 'jwt'; break;
      case '--jwt-secret': options.jwtSecret = value(); break;
      case '--jwt-public-key': publicKeyFile = value(); break;
      case '--allow-origin': origins.push(value()); break;
      case '--require-origin': options.requireOrigin = true; break;
      case '--no-limits': noLimits = true; break;
      case '--message-rate': limits.messageRate = rate(flag, value()); break;
      case '--byte-rate': limits.byteRate = rate(flag, value()); break;
      case '--max-dropped': limits.maxDropped = whole(flag, value()); break;
      case '--handshake-rate': limits.handshakeRate = rate(flag, value()); break;
      case '--connections-per-address': limits.connectionsPerAddress = whole(flag, value()); break;
      case '--max-content': options.maxContent = whole(flag, value()); break;
      case '--max-rooms': options.maxRooms = whole(flag, value()); break;
      case '--close-timeout': options.closeTimeout = whole(flag, value()); break;
      case '--log-level': options.logLevel = value() as LogLevel; break;
      case '--no-metrics': options.metrics = false; break;
      case '--redis': options.redis = value(); break;
      case '--redis-cluster': options.redisCluster = list(flag, value()); break;
      case '--presence-lease': options.presenceLease = whole(flag, value()); break;
      case '--workers': workers = whole(flag, value()); break;
      case '--cert': certFile = value(); break;
      case '--key': keyFile = value(); break;
      case '--trust-proxy': options.trustProxy = [...(options.trustProxy ?? []), ...list(flag, value())]; break;
      case '--drain-deadline': options.drainDeadline = whole(flag, value()); break;
      case '--help': case '-h': help = true; break;
      default: throw new RangeError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  if (port > 65535) throw new RangeError(`--port must be from 0 to 65535, got ${port}`);
  if (options.redisCluster !== undefined) delete options.redis;
  if (workers > 1024) throw new RangeError(`--workers must be from 0 to 1024, got ${workers}`);
  if (workers > 0 && options.redis === undefined && options.redisCluster === undefined) {
    throw new RangeError('--workers needs --redis (or --redis-cluster): workers share rooms, history and presence through Redis');
  }
  if ((certFile === undefined) !== (keyFile === undefined)) throw new RangeError('--cert and --key go together');
  if (publicKeyFile !== undefined) options.jwtPublicKey = readFileSync(publicKeyFile, 'utf8');
  if (origins.length > 0) options.allowOrigins = origins;
  options.limits = noLimits ? false : limits;
  const tlsFiles = certFile === undefined || keyFile === undefined ? null : { cert: certFile, key: keyFile };
  return { port, host, options, help, workers, tlsFiles };
}

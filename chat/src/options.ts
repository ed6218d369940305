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
  };
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
  --close-timeout MS            how long SIGTERM waits for closing handshakes (default 5000)
  --log-level LEVEL             fatal, error, warn, info, debug, trace, silent (env LOG_LEVEL; default info)
  --no-metrics                  no /metrics
  --help                        this text
`;

export interface CommandLine {
  readonly port: number;
  readonly host: string | undefined;
  readonly options: ChatOptions;
  readonly help: boolean;
}

function rate(flag: string, value: string): { perSecond: number; burst?: number } {
  const match = /^(\d+(?:\.\d+)?)(?:\/(\d+(?:\.\d+)?))?$/.exec(value);
  if (match === null) throw new RangeError(`${flag} must be N or N/BURST, got ${JSON.stringify(value)}`);
  return match[2] === undefined ? { perSecond: Number(match[1]) } : { perSecond: Number(match[1]), burst: Number(match[2]) };
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
  const options: {
    -readonly [K in keyof ChatOptions]: ChatOptions[K];
  } = {};
  if (env['CHAT_HISTORY']) options.history = env['CHAT_HISTORY'];
  if (env['CHAT_AUTH']) options.auth = env['CHAT_AUTH'] as 'none' | 'jwt';
  if (env['JWT_SECRET']) options.jwtSecret = env['JWT_SECRET'];
  let publicKeyFile = env['JWT_PUBLIC_KEY_FILE'] || undefined;
  const origins = env['CHAT_ALLOW_ORIGINS'] ? env['CHAT_ALLOW_ORIGINS'].split(',').map((origin) => origin.trim()).filter((origin) => origin !== '') : [];
  if (env['LOG_LEVEL']) options.logLevel = env['LOG_LEVEL'] as LogLevel;
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
      case '--help': case '-h': help = true; break;
      default: throw new RangeError(`unknown option ${JSON.stringify(arg)}`);
    }
  }
  if (port > 65535) throw new RangeError(`--port must be from 0 to 65535, got ${port}`);
  if (publicKeyFile !== undefined) options.jwtPublicKey = readFileSync(publicKeyFile, 'utf8');
  if (origins.length > 0) options.allowOrigins = origins;
  options.limits = noLimits ? false : limits;
  return { port, host, options, help };
}

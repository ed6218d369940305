/**
 * Abuse limits (issue 15: they belong to the library, so that every WebSocketServer has them; none
 * of ws, uWebSockets, Socket.IO or the Go libraries do). All off by default:
 *
 * - per connection, token buckets for messages and bytes a second: a message over either is not
 *   delivered, the application is told (`onRateLimit`), and a peer that keeps on (`maxDropped`
 *   messages dropped in a row) is closed with 1008;
 * - per client address, handshakes a second (over: 429 with Retry-After) and open connections
 *   (over: 429).
 *
 * A client address is the socket's remote address, IPv6 ones by their /64 prefix (what one host
 * usually owns: counting single IPv6 addresses would let it open a connection from each), unless
 * `clientAddress` says otherwise (behind a proxy you trust, from its header).
 */

import { HandshakeError, WebSocketError } from '../protocol/errors.js';
import { TokenBucket, resolveRate, type Rate, type ResolvedRate } from './rate.js';
import type { UpgradeRequest } from './server-options.js';

export type { Rate };

/** The server option `limits`. */
export interface LimitOptions {
  /** Messages a second per connection (a number, or `{ perSecond, burst }`; burst default: one second's worth). Default: no limit. */
  readonly messageRate?: number | Rate;
  /** Bytes of messages (as received, compressed if they were) a second per connection. Default: no limit. */
  readonly byteRate?: number | Rate;
  /** A connection whose messages are dropped this many times in a row is closed with 1008. Default 10. */
  readonly maxDropped?: number;
  /** Handshakes a second per client address; over it: 429 with Retry-After. Default: no limit. */
  readonly handshakeRate?: number | Rate;
  /** Open connections (and handshakes in progress) per client address; over it: 429. Default: no limit. */
  readonly connectionsPerAddress?: number;
  /**
   * The client's address for the per-address limits. Default: the socket's remote address (IPv6
   * by its /64). Behind a proxy, return what it says (e.g. the last X-Forwarded-For entry it adds).
   */
  clientAddress?(request: UpgradeRequest): string | undefined;
}

/** What `onRateLimit` is told: a message that was not delivered. */
export interface RateLimitEvent {
  /** Which limit it went over. */
  readonly limit: 'messages' | 'bytes';
  /** The message's size in bytes, as received. */
  readonly bytes: number;
  /** Messages dropped in a row so far, this one included; at `maxDropped` the connection is closed. */
  readonly dropped: number;
}

/** The per-connection part, shared by a server's connections. */
export interface ResolvedMessageLimits {
  readonly messages: ResolvedRate | null;
  readonly bytes: ResolvedRate | null;
  readonly maxDropped: number;
}

export interface ResolvedLimits {
  /** null when neither message limit is set (connections then carry no limiter). */
  readonly perConnection: ResolvedMessageLimits | null;
  readonly handshakeRate: ResolvedRate | null;
  readonly connectionsPerAddress: number;
  readonly clientAddress: ((request: UpgradeRequest) => string | undefined) | undefined;
}

function invalid(name: string, expected: string, value: unknown): WebSocketError {
  return new WebSocketError('WS_ERR_INVALID_ARGUMENT', `option limits.${name} must be ${expected}, got ${JSON.stringify(value)}`);
}

/** Checks the `limits` option; null when it sets nothing. */
export function resolveLimits(options: LimitOptions | undefined): ResolvedLimits | null {
  if (options === undefined) return null;
  if (typeof options !== 'object' || options === null) throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `option limits must be an object, got ${String(options)}`);
  const messages = resolveRate('limits.messageRate', options.messageRate);
  const bytes = resolveRate('limits.byteRate', options.byteRate);
  const maxDropped = options.maxDropped ?? 10;
  if (!Number.isInteger(maxDropped) || maxDropped < 1) throw invalid('maxDropped', 'an integer of at least 1', maxDropped);
  const connectionsPerAddress = options.connectionsPerAddress ?? 0;
  if (!Number.isInteger(connectionsPerAddress) || connectionsPerAddress < 0) {
    throw invalid('connectionsPerAddress', 'a non-negative integer (0: no limit)', connectionsPerAddress);
  }
  if (options.clientAddress !== undefined && typeof options.clientAddress !== 'function') {
    throw invalid('clientAddress', 'a function', typeof options.clientAddress);
  }
  const handshakeRate = resolveRate('limits.handshakeRate', options.handshakeRate);
  const perConnection = messages === null && bytes === null ? null : { messages, bytes, maxDropped };
  if (perConnection === null && handshakeRate === null && connectionsPerAddress === 0) return null;
  return { perConnection, handshakeRate, connectionsPerAddress, clientAddress: options.clientAddress };
}

/** One connection's buckets. */
export class MessageLimiter {
  private readonly limits: ResolvedMessageLimits;
  private readonly messages: TokenBucket | null;
  private readonly bytes: TokenBucket | null;
  /** Messages dropped since the last one delivered. */
  dropped = 0;

  constructor(limits: ResolvedMessageLimits, now: number) {
    this.limits = limits;
    this.messages = limits.messages === null ? null : new TokenBucket(limits.messages, now);
    this.bytes = limits.bytes === null ? null : new TokenBucket(limits.bytes, now);
  }

  /** null when the message may be delivered; else the event for a message that goes over. */
  check(size: number, now: number): RateLimitEvent | null {
    const limits = this.limits;
    let limit: RateLimitEvent['limit'] | null = null;
    // Both buckets are asked before either is charged: a message refused by one costs nothing.
    if (this.messages !== null && this.messages.waitFor(limits.messages!, 1, now) > 0) limit = 'messages';
    else if (this.bytes !== null && this.bytes.waitFor(limits.bytes!, size, now) > 0) limit = 'bytes';
    if (limit === null) {
      this.messages?.take(limits.messages!, 1, now);
      this.bytes?.take(limits.bytes!, size, now);
      this.dropped = 0;
      return null;
    }
    return { limit, bytes: size, dropped: ++this.dropped };
  }

  /** The peer keeps on sending over its limit. */
  get exhausted(): boolean {
    return this.dropped >= this.limits.maxDropped;
  }
}

interface AddressEntry {
  handshakes: TokenBucket | null;
  /** Connections open or being opened from this address. */
  open: number;
}

/** A slot held by an admitted handshake: released when the handshake fails or the connection closes. */
export interface Admitted {
  release(): void;
}

const NOTHING_HELD: Admitted = { release() {} };

/** The per-address limits of one server. */
export class Admission {
  private readonly limits: ResolvedLimits;
  private readonly entries = new Map<string, AddressEntry>();
  // Entries are swept when the map has doubled since the last sweep: memory stays proportional to
  // the addresses active lately, at O(1) amortized per handshake, with no timer.
  private sweepAt = 1024;

  constructor(limits: ResolvedLimits) {
    this.limits = limits;
  }

  /**
   * Admits a handshake from `request`'s client, or throws a HandshakeError 429 (with Retry-After
   * for the handshake rate). What it returns must be released once the connection is gone.
   */
  admit(request: UpgradeRequest, now: number): Admitted {
    const limits = this.limits;
    if (limits.handshakeRate === null && limits.connectionsPerAddress === 0) return NOTHING_HELD;
    const key = addressKey(limits.clientAddress?.(request) ?? request.socket.remoteAddress ?? '');
    let entry = this.entries.get(key);
    if (entry === undefined) {
      if (this.entries.size >= this.sweepAt) this.sweep(now);
      entry = { handshakes: limits.handshakeRate === null ? null : new TokenBucket(limits.handshakeRate, now), open: 0 };
      this.entries.set(key, entry);
    }
    if (entry.handshakes !== null && !entry.handshakes.take(limits.handshakeRate!, 1, now)) {
      const seconds = Math.max(1, Math.ceil(entry.handshakes.waitFor(limits.handshakeRate!, 1, now) / 1000));
      throw new HandshakeError('WS_ERR_HANDSHAKE_RATE_LIMITED', 429, 'too many handshakes from this address', {
        'Retry-After': String(seconds),
      });
    }
    if (limits.connectionsPerAddress > 0) {
      if (entry.open >= limits.connectionsPerAddress) {
        throw new HandshakeError('WS_ERR_HANDSHAKE_TOO_MANY_CONNECTIONS', 429, 'too many connections from this address');
      }
      entry.open++;
      const held = entry;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          held.open--;
        },
      };
    }
    return NOTHING_HELD;
  }

  /** Addresses tracked now (for tests and stats). */
  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    const rate = this.limits.handshakeRate;
    for (const [key, entry] of this.entries) {
      if (entry.open === 0 && (entry.handshakes === null || entry.handshakes.isFull(rate!, now))) this.entries.delete(key);
    }
    this.sweepAt = Math.max(1024, this.entries.size * 2);
  }
}

/** IPv4 as is (also when mapped into IPv6), IPv6 by its first 64 bits. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (!address.includes(':')) return address;
  const zone = address.indexOf('%');
  const bare = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  const [head = '', tail] = bare.split('::');
  const groups = head === '' ? [] : head.split(':');
  if (tail !== undefined) {
    const rest = tail === '' ? [] : tail.split(':');
    while (groups.length + rest.length < 8) groups.push('0');
    groups.push(...rest);
  }
  return `${groups
    .slice(0, 4)
    .map((group) => group.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

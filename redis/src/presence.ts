/**
 * RedisPresence: the chat's presence (chat/src/presence.ts, the `Presence` interface) in Redis, so
 * that every node of a deployment sees the same users in a room, and a node that dies disappears
 * from it within a bound.
 *
 * - **Per room, per user**, in Redis (presence-scripts.ts): who is present, in the order they came,
 *   the connections each node holds there, and the users in their grace period. Each join and leave
 *   is one atomic script; the node whose script made a change (`joined`, `left`) announces it to its
 *   listeners, so every change is announced exactly once in the whole deployment (the chat then
 *   publishes it through the hub, which carries it to every node: pub/sub).
 * - **Grace periods** are run by the node whose connection went (a timer on the global setTimeout,
 *   then a SETTLE with its token; a join in between cancels it, on any node).
 * - **Leases**: each node holds one in the registry (a sorted set scored by lease end, Redis' clock),
 *   refreshed every lease / 4. Every node sweeps every lease / 8: a node whose lease ran out is
 *   claimed (moved to `reaping`) and reaped room by room: its connections leave, a user left with
 *   none gets a grace period owned by the reaper, and the grace periods it ran are the reaper's.
 *   So the users of a dead node leave within lease + lease / 8 + grace (8 + 1 + 5 = 14 s with the
 *   defaults), and those who reconnect to another node before that see nothing at all.
 * - **Outages**: while Redis is unreachable, join() and leave() keep this node's own view (members()
 *   answers this node's users) and never reject. Every new session starts over with a new node id:
 *   it registers, joins every connection held now (announcing users new to the room), and reaps the
 *   node's old id as a dead node's (users who left meanwhile get their grace period then). A node
 *   whose lease ran out while it was up (a stall, a Redis restarted empty) does the same.
 *
 * It uses its own connection (connection.ts) without a pub/sub client, with the broker's options.
 */

import { randomBytes, randomUUID } from 'node:crypto';
import { WebSocketError } from 'rfc6455';
import { bounded, resolveBackoff, type ReconnectOptions } from './backoff.js';
import { Connection } from './connection.js';
import { checkPrefix, DEFAULT_PREFIX, presenceNodeKeys, presenceRoomKeys, type PresenceRoomKeys } from './keys.js';
import type { PresenceScript } from './presence-scripts.js';
import { isConnectionError, type Session } from './session.js';
import { realTimers } from './timers.js';

/** A user, as the chat names one. */
export interface PresenceMember {
  readonly username: string;
  readonly userId: string;
}

/** A user who came into a room or left it (the chat's PresenceChange). */
export interface PresenceChange {
  readonly type: 'joined' | 'left';
  readonly room: string;
  readonly member: PresenceMember;
}

/** Who is present across the deployment (the chat's PresenceOverview). */
export interface PresenceOverview {
  /** Distinct users present in at least one room (those in their grace period included). */
  readonly users: number;
  /** Users present per room, rooms with none left out. */
  readonly rooms: Readonly<Record<string, number>>;
}

export interface RedisPresenceOptions {
  /** One Redis: `redis://...` or `rediss://...`. Default `redis://127.0.0.1:6379`. */
  readonly url?: string;
  /** A Redis Cluster instead: URLs of some of its nodes. */
  readonly cluster?: readonly string[];
  /** The first part of every key. Default `'rfc6455'`; no braces. */
  readonly prefix?: string;
  /** Milliseconds a user whose last connection in a room went stays present. Default 5,000; 0 to 2^31-1. */
  readonly grace?: number;
  /**
   * Milliseconds a node's lease lasts: a node not heard from for that long is dead, and its users
   * leave after their grace period. Refreshed every lease / 4, swept every lease / 8. Default 8,000; 100 to 600,000.
   */
  readonly lease?: number;
  /** As RedisBroker's: a PING without an answer by then ends the session. Default 5,000, 10 to 600,000. */
  readonly commandTimeout?: number;
  /** As RedisBroker's. Default 5,000, 10 to 600,000. */
  readonly connectTimeout?: number;
  /** As RedisBroker's. Default 1,000, 10 to 600,000. */
  readonly heartbeatInterval?: number;
  /** As RedisBroker's. Default `{ initialDelay: 50, maxDelay: 2000 }`. */
  readonly reconnect?: ReconnectOptions;
  /** Receives what cannot be reported elsewhere (a script that failed without the connection breaking). Default `console.error`. */
  readonly onError?: (error: unknown) => void;
}

/** A grace period this node runs. */
interface Grace {
  readonly token: string;
  readonly member: PresenceMember;
  readonly timer: ReturnType<typeof setTimeout>;
}

const MAX_TIMER = 2 ** 31 - 1;

function graceKey(room: string, userId: string): string {
  return `${room}\u0000${userId}`;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString();
  if (typeof value === 'number') return String(value);
  throw new Error('a presence script returned an unexpected value');
}

function checkUrl(url: unknown): void {
  let protocol: string | undefined;
  try {
    protocol = typeof url === 'string' ? new URL(url).protocol : undefined;
  } catch {
    protocol = undefined;
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `a Redis URL must be redis://host[:port] or rediss://..., got ${JSON.stringify(url)}`);
  }
}

export class RedisPresence {
  private readonly prefix: string;
  private readonly grace: number;
  private readonly lease: number;
  private readonly onError: (error: unknown) => void;
  private readonly connection: Connection;
  private readonly nodes: ReturnType<typeof presenceNodeKeys>;
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  /** room -> connection id -> member: the connections this node holds. */
  private readonly local = new Map<string, Map<string, PresenceMember>>();
  /** room\0userId -> the grace period this node runs. */
  private readonly graces = new Map<string, Grace>();
  /**
   * room\0userId -> a change whose script was sent but never answered (the session broke): Redis
   * may have run it (its bytes were in its buffer), and then nobody announced it. Settled by the
   * next resync (see there).
   */
  private readonly uncertain = new Map<string, { readonly room: string; readonly member: PresenceMember; readonly change: 'joined' | 'left' }>();
  /** Operations in flight (idle() waits for them). */
  private readonly pending = new Set<Promise<unknown>>();
  private readonly readyWaiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  /** The session presence is synchronized on (after its resync), or null. */
  private session: Session | null = null;
  /** This node's id in Redis: a new one for every session. */
  private id: string | null = null;
  private resyncing: Promise<void> | null = null;
  private refreshTimer: ReturnType<typeof setInterval> | undefined;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private sweeping = false;
  private closed = false;

  constructor(options: RedisPresenceOptions = {}) {
    if (options.url !== undefined && options.cluster !== undefined) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'give either url (one Redis) or cluster (its nodes), not both');
    }
    if (options.cluster !== undefined && (!Array.isArray(options.cluster) || options.cluster.length === 0)) {
      throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'cluster must be a non-empty array of node URLs');
    }
    const url = options.url ?? 'redis://127.0.0.1:6379';
    for (const each of options.cluster ?? [url]) checkUrl(each);
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    checkPrefix(this.prefix);
    this.grace = bounded('grace', options.grace ?? 5_000, 0, MAX_TIMER);
    this.lease = bounded('lease', options.lease ?? 8_000, 100, 600_000);
    this.onError = options.onError ?? ((error) => console.error(error));
    this.nodes = presenceNodeKeys(this.prefix);
    this.connection = new Connection(
      {
        url,
        cluster: options.cluster === undefined ? undefined : [...options.cluster],
        commandTimeout: bounded('commandTimeout', options.commandTimeout ?? 5_000, 10, 600_000),
        connectTimeout: bounded('connectTimeout', options.connectTimeout ?? 5_000, 10, 600_000),
        heartbeatInterval: bounded('heartbeatInterval', options.heartbeatInterval ?? 1_000, 10, 600_000),
        backoff: resolveBackoff(options.reconnect),
        subscriber: false,
        commandDeadlines: false,
      },
      {
        opened: () => Promise.resolve(),
        up: (session) => void this.track(this.resync(session)),
        ended: () => {
          this.session = null;
        },
      },
    );
    this.connection.start();
  }

  /** 'up' once connected and synchronized; 'down' before, during an outage (this node's view only), and after close(). */
  get state(): 'up' | 'down' {
    return !this.closed && this.session !== null ? 'up' : 'down';
  }

  /** This node's current id in Redis (a new one after each outage), or null before the first session. */
  get nodeId(): string | null {
    return this.id;
  }

  /** Resolves once presence is up (at once if it is); rejects if it is closed first. */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new WebSocketError('WS_ERR_UNAVAILABLE', 'presence is closed'));
    if (this.session !== null) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  /** Resolves once every operation started so far (grace periods that ended included) is done. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async join(room: string, member: PresenceMember, connection: string): Promise<void> {
    if (this.closed) return;
    let connections = this.local.get(room);
    if (connections === undefined) this.local.set(room, (connections = new Map()));
    if (connections.has(connection)) return;
    connections.set(connection, member);
    const session = this.session;
    const id = this.id;
    if (session === null || id === null) return;
    if (connections.size === 1) this.send(session, this.nodes.rooms(id), ['SADD', this.nodes.rooms(id), room]);
    const keys = presenceRoomKeys(this.prefix, room);
    const reply = await this.run(session, 'rfc6455PresenceJoin', [keys.users, keys.names, keys.counts, keys.grace, keys.seq, keys.node(id)], [
      member.userId,
      member.username,
      connection,
    ]);
    if (reply === null) this.uncertain.set(graceKey(room, member.userId), { room, member, change: 'joined' });
    if (reply === 1 || reply === 2) this.dropGrace(room, member.userId);
    if (reply === 2) this.announce({ type: 'joined', room, member });
  }

  async leave(room: string, userId: string, connection: string, options: { readonly grace: boolean }): Promise<void> {
    if (this.closed) return;
    const connections = this.local.get(room);
    const member = connections?.get(connection);
    if (connections === undefined || member === undefined || member.userId !== userId) return;
    connections.delete(connection);
    if (connections.size === 0) this.local.delete(room);
    const session = this.session;
    const id = this.id;
    if (session === null || id === null) return;
    const keys = presenceRoomKeys(this.prefix, room);
    const withGrace = options.grace && this.grace > 0;
    const token = randomUUID();
    const reply = await this.run(session, 'rfc6455PresenceLeave', [keys.users, keys.names, keys.counts, keys.grace, keys.node(id)], [
      userId,
      connection,
      withGrace ? '1' : '0',
      id,
      token,
      String(this.grace),
    ]);
    // A leave with grace that Redis ran unanswered is finished by the reaper (its grace period, or
    // the connection still there); one without grace would have removed the user silently.
    if (reply === null && !withGrace) this.uncertain.set(graceKey(room, userId), { room, member, change: 'left' });
    if (reply === 2) this.startGrace(room, member, token, this.grace);
    else if (reply === 3) {
      this.dropGrace(room, userId);
      this.announce({ type: 'left', room, member });
    }
    this.forgetRoom(room);
  }

  async members(room: string): Promise<PresenceMember[]> {
    const session = this.session;
    if (session !== null) {
      const keys = presenceRoomKeys(this.prefix, room);
      try {
        const reply = (await session.presence('rfc6455PresenceMembers', [keys.users, keys.names], [])) as unknown[];
        const members: PresenceMember[] = [];
        for (let i = 0; i + 1 < reply.length; i += 2) members.push({ userId: text(reply[i]), username: text(reply[i + 1]) });
        return members;
      } catch (error) {
        this.failed(session, error);
      }
    }
    // Down: this node's own users in the room, in the order their connections came.
    const seen = new Map<string, PresenceMember>();
    for (const member of this.local.get(room)?.values() ?? []) if (!seen.has(member.userId)) seen.set(member.userId, member);
    return [...seen.values()];
  }

  /**
   * Who is present across the deployment: the rooms of every registered node (alive or being
   * reaped), and their users. Down: this node's own view.
   */
  async overview(): Promise<PresenceOverview> {
    const session = this.session;
    if (session !== null) {
      try {
        const ids = new Set<string>();
        for (const key of [this.nodes.alive, this.nodes.reaping]) {
          for (const id of (await session.command(key, ['ZRANGE', key, '0', '-1'])) as unknown[]) ids.add(text(id));
        }
        const rooms = new Set<string>();
        for (const id of ids) {
          const key = this.nodes.rooms(id);
          for (const room of (await session.command(key, ['SMEMBERS', key])) as unknown[]) rooms.add(text(room));
        }
        const users = new Set<string>();
        const counts: Record<string, number> = {};
        for (const room of [...rooms].sort()) {
          const key = presenceRoomKeys(this.prefix, room).users;
          const present = ((await session.command(key, ['ZRANGE', key, '0', '-1'])) as unknown[]).map(text);
          if (present.length === 0) continue;
          counts[room] = present.length;
          for (const user of present) users.add(user);
        }
        return { users: users.size, rooms: counts };
      } catch (error) {
        this.failed(session, error);
      }
    }
    const users = new Set<string>();
    const counts: Record<string, number> = {};
    for (const [room, connections] of [...this.local].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const inRoom = new Set([...connections.values()].map((member) => member.userId));
      counts[room] = inRoom.size;
      for (const user of inRoom) users.add(user);
    }
    return { users: users.size, rooms: counts };
  }

  onChange(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Stops: the grace periods this node runs are dropped unannounced here; its lease is released, so
   * another node reaps it at its next sweep (its users leave after their grace periods, there).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const grace of this.graces.values()) clearTimeout(grace.timer);
    this.graces.clear();
    this.listeners.clear();
    for (const waiter of this.readyWaiters.splice(0)) waiter.reject(new WebSocketError('WS_ERR_UNAVAILABLE', 'presence is closed'));
    realTimers.clearInterval(this.refreshTimer);
    realTimers.clearInterval(this.sweepTimer);
    const session = this.session;
    const id = this.id;
    this.session = null;
    if (session !== null && id !== null) {
      // The lease ends now: the next sweep of any node reaps this one.
      await session.command(this.nodes.alive, ['ZADD', this.nodes.alive, 'XX', '0', id]).catch(() => undefined);
    }
    await this.connection.close();
  }

  // --- internals -----------------------------------------------------------------------------

  private announce(change: PresenceChange): void {
    if (this.closed) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        this.onError(error);
      }
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.pending.add(promise);
    void promise.then(
      () => this.pending.delete(promise),
      () => this.pending.delete(promise),
    );
    return promise;
  }

  /** Runs a script; on failure: the session ends if the connection broke (resync fixes what it left), null. */
  private async run(session: Session, script: PresenceScript, keys: readonly string[], args: readonly string[], unanswered?: () => void): Promise<unknown> {
    try {
      return await this.track(session.presence(script, keys, args));
    } catch (error) {
      unanswered?.();
      this.failed(session, error);
      return null;
    }
  }

  /** A command whose reply nobody waits for (in order with the others on the connection). */
  private send(session: Session, key: string, args: readonly string[]): void {
    this.track(session.command(key, args)).catch((error: unknown) => this.failed(session, error));
  }

  private failed(session: Session, error: unknown): void {
    if (isConnectionError(error)) this.connection.fail(session, error instanceof Error ? error : new Error(String(error)));
    else this.onError(error);
  }

  /** A grace period of this node: at its end, SETTLE with its token (a join meanwhile made it moot). */
  private startGrace(room: string, member: PresenceMember, token: string, ms: number): void {
    if (this.closed) return;
    this.dropGrace(room, member.userId);
    const key = graceKey(room, member.userId);
    const timer = setTimeout(() => {
      if (this.graces.get(key)?.token !== token) return;
      this.graces.delete(key);
      void this.track(this.settle(room, member, token));
    }, ms);
    this.graces.set(key, { token, member, timer });
  }

  private dropGrace(room: string, userId: string): void {
    const key = graceKey(room, userId);
    const grace = this.graces.get(key);
    if (grace === undefined) return;
    clearTimeout(grace.timer);
    this.graces.delete(key);
  }

  private async settle(room: string, member: PresenceMember, token: string): Promise<void> {
    const session = this.session;
    // Down: the next session reaps this node's old id and takes the grace period over, deadline kept.
    if (session === null) return;
    const keys = presenceRoomKeys(this.prefix, room);
    const reply = await this.run(session, 'rfc6455PresenceSettle', [keys.users, keys.names, keys.counts, keys.grace], [member.userId, token], () =>
      this.uncertain.set(graceKey(room, member.userId), { room, member, change: 'left' }),
    );
    if (reply !== null && reply !== undefined) this.announce({ type: 'left', room, member: { username: text(reply), userId: member.userId } });
    this.forgetRoom(room);
  }

  /** This node holds nothing more in `room`: out of its set of rooms. */
  private forgetRoom(room: string): void {
    const session = this.session;
    const id = this.id;
    if (session === null || id === null || this.local.has(room)) return;
    for (const key of this.graces.keys()) if (key.startsWith(`${room}\u0000`)) return;
    this.send(session, this.nodes.rooms(id), ['SREM', this.nodes.rooms(id), room]);
  }

  /** A new session, or a lease found lost: a new id, every connection joined again, the old id reaped. */
  private resync(session: Session): Promise<void> {
    const run = async (): Promise<void> => {
      const old = this.id;
      const id = randomUUID();
      this.id = id;
      await session.presence('rfc6455PresenceLease', [this.nodes.alive], [id, String(this.lease), 'register']);
      // Every connection held now, sent at once (in order, before anything issued later).
      const joins: Promise<void>[] = [];
      const announced = new Set<string>();
      for (const [room, connections] of this.local) {
        // Through send(): a command that fails is handled there, never an unhandled rejection.
        this.send(session, this.nodes.rooms(id), ['SADD', this.nodes.rooms(id), room]);
        const keys = presenceRoomKeys(this.prefix, room);
        for (const [connection, member] of connections) {
          joins.push(
            (session.presence('rfc6455PresenceJoin', [keys.users, keys.names, keys.counts, keys.grace, keys.seq, keys.node(id)], [
              member.userId,
              member.username,
              connection,
            ]) as Promise<unknown>).then((reply) => {
              if (reply === 1 || reply === 2) this.dropGrace(room, member.userId);
              if (reply === 2 && !announced.has(graceKey(room, member.userId))) {
                announced.add(graceKey(room, member.userId));
                this.announce({ type: 'joined', room, member });
              }
            }),
          );
        }
      }
      // Waited for as one, now: if the session ended meanwhile and this returns, a join that fails
      // later is still handled (a TimeoutError of one was a crash at shutdown, in the bench).
      const joined = Promise.all(joins);
      joined.catch(() => undefined);
      // From here on, operations go to Redis, after the joins above (unless the session ended meanwhile).
      if (this.connection.session !== session || this.closed) return;
      this.session = session;
      await joined;
      if (old !== null) await this.reap(session, old);
      await this.settleUncertain(session, announced);
      this.startTimers();
      for (const waiter of this.readyWaiters.splice(0)) waiter.resolve();
    };
    if (this.resyncing !== null) return this.resyncing;
    this.resyncing = run()
      .catch((error: unknown) => this.failed(session, error))
      .finally(() => {
        this.resyncing = null;
      });
    return this.resyncing;
  }

  /**
   * Changes that went unanswered before the outage: Redis may have run them, and then nobody told
   * the others. A join: the user is announced unless this resync did (if the script had not run,
   * the join above made the user new and announced it; if it had, only this says so). A leave
   * without grace, or a grace period's end: announced if the user is not present now. A user that
   * was present anyway may so be announced twice: a notice repeated rather than lost.
   */
  private async settleUncertain(session: Session, announced: ReadonlySet<string>): Promise<void> {
    const entries = [...this.uncertain.entries()];
    this.uncertain.clear();
    for (const [key, { room, member, change }] of entries) {
      if (change === 'joined') {
        const here = [...(this.local.get(room)?.values() ?? [])].some((each) => each.userId === member.userId);
        if (here && !announced.has(key)) this.announce({ type: 'joined', room, member });
        continue;
      }
      const keys = presenceRoomKeys(this.prefix, room);
      const score = await session.command(keys.users, ['ZSCORE', keys.users, member.userId]);
      if (score === null) this.announce({ type: 'left', room, member });
    }
  }

  private startTimers(): void {
    if (this.refreshTimer !== undefined || this.closed) return;
    this.refreshTimer = realTimers.setInterval(() => void this.track(this.refresh()), Math.max(1, Math.floor(this.lease / 4)));
    this.sweepTimer = realTimers.setInterval(() => void this.track(this.sweep()), Math.max(1, Math.floor(this.lease / 8)));
    this.refreshTimer.unref();
    this.sweepTimer.unref();
  }

  private async refresh(): Promise<void> {
    const session = this.session;
    const id = this.id;
    if (session === null || id === null || this.resyncing !== null) return;
    let reply: unknown;
    try {
      reply = await session.presence('rfc6455PresenceLease', [this.nodes.alive], [id, String(this.lease), 'refresh']);
    } catch (error) {
      this.failed(session, error);
      return;
    }
    // Lost (a stall longer than the lease, a Redis restarted empty): start over under a new id.
    if (reply === 0 && this.session === session && this.id === id) await this.resync(session);
  }

  private async sweep(): Promise<void> {
    const session = this.session;
    if (session === null || this.sweeping || this.resyncing !== null) return;
    this.sweeping = true;
    try {
      const dead = ((await session.presence('rfc6455PresenceSweep', [this.nodes.alive, this.nodes.reaping], [String(this.lease), '100'])) as unknown[]).map(text);
      for (const id of dead) {
        // This node's own id: its refresh finds it gone and starts over (resync reaps it).
        if (id !== this.id) await this.reap(session, id);
      }
    } catch (error) {
      this.failed(session, error);
    } finally {
      this.sweeping = false;
    }
  }

  /** Reaps a dead node (or this node's old id): room by room, then out of the registry. */
  private async reap(session: Session, dead: string): Promise<void> {
    const id = this.id!;
    const roomsKey = this.nodes.rooms(dead);
    const rooms = ((await session.command(roomsKey, ['SMEMBERS', roomsKey])) as unknown[]).map(text);
    const tokens = randomBytes(8).toString('hex');
    for (const room of rooms) {
      // Into this node's rooms first: if it dies while reaping, its own reaper finds these.
      await session.command(this.nodes.rooms(id), ['SADD', this.nodes.rooms(id), room]);
      const keys: PresenceRoomKeys = presenceRoomKeys(this.prefix, room);
      const reply = (await session.presence('rfc6455PresenceReap', [keys.users, keys.names, keys.counts, keys.grace, keys.node(dead)], [
        dead,
        id,
        String(this.grace),
        tokens,
      ])) as unknown[];
      for (const entry of reply) {
        const [userId, username, token, left] = (entry as unknown[]).map(text) as [string, string, string, string];
        const member = { username, userId };
        if (token === '') this.announce({ type: 'left', room, member });
        else this.startGrace(room, member, token, Number(left));
      }
      this.forgetRoom(room);
    }
    await session.command(roomsKey, ['DEL', roomsKey]);
    await session.command(this.nodes.alive, ['ZREM', this.nodes.alive, dead]);
    await session.command(this.nodes.reaping, ['ZREM', this.nodes.reaping, dead]);
  }
}

/**
 * Presence per user, not per connection (issue 15): who is in a room. A user with two tabs is one
 * `joined` and one `left`; a user whose last connection drops and who comes back within the grace
 * period causes neither. The chat depends only on the `Presence` interface, asynchronous, so that
 * a Redis implementation (issue 16: per-room per-user presence in Redis, node leases with a TTL,
 * joins and leaves crossing nodes) can take MemoryPresence's place without changing the chat.
 * chat/test/contracts/presence-contract.ts is the suite every implementation runs.
 */

import type { Member } from './protocol.js';
import { SmallSet } from './small-set.js';

/** A user who came into a room or left it. */
export interface PresenceChange {
  readonly type: 'joined' | 'left';
  readonly room: string;
  readonly member: Member;
}

export interface LeaveOptions {
  /**
   * `false` (a `leave` command): the user leaves at once unless another of its connections is in
   * the room. `true` (a connection that closed): only once the grace period has passed without a
   * connection of the user back in the room.
   */
  readonly grace: boolean;
}

/**
 * Who is present across the system (every node of it), as user lists count: those in their grace
 * period included. `/ws/stats` serves it, the same on every node.
 */
export interface PresenceOverview {
  /** Distinct users present in at least one room. */
  readonly users: number;
  /** Users present per room (rooms with none left out). */
  readonly rooms: Readonly<Record<string, number>>;
}

/**
 * One node's view of presence. Connections are named by ids unique across nodes (the hub's ids).
 * Every change is announced by exactly one instance of a system (the one whose join, leave or grace
 * timer made it), to its `onChange` listeners, before the call that made it resolves (a grace
 * period's end: once the work its timer started is done): the chat broadcasts it to the room
 * through the hub, which carries it to the other nodes. join() and leave() never reject.
 *
 * @rfc6455/redis's RedisPresence implements it without importing it (the chat depends on the Redis
 * package, not the other way round): chat/src/server.ts assigns one to a `Presence`, so the type
 * checker proves the two agree, and it runs chat/test/contracts/presence-contract.ts.
 */
export interface Presence {
  /**
   * 'up' while the system's view is shared; 'down' while the shared store is unreachable (this
   * node then answers from its own view: the chat says it is degraded).
   */
  readonly state: 'up' | 'down';
  /** Resolves once the state is 'up' (at once if it is). */
  ready(): Promise<void>;
  /** `connection` of `member` is in `room`; announces `joined` if the user was not present (nor within its grace period). */
  join(room: string, member: Member, connection: string): Promise<void>;
  /** `connection` is no longer in `room` (see LeaveOptions). A connection that was not in it changes nothing. */
  leave(room: string, userId: string, connection: string, options: LeaveOptions): Promise<void>;
  /** The users present in `room`, in the order they came (those within their grace period included). */
  members(room: string): Promise<Member[]>;
  /** Who is present across the system. */
  overview(): Promise<PresenceOverview>;
  /** Listens to the changes this instance announces; returns the function that removes the listener. */
  onChange(listener: (change: PresenceChange) => void): () => void;
  /** Stops: pending grace periods are dropped unannounced, nothing is announced any more. */
  close(): Promise<void>;
}

interface UserPresence {
  readonly member: Member;
  /** Its connections in the room, by id. */
  readonly connections: SmallSet;
  /** The grace timer running since its last connection went away. */
  graceTimer: ReturnType<typeof setTimeout> | null;
}

/**
 * Rooms' presence in this process, shared by the MemoryPresence instances of one process (the
 * counterpart of Redis for MemoryPresence; a chat server alone gets one of its own).
 */
export class MemoryPresenceStore {
  /** room -> userId -> presence, in join order. */
  readonly rooms = new Map<string, Map<string, UserPresence>>();
}

export interface MemoryPresenceOptions {
  /** Milliseconds a user whose last connection closed stays present. Default 5000. */
  readonly grace?: number;
  /** Shared with other instances in this process. Default: a store of its own. */
  readonly store?: MemoryPresenceStore;
}

export class MemoryPresence implements Presence {
  private readonly grace: number;
  private readonly store: MemoryPresenceStore;
  private readonly listeners = new Set<(change: PresenceChange) => void>();
  /** Grace timers this instance started (it announces their leaves). */
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  /** Always 'up': the store is this process' memory. */
  readonly state = 'up' as const;

  constructor(options: MemoryPresenceOptions = {}) {
    const grace = options.grace ?? 5000;
    if (!Number.isInteger(grace) || grace < 0 || grace > 2 ** 31 - 1) throw new RangeError(`grace must be an integer of milliseconds, got ${grace}`);
    this.grace = grace;
    this.store = options.store ?? new MemoryPresenceStore();
  }

  join(room: string, member: Member, connection: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    let users = this.store.rooms.get(room);
    if (users === undefined) this.store.rooms.set(room, (users = new Map()));
    const user = users.get(member.userId);
    if (user === undefined) {
      users.set(member.userId, { member, connections: new SmallSet(connection), graceTimer: null });
      this.announce({ type: 'joined', room, member });
    } else {
      user.connections.add(connection);
      // Back within the grace period: no leave, no join.
      this.cancelGrace(user);
    }
    return Promise.resolve();
  }

  leave(room: string, userId: string, connection: string, options: LeaveOptions): Promise<void> {
    if (this.closed) return Promise.resolve();
    const user = this.store.rooms.get(room)?.get(userId);
    if (user === undefined || !user.connections.delete(connection) || user.connections.size > 0) return Promise.resolve();
    if (!options.grace || this.grace === 0) {
      this.cancelGrace(user);
      this.remove(room, user);
      return Promise.resolve();
    }
    this.cancelGrace(user);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      user.graceTimer = null;
      if (this.closed || user.connections.size > 0) return;
      this.remove(room, user);
    }, this.grace);
    timer.unref?.();
    user.graceTimer = timer;
    this.timers.add(timer);
    return Promise.resolve();
  }

  members(room: string): Promise<Member[]> {
    const users = this.store.rooms.get(room);
    return Promise.resolve(users === undefined ? [] : [...users.values()].map((user) => user.member));
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }

  overview(): Promise<PresenceOverview> {
    const users = new Set<string>();
    const rooms: Record<string, number> = {};
    for (const [room, present] of [...this.store.rooms].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      rooms[room] = present.size;
      for (const userId of present.keys()) users.add(userId);
    }
    return Promise.resolve({ users: users.size, rooms });
  }

  onChange(listener: (change: PresenceChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.listeners.clear();
    return Promise.resolve();
  }

  private cancelGrace(user: UserPresence): void {
    if (user.graceTimer === null) return;
    clearTimeout(user.graceTimer);
    this.timers.delete(user.graceTimer);
    user.graceTimer = null;
  }

  private remove(room: string, user: UserPresence): void {
    const users = this.store.rooms.get(room);
    if (users?.get(user.member.userId) !== user) return;
    users.delete(user.member.userId);
    if (users.size === 0) this.store.rooms.delete(room);
    this.announce({ type: 'left', room, member: user.member });
  }

  private announce(change: PresenceChange): void {
    for (const listener of [...this.listeners]) listener(change);
  }
}

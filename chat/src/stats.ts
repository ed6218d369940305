/**
 * `/ws/stats`: seed 004's counters under its names, plus uptime, rooms and drops. All of this
 * node's: `messages_received` counts the `chat` and `notification` messages accepted from clients
 * (not heartbeats, not refused input); `messages_sent` every message written to a client (one
 * broadcast to 10 members is 10; errors and presence messages count); `active_users` the users
 * with an open connection; `rooms` the rooms with at least one connection. `/ws/stats` adds
 * `presence`, who is present across every server (the same answer on each: PresenceOverview).
 */

export interface StatsSnapshot {
  readonly total_connections: number;
  readonly current_connections: number;
  readonly messages_sent: number;
  readonly messages_received: number;
  readonly active_users: number;
  readonly uptime_s: number;
  readonly rooms: Readonly<Record<string, { readonly users: number; readonly connections: number }>>;
  readonly dropped: Readonly<Record<string, number>>;
  /** `chat` and `notification` messages the room history could not take (answered `unavailable`). */
  readonly unavailable: number;
  /** Messages this server published that could not reach the other servers (presence notices, local-only messages). */
  readonly unpublished: number;
  /** Whether Redis is unreachable (the broker or presence is down): local rooms only. */
  readonly degraded: boolean;
}

export class ChatStats {
  totalConnections = 0;
  currentConnections = 0;
  messagesSent = 0;
  messagesReceived = 0;
  unavailable = 0;
  unpublished = 0;
  private readonly startedAt = performance.now();
  /** userId -> open connections. */
  private readonly users = new Map<string, number>();
  /** room -> userId -> connections in it. */
  private readonly rooms = new Map<string, Map<string, number>>();
  private readonly drops = new Map<string, number>();

  connected(userId: string): void {
    this.totalConnections++;
    this.currentConnections++;
    this.users.set(userId, (this.users.get(userId) ?? 0) + 1);
  }

  disconnected(userId: string): void {
    this.currentConnections--;
    decrement(this.users, userId);
  }

  entered(room: string, userId: string): void {
    let users = this.rooms.get(room);
    if (users === undefined) this.rooms.set(room, (users = new Map()));
    users.set(userId, (users.get(userId) ?? 0) + 1);
  }

  exited(room: string, userId: string): void {
    const users = this.rooms.get(room);
    if (users === undefined) return;
    decrement(users, userId);
    if (users.size === 0) this.rooms.delete(room);
  }

  dropped(reason: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
  }

  snapshot(degraded: boolean): StatsSnapshot {
    const rooms: Record<string, { users: number; connections: number }> = {};
    for (const [room, users] of [...this.rooms].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      let connections = 0;
      for (const count of users.values()) connections += count;
      rooms[room] = { users: users.size, connections };
    }
    return {
      total_connections: this.totalConnections,
      current_connections: this.currentConnections,
      messages_sent: this.messagesSent,
      messages_received: this.messagesReceived,
      active_users: this.users.size,
      uptime_s: Math.floor((performance.now() - this.startedAt) / 1000),
      rooms,
      dropped: Object.fromEntries([...this.drops].sort(([a], [b]) => (a < b ? -1 : 1))),
      unavailable: this.unavailable,
      unpublished: this.unpublished,
      degraded,
    };
  }
}

function decrement(counts: Map<string, number>, key: string): void {
  const count = counts.get(key) ?? 0;
  if (count <= 1) counts.delete(key);
  else counts.set(key, count - 1);
}

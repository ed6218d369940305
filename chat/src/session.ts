/**
 * One client connection: its identity, its rooms, and its commands, handled one at a time in the
 * order they came (a `join` completes before the `chat` sent after it is looked at). Bad input
 * gets an `error` message to this client only; nothing a client sends can crash the server.
 */

import type { CloseResult, Message } from 'rfc6455';
import type { Hub, RecoveryResult } from 'rfc6455/hub';
import type { ChatConnection } from './connection.js';
import type { Identity } from './identity.js';
import type { Logger } from './log.js';
import type { ChatMetrics } from './metrics.js';
import type { Presence } from './presence.js';
import {
  encodeEnvelope,
  encodeStreamEnvelope,
  parseClientMessage,
  renderStreamEnvelope,
  type Command,
  type Envelope,
  type ErrorCode,
  type Refusal,
  type StreamId,
} from './protocol.js';
import type { ChatStats } from './stats.js';
import { SmallSet } from './small-set.js';

/** What a session needs of its server. */
export interface SessionContext {
  readonly hub: Hub<ChatConnection>;
  readonly presence: Presence;
  readonly stats: ChatStats;
  readonly metrics: ChatMetrics | null;
  readonly logger: Logger;
  readonly maxContent: number;
  readonly maxRooms: number;
  /** A session's run() is over (the connection closed and left its rooms), whether it ended well or not. */
  readonly ended: (session: Session) => void;
}

/** The hub topic of a room. */
export function roomTopic(room: string): string {
  return `room:${room}`;
}

/** A token of letters and digits for ids that are not stream ids (`<token>.<n>`). */
export function randomToken(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let token = '';
  for (const byte of crypto.getRandomValues(new Uint8Array(10))) token += alphabet[byte % alphabet.length];
  return token;
}

export class Session {
  private readonly context: SessionContext;
  readonly connection: ChatConnection;
  readonly identity: Identity;
  /** The hub's id of the connection (the presence's too). */
  readonly id: string;
  /** Rooms this connection is in. */
  private readonly rooms = new SmallSet();
  /** The room joined on connect: `chat` and `notification` go there when they name none. */
  private readonly firstRoom: string;
  private readonly token = randomToken();
  private sequence = 0;

  /** The client's address (the proxy's X-Forwarded-For behind a trusted proxy), for the logs. */
  private readonly address: string | undefined;

  constructor(context: SessionContext, connection: ChatConnection, identity: Identity, address?: string) {
    this.context = context;
    this.connection = connection;
    this.identity = identity;
    this.address = address;
    this.firstRoom = identity.room;
    this.id = context.hub.add(connection);
  }

  /**
   * Joins the first room, then handles messages until the connection closes; then leaves every
   * room (with the grace period), and tells the server (SessionContext.ended). Its locals are few,
   * the rest in opened() and finished(): a connection holds this function's suspended frame for
   * as long as it is open (issue 15: memory per user).
   */
  async run(): Promise<void> {
    try {
      this.opened();
      try {
        await this.join(this.firstRoom, this.identity.since);
        // forEach, not for-await: nothing of a message is kept while the next is awaited (see
        // Ws.forEach; issue 15).
        await this.connection.ws.forEach((message) => this.handle(message));
      } catch (error) {
        // The connection closed while a message was being read or answered: nothing to do.
        if (!(error instanceof Error && 'code' in error && error.code === 'WS_ERR_CLOSED')) throw error;
      } finally {
        await this.leaveAll();
        this.finished(await this.connection.closed);
      }
    } finally {
      this.context.ended(this);
    }
  }

  private opened(): void {
    const { stats, metrics, logger } = this.context;
    const { username, userId } = this.identity;
    stats.connected(userId);
    metrics?.opened();
    logger.info({ event: 'connected', connection: this.id, username, userId, room: this.firstRoom, address: this.address }, 'connected');
  }

  private finished(closed: CloseResult): void {
    const { stats, metrics, logger } = this.context;
    const { username, userId } = this.identity;
    stats.disconnected(userId);
    metrics?.closed(closed.code);
    logger.info({ event: 'closed', connection: this.id, username, userId, code: closed.code, reason: closed.reason, errorCode: closed.errorCode }, 'closed');
  }

  /**
   * Sends this client its rooms' user lists again: after an outage, presence notices published
   * while this server could not hear the others are lost (pub/sub keeps nothing), so the lists
   * are sent again once it can, from the shared view.
   */
  async refreshUserLists(): Promise<void> {
    for (const room of [...this.rooms]) await this.sendUserList(room);
  }

  /** Tells this client that a message it sent went over the rate limits (and was dropped). */
  rateLimited(limit: string): void {
    this.sendError({ code: 'rate_limited', message: `too many ${limit}: slow down (this message was dropped)` }, null, { limit });
  }

  private async handle(message: Message): Promise<void> {
    const { metrics, stats } = this.context;
    if (message.type === 'binary') {
      metrics?.received('invalid', message.data.length);
      return this.sendError({ code: 'invalid_json', message: 'send JSON in text messages' }, null);
    }
    const parsed = parseClientMessage(message.data, this.context.maxContent);
    metrics?.received(parsed.ok ? parsed.command.type : 'invalid', Buffer.byteLength(message.data));
    if (!parsed.ok) return this.sendError(parsed.refusal, null);
    const command: Command = parsed.command;
    switch (command.type) {
      case 'heartbeat':
        this.sendOwn({ type: 'heartbeat', content: '', data: null, room: null });
        return;
      case 'join':
        if (this.rooms.has(command.room)) {
          await this.sendUserList(command.room);
          return;
        }
        if (this.rooms.size >= this.context.maxRooms) {
          return this.sendError({ code: 'forbidden', message: `a connection may be in at most ${this.context.maxRooms} rooms` }, command.room);
        }
        return this.join(command.room, command.since);
      case 'leave':
        if (!this.rooms.has(command.room)) return this.sendError({ code: 'not_a_member', message: `not in room ${command.room}` }, command.room);
        return this.leave(command.room);
      case 'chat':
      case 'notification': {
        if (command.type === 'notification' && !this.identity.rights.has('notify')) {
          return this.sendError({ code: 'forbidden', message: 'sending a notification needs the notify right' }, command.room ?? this.firstRoom);
        }
        const room = command.room ?? this.firstRoom;
        if (!this.rooms.has(room)) return this.sendError({ code: 'not_a_member', message: `not in room ${room}: join it first` }, room);
        const envelope = encodeStreamEnvelope({
          type: command.type,
          content: command.content,
          from: this.identity.username,
          timestamp: Date.now(),
          data: command.clientId === undefined ? null : { clientId: command.clientId },
          room,
        });
        const idempotencyKey = command.clientId === undefined ? undefined : `${this.identity.userId}:${command.clientId}`;
        let appended;
        try {
          appended = await this.context.hub.append(roomTopic(room), envelope, { idempotencyKey });
        } catch (error) {
          this.unavailable(command.type, command.content, command.clientId, room, error);
          return;
        }
        if (appended.duplicate) {
          // Sent before (a resend after a reconnect): the sender alone gets the original again.
          stats.dropped('duplicate');
          await this.resendOriginal(room, appended.position);
          return;
        }
        stats.messagesReceived++;
        return;
      }
    }
  }

  /**
   * The room's history could not take a message: the broker is down (Redis unreachable), or the
   * server is shutting down. It is never lost silently. With the broker down, this server's members
   * of the room (the sender included) still get it, once, as a message that is not kept (an id
   * `<token>.<n>`, `data.local` true): local rooms keep working through an outage. Either way the
   * sender gets an `unavailable` error naming its `clientId`, to send it again later (with the same
   * clientId, a message that did reach the history is not posted twice).
   */
  private unavailable(type: 'chat' | 'notification', content: string, clientId: string | undefined, room: string, error: unknown): void {
    const { hub, logger, metrics, stats } = this.context;
    const brokerDown = error instanceof Error && 'code' in error && error.code === 'WS_ERR_UNAVAILABLE';
    let local = false;
    if (brokerDown && hub.has(this.connection)) {
      const data = clientId === undefined ? { local: true } : { clientId, local: true };
      hub.publish(roomTopic(room), encodeEnvelope(this.own({ type, content, data, room }, this.identity.username)));
      local = true;
    }
    stats.unavailable++;
    metrics?.unavailable(type);
    logger.warn({ event: 'unavailable', connection: this.id, room, local, err: error }, 'a message could not be appended to the room history');
    const message = local
      ? 'the other servers cannot be reached: this message went to this server’s members of the room only and is not kept; send it again later'
      : 'this message could not be posted; send it again later';
    this.sendError({ code: 'unavailable', message }, room, clientId === undefined ? {} : { clientId });
  }

  /** Joins `room`: presence, the user list to this client, then the room's messages (after `since`, if given). */
  private async join(room: string, since: StreamId | undefined): Promise<void> {
    const { hub, presence, stats } = this.context;
    this.rooms.add(room);
    stats.entered(room, this.identity.userId);
    await presence.join(room, { username: this.identity.username, userId: this.identity.userId }, this.id);
    const members = await presence.members(room);
    // Where the room's stream stands before the user list goes out. Across servers this one hears
    // the room only once its broker has subscribed (Redis: a SUBSCRIBE, a round trip later), so a
    // plain subscribe would miss what another server appends meanwhile: the room is joined as a
    // recovery from this position instead, and every message appended after the user list reaches
    // this client, in order. (The broker down: this server's own messages only, from now.)
    const start = since === undefined ? await hub.history(roomTopic(room), undefined, 0).then((page) => page.position, () => null) : null;
    if (!this.rooms.has(room) || !hub.has(this.connection)) return;
    this.sendOwn({ type: 'user_list', content: '', data: { users: members.map(({ username, userId }) => ({ username, userId })) }, room });
    if (since === undefined && start === null) {
      hub.subscribe(this.connection, roomTopic(room));
      return;
    }
    if (since === undefined) await hub.recover(this.connection, roomTopic(room), start!);
    else await hub.recover(this.connection, roomTopic(room), since, { notice: (result) => this.recoveryNotice(room, result) });
    // The presence notices are publishes, heard here only once the broker has subscribed: one made
    // between the user list and then (by a user joining on another server) was missed. So the
    // list is read again now, and sent again if it changed.
    const now = await presence.members(room);
    if (!this.rooms.has(room) || !hub.has(this.connection)) return;
    if (now.map((member) => member.userId).join('\n') !== members.map((member) => member.userId).join('\n')) {
      this.sendOwn({ type: 'user_list', content: '', data: { users: now.map(({ username, userId }) => ({ username, userId })) }, room });
    }
  }

  private recoveryNotice(room: string, result: RecoveryResult): string {
    const content = result.recovered
      ? `recovered ${result.missed} missed message${result.missed === 1 ? '' : 's'}`
      : 'some messages since then are no longer kept: reload';
    return encodeEnvelope(this.own({ type: 'system', content, data: { room, recovered: result.recovered }, room }));
  }

  private async leave(room: string): Promise<void> {
    const { hub, presence, stats } = this.context;
    this.rooms.delete(room);
    stats.exited(room, this.identity.userId);
    if (hub.has(this.connection)) hub.unsubscribe(this.connection, roomTopic(room));
    await presence.leave(room, this.identity.userId, this.id, { grace: false });
  }

  /** The connection closed: out of every room, with the grace period (a quick reconnect is no leave). */
  private async leaveAll(): Promise<void> {
    const { hub, presence, stats } = this.context;
    // Out of the hub first: what the rooms get next (this user's user_left) is not for it.
    hub.remove(this.connection);
    const rooms = [...this.rooms];
    this.rooms.clear();
    for (const room of rooms) stats.exited(room, this.identity.userId);
    await Promise.all(
      rooms.map((room) => presence.leave(room, this.identity.userId, this.id, { grace: true }).catch((error: unknown) => {
        this.context.logger.warn({ event: 'presence_failed', connection: this.id, room, err: error }, 'presence could not be updated');
      })),
    );
  }

  private async sendUserList(room: string): Promise<void> {
    const members = await this.context.presence.members(room);
    if (!this.context.hub.has(this.connection)) return;
    this.sendOwn({ type: 'user_list', content: '', data: { users: members.map(({ username, userId }) => ({ username, userId })) }, room });
  }

  private async resendOriginal(room: string, position: StreamId): Promise<void> {
    const { hub } = this.context;
    const page = await hub.history(roomTopic(room), { epoch: position.epoch, offset: position.offset - 1 }, 1).catch(() => null);
    const original = page?.messages[0];
    if (original?.position === undefined || original.position.offset !== position.offset || !hub.has(this.connection)) return;
    const stored = Buffer.from(original.payload.buffer, original.payload.byteOffset, original.payload.byteLength).toString('utf8');
    hub.send(this.connection, renderStreamEnvelope(stored, original.position));
  }

  private own(fields: Pick<Envelope, 'type' | 'content' | 'data' | 'room'>, from = 'system'): Envelope {
    return { id: `${this.token}.${++this.sequence}`, from, timestamp: Date.now(), ...fields };
  }

  /** A message to this client alone, in order with everything the hub sends it. */
  private sendOwn(fields: Pick<Envelope, 'type' | 'content' | 'data' | 'room'>): void {
    if (!this.context.hub.has(this.connection)) return;
    this.context.hub.send(this.connection, encodeEnvelope(this.own(fields)));
  }

  private sendError(refusal: Refusal, room: string | null, extra: Record<string, unknown> = {}): void {
    const code: ErrorCode = refusal.code;
    this.context.metrics?.error(code);
    this.context.logger.debug({ event: 'error_sent', connection: this.id, code, field: refusal.field }, refusal.message);
    const data = refusal.field === undefined ? { code, ...extra } : { code, field: refusal.field, ...extra };
    this.sendOwn({ type: 'error', content: refusal.message, data, room });
  }
}

/**
 * The wire protocol (chat/README.md, "The wire protocol"): what a client may send, parsed into a
 * command or an error code, and the envelope of everything the server sends, seed 004's
 * `{ type, content, from, timestamp, id, data, room }` with every key always present.
 *
 * An envelope starts with its id: the id of a `chat` or `notification` is `<epoch>-<offset>`, its
 * place in the room's stream, which only the broker knows once it has appended it. Such a message
 * is stored with an empty id (`{"id":""`, still a whole JSON envelope) and rendered with its id
 * once per hub (`renderStreamEnvelope`). Every other message carries `<token>.<n>`: a dot, so it is
 * never mistaken for a stream id.
 */

export type ClientType = 'chat' | 'heartbeat' | 'join' | 'leave' | 'notification';
export type ServerType = 'chat' | 'notification' | 'system' | 'heartbeat' | 'user_joined' | 'user_left' | 'user_list' | 'error';

/** The `data.code` of an `error` message. */
export type ErrorCode = 'invalid_json' | 'unknown_type' | 'missing_field' | 'too_large' | 'not_a_member' | 'forbidden' | 'rate_limited' | 'unavailable';

export interface Member {
  readonly username: string;
  readonly userId: string;
}

export interface StreamId {
  readonly epoch: string;
  readonly offset: number;
}

export type Command =
  | { readonly type: 'chat' | 'notification'; readonly content: string; readonly room: string | undefined; readonly clientId: string | undefined }
  | { readonly type: 'heartbeat' }
  | { readonly type: 'join'; readonly room: string; readonly since: StreamId | undefined }
  | { readonly type: 'leave'; readonly room: string };

export interface Refusal {
  readonly code: ErrorCode;
  /** The field that is missing or invalid (`missing_field`, `too_large`). */
  readonly field?: string;
  readonly message: string;
}

export type Parsed = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly refusal: Refusal };

export interface Envelope {
  readonly id: string;
  readonly type: ServerType;
  readonly content: string;
  readonly from: string;
  readonly timestamp: number;
  readonly data: Readonly<Record<string, unknown>> | null;
  readonly room: string | null;
}

const CLIENT_TYPES: ReadonlySet<string> = new Set<ClientType>(['chat', 'heartbeat', 'join', 'leave', 'notification']);

/** Room names: 1-64 Unicode letters, digits and `_ . - :` (as a userId). */
const ROOM = /^[\p{L}\p{Nd}_.:-]{1,64}$/u;
/** `<epoch>-<offset>`: the epoch's letters and digits, a decimal offset. */
const STREAM_ID = /^([A-Za-z0-9]{1,64})-(0|[1-9][0-9]{0,15})$/;

export function isRoomName(value: unknown): value is string {
  return typeof value === 'string' && ROOM.test(value);
}

/** A stream id `<epoch>-<offset>`, or null when `value` is not one. */
export function parseStreamId(value: unknown): StreamId | null {
  if (typeof value !== 'string') return null;
  const match = STREAM_ID.exec(value);
  if (match === null) return null;
  const offset = Number(match[2]);
  if (!Number.isSafeInteger(offset)) return null;
  return { epoch: match[1]!, offset };
}

export function formatStreamId(id: StreamId): string {
  return `${id.epoch}-${id.offset}`;
}

/** Whether `text` has more than `max` characters (code points: a surrogate pair is one). */
export function longerThan(text: string, max: number): boolean {
  // Never fewer UTF-16 units than code points: a short string is short.
  if (text.length <= max) return false;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    if (++count > max) return true;
  }
  return false;
}

function refuse(code: ErrorCode, message: string, field?: string): Parsed {
  return { ok: false, refusal: field === undefined ? { code, message } : { code, field, message } };
}

/** A client's text message as a command, or the error it gets. `maxContent` is in characters (code points). */
export function parseClientMessage(text: string, maxContent: number): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return refuse('invalid_json', 'the message is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return refuse('unknown_type', 'the message must be a JSON object with a type');
  }
  const message = value as Record<string, unknown>;
  const given = message['type'];
  if (typeof given !== 'string' || !CLIENT_TYPES.has(given)) {
    return refuse('unknown_type', 'type must be one of chat, heartbeat, join, leave, notification');
  }
  const type = given as ClientType;
  switch (type) {
    case 'heartbeat':
      return { ok: true, command: { type: 'heartbeat' } };
    case 'join':
    case 'leave': {
      const room = message['room'];
      if (!isRoomName(room)) return refuse('missing_field', `${type} needs a room: 1-64 letters, digits, _ . - :`, 'room');
      if (type === 'leave') return { ok: true, command: { type, room } };
      const since = message['since'];
      if (since === undefined || since === null) return { ok: true, command: { type, room, since: undefined } };
      const position = parseStreamId(since);
      if (position === null) return refuse('missing_field', 'since must be the id (<epoch>-<offset>) of a chat or notification', 'since');
      return { ok: true, command: { type, room, since: position } };
    }
    case 'chat':
    case 'notification': {
      const content = message['content'];
      if (typeof content !== 'string' || content.length === 0) return refuse('missing_field', `${type} needs a content string`, 'content');
      if (longerThan(content, maxContent)) {
        return refuse('too_large', `content is longer than ${maxContent} characters`, 'content');
      }
      const room = message['room'];
      if (room !== undefined && room !== null && !isRoomName(room)) {
        return refuse('missing_field', 'room must be 1-64 letters, digits, _ . - :', 'room');
      }
      const clientId = message['clientId'];
      if (clientId !== undefined && clientId !== null && (typeof clientId !== 'string' || clientId.length === 0 || longerThan(clientId, 64))) {
        return refuse('missing_field', 'clientId must be a string of 1-64 characters', 'clientId');
      }
      return {
        ok: true,
        command: { type, content, room: (room ?? undefined) as string | undefined, clientId: (clientId ?? undefined) as string | undefined },
      };
    }
  }
}

/** The envelope as JSON, `id` first (see the module comment). */
export function encodeEnvelope(envelope: Envelope): string {
  return JSON.stringify({
    id: envelope.id,
    type: envelope.type,
    content: envelope.content,
    from: envelope.from,
    timestamp: envelope.timestamp,
    data: envelope.data,
    room: envelope.room,
  });
}

/** How a stream envelope is stored: a whole envelope whose id is empty until the broker places it. */
const STORED_PREFIX = '{"id":""';

/** A `chat` or `notification` as appended to its room's stream. */
export function encodeStreamEnvelope(envelope: Omit<Envelope, 'id'>): string {
  return encodeEnvelope({ ...envelope, id: '' });
}

/** The stored envelope with its id, `<epoch>-<offset>`, put in (the hub's renderStream). */
export function renderStreamEnvelope(stored: string, id: StreamId): string {
  if (!stored.startsWith(STORED_PREFIX)) return stored;
  return `{"id":"${formatStreamId(id)}"${stored.slice(STORED_PREFIX.length)}`;
}

/**
 * Key and channel names, one set per topic. Every name of a topic carries the same hash tag
 * (`{...}`), so Redis Cluster puts a topic's keys and its sharded channel on one slot: the append
 * script may touch them all and SPUBLISH to the channel (a script may only touch its node's slots),
 * and SSUBSCRIBE reaches the shard that publishes (cluster spec, "Hash tags").
 *
 *   <prefix>:{<tag>}:meta      hash: `epoch` (letters and digits), `offset` (the last one issued)
 *   <prefix>:{<tag>}:stream    Redis Stream: entry ID `<offset>-0`, fields `m` (the entry, wire.ts), `i` (its idempotency key, if any)
 *   <prefix>:{<tag>}:ids       hash: idempotency key -> offset, for the entries the stream still keeps
 *   <prefix>:{<tag>}:messages  the channel of the topic's messages (PUBLISH/SPUBLISH)
 *
 * The tag is the topic with `%`, `{` and `}` escaped (`%25`, `%7B`, `%7D`), so no topic can end its
 * tag early or leave it empty (an empty `{}` would hash the whole key: cluster spec), and two topics
 * never share a tag. The empty topic's tag is a lone `%`, which no escaped topic produces.
 */

import { WebSocketError } from 'rfc6455';

export interface TopicKeys {
  readonly meta: string;
  readonly stream: string;
  readonly ids: string;
  readonly channel: string;
}

export const DEFAULT_PREFIX = 'rfc6455';

/** The escaped topic inside the braces. */
export function hashTag(topic: string): string {
  if (topic === '') return '%';
  return topic.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
}

export function topicKeys(prefix: string, topic: string): TopicKeys {
  const base = `${prefix}:{${hashTag(topic)}}:`;
  return { meta: `${base}meta`, stream: `${base}stream`, ids: `${base}ids`, channel: `${base}messages` };
}

/** A prefix may not contain braces: they would move the hash tag. */
export function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || prefix === '' || /[{}]/.test(prefix)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', `a key prefix must be a non-empty string without braces, got ${JSON.stringify(prefix)}`);
  }
}

/** CRC16-CCITT (XMODEM), as the cluster spec's key slot uses. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The cluster slot of a key or sharded channel (cluster spec, "Key distribution model"): CRC16 of
 * the hash tag (what is between the first `{` and the next `}`, when not empty) mod 16384. The
 * subscriber groups SSUBSCRIBE by slot with it: one command may only name channels of one slot.
 */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % 16384;
  }
  return crc16(bytes) % 16384;
}

/** A room's presence keys (presence-scripts.ts), all with the room's hash tag. */
export interface PresenceRoomKeys {
  readonly users: string;
  readonly names: string;
  readonly counts: string;
  readonly grace: string;
  readonly seq: string;
  /** The hash of the connections node `id` holds in the room. */
  node(id: string): string;
}

/** `<prefix>:presence:{<room>}:...`: a different name than any topic key, the same escaping. */
export function presenceRoomKeys(prefix: string, room: string): PresenceRoomKeys {
  const base = `${prefix}:presence:{${hashTag(room)}}:`;
  return {
    users: `${base}users`,
    names: `${base}names`,
    counts: `${base}counts`,
    grace: `${base}grace`,
    seq: `${base}seq`,
    node: (id) => `${base}node:${id}`,
  };
}

/** The node registry (one slot, tag `{nodes}`), and each node's set of rooms (its own tag). */
export function presenceNodeKeys(prefix: string): { alive: string; reaping: string; rooms(id: string): string } {
  return {
    alive: `${prefix}:presence:{nodes}:alive`,
    reaping: `${prefix}:presence:{nodes}:reaping`,
    rooms: (id) => `${prefix}:presence:{node:${hashTag(id)}}:rooms`,
  };
}

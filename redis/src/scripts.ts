/**
 * The two Lua scripts: append (one atomic step: epoch, offset, stream entry, idempotency, TTLs,
 * publish) and history (the stream after a position, with its completeness). Loaded by node-redis
 * (`defineScript`): EVALSHA first, EVAL when the server says NOSCRIPT (a restarted Redis, a new
 * cluster node). Every key a script touches is passed in KEYS and carries the topic's hash tag
 * (keys.ts), so in a cluster it runs on the topic's node; the channel it publishes to has the same
 * tag, as SPUBLISH inside a script needs.
 *
 * Offsets are formatted with `%d`: Redis' Lua numbers are doubles and `tostring` would write a
 * large one with an exponent.
 */

import { defineScript } from 'redis';
import type { TopicKeys } from './keys.js';

/**
 * KEYS: meta, stream, ids. ARGV: size, ttl (ms, 0: none), has key ('1'/'0'), idempotency key,
 * entry (wire.ts), a new epoch (used when the topic has none), channel, 'PUBLISH' or 'SPUBLISH'.
 * Returns { epoch, offset, duplicate (1/0) }.
 *
 * The stream is trimmed exactly (MAXLEN, not `~`): with `~` Redis keeps whole radix-tree nodes, so
 * more than `size` entries, and the idempotency keys could not be forgotten as their entries go.
 * (Completeness would still be right: history reads where the stream really begins.) Exact
 * trimming of one entry per append is cheap. The entries this append trims are read first, to
 * forget their idempotency keys: the ids hash holds at most `size` keys, whatever the TTL.
 */
export const APPEND_SCRIPT = `
local size = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local has_key = ARGV[3] == '1'
local key = ARGV[4]
local entry = ARGV[5]
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  -- A new epoch: whatever an older one left (a key not expired yet) is gone with it.
  epoch = ARGV[6]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
if has_key then
  local earlier = redis.call('HGET', KEYS[3], key)
  if earlier then return {epoch, tonumber(earlier), 1} end
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
if size > 0 then
  if redis.call('HLEN', KEYS[3]) > 0 then
    local excess = redis.call('XLEN', KEYS[2]) + 1 - size
    if excess > 0 then
      for _, trimmed in ipairs(redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', excess)) do
        local fields = trimmed[2]
        for i = 1, #fields, 2 do
          if fields[i] == 'i' then redis.call('HDEL', KEYS[3], fields[i + 1]) end
        end
      end
    end
  end
  local id = string.format('%d-0', offset)
  if has_key then
    redis.call('XADD', KEYS[2], 'MAXLEN', size, id, 'm', entry, 'i', key)
    redis.call('HSET', KEYS[3], key, string.format('%d', offset))
  else
    redis.call('XADD', KEYS[2], 'MAXLEN', size, id, 'm', entry)
  end
else
  -- A history of size 0 keeps nothing (and so remembers no idempotency key).
  redis.call('DEL', KEYS[2], KEYS[3])
end
for i = 1, 3 do
  if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) else redis.call('PERSIST', KEYS[i]) end
end
redis.call(ARGV[8], ARGV[7], string.format('%s:%d\\n', epoch, offset) .. entry)
return {epoch, offset, 0}
`;

/**
 * KEYS: meta, stream, ids. ARGV: has since ('1'/'0'), since epoch, since offset, limit, a new
 * epoch (used when the topic has none), that epoch's TTL (ms, 0: none). Returns { epoch, offset,
 * complete (1/0), { { entry ID, entry }... } }.
 *
 * Like MemoryStreams.history: a topic without a stream gets a new, empty one (so the position it
 * returns stays valid for the next call); `complete` is false when `since` is from another epoch
 * or beyond the last offset, when the stream no longer holds the entry after `since`, or when
 * `limit` cut the page short.
 */
export const HISTORY_SCRIPT = `
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local offset = 0
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  local ttl = tonumber(ARGV[6])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
else
  offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
end
local first = offset + 1
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if head[1] then first = tonumber(string.match(head[1][1], '^(%d+)')) end
local from = first
local complete = 1
if ARGV[1] == '1' then
  local since = tonumber(ARGV[3])
  if ARGV[2] ~= epoch or since > offset then return {epoch, offset, 0, {}} end
  if since + 1 < first then complete = 0 end
  if since + 1 > from then from = since + 1 end
end
local limit = tonumber(ARGV[4])
local page = {}
if limit > 0 and from <= offset then
  for i, found in ipairs(redis.call('XRANGE', KEYS[2], string.format('%d-0', from), '+', 'COUNT', limit)) do
    page[i] = {found[1], found[2][2]}
  end
end
if from + #page - 1 < offset then complete = 0 end
return {epoch, offset, complete, page}
`;

export interface AppendArguments {
  readonly size: number;
  readonly ttl: number;
  readonly idempotencyKey: string | undefined;
  readonly entry: Buffer;
  readonly newEpoch: string;
  readonly sharded: boolean;
}

export interface HistoryArguments {
  readonly since: { readonly epoch: string; readonly offset: number } | undefined;
  readonly limit: number;
  readonly newEpoch: string;
  readonly emptyTtl: number;
}

/** The parser node-redis hands a script's parseCommand (its public CommandParser, narrowed to what is used). */
interface ScriptParser {
  pushKeys(keys: string[]): unknown;
  push(...args: Array<string | Buffer>): unknown;
}

export const appendScript = defineScript({
  SCRIPT: APPEND_SCRIPT,
  NUMBER_OF_KEYS: 3,
  parseCommand(parser: ScriptParser, keys: TopicKeys, args: AppendArguments) {
    parser.pushKeys([keys.meta, keys.stream, keys.ids]);
    parser.push(
      String(args.size),
      String(args.ttl),
      args.idempotencyKey === undefined ? '0' : '1',
      args.idempotencyKey ?? '',
      args.entry,
      args.newEpoch,
      keys.channel,
      args.sharded ? 'SPUBLISH' : 'PUBLISH',
    );
  },
  transformReply: (reply: unknown) => reply,
});

export const historyScript = defineScript({
  SCRIPT: HISTORY_SCRIPT,
  NUMBER_OF_KEYS: 3,
  parseCommand(parser: ScriptParser, keys: TopicKeys, args: HistoryArguments) {
    parser.pushKeys([keys.meta, keys.stream, keys.ids]);
    parser.push(
      args.since === undefined ? '0' : '1',
      args.since?.epoch ?? '',
      String(args.since?.offset ?? 0),
      String(args.limit),
      args.newEpoch,
      String(args.emptyTtl),
    );
  },
  transformReply: (reply: unknown) => reply,
});

export const SCRIPTS = { rfc6455Append: appendScript, rfc6455History: historyScript };

/** What the append script returns, checked. */
export function appendReply(reply: unknown): { epoch: string; offset: number; duplicate: boolean } {
  if (!Array.isArray(reply) || reply.length !== 3) throw new Error('the append script returned an unexpected reply');
  const [epoch, offset, duplicate] = reply as unknown[];
  return { epoch: text(epoch), offset: integer(offset), duplicate: integer(duplicate) === 1 };
}

export interface HistoryReply {
  readonly epoch: string;
  readonly offset: number;
  readonly complete: boolean;
  readonly entries: readonly { readonly offset: number; readonly entry: Buffer }[];
}

/** What the history script returns, checked. */
export function historyReply(reply: unknown): HistoryReply {
  if (!Array.isArray(reply) || reply.length !== 4 || !Array.isArray(reply[3])) throw new Error('the history script returned an unexpected reply');
  const [epoch, offset, complete, page] = reply as [unknown, unknown, unknown, unknown[]];
  const entries = page.map((item) => {
    if (!Array.isArray(item) || item.length !== 2 || !Buffer.isBuffer(item[1])) throw new Error('the history script returned an unexpected entry');
    return { offset: Number.parseInt(text(item[0]), 10), entry: item[1] };
  });
  return { epoch: text(epoch), offset: integer(offset), complete: integer(complete) === 1, entries };
}

function text(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString();
  if (typeof value === 'string') return value;
  throw new Error('a script returned an unexpected value');
}

function integer(value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  throw new Error('a script returned an unexpected number');
}

/**
 * The presence scripts (presence.ts): each an atomic step on one room's keys, or on the node
 * registry's. Every key of a room carries the room's hash tag (keys.ts, presenceKeys), so in a
 * cluster a room's script runs on the room's master; the registry's two keys share the tag
 * `{nodes}`. Times come from Redis (`TIME`), never from a node's clock, so leases and grace
 * deadlines mean the same on every machine (a script may call TIME since Redis 5's effects
 * replication, the only mode of Redis 7).
 *
 * A room's keys:
 *   users       sorted set: userId, scored by the order users came (INCR of `seq`)
 *   names       hash: userId -> username
 *   counts      hash: userId -> connections in the room, on every node (absent: none, or in grace)
 *   grace       hash: userId -> "<owner node> <token> <deadline ms>", a user whose last connection went
 *   seq         string: the join counter
 *   node:<id>   hash: connection id -> userId, the connections node <id> holds in the room
 *
 * A grace period is run by its owner node (a timer, then SETTLE with its token); a node that dies
 * leaves its connections and its grace periods behind, and REAP hands them to a live node.
 */

import { defineScript } from 'redis';

type ScriptParser = { pushKeys(keys: string[]): void; push(...args: string[]): void };

/** Redis' clock in milliseconds. */
const NOW = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

/** KEYS: users, names, counts, grace, seq, node. ARGV: userId, username, connection. 0: already there; 1: the user was present (a grace period ends); 2: joined. */
export const JOIN_SCRIPT = `
if redis.call('HSETNX', KEYS[6], ARGV[3], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('HDEL', KEYS[4], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[5]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 2
`;

/**
 * KEYS: users, names, counts, grace, node. ARGV: userId, connection, grace ('1'/'0'), owner node,
 * token, grace ms. 0: the connection was not in the room; 1: the user has other connections in it;
 * 2: its grace period started (owned by `owner`); 3: left.
 */
export const LEAVE_SCRIPT = `${NOW}
if redis.call('HGET', KEYS[5], ARGV[2]) ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[5], ARGV[2])
if redis.call('HINCRBY', KEYS[3], ARGV[1], -1) > 0 then return 1 end
redis.call('HDEL', KEYS[3], ARGV[1])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[4], ARGV[1], ARGV[4] .. ' ' .. ARGV[5] .. ' ' .. string.format('%d', now_ms() + tonumber(ARGV[6])))
  return 2
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[4], ARGV[1])
return 3
`;

/** KEYS: users, names, counts, grace. ARGV: userId, token. The grace period with that token ends: the user's name if it left, else nil. */
export const SETTLE_SCRIPT = `
local grace = redis.call('HGET', KEYS[4], ARGV[1])
if not grace then return false end
local _, token = string.match(grace, '^(%S+) (%S+) ')
if token ~= ARGV[2] then return false end
redis.call('HDEL', KEYS[4], ARGV[1])
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return false end
local name = redis.call('HGET', KEYS[2], ARGV[1]) or ARGV[1]
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return name
`;

/** KEYS: users, names. The users in the order they came: { userId, username, ... }. */
export const MEMBERS_SCRIPT = `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local out = {}
for i, id in ipairs(ids) do
  out[2 * i - 1] = id
  out[2 * i] = redis.call('HGET', KEYS[2], id) or id
end
return out
`;

/**
 * KEYS: users, names, counts, grace, the dead node's connections. ARGV: dead node, reaper node,
 * grace ms, token prefix. The dead node's connections leave the room; a user left with none
 * starts a grace period owned by the reaper (or leaves at once with grace 0); the grace periods the
 * dead node ran are the reaper's now, with their deadlines. Returns { { userId, username, token,
 * ms left } ... }: token '' for a user that left at once.
 */
export const REAP_SCRIPT = `${NOW}
local now = now_ms()
local grace_ms = tonumber(ARGV[3])
local out = {}
local conns = redis.call('HGETALL', KEYS[5])
redis.call('DEL', KEYS[5])
for i = 1, #conns, 2 do
  local user = conns[i + 1]
  if redis.call('HINCRBY', KEYS[3], user, -1) <= 0 then
    redis.call('HDEL', KEYS[3], user)
    local name = redis.call('HGET', KEYS[2], user) or user
    if grace_ms > 0 then
      local token = ARGV[4] .. '.' .. i
      redis.call('HSET', KEYS[4], user, ARGV[2] .. ' ' .. token .. ' ' .. string.format('%d', now + grace_ms))
      table.insert(out, {user, name, token, string.format('%d', grace_ms)})
    else
      redis.call('ZREM', KEYS[1], user)
      redis.call('HDEL', KEYS[2], user)
      redis.call('HDEL', KEYS[4], user)
      table.insert(out, {user, name, '', '0'})
    end
  end
end
local graces = redis.call('HGETALL', KEYS[4])
for i = 1, #graces, 2 do
  local owner, token, deadline = string.match(graces[i + 1], '^(%S+) (%S+) (%d+)$')
  if owner == ARGV[1] then
    redis.call('HSET', KEYS[4], graces[i], ARGV[2] .. ' ' .. token .. ' ' .. deadline)
    local left = math.max(0, tonumber(deadline) - now)
    table.insert(out, {graces[i], redis.call('HGET', KEYS[2], graces[i]) or graces[i], token, string.format('%d', left)})
  end
end
return out
`;

/**
 * KEYS: alive (sorted set: node -> lease end, ms). ARGV: node, lease ms, 'register' or 'refresh'.
 * 1: the lease runs until now + lease; 0 (refresh only): the node is no longer alive (its lease
 * ran out and another node is reaping it, or it released it).
 */
export const LEASE_SCRIPT = `${NOW}
if ARGV[3] == 'refresh' and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now_ms() + tonumber(ARGV[2]), ARGV[1])
return 1
`;

/**
 * KEYS: alive, reaping (sorted set: node -> end of its reaper's claim). ARGV: lease ms, limit.
 * Nodes whose lease ran out move to reaping, claimed for one lease; claims that ran out (a reaper
 * that died) are claimed again. Returns the nodes to reap now.
 */
export const SWEEP_SCRIPT = `${NOW}
local now = now_ms()
local lease = tonumber(ARGV[1])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], now + lease, id)
  table.insert(out, id)
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))) do
  redis.call('ZADD', KEYS[2], now + lease, id)
  table.insert(out, id)
end
return out
`;

function presenceScript(script: string, keys: number) {
  return defineScript({
    SCRIPT: script,
    NUMBER_OF_KEYS: keys,
    parseCommand(parser: ScriptParser, keyNames: readonly string[], args: readonly string[]) {
      parser.pushKeys([...keyNames]);
      parser.push(...args);
    },
    transformReply: (reply: unknown) => reply,
  });
}

export const PRESENCE_SCRIPTS = {
  rfc6455PresenceJoin: presenceScript(JOIN_SCRIPT, 6),
  rfc6455PresenceLeave: presenceScript(LEAVE_SCRIPT, 5),
  rfc6455PresenceSettle: presenceScript(SETTLE_SCRIPT, 4),
  rfc6455PresenceMembers: presenceScript(MEMBERS_SCRIPT, 2),
  rfc6455PresenceReap: presenceScript(REAP_SCRIPT, 5),
  rfc6455PresenceLease: presenceScript(LEASE_SCRIPT, 1),
  rfc6455PresenceSweep: presenceScript(SWEEP_SCRIPT, 2),
};

export type PresenceScript = keyof typeof PRESENCE_SCRIPTS;

/**
 * @rfc6455/redis: the Redis engine for the rfc6455 hub (issue 16): the hub's Broker on Redis or a
 * Redis Cluster (`new Hub({ broker: new RedisBroker({ url }) })`), and the chat server's presence
 * (`new RedisPresence({ url })`, @rfc6455/chat's `Presence`). See ../README.md.
 */
export { RedisBroker, type RedisBrokerOptions } from './broker.js';
export { type ReconnectOptions } from './backoff.js';
export { RedisPresence, type PresenceChange, type PresenceMember, type PresenceOverview, type RedisPresenceOptions } from './presence.js';

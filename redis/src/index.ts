/**
 * @rfc6455/redis: the Redis engine for the rfc6455 hub (issue 16). One class, the hub's Broker on
 * Redis or a Redis Cluster: `new Hub({ broker: new RedisBroker({ url }) })`. See ../README.md.
 */
export { RedisBroker, type RedisBrokerOptions } from './broker.js';
export { type ReconnectOptions } from './backoff.js';

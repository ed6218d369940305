/** Reconnection with delivery semantics: reconnect() and ReconnectingClient. */
export { reconnect, type Connections } from './reconnect.js';
export { ReconnectingClient, type ReconnectCounters, type ReconnectState } from './client.js';
export { ReconnectError } from './errors.js';
export type { DialCounters } from './dialer.js';
export { RECONNECT_DEFAULTS, type QueuePolicy, type ReconnectOptions, type ReconnectingClientOptions } from './options.js';
export { backoffCap, backoffDelay, parseRetryAfter, shouldReconnectByDefault, type DisconnectInfo } from './policy.js';

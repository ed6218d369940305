/**
 * Structured logs through pino: one JSON line per connection event (opened, closed with its code,
 * a refused handshake, a rate limit that closed a connection) and per server event (listening,
 * draining, stopped); none per message at the default level (`info`); `debug` adds one line per
 * error message sent to a client.
 */

import { pino, type DestinationStream, type Logger } from 'pino';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export type { Logger };

/** A logger to `destination` (default: stdout, written synchronously so that nothing is lost at exit). */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ name: 'chat', level }, destination ?? pino.destination({ dest: 1, sync: true }));
}

/**
 * The chat on Redis (`--redis URL`, `redis`/`redisCluster` options): rooms' pub/sub and history
 * through @rfc6455/redis's RedisBroker, presence through its RedisPresence, so that several chat
 * servers (processes, `--workers`, machines behind a load balancer) serve one chat. The package is
 * imported only when asked for: a chat in memory does not load node-redis.
 */

import type { Broker } from 'rfc6455/hub';
import type { Logger } from './log.js';
import type { ResolvedChatOptions } from './options.js';
import type { Presence } from './presence.js';

export interface RedisParts {
  readonly broker: Broker | undefined;
  /** Typed as the chat's Presence: the type checker proves RedisPresence implements it. */
  readonly presence: Presence | undefined;
  /** Resolves once both are up, or after `ms` (then the server starts degraded, and they connect by themselves). */
  ready(ms: number): Promise<void>;
}

/** Makes the parts asked for (those the application did not give its own of). */
export async function openRedis(options: ResolvedChatOptions, logger: Logger, wanted: { broker: boolean; presence: boolean }): Promise<RedisParts> {
  const redis = options.redis;
  if (redis === null) throw new Error('no Redis configured');
  const { RedisBroker, RedisPresence } = await import('@rfc6455/redis');
  const where = 'url' in redis ? { url: redis.url } : { cluster: redis.cluster };
  const onError = (error: unknown): void => logger.error({ event: 'error', err: error }, 'redis error');
  const broker = wanted.broker ? new RedisBroker({ ...where, onError }) : undefined;
  const redisPresence = wanted.presence ? new RedisPresence({ ...where, grace: options.presenceGrace, lease: options.presenceLease, onError }) : undefined;
  const presence: Presence | undefined = redisPresence;
  return {
    broker,
    presence,
    async ready(ms) {
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
      const up = Promise.all([broker?.ready(), redisPresence?.ready()]).then(
        () => undefined,
        () => undefined,
      );
      await Promise.race([up, waited]);
      clearTimeout(timer);
    },
  };
}

/**
 * One connection to Redis, made by one attempt of the connection state machine (connection.ts) and
 * used until it fails, never after: a client for commands and a client for pub/sub (RESP3; a
 * subscriber of its own so that a long history read never delays deliveries), or one cluster
 * client (node-redis keeps a connection per shard, and a sharded pub/sub connection per shard).
 *
 * node-redis' own reconnection is off (`reconnectStrategy: false`): a session that breaks is
 * thrown away and the state machine makes a new one, with backoff, and subscribes everything again
 * itself. Nothing depends on a client library resubscribing by itself after a reconnect (node-redis
 * once did not: socket.io #4845). Commands fail fast while nothing is connected
 * (`disableOfflineQueue`), and a command without a reply after `commandTimeout` is rejected even
 * when it was sent (`rejectInFlight`), so a hung server (SIGSTOP, a dead link) is noticed.
 */

import { createClient, createCluster, ErrorReply, RESP_TYPES } from 'redis';
import { keySlot, type TopicKeys } from './keys.js';
import { PRESENCE_SCRIPTS, type PresenceScript } from './presence-scripts.js';
import { SCRIPTS as STREAM_SCRIPTS, type AppendArguments, type HistoryArguments } from './scripts.js';
import { realTimers } from './timers.js';

export interface SessionOptions {
  /** One Redis (`redis://` or `rediss://`), when `cluster` is undefined. */
  readonly url: string;
  /** Root nodes of a Redis Cluster: then topics' channels are sharded (SSUBSCRIBE/SPUBLISH). */
  readonly cluster: readonly string[] | undefined;
  readonly connectTimeout: number;
  readonly commandTimeout: number;
  /**
   * Whether to open the pub/sub client (one Redis) too. Default true; presence (presence.ts)
   * publishes nothing and subscribes to nothing, so it has none.
   */
  readonly subscriber?: boolean;
  /**
   * Whether node-redis rejects a command without a reply after `commandTimeout` (default true).
   * Presence turns it off: node-redis arms those deadlines on the global setTimeout, which a test
   * may fake (timers.ts); its commands are bounded by the heartbeat instead, which ends a session
   * whose PING goes unanswered for `commandTimeout` (and with it every command in flight).
   */
  readonly commandDeadlines?: boolean;
}

/** A message from a channel, as node-redis hands it in buffer mode. */
export type ChannelListener = (message: Buffer, channel: Buffer) => void;

export interface Session {
  /** Whether channels are sharded (a cluster): SPUBLISH and SSUBSCRIBE. */
  readonly sharded: boolean;
  /** Connects every client; rejects if one fails. */
  connect(): Promise<void>;
  append(keys: TopicKeys, args: AppendArguments): Promise<unknown>;
  history(keys: TopicKeys, args: HistoryArguments): Promise<unknown>;
  publish(channel: string, message: Buffer): Promise<unknown>;
  /** Runs a presence script (presence-scripts.ts) on the shard of its keys (all of one slot). */
  presence(script: PresenceScript, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** One plain command on the shard of `key` (which must be among its arguments). */
  command(key: string, args: readonly string[]): Promise<unknown>;
  /** Subscribes the channels in as few commands as the mode allows (one; a cluster: one per slot). */
  subscribe(channels: readonly string[], listener: ChannelListener): Promise<void>;
  unsubscribe(channels: readonly string[], listener: ChannelListener): Promise<void>;
  /** PINGs every connection it has (a cluster: every master). */
  ping(): Promise<void>;
  /** Closes its connections (a graceful close, bounded; then they are destroyed). */
  close(): Promise<void>;
  /** Drops its connections at once; pending commands reject. */
  destroy(): void;
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** Every script a session loads: the streams' (scripts.ts) and presence's. */
const SCRIPTS = { ...STREAM_SCRIPTS, ...PRESENCE_SCRIPTS };

function clientOptions(options: SessionOptions) {
  return {
    disableOfflineQueue: true,
    maintNotifications: 'disabled' as const,
    socket: { reconnectStrategy: false as const, connectTimeout: options.connectTimeout },
  };
}

function commandOptions(options: SessionOptions) {
  return options.commandDeadlines === false ? {} : { timeout: options.commandTimeout, rejectInFlight: true };
}

/**
 * Whether an error means the connection is broken (not a Redis error reply, which it answered),
 * or the cluster cannot serve (CLUSTERDOWN: a master is gone): either way the session ends, and
 * the next one waits for a cluster that says `cluster_state:ok`.
 */
export function isConnectionError(error: unknown): boolean {
  return !(error instanceof ErrorReply) || error.message.startsWith('CLUSTERDOWN');
}

export function createSession(options: SessionOptions, failed: (error: Error) => void): Session {
  return options.cluster === undefined ? new SingleSession(options, failed) : new ClusterSession(options, options.cluster, failed);
}

/** Bounds a promise: past `ms`, it rejects (the work it stands for may still finish). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = realTimers.setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => realTimers.clearTimeout(timer));
}

function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

class SingleSession implements Session {
  readonly sharded = false;
  private readonly base;
  private readonly client;
  private readonly subscriberClient;
  private readonly options: SessionOptions;

  constructor(options: SessionOptions, failed: (error: Error) => void) {
    this.options = options;
    this.base = createClient({ url: options.url, scripts: SCRIPTS, ...clientOptions(options), commandOptions: commandOptions(options) });
    this.subscriberClient =
      options.subscriber === false ? null : createClient({ url: options.url, ...clientOptions(options), commandOptions: commandOptions(options) });
    // Listeners go on the clients themselves, before withTypeMapping() makes a view of one.
    this.base.on('error', (error: unknown) => failed(toError(error)));
    this.subscriberClient?.on('error', (error: unknown) => failed(toError(error)));
    this.client = this.base.withTypeMapping(BUFFERS);
  }

  private get subscriber() {
    if (this.subscriberClient === null) throw new Error('this session has no pub/sub client');
    return this.subscriberClient;
  }

  private get clients() {
    return this.subscriberClient === null ? [this.base] : [this.base, this.subscriberClient];
  }

  async connect(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.connect()));
    await loadScripts(this.base);
  }

  append(keys: TopicKeys, args: AppendArguments): Promise<unknown> {
    return this.client.rfc6455Append(keys, args);
  }

  history(keys: TopicKeys, args: HistoryArguments): Promise<unknown> {
    return this.client.rfc6455History(keys, args);
  }

  publish(channel: string, message: Buffer): Promise<unknown> {
    return this.client.publish(channel, message);
  }

  presence(script: PresenceScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.base[script](keys, args);
  }

  command(_key: string, args: readonly string[]): Promise<unknown> {
    return this.base.sendCommand([...args]);
  }

  subscribe(channels: readonly string[], listener: ChannelListener): Promise<void> {
    return this.subscriber.subscribe([...channels], listener, true);
  }

  unsubscribe(channels: readonly string[], listener: ChannelListener): Promise<void> {
    return this.subscriber.unsubscribe([...channels], listener, true);
  }

  async ping(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.ping()));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => closeClient(client, this.options)));
  }

  destroy(): void {
    for (const client of this.clients) {
      if (client.isOpen) client.destroy();
    }
  }
}

/**
 * SCRIPT LOAD on a new connection (a cluster: on every master), so that appends pipelined on it
 * run by EVALSHA from the first one, in the order they were sent, rather than coming back NOSCRIPT
 * together from a restarted Redis and being sent again as EVAL. node-redis still falls back to
 * EVAL if the scripts are flushed later.
 */
async function loadScripts(client: { scriptLoad(script: string): Promise<unknown> }): Promise<void> {
  await Promise.all(Object.values(SCRIPTS).map((script) => client.scriptLoad(script.SCRIPT as string)));
}

/** Closes a client gracefully (pending replies first), bounded by the command timeout; then destroys it. */
async function closeClient(client: { isOpen: boolean; close(): Promise<unknown>; destroy(): void }, options: SessionOptions): Promise<void> {
  if (!client.isOpen) return;
  try {
    await withTimeout(client.close(), options.commandTimeout, 'close');
  } catch {
    if (client.isOpen) client.destroy();
  }
}

class ClusterSession implements Session {
  readonly sharded = true;
  private readonly base;
  private readonly client;
  private readonly options: SessionOptions;

  constructor(options: SessionOptions, rootNodes: readonly string[], failed: (error: Error) => void) {
    this.options = options;
    this.base = createCluster({
      rootNodes: rootNodes.map((url) => ({ url })),
      defaults: clientOptions(options),
      scripts: SCRIPTS,
      commandOptions: commandOptions(options),
    });
    this.base.on('error', (error: unknown) => failed(toError(error)));
    this.client = this.base.withTypeMapping(BUFFERS);
  }

  async connect(): Promise<void> {
    await this.base.connect();
    await Promise.all(
      this.base.masters.map(async (master) => {
        const client = await this.base.nodeClient(master);
        // Up means every slot is served: a master that just came back says cluster_state:fail for a while.
        const info = String(await client.clusterInfo());
        if (!/cluster_state:ok/.test(info)) throw new Error(`${master.host}:${master.port} says the cluster is not ok`);
        await loadScripts(client);
      }),
    );
  }

  append(keys: TopicKeys, args: AppendArguments): Promise<unknown> {
    return this.client.rfc6455Append(keys, args);
  }

  history(keys: TopicKeys, args: HistoryArguments): Promise<unknown> {
    return this.client.rfc6455History(keys, args);
  }

  publish(channel: string, message: Buffer): Promise<unknown> {
    return this.client.sPublish(channel, message);
  }

  presence(script: PresenceScript, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    return this.base[script](keys, args);
  }

  command(key: string, args: readonly string[]): Promise<unknown> {
    return this.base.sendCommand(key, false, [...args]);
  }

  async subscribe(channels: readonly string[], listener: ChannelListener): Promise<void> {
    await Promise.all([...bySlot(channels).values()].map((group) => this.base.sSubscribe(group, listener, true)));
  }

  async unsubscribe(channels: readonly string[], listener: ChannelListener): Promise<void> {
    await Promise.all([...bySlot(channels).values()].map((group) => this.base.sUnsubscribe(group, listener, true)));
  }

  async ping(): Promise<void> {
    await Promise.all(
      this.base.masters.map(async (master) => {
        const client = await this.base.nodeClient(master);
        await withTimeout(client.ping(), this.options.commandTimeout, `PING ${master.host}:${master.port}`);
      }),
    );
  }

  async close(): Promise<void> {
    if (!this.base.isOpen) return;
    try {
      await withTimeout(this.base.close(), this.options.commandTimeout, 'close');
    } catch {
      this.destroy();
    }
  }

  destroy(): void {
    if (this.base.isOpen) this.base.destroy();
  }
}

/** SSUBSCRIBE names channels of one slot only (CROSSSLOT otherwise): one group per slot. */
function bySlot(channels: readonly string[]): Map<number, string[]> {
  const groups = new Map<number, string[]>();
  for (const channel of channels) {
    const slot = keySlot(channel);
    let group = groups.get(slot);
    if (group === undefined) groups.set(slot, (group = []));
    group.push(channel);
  }
  return groups;
}

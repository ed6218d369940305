/**
 * Nodes of a deployment for the tests, on the public API only: each node is a WebSocketServer and a
 * Hub whose broker is a RedisBroker; clients are real WebSocket connections (`connect()`), and the
 * test subscribes their server-side connections to topics. Waits are on events, bounded.
 */

import { connect, WebSocketServer, type Ws } from 'rfc6455';
import { Hub, type HubEvents } from 'rfc6455/hub';
import { RedisBroker, type RedisBrokerOptions } from '../src/index.js';

/**
 * Quick to notice an outage and to come back, for the outage tests (the others keep the defaults).
 * Tests wait for events, never for these times; a second still leaves room for a loaded machine.
 */
export const FAST: RedisBrokerOptions = {
  commandTimeout: 1000,
  connectTimeout: 1000,
  heartbeatInterval: 100,
  reconnect: { initialDelay: 20, maxDelay: 200 },
};

const WAIT = 10_000;

/** Resolves when `check()` is true after an event, rejects after `ms`. */
export function waitFor<T>(what: string, subscribe: (wake: () => void) => () => void, check: () => T | undefined, ms = WAIT): Promise<T> {
  return new Promise((resolve, reject) => {
    let unsubscribe = (): void => {};
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const wake = (): void => {
      const value = check();
      if (value === undefined) return;
      clearTimeout(timer);
      unsubscribe();
      resolve(value);
    };
    unsubscribe = subscribe(wake);
    wake();
  });
}

export class Client {
  readonly texts: string[] = [];
  private readonly wakers = new Set<() => void>();

  private constructor(readonly ws: Ws) {
    void this.read();
  }

  static async connect(port: number): Promise<Client> {
    return new Client(await connect(`ws://127.0.0.1:${port}/`));
  }

  /** Resolves with the first `count` texts once they are here. */
  received(count: number, ms = WAIT): Promise<string[]> {
    return waitFor(
      `${count} messages (got ${JSON.stringify(this.texts)})`,
      (wake) => {
        this.wakers.add(wake);
        return () => this.wakers.delete(wake);
      },
      () => (this.texts.length >= count ? this.texts.slice(0, count) : undefined),
      ms,
    );
  }

  /** Resolves once `text` has come. */
  saw(text: string, ms = WAIT): Promise<void> {
    return waitFor(
      `${JSON.stringify(text)} (got ${JSON.stringify(this.texts)})`,
      (wake) => {
        this.wakers.add(wake);
        return () => this.wakers.delete(wake);
      },
      () => (this.texts.includes(text) ? true : undefined),
      ms,
    ).then(() => undefined);
  }

  private async read(): Promise<void> {
    for await (const message of this.ws) {
      this.texts.push(message.type === 'text' ? message.data : message.data.toString('hex'));
      for (const wake of [...this.wakers]) wake();
    }
  }
}

export interface TestNode {
  readonly name: string;
  readonly broker: RedisBroker;
  readonly hub: Hub<Ws>;
  readonly port: number;
  /** Connects a client and returns it with its server-side connection, added to the hub. */
  client(...topics: string[]): Promise<{ client: Client; ws: Ws }>;
  /** Every value the hub's `type` events carried so far. */
  events<K extends keyof HubEvents<Ws>>(type: K): HubEvents<Ws>[K][];
  /** Resolves once the hub emitted a `type` event that `match` accepts, from the `from`th on (0: those before this call count). */
  event<K extends keyof HubEvents<Ws>>(type: K, match?: (event: HubEvents<Ws>[K]) => boolean, from?: number): Promise<HubEvents<Ws>[K]>;
  close(): Promise<void>;
}

export async function startNode(name: string, options: RedisBrokerOptions & { readonly hub?: ConstructorParameters<typeof Hub<Ws>>[0] }): Promise<TestNode> {
  const { hub: hubOptions, ...brokerOptions } = options;
  const broker = new RedisBroker(brokerOptions);
  await broker.ready();
  const hub = new Hub<Ws>({ ...hubOptions, broker });
  const accepted: Ws[] = [];
  const acceptWakers = new Set<() => void>();
  const wss = new WebSocketServer({
    handler(ws) {
      hub.add(ws);
      accepted.push(ws);
      for (const wake of [...acceptWakers]) wake();
    },
  });
  const { port } = await wss.listen(0, '127.0.0.1');
  const recorded = new Map<string, unknown[]>();
  const eventWakers = new Set<() => void>();
  for (const type of ['drop', 'evict', 'broker', 'unpublished', 'lost'] as const) {
    const list: unknown[] = [];
    recorded.set(type, list);
    hub.on(type, (event: unknown) => {
      list.push(event);
      for (const wake of [...eventWakers]) wake();
    });
  }
  const node: TestNode = {
    name,
    broker,
    hub,
    port,
    async client(...topics) {
      const before = accepted.length;
      const client = await Client.connect(port);
      const ws = await waitFor(
        'the server side of a connection',
        (wake) => {
          acceptWakers.add(wake);
          return () => acceptWakers.delete(wake);
        },
        () => accepted[before],
      );
      for (const topic of topics) hub.subscribe(ws, topic);
      // The hub subscribed its broker on the topic's first member; asking again resolves once the
      // channel is subscribed in Redis (subscribe() is idempotent), so other nodes' messages reach it.
      await Promise.all(topics.map((topic) => broker.subscribe(topic)));
      return { client, ws };
    },
    events(type) {
      return recorded.get(type) as never;
    },
    event(type, match = () => true, from = 0) {
      return waitFor(
        `a '${type}' event on ${name}`,
        (wake) => {
          eventWakers.add(wake);
          return () => eventWakers.delete(wake);
        },
        () => (recorded.get(type) as HubEvents<Ws>[typeof type][]).slice(from).find(match),
      );
    },
    async close() {
      await hub.close();
      await wss.close({ timeout: 1000 });
    },
  };
  return node;
}

/**
 * A third-party library written for the browser's WebSocket, given ours as its constructor:
 * graphql-ws's client (`createClient({ webSocketImpl: WebSocket })`), against a server on our
 * WebSocketServer speaking its graphql-transport-ws protocol (subprotocol negotiation, JSON text
 * messages, its 4xxx close codes). Nothing of the library is mocked.
 */

import { createClient } from 'graphql-ws/client';
import { afterEach, describe, expect, it } from 'vitest';
import { CloseEvent, WebSocket, type Ws } from '../../../src/index.js';
import { cleanup, deferred, defer, startServer } from '../helpers.js';

afterEach(cleanup);

const PROTOCOL = 'graphql-transport-ws';

/** The server side of graphql-transport-ws, just enough for these tests. */
async function graphqlServer(token: string) {
  const closes: Array<{ code: number; reason: string }> = [];
  return {
    closes,
    server: await startServer({
      selectProtocol: (offered) => (offered.includes(PROTOCOL) ? PROTOCOL : undefined),
      handler: async (ws: Ws) => {
        void ws.closed.then((result) => closes.push({ code: result.code, reason: result.reason }));
        for await (const message of ws) {
          const parsed = JSON.parse(String(message.data)) as { type: string; id?: string; payload?: { token?: string; query?: string } };
          if (parsed.type === 'connection_init') {
            if (parsed.payload?.token !== token) {
              await ws.close(4403, 'Forbidden');
              return;
            }
            await ws.send(JSON.stringify({ type: 'connection_ack' }));
          } else if (parsed.type === 'subscribe') {
            for (const n of [1, 2]) await ws.send(JSON.stringify({ id: parsed.id, type: 'next', payload: { data: { n, query: parsed.payload?.query } } }));
            await ws.send(JSON.stringify({ id: parsed.id, type: 'complete' }));
          } else if (parsed.type === 'ping') {
            await ws.send(JSON.stringify({ type: 'pong' }));
          }
        }
      },
    }),
  };
}

describe('graphql-ws client on our WebSocket', () => {
  it('negotiates its subprotocol, subscribes, receives every result, and closes with 1000 on dispose', async () => {
    const { server, closes } = await graphqlServer('t0k');
    const client = createClient({ url: server.url, webSocketImpl: WebSocket, connectionParams: { token: 't0k' }, retryAttempts: 0, lazy: true });
    defer(() => client.dispose());
    const results: unknown[] = [];
    for await (const result of client.iterate({ query: '{ n }' })) results.push(result);
    expect(results).toEqual([{ data: { n: 1, query: '{ n }' } }, { data: { n: 2, query: '{ n }' } }]);
    const serverSide = await server.connections.next();
    expect(serverSide.protocol).toBe(PROTOCOL);
    await client.dispose();
    await serverSide.closed;
    expect(closes).toEqual([{ code: 1000, reason: 'Normal Closure' }]);
  });

  it('a 4403 close from the server reaches the library as our CloseEvent with the code and reason', async () => {
    const { server } = await graphqlServer('right');
    const client = createClient({ url: server.url, webSocketImpl: WebSocket, connectionParams: { token: 'wrong' }, retryAttempts: 0 });
    defer(() => client.dispose());
    const failure = deferred<unknown>();
    client.subscribe({ query: '{ n }' }, { next: () => undefined, error: (error) => failure.resolve(error), complete: () => failure.resolve('completed') });
    const error = await failure.promise;
    expect(error).toBeInstanceOf(CloseEvent);
    expect([(error as CloseEvent).code, (error as CloseEvent).reason, (error as CloseEvent).wasClean]).toEqual([4403, 'Forbidden', true]);
  });
});

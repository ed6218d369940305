/**
 * ChatConnection, the chat's wrapper of the library's Ws for the hub: it counts every message
 * handed to the connection (stats' messages_sent, the metrics' bytes out) and forwards the hub's
 * write without a promise (Ws.sendNumbered, writtenBatches), so that the chat's deliveries take
 * the hub's numbered path like a bare Ws (issue 15: a promise, its reactions and a closure per
 * delivery cost CPU and p99 at the rates where every delivery is a write of its own).
 */

import { afterEach, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { WebSocketServer, type Ws } from 'rfc6455';
import { Hub } from 'rfc6455/hub';
import { ChatConnection } from '../src/connection.js';
import { HOST, Queue, cleanup, defer } from './helpers.js';

afterEach(cleanup);

async function connected(): Promise<{ ws: Ws; received: Queue<string>; client: WebSocket }> {
  const accepted = new Queue<Ws>();
  const server = new WebSocketServer({
    handler: async (ws: Ws) => {
      accepted.push(ws);
      await ws.closed;
    },
  });
  const { port } = await server.listen(0, HOST);
  defer(() => server.close({ timeout: 100 }));
  const client = new WebSocket(`ws://${HOST}:${port}/`);
  const received = new Queue<string>();
  client.on('message', (data) => received.push(String(data)));
  defer(() => client.terminate());
  return { ws: await accepted.next(), received, client };
}

it('the hub writes through sendNumbered, no promise per delivery; each message is counted once, with its bytes', async () => {
  const { ws, received, client } = await connected();
  const counted: number[] = [];
  const connection = new ChatConnection(ws, (bytes) => counted.push(bytes));
  const hub = new Hub<ChatConnection>();
  hub.add(connection);
  hub.subscribe(connection, 'room');
  const sendNumbered = vi.spyOn(ws, 'sendNumbered');
  const sendPrepared = vi.spyOn(ws, 'sendPrepared');
  const send = vi.spyOn(ws, 'send');

  expect(hub.publish('room', 'hello').queued).toBe(1);
  expect(hub.send(connection, 'é, mine')).toBe('queued');
  expect([await received.next(), await received.next()]).toEqual(['hello', 'é, mine']);
  expect(counted).toEqual([5, Buffer.byteLength('é, mine')]);
  expect(sendNumbered).toHaveBeenCalledTimes(2);
  expect([sendPrepared.mock.calls.length, send.mock.calls.length]).toEqual([0, 0]);
  // The batch the kernel took, as the hub reads it to tell a lost frame from a written one.
  await ws.drain();
  await ws.send('a later batch');
  expect(connection.writtenBatches).toBe(ws.writtenBatches);
  expect(connection.writtenBatches).toBeGreaterThanOrEqual(1);

  // A message the connection refuses (closing) is not counted.
  client.close(1000);
  await ws.closed;
  expect(connection.sendNumbered(null, Buffer.from('late'), true)).toBe(0);
  expect(counted).toHaveLength(2);
});

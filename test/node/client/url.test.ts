/**
 * The URLs connect() takes, checked the way the WebSocket standard's constructor checks them
 * (https://websockets.spec.whatwg.org/#dom-websocket-websocket): ws: and wss:, http: and https:
 * mapped to them, ws+unix: for a Unix socket; anything else, or a fragment, is WS_ERR_INVALID_URL
 * before any connection is attempted.
 */

import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectError, connect, type Ws } from '../../../src/index.js';
import { HOST, cleanup, defer, refusedPort, settle, startServer } from '../helpers.js';

afterEach(cleanup);

async function echo(ws: Ws): Promise<void> {
  for await (const message of ws) await ws.send(message.data);
}

describe('invalid URLs: WS_ERR_INVALID_URL, no connection attempted', () => {
  const cases: Array<[string, string]> = [
    ['ftp://files.example/', 'an ftp: scheme'],
    ['file:///etc/passwd', 'a file: scheme'],
    ['ws://127.0.0.1/#fragment', 'a fragment'],
    ['ws://127.0.0.1/#', 'an empty fragment'],
    ['not a url', 'not a URL'],
    ['ws://', 'no host'],
    ['ws+unix:', 'ws+unix: without a socket path'],
    ['ws://127.0.0.1:99999/', 'a port out of range'],
  ];
  for (const [url, what] of cases) {
    it(`${what}: ${JSON.stringify(url)}`, async () => {
      const outcome = await settle(connect(url));
      expect(outcome.ok).toBe(false);
      if (outcome.ok) return;
      expect(outcome.error).toBeInstanceOf(ConnectError);
      const error = outcome.error as ConnectError;
      expect(error.code).toBe('WS_ERR_INVALID_URL');
      // Before any phase ran.
      expect(error.phase).toBeUndefined();
      expect(error.timings).toEqual({ total: 0 });
    });
  }

  it('the error names what is wrong', async () => {
    const scheme = await settle(connect('ftp://files.example/'));
    expect(!scheme.ok && (scheme.error as Error).message).toContain('ftp:');
    const fragment = await settle(connect('ws://127.0.0.1/#x'));
    expect(!fragment.ok && (fragment.error as Error).message).toContain('fragment');
  });
});

describe('valid URLs', () => {
  it('http: means ws:, a URL object works, the path and query are sent percent-encoded as given', async () => {
    const requests: IncomingMessage[] = [];
    const server = await startServer({ handler: echo, allowRequest: (request: IncomingMessage) => (requests.push(request), true) });
    const first = await connect(`http://${HOST}:${server.port}/a%20b?q=%C3%A9&x`);
    defer(() => first.terminate());
    const second = await connect(new URL(`ws://${HOST}:${server.port}/caf\u00e9 bar`));
    defer(() => second.terminate());
    const third = await connect(`ws://${HOST}:${server.port}`);
    defer(() => third.terminate());
    expect(requests.map((request) => request.url)).toEqual(['/a%20b?q=%C3%A9&x', '/caf%C3%A9%20bar', '/']);
    await first.send('mapped');
    expect(await first.recv()).toEqual({ type: 'text', data: 'mapped' });
  });

  it('a refused connection to a valid URL is not an URL error (the check is not too strict)', async () => {
    const port = await refusedPort();
    const outcome = await settle(connect(`ws://${HOST}:${port}/path?query#`.slice(0, -1)));
    expect(!outcome.ok && (outcome.error as ConnectError).code).toBe('WS_ERR_CONNECT');
  });
});

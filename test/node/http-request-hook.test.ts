/**
 * The `onHttpRequest` option: plain HTTP requests on the server `listen()` starts go to it first;
 * false leaves them to the default 426, a throw is reported to onError and answered 500.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from '../../src/index.js';
import { HOST, cleanup, echoHandler, rawHttp, settle, startServer, wsConnect } from './helpers.js';

afterEach(cleanup);

function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: close\r\n\r\n`;
}

describe('onHttpRequest', () => {
  it('answers the requests it claims; the rest get 426; upgrades never reach it', async () => {
    const seen: string[] = [];
    const { port } = await startServer({
      handler: echoHandler,
      onHttpRequest(request: IncomingMessage, response: ServerResponse) {
        seen.push(`${request.method} ${request.url}`);
        if (request.url !== '/health') return false;
        response.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 });
        response.end('ok\n');
        return true;
      },
    });
    const health = await rawHttp(port, get('/health'));
    expect(health.statusLine).toBe('HTTP/1.1 200 OK');
    expect(health.body).toBe('ok\n');
    const other = await rawHttp(port, get('/other'));
    expect(other.statusLine).toBe('HTTP/1.1 426 Upgrade Required');
    expect(other.body).toBe('this is a WebSocket endpoint: connect with a WebSocket client\n');
    const client = await wsConnect(`ws://${HOST}:${port}/health`);
    client.ws.send('still a WebSocket server');
    expect((await client.messages.next()).data.toString()).toBe('still a WebSocket server');
    expect(seen).toEqual(['GET /health', 'GET /other']);
  });

  it('a hook that throws: 500 to the client, the error to onError, the server keeps serving', async () => {
    const errors: unknown[] = [];
    const failure = new Error('hook bug');
    const { port } = await startServer({
      handler: echoHandler,
      onError: (error) => errors.push(error),
      onHttpRequest() {
        throw failure;
      },
    });
    const response = await rawHttp(port, get('/'));
    expect(response.statusLine).toBe('HTTP/1.1 500 Internal Server Error');
    expect(response.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(response.headers['content-length']).toBe('22');
    expect(response.body).toBe('internal server error\n');
    expect(errors).toEqual([failure]);
    const client = await wsConnect(`ws://${HOST}:${port}/`);
    client.ws.send('after the 500');
    expect((await client.messages.next()).data.toString()).toBe('after the 500');
  });

  it('a hook that throws after it started answering: the response is cut off, the error reported', async () => {
    const errors: unknown[] = [];
    const { port } = await startServer({
      onError: (error) => errors.push(error),
      onHttpRequest(_request, response) {
        response.writeHead(200, { 'Content-Length': 100 });
        response.write('partial');
        throw new Error('late bug');
      },
    });
    // The connection is destroyed: the client gets nothing, or fewer bytes than Content-Length
    // (which of the two depends on whether Node had flushed the head), never a complete response.
    const outcome = await settle(rawHttp(port, get('/')));
    if (outcome.ok) expect(outcome.value.body.length).toBeLessThan(100);
    else expect(outcome.error).toEqual(new Error('the connection closed before a response'));
    expect(errors).toEqual([new Error('late bug')]);
  });

  it('must be a function', () => {
    expect(() => new WebSocketServer({ onHttpRequest: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }),
    );
  });
});

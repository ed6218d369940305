/**
 * The echo page's HTTP behaviour (src/echo/page.ts) on a real server that uses it as `npm start`
 * does (`onHttpRequest: serveEchoPage`): exact statuses, headers, CSP and bodies; HEAD; the Host
 * header copied into the CSP only when it is a plain host; 426 everywhere else, as without the page.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { ECHO_CSS, ECHO_HTML, ECHO_JS } from '../../src/echo/assets.js';
import { asksForTransport, contentSecurityPolicy, parseHostHeader, serveEchoPage } from '../../src/echo/page.js';
import { startEchoCli } from '../interop/echo-cli.js';
import { HOST, cleanup, defer, echoHandler, rawHttp, startServer, upgradeRequest, wsConnect } from '../node/helpers.js';

afterEach(cleanup);

async function startPageServer(): Promise<number> {
  const { port } = await startServer({ handler: echoHandler, onHttpRequest: serveEchoPage });
  return port;
}

/** A request with `Connection: close`, so that the server ends the connection after answering. */
function request(method: string, path: string, host: string | undefined, extra = ''): string {
  return `${method} ${path} HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}${extra}Connection: close\r\n\r\n`;
}

/** The response headers that do not depend on time or on the connection. */
function stable(headers: Readonly<Record<string, string>>): Record<string, string> {
  const { date: _date, connection: _connection, ...rest } = headers;
  return rest;
}

function pageHeaders(type: string, body: string, port: number): Record<string, string> {
  return {
    'content-type': type,
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-cache',
    'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws://127.0.0.1:${port}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  };
}

const UPGRADE_REQUIRED = {
  status: 426,
  statusLine: 'HTTP/1.1 426 Upgrade Required',
  headers: {
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'content-type': 'text/plain; charset=utf-8',
    'content-length': '62',
  },
  body: 'this is a WebSocket endpoint: connect with a WebSocket client\n',
};

describe('the echo page', () => {
  it.each([
    ['/', 'text/html; charset=utf-8', ECHO_HTML],
    ['/echo.js', 'text/javascript; charset=utf-8', ECHO_JS],
    ['/echo.css', 'text/css; charset=utf-8', ECHO_CSS],
    ['/?from=bookmark', 'text/html; charset=utf-8', ECHO_HTML],
  ])('GET %s: 200, exact headers and body', async (path, type, body) => {
    const port = await startPageServer();
    const response = await rawHttp(port, request('GET', path, `${HOST}:${port}`));
    expect(response.statusLine).toBe('HTTP/1.1 200 OK');
    expect(stable(response.headers)).toEqual(pageHeaders(type, body, port));
    expect(response.body).toBe(body);
  });

  it.each(['/', '/echo.js', '/echo.css'])('HEAD %s: the same headers, no body', async (path) => {
    const port = await startPageServer();
    const get = await rawHttp(port, request('GET', path, `${HOST}:${port}`));
    const head = await rawHttp(port, request('HEAD', path, `${HOST}:${port}`));
    expect(head.statusLine).toBe('HTTP/1.1 200 OK');
    expect(stable(head.headers)).toEqual(stable(get.headers));
    expect(head.body).toBe('');
  });

  it('the HTML loads only its own script and stylesheet, with no inline script, style or handler', () => {
    expect(ECHO_HTML).toContain('<script src="/echo.js" defer></script>');
    expect(ECHO_HTML).toContain('<link rel="stylesheet" href="/echo.css">');
    expect(ECHO_HTML.match(/<script\b[^>]*>/g)).toEqual(['<script src="/echo.js" defer>']);
    expect(ECHO_HTML).not.toMatch(/<style\b/i);
    expect(ECHO_HTML).not.toMatch(/\sstyle\s*=/i);
    expect(ECHO_HTML).not.toMatch(/\son[a-z]+\s*=/i);
    expect(ECHO_HTML).not.toMatch(/javascript:/i);
  });

  it('the script connects to the page’s own origin, asking what carries its WebSocket', () => {
    expect(ECHO_JS).toContain("const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/?transport';");
  });

  it('asksForTransport: the query the page sends, and nothing else', () => {
    expect(['/?transport', '/?a=1&transport', '/x?transport=1'].map(asksForTransport)).toEqual([true, true, true]);
    expect(['/', '/transport', '/?transports', undefined].map(asksForTransport)).toEqual([false, false, false, false]);
  });

  it.each([
    ['localhost:9001', "connect-src 'self' ws://localhost:9001;"],
    ['LocalHost:9001', "connect-src 'self' ws://localhost:9001;"],
    ['example.com', "connect-src 'self' ws://example.com;"],
    ['[::1]:9001', "connect-src 'self' ws://[::1]:9001;"],
    ['10.0.0.7:65535', "connect-src 'self' ws://10.0.0.7:65535;"],
  ])('Host %s goes into the CSP as %s', async (host, directive) => {
    const port = await startPageServer();
    const response = await rawHttp(port, request('GET', '/', host));
    expect(response.status).toBe(200);
    expect(response.headers['content-security-policy']).toContain(directive);
  });

  it.each([
    ['a CSP delimiter', 'evil.example; script-src *'],
    ['a comma', 'a.example,b.example'],
    ['a quote', "'self'"],
    ['a wildcard', '*'],
    ['a port over 65535', 'localhost:65536'],
    ['an empty port', 'localhost:'],
    ['userinfo', 'user@localhost'],
    ['a leading dot', '.localhost'],
  ])('a Host header with %s gets 400, not a CSP with it', async (_name, host) => {
    const port = await startPageServer();
    const response = await rawHttp(port, request('GET', '/', host));
    expect(response.statusLine).toBe('HTTP/1.1 400 Bad Request');
    expect(stable(response.headers)).toEqual({
      'content-type': 'text/plain; charset=utf-8',
      'content-length': '31',
      'x-content-type-options': 'nosniff',
    });
    expect(response.body).toBe('missing or invalid Host header\n');
  });

  it('an HTTP/1.0 request without Host gets 400', async () => {
    const port = await startPageServer();
    const response = await rawHttp(port, 'GET / HTTP/1.0\r\n\r\n');
    expect(response.status).toBe(400);
    expect(response.body).toBe('missing or invalid Host header\n');
  });

  it.each(['POST', 'PUT', 'DELETE'])('%s / gets 405 with Allow: GET, HEAD', async (method) => {
    const port = await startPageServer();
    const response = await rawHttp(port, request(method, '/', HOST, 'Content-Length: 0\r\n'));
    expect(response.statusLine).toBe('HTTP/1.1 405 Method Not Allowed');
    const body = `${method} is not allowed here: use GET or HEAD\n`;
    expect(stable(response.headers)).toEqual({
      allow: 'GET, HEAD',
      'content-type': 'text/plain; charset=utf-8',
      'content-length': String(body.length),
      'x-content-type-options': 'nosniff',
    });
    expect(response.body).toBe(body);
  });

  it.each(['/favicon.ico', '/index.html', '/echo.js/', '/ECHO.JS', '//', '/echo', '*'])(
    'GET %s still gets the server’s 426',
    async (path) => {
      const port = await startPageServer();
      const response = await rawHttp(port, request('GET', path, HOST));
      expect({ ...response, headers: stable(response.headers) }).toEqual(UPGRADE_REQUIRED);
      expect(response.headers['connection']).toBe('close');
    },
  );

  it('POST to another path still gets 426', async () => {
    const port = await startPageServer();
    const response = await rawHttp(port, request('POST', '/api', HOST, 'Content-Length: 0\r\n'));
    expect({ ...response, headers: stable(response.headers) }).toEqual(UPGRADE_REQUIRED);
  });

  it('GET / with Upgrade but no "Connection: Upgrade" is the server’s to answer (400), not the page', async () => {
    const port = await startPageServer();
    const response = await rawHttp(port, upgradeRequest({ headers: { Connection: 'keep-alive' } }));
    expect(response.status).toBe(400);
    expect(response.body).toBe('the Connection header must list "Upgrade"\n');
  });

  it('a WebSocket handshake on / still reaches the echo handler on the same port', async () => {
    const port = await startPageServer();
    const client = await wsConnect(`ws://${HOST}:${port}/`);
    client.ws.send('same port');
    expect((await client.messages.next()).data.toString('utf8')).toBe('same port');
  });
});

describe('npm start', () => {
  it('serves the page on GET /, 426 elsewhere, and WebSocket echo on the same port', async () => {
    const cli = await startEchoCli();
    defer(() => cli.stop());
    const page = await rawHttp(cli.port, request('GET', '/', `${HOST}:${cli.port}`));
    expect(page.statusLine).toBe('HTTP/1.1 200 OK');
    expect(stable(page.headers)).toEqual(pageHeaders('text/html; charset=utf-8', ECHO_HTML, cli.port));
    expect(page.body).toBe(ECHO_HTML);
    const other = await rawHttp(cli.port, request('GET', '/other', HOST));
    expect({ ...other, headers: stable(other.headers) }).toEqual(UPGRADE_REQUIRED);
    const client = await wsConnect(`ws://${HOST}:${cli.port}/`);
    client.ws.send('npm start');
    expect((await client.messages.next()).data.toString('utf8')).toBe('npm start');
    client.ws.close();
    expect(await cli.stop()).toBe(0);
    expect(cli.stderr()).toBe('');
  });
});

describe('parseHostHeader and contentSecurityPolicy', () => {
  it('accept DNS names, IPv4 and bracketed IPv6, with an optional port, in lower case', () => {
    expect(parseHostHeader('Example.COM:8080')).toBe('example.com:8080');
    expect(parseHostHeader('127.0.0.1')).toBe('127.0.0.1');
    expect(parseHostHeader('[2001:DB8::1]:443')).toBe('[2001:db8::1]:443');
    expect(parseHostHeader('a')).toBe('a');
  });

  it('refuse anything else', () => {
    for (const value of [undefined, '', ' localhost', 'localhost ', 'a b', 'a;b', 'a\tb', '[::1', 'x:1:2', `${'a'.repeat(262)}`, 'localhost:123456']) {
      expect(parseHostHeader(value), JSON.stringify(value)).toBeNull();
    }
  });

  it('builds the exact policy', () => {
    expect(contentSecurityPolicy('ws://localhost:9001')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws://localhost:9001; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
  });
});

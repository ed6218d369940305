/**
 * testkit's opening handshake (RFC 6455 4): the request, the accept value of 1.3's sample key, the
 * 101 check, and a raw server's side.
 */

import { describe, expect, it } from 'vitest';
import {
  acceptFor,
  acceptResponse,
  check101,
  makeKeyPool,
  newKey,
  parseHead,
  readRequest,
  readUpgradeResponse,
  statusOf,
  upgradeRequest,
} from '../../testkit/index.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

describe('the client side', () => {
  it('the accept value of RFC 6455 1.3, and fresh 16-byte keys', () => {
    expect(acceptFor(KEY)).toBe(ACCEPT);
    expect(Buffer.from(newKey(), 'base64')).toHaveLength(16);
    const [pooled] = makeKeyPool(1);
    expect(pooled!.accept).toBe(acceptFor(pooled!.key));
  });

  it('the request: defaults in order, then changes (replaced by exact name, undefined removes)', () => {
    expect(upgradeRequest({ host: 'h:1', key: KEY })).toBe(
      'GET / HTTP/1.1\r\nHost: h:1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(
      upgradeRequest({
        host: 'h',
        key: KEY,
        method: 'POST',
        path: '/x',
        headers: { Upgrade: undefined, 'Sec-WebSocket-Version': '8', 'Sec-WebSocket-Extensions': 'permessage-deflate' },
      }),
    ).toBe(
      'POST /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n`,
    );
  });

  it('readUpgradeResponse: null until the head is in, then the head, extensions and what follows', () => {
    const response = Buffer.from(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nsec-websocket-ACCEPT: ${ACCEPT}\r\n` +
        'Sec-WebSocket-Extensions: a\r\nSec-WebSocket-Extensions: b\r\n\r\n\x81\x00',
      'latin1',
    );
    expect(readUpgradeResponse(response.subarray(0, 30), ACCEPT)).toBeNull();
    const read = readUpgradeResponse(response, ACCEPT)!;
    expect(read.extensions).toBe('a, b');
    expect(read.rest).toEqual(Buffer.from([0x81, 0x00]));
    expect(read.head.startLine).toBe('HTTP/1.1 101 Switching Protocols');
  });

  it('throws on anything but a 101 with the right accept, and on a head over 16 KiB', () => {
    expect(() => readUpgradeResponse(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'), ACCEPT)).toThrow('handshake refused: HTTP/1.1 400 Bad Request');
    expect(() => check101(parseHead(`HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: ${KEY}`), ACCEPT)).toThrow('wrong Sec-WebSocket-Accept');
    expect(() => check101(parseHead('HTTP/1.1 101 OK'), ACCEPT)).toThrow('wrong Sec-WebSocket-Accept: undefined');
    expect(() => readUpgradeResponse(Buffer.alloc(16385, 0x61), ACCEPT)).toThrow('larger than 16 KiB');
  });

  it('statusOf reads HTTP/1.1 status lines only', () => {
    expect(statusOf('HTTP/1.1 101 Switching Protocols')).toBe(101);
    expect(statusOf('HTTP/1.0 200 OK')).toBe(0);
    expect(statusOf('garbage')).toBe(0);
  });
});

describe('the server side', () => {
  it('readRequest: method, path, lower-case headers, the head and what follows it', () => {
    const bytes = Buffer.from(`GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: ${KEY}\r\nX: 1\r\nx: 2\r\n\r\nrest`, 'latin1');
    expect(readRequest(bytes.subarray(0, 20))).toBeNull();
    const { request, rest } = readRequest(bytes)!;
    expect(request).toMatchObject({ method: 'GET', path: '/chat?x=1', startLine: 'GET /chat?x=1 HTTP/1.1' });
    expect(request.headers).toEqual({ host: 'h', 'sec-websocket-key': KEY, x: '1, 2' });
    expect(request.head).toBe(bytes.toString('latin1', 0, bytes.indexOf('\r\n\r\n')));
    expect(rest.toString()).toBe('rest');
  });

  it('acceptResponse: the 101 with the right accept, changed headers, extra lines', () => {
    expect(acceptResponse(KEY)).toBe(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`);
    expect(acceptResponse(KEY, { Connection: null, 'Sec-WebSocket-Protocol': 'p' }, ['X: 1', 'X: 2'])).toBe(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Protocol: p\r\nX: 1\r\nX: 2\r\n\r\n`,
    );
  });
});

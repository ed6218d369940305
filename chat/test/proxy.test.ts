/**
 * --trust-proxy (chat/src/proxy.ts): X-Forwarded-For is believed from the proxies named only, and
 * only its last entry (the one the nearest proxy appended): what a client writes itself is not.
 */

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddressOf } from '../src/proxy.js';

function request(peer: string, forwarded?: string | string[]): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } } as unknown as IncomingMessage;
}

describe('the client address behind a trusted proxy', () => {
  const address = clientAddressOf(['127.0.0.1', '::1']);

  it('from a trusted proxy: the last X-Forwarded-For entry (entries the client wrote before it are ignored)', () => {
    expect(address(request('127.0.0.1', '203.0.113.7'))).toBe('203.0.113.7');
    expect(address(request('127.0.0.1', '10.9.9.9, 203.0.113.7'))).toBe('203.0.113.7');
    expect(address(request('127.0.0.1', ['10.9.9.9', '2001:db8::1']))).toBe('2001:db8::1');
    expect(address(request('::ffff:127.0.0.1', '198.51.100.2'))).toBe('198.51.100.2');
    expect(address(request('::1', '::ffff:198.51.100.3'))).toBe('198.51.100.3');
  });

  it('from anyone else, or without a usable header: the socket’s address', () => {
    expect(address(request('192.0.2.5', '203.0.113.7'))).toBe('192.0.2.5');
    expect(address(request('127.0.0.1'))).toBe('127.0.0.1');
    expect(address(request('127.0.0.1', 'not an address'))).toBe('127.0.0.1');
    expect(clientAddressOf([])(request('127.0.0.1', '203.0.113.7'))).toBe('127.0.0.1');
  });
});

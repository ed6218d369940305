/**
 * The `origins` policy (issue 14), as pure functions: what a handshake's Origin is matched against.
 */

import { describe, expect, it } from 'vitest';
import { checkOrigin, originPolicy } from '../../src/protocol/origin.js';

describe('originPolicy + checkOrigin', () => {
  const byDefault = originPolicy(undefined);

  it('by default accepts a request without Origin (not a browser page)', () => {
    expect(checkOrigin(byDefault, undefined, 'example.com', false)).toBeNull();
  });

  it.each([
    ['http://example.com', 'example.com', false],
    ['http://example.com:80', 'example.com', false],
    ['https://example.com', 'example.com', true],
    ['https://example.com', 'example.com:443', true],
    ['http://127.0.0.1:9001', '127.0.0.1:9001', false],
    ['HTTP://LocalHost:9001', 'localhost:9001', false],
    ['http://[::1]:9001', '[::1]:9001', false],
  ])('by default accepts the same origin: Origin %s, Host %s (TLS %s)', (origin, host, secure) => {
    expect(checkOrigin(byDefault, origin, host, secure)).toBeNull();
  });

  it.each([
    ['http://localhost:9001', '127.0.0.1:9001', false, 'another host name for the same server'],
    ['http://127.0.0.1:9002', '127.0.0.1:9001', false, 'another port'],
    ['https://example.com', 'example.com', false, 'port 443 against Host on 80'],
    ['https://evil.example', 'example.com', true, 'another site'],
    ['null', 'example.com', false, 'an opaque origin (sandboxed page, file:)'],
    ['', 'example.com', false, 'an empty header'],
    ['http://example.com/path', 'example.com', false, 'not an origin'],
    ['http://example.com, http://evil.example', 'example.com', false, 'two Origin headers, joined'],
  ])('by default refuses Origin %s for Host %s (TLS %s): %s', (origin, host, secure) => {
    expect(checkOrigin(byDefault, origin, host, secure)).toMatch(/^origin .* is not allowed$/);
  });

  it("'*' accepts every origin, 'null' included", () => {
    const any = originPolicy('*');
    expect(checkOrigin(any, 'https://evil.example', 'example.com', true)).toBeNull();
    expect(checkOrigin(any, 'null', 'example.com', true)).toBeNull();
  });

  it('a list: exact origins (default port written or not) and host patterns; same-origin only if listed', () => {
    const policy = originPolicy(['https://app.example.com', 'http://localhost:3000', '*.example.org', 'localhost:*']);
    expect(checkOrigin(policy, 'https://app.example.com', 'api.example.com', true)).toBeNull();
    expect(checkOrigin(policy, 'https://app.example.com:443', 'api.example.com', true)).toBeNull();
    expect(checkOrigin(policy, 'http://app.example.com', 'api.example.com', true)).not.toBeNull();
    expect(checkOrigin(policy, 'https://a.example.org', 'api.example.com', true)).toBeNull();
    expect(checkOrigin(policy, 'https://a.b.example.org:8443', 'api.example.com', true)).not.toBeNull();
    expect(checkOrigin(policy, 'https://example.org', 'api.example.com', true)).not.toBeNull();
    expect(checkOrigin(policy, 'http://localhost:5173', 'api.example.com', true)).toBeNull();
    expect(checkOrigin(policy, 'http://localhost', 'api.example.com', true)).not.toBeNull();
    // The server's own origin is not implied by a list that does not name it.
    expect(checkOrigin(policy, 'https://api.example.com', 'api.example.com', true)).not.toBeNull();
    const withSelf = originPolicy(['same-origin', 'https://app.example.com']);
    expect(checkOrigin(withSelf, 'https://api.example.com', 'api.example.com', true)).toBeNull();
  });

  it('requireOrigin refuses a request without Origin', () => {
    expect(checkOrigin(originPolicy(undefined, true), undefined, 'example.com', false)).toBe('a request without Origin');
    expect(checkOrigin(originPolicy('*', true), undefined, 'example.com', false)).toBe('a request without Origin');
    expect(checkOrigin(originPolicy('*', true), 'http://x.example', 'example.com', false)).toBeNull();
  });

  it.each([
    ['a string other than *', 'same-origin'],
    ['an empty entry', ['']],
    ['* as an entry', ['*']],
    ['a malformed origin', ['https://']],
    ['a URL with a path', ['https://example.com/app']],
    ['a pattern with a path', ['example.com/app']],
    ['a non-string entry', [42]],
  ])('refuses %s with WS_ERR_INVALID_ARGUMENT', (_name, option) => {
    expect(() => originPolicy(option as never)).toThrow(expect.objectContaining({ code: 'WS_ERR_INVALID_ARGUMENT' }));
  });
});

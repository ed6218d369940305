import { describe, expect, it } from 'vitest';
import { computeAcceptKey } from '../../src/protocol/handshake.js';
import { createHash } from 'node:crypto';

describe('accept hash', () => {
  it('matches the RFC 6455 1.3 sample', () => {
    const sha1 = (s: string) => createHash('sha1').update(s).digest('base64');
    expect(computeAcceptKey('dGhlIHNhbXBsZSBub25jZQ==', sha1)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

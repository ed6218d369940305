/**
 * The engine's pure parts, without Redis: key names and slots, the wire encoding, the backoff.
 */

import { describe, expect, it } from 'vitest';
import { WebSocketError } from 'rfc6455';
import { reconnectDelay, resolveBackoff } from '../src/backoff.js';
import { checkPrefix, hashTag, keySlot, topicKeys } from '../src/keys.js';
import { decodeEntry, decodeMessage, encodeEntry, encodePublish } from '../src/wire.js';

describe('key names', () => {
  it('put every key and the channel of a topic under one hash tag', () => {
    expect(topicKeys('app', 'room:1')).toEqual({
      meta: 'app:{room:1}:meta',
      stream: 'app:{room:1}:stream',
      ids: 'app:{room:1}:ids',
      channel: 'app:{room:1}:messages',
    });
  });

  it('escape braces and percent signs so a topic never ends its tag early, and never share a tag', () => {
    expect(hashTag('a}b{c%d')).toBe('a%7Db%7Bc%25d');
    expect(hashTag('')).toBe('%');
    const topics = ['', '%', '%25', '{', '%7B', '}', '%7D', 'a', '{a}'];
    expect(new Set(topics.map(hashTag)).size).toBe(topics.length);
    for (const topic of topics) {
      const keys = topicKeys('p', topic);
      expect(new Set(Object.values(keys).map(keySlot)).size).toBe(1);
    }
  });

  it('compute the cluster spec slots (its examples, and a tag)', () => {
    // Redis' CLUSTER KEYSLOT answers (the cluster test compares more against a live cluster).
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}')); // an empty tag: the whole key
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
  });

  it('refuse a prefix with braces', () => {
    expect(() => checkPrefix('a{b')).toThrow(WebSocketError);
    expect(() => checkPrefix('')).toThrow(WebSocketError);
    expect(() => checkPrefix('ok:prefix')).not.toThrow();
  });
});

describe('the wire encoding', () => {
  const payload = Buffer.from([0x0a, 0x00, 0xff, 0x7b, 0x0a]); // newlines and braces inside the payload

  it('round-trips a publish and a stream entry, payload bytes untouched', () => {
    const message = { topic: 't', payload, opcode: 0x2 as const, key: 'k', except: 'conn-1' };
    const published = decodeMessage('t', encodePublish(message, 'node-1'));
    expect(published.node).toBe('node-1');
    expect(published.message).toEqual({ topic: 't', payload, opcode: 0x2, key: 'k', except: 'conn-1' });
    const entry = encodeEntry({ topic: 't', payload: Buffer.from('hé'), opcode: 0x1, key: undefined }, 'node-2');
    expect(entry.toString()).toBe('{"n":"node-2","o":1}\nhé');
    const positioned = decodeMessage('t', Buffer.concat([Buffer.from('abc123:42\n'), entry]));
    expect(positioned.message).toEqual({ topic: 't', payload: Buffer.from('hé'), opcode: 0x1, key: undefined, position: { epoch: 'abc123', offset: 42 } });
    expect(decodeEntry('t', { epoch: 'e', offset: 1 }, entry).message.position).toEqual({ epoch: 'e', offset: 1 });
  });

  it('rejects bytes it did not write', () => {
    for (const bytes of ['', 'no newline', '\nnot json\n', '\n{"n":"x","o":3}\n', '\n{"o":1}\n', 'bad position\n{"n":"x","o":1}\n', 'e:0\n{"n":"x","o":1}\n']) {
      expect(() => decodeMessage('t', Buffer.from(bytes))).toThrow();
    }
  });
});

describe('the reconnection backoff', () => {
  it('doubles from initialDelay up to maxDelay, each delay between half and all of its step', () => {
    const backoff = resolveBackoff({ initialDelay: 100, maxDelay: 1000 });
    const low = (attempt: number): number => reconnectDelay(backoff, attempt, () => 0);
    const high = (attempt: number): number => reconnectDelay(backoff, attempt, () => 1);
    expect([0, 1, 2, 3, 4, 50].map(low)).toEqual([50, 100, 200, 400, 500, 500]);
    expect([0, 1, 2, 3, 4, 50].map(high)).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('has defaults and bounds', () => {
    expect(resolveBackoff(undefined)).toEqual({ initialDelay: 50, maxDelay: 2000 });
    expect(() => resolveBackoff({ initialDelay: 0 })).toThrow(WebSocketError);
    expect(() => resolveBackoff({ initialDelay: 100, maxDelay: 50 })).toThrow(WebSocketError);
    expect(() => resolveBackoff({ maxDelay: 300_001 })).toThrow(WebSocketError);
  });
});

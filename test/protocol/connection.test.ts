/**
 * The core Connection in both roles, fed bytes, with exact output: pings and pongs, messages, close
 * frames received and sent, and sends refused once our close is out (RFC 6455 5.5, 5.5.1-5.5.3).
 * The closing handshake's lifecycle is in connection-closing.test.ts; the harness in
 * connection-harness.ts.
 */

import { describe, expect, it } from 'vitest';
import { Connection } from '../../src/protocol/connection.js';
import { ConnectionClosedError } from '../../src/protocol/errors.js';
import { prepareFrame } from '../../src/protocol/prepared.js';
import {
  NO_HANDSHAKE,
  PROCEED_TO_FAIL,
  ROLES,
  Recorder,
  badFrame,
  closeSpec,
  expectFailedStream,
  expectResult,
  open,
  type Setup,
} from './connection-harness.js';
import {
  RFC_MASK,
  concat,
  expectWebSocketError,
  frame,
  fromHex,
  hex,
  masked,
  patternBytes,
  thrown,
  utf8,
} from './helpers.js';

describe.each(ROLES)('Connection (%s): ping and pong (RFC 6455 5.5.2, 5.5.3)', (role) => {
  it('answers a ping with a pong carrying the same payload (exact bytes, RFC 6455 5.7)', () => {
    const t = open(role);
    t.connection.receive(
      role === 'server' ? fromHex('0x89 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58') : fromHex('890548656c6c6f'),
    );
    expect(t.calls()).toEqual(['output', 'ping 48656c6c6f']);
    // The client's pong is masked with key 0: the RFC 6455 5.7 masked pong.
    expect(t.sent()).toBe(role === 'server' ? '8a0548656c6c6f' : '8a8537fa213d7f9f4d5158');
    expect(t.connection.state).toBe('open');
  });

  it('answers an empty ping with an empty pong, and a 125-byte ping with the same 125 bytes', () => {
    const t = open(role);
    const payload = patternBytes(125, 1);
    t.connection.receive(concat(t.peer({ opcode: 9 }), t.peer({ opcode: 9, payload })));
    expect(t.calls()).toEqual(['output', 'ping ', 'output', `ping ${hex(payload)}`]);
    const expected = t.ours({ opcode: 10 }) + t.ours({ opcode: 10, payload });
    expect(t.sent()).toBe(expected);
    if (role === 'server') expect(expected).toBe('8a00' + '8a7d' + hex(payload));
  });

  it('answers a ping whose payload arrives in pieces', () => {
    const t = open(role);
    const bytes = t.peer({ opcode: 9, payload: utf8('Hello') });
    t.connection.receive(bytes.slice(0, 3));
    t.connection.receive(bytes.slice(3, 5));
    expect(t.sent()).toBe('');
    expect(t.calls()).toEqual([]);
    t.connection.receive(bytes.slice(5));
    expect(t.calls()).toEqual(['output', 'ping 48656c6c6f']);
    expect(t.sent()).toBe(t.ours({ opcode: 10, payload: utf8('Hello') }));
  });

  it('answers pings between the fragments of a message, before the message is delivered', () => {
    const t = open(role);
    t.connection.receive(
      concat(
        t.peer({ opcode: 1, fin: false, payload: utf8('Hel') }),
        t.peer({ opcode: 9, payload: utf8('x') }),
        t.peer({ opcode: 0, payload: utf8('lo') }),
      ),
    );
    expect(t.sent()).toBe(t.ours({ opcode: 10, payload: utf8('x') }));
    expect(t.calls()).toEqual(['output', 'ping 78', 'message text 48656c6c6f']);
  });

  it('reports a pong, solicited or not (5.5.3), and sends nothing in reply', () => {
    const t = open(role);
    t.connection.receive(
      role === 'server' ? fromHex('0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58') : fromHex('8a0548656c6c6f'),
    );
    expect(t.calls()).toEqual(['pong 48656c6c6f']);
    expect(t.sent()).toBe('');
  });

  it('answers pings until our close is sent, then only reports them (5.5.1: nothing after our close)', () => {
    const t = open(role);
    t.connection.receive(t.peer({ opcode: 9, payload: utf8('early') }));
    expect(t.calls()).toEqual(['output', 'ping 6561726c79']);
    expect(t.sent()).toBe(t.ours({ opcode: 10, payload: utf8('early') }));
    t.connection.close(1000);
    expect(t.calls()).toEqual(['output', 'timer on']);
    const close = t.ours(closeSpec(1000));
    expect(t.sent()).toBe(close);
    if (role === 'server') expect(close).toBe('880203e8');
    t.connection.receive(t.peer({ opcode: 9, payload: utf8('late') }));
    expect(t.sent()).toBe('');
    expect(t.calls()).toEqual(['ping 6c617465']);
  });

  it('sendPing writes a ping and rejects payloads over 125 bytes: WS_ERR_INVALID_ARGUMENT', () => {
    const t = open(role);
    t.connection.sendPing(utf8('hi'));
    t.connection.sendPing(patternBytes(125));
    const expected = t.ours({ opcode: 9, payload: utf8('hi') }) + t.ours({ opcode: 9, payload: patternBytes(125) });
    expect(t.sent()).toBe(expected);
    if (role === 'server') expect(expected).toBe('89026869' + '897d' + hex(patternBytes(125)));
    expectWebSocketError(() => t.connection.sendPing(patternBytes(126)), 'WS_ERR_INVALID_ARGUMENT');
    expect(t.sent()).toBe('');
    expect(t.keysDrawn()).toBe(role === 'client' ? 2 : 0);
    expect(t.calls()).toEqual([]);
    expect(t.connection.state).toBe('open');
  });
});

describe('Connection: messages', () => {
  it.each(ROLES)('%s: delivers text and binary messages', (role) => {
    const t = open(role);
    t.connection.receive(concat(t.peer({ opcode: 1, payload: utf8('Hello') }), t.peer({ opcode: 2, payload: Uint8Array.of(0, 255) })));
    expect(t.calls()).toEqual(['message text 48656c6c6f', 'message binary 00ff']);
  });

  it('delivers a compressed message (RSV1) as it came, when permessage-deflate was negotiated', () => {
    const t = open('server', { allowRsv1: true });
    t.connection.receive(masked({ opcode: 1, rsv1: true, payload: fromHex('f248cdc9c90700') }));
    expect(t.calls()).toEqual(['message text compressed f248cdc9c90700']);
  });

  it('sendText and sendBinary write unmasked frames in the server role', () => {
    const t = open('server');
    t.connection.sendText('Hello');
    t.connection.sendBinary(patternBytes(256, 1));
    expect(t.sent()).toBe('810548656c6c6f' + '827e0100' + hex(patternBytes(256, 1)));
    expect(t.calls()).toEqual([]);
  });

  it('the client role reads unmasked frames and masks what it sends with the injected key', () => {
    const t = open('client');
    t.connection.receive(fromHex('810548656c6c6f' + '890548656c6c6f'));
    expect(t.calls()).toEqual(['message text 48656c6c6f', 'output', 'ping 48656c6c6f']);
    // The pong answering the ping is masked with the first key: the RFC 6455 5.7 masked pong.
    const pong = t.ours({ opcode: 10, payload: utf8('Hello') });
    expect(pong).toBe('8a8537fa213d7f9f4d5158');
    expect(t.sent()).toBe(pong);
    t.connection.sendText('Hello');
    const text = t.ours({ opcode: 1, payload: utf8('Hello') });
    expect(text).toBe(hex(frame({ opcode: 1, payload: utf8('Hello'), mask: fromHex('01020304') })));
    expect(t.sent()).toBe(text);
    t.connection.sendBinary(patternBytes(256, 1));
    const binary = t.ours({ opcode: 2, payload: patternBytes(256, 1) });
    expect(binary).toBe(hex(frame({ opcode: 2, payload: patternBytes(256, 1), mask: fromHex('02030405') })));
    expect(t.sent()).toBe(binary);
    expect(t.keysDrawn()).toBe(3);
    // A masked frame from the server: WS_ERR_MASKED_FRAME, 1002; the close frame uses key 3.
    t.connection.receive(masked({ opcode: 1 }));
    expectFailedStream(t, 'WS_ERR_MASKED_FRAME', 1002, 'server frame is masked');
  });

  it('rejects an unmasked client frame in the server role: WS_ERR_UNMASKED_FRAME, 1002', () => {
    const t = open('server');
    t.connection.receive(fromHex('810548656c6c6f'));
    expectFailedStream(t, 'WS_ERR_UNMASKED_FRAME', 1002, 'client frame is not masked');
  });

  it('an application that does not read fails the connection as soon as the protocol error arrives', () => {
    const t = open('server', { proceedOnEnd: true });
    t.connection.receive(concat(masked({ opcode: 1, payload: utf8('ok') }), fromHex('810548656c6c6f')));
    expect(t.calls()).toEqual(['message text 6f6b', 'end', ...PROCEED_TO_FAIL]);
    // 0x881c: a close frame of 28 bytes, 03 ea = 1002, then the reason.
    expect(t.sent()).toBe('881c03ea' + hex(utf8('client frame is not masked')));
    expectResult(t, { code: 1002, reason: 'client frame is not masked', wasClean: false, errorCode: 'WS_ERR_UNMASKED_FRAME' });
  });

  it.each(ROLES)('%s: passes maxPayload (1009) and maxFragments (1008) on to the parser', (role) => {
    const a = open(role, { maxPayload: 4 });
    a.connection.receive(a.peer({ opcode: 2, declaredLength: 5 }));
    expectFailedStream(a, 'WS_ERR_MESSAGE_TOO_BIG', 1009, 'message exceeds maxPayload (4 bytes)');
    const b = open(role, { maxFragments: 1 });
    b.connection.receive(b.peer({ opcode: 2, fin: false }));
    expect(b.calls()).toEqual([]);
    b.connection.receive(b.peer({ opcode: 0 }));
    expectFailedStream(b, 'WS_ERR_TOO_MANY_FRAGMENTS', 1008, 'message split into more than 1 frames');
  });

  it.each(ROLES)('%s: sendTextBytes sends UTF-8 bytes as a text frame without decoding them', (role) => {
    const t = open(role);
    t.connection.sendTextBytes(utf8('Hello'));
    const expected = t.ours({ opcode: 1, payload: utf8('Hello') });
    expect(t.sent()).toBe(expected);
    expect(expected).toBe(role === 'server' ? '810548656c6c6f' : '818537fa213d7f9f4d5158');
  });
});

describe('Connection: sendPrepared', () => {
  it('the server role writes the prepared bytes as they are, each by reference (issue 15: never copied)', () => {
    const t = open('server');
    const prepared = prepareFrame(true, utf8('Hello'));
    const compressed = prepareFrame(true, fromHex('f248cdc9c90700'), 15);
    t.connection.sendPrepared(prepared.firstByte, prepared.payload, prepared.frame);
    t.connection.sendPrepared(compressed.firstByte, compressed.payload, compressed.frame);
    t.connection.sendPrepared(prepared.firstByte, prepared.payload, prepared.frame);
    const chunks = t.connection.writer.take();
    expect(chunks.map(hex)).toEqual(['810548656c6c6f', 'c107f248cdc9c90700', '810548656c6c6f']);
    expect(chunks).toEqual([prepared.frame, compressed.frame, prepared.frame]);
    expect(chunks[0]).toBe(prepared.frame);
    expect(chunks[1]).toBe(compressed.frame);
  });

  it('the server role writes a large prepared frame by reference', () => {
    const t = open('server');
    const prepared = prepareFrame(false, new Uint8Array(64 * 1024).fill(7));
    t.connection.sendPrepared(prepared.firstByte, prepared.payload, prepared.frame);
    const chunks = t.connection.writer.take();
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toBe(prepared.frame);
  });

  it('the client role frames the payload again with a fresh key (5.3), and leaves the prepared bytes alone', () => {
    const t = open('client');
    const prepared = prepareFrame(true, utf8('Hello'));
    const compressed = prepareFrame(false, fromHex('f248cdc9c90700'), 15);
    t.connection.sendPrepared(prepared.firstByte, prepared.payload, prepared.frame);
    t.connection.sendPrepared(compressed.firstByte, compressed.payload, compressed.frame);
    expect(t.sent()).toBe(
      '818537fa213d7f9f4d5158' + hex(frame({ opcode: 2, rsv1: true, payload: fromHex('f248cdc9c90700'), mask: fromHex('01020304') })),
    );
    expect(hex(prepared.frame)).toBe('810548656c6c6f');
    expect(hex(compressed.frame)).toBe('c207f248cdc9c90700');
  });
});

describe.each(ROLES)('Connection (%s): receiving a close (RFC 6455 5.5.1, 7.1.5, 7.1.6)', (role) => {
  it('reports the code and reason of a close frame and waits for the application', () => {
    const t = open(role);
    t.connection.receive(t.peer(closeSpec(1001, 'going away')));
    expect(t.calls()).toEqual(['end', 'timer on']);
    expect(t.connection.closeReceived).toEqual({ code: 1001, reason: 'going away' });
    expect(t.connection.closeSent).toBeNull();
    expect(t.connection.state).toBe('closing');
    expect(t.sent()).toBe('');
  });

  it('reports a codeless close as 1005', () => {
    const t = open(role);
    t.connection.receive(t.peer(closeSpec()));
    expect(t.calls()).toEqual(['end', 'timer on']);
    expect(t.connection.closeReceived).toEqual({ code: 1005, reason: '' });
  });

  it('parses nothing after the close frame: a data frame after it in the same chunk is not delivered', () => {
    const t = open(role);
    t.connection.receive(
      concat(
        t.peer({ opcode: 1, payload: utf8('before') }),
        t.peer(closeSpec(1000)),
        t.peer({ opcode: 1, payload: utf8('after') }),
        t.peer({ opcode: 9, payload: utf8('ping') }),
      ),
    );
    t.connection.receive(t.peer({ opcode: 1, payload: utf8('later') }));
    expect(t.calls()).toEqual([`message text ${hex(utf8('before'))}`, 'end', 'timer on']);
    expect(t.sent()).toBe(''); // the ping after the close was not answered
  });

  it('ignores garbage after the close frame, even bytes that would be a protocol error', () => {
    const t = open(role);
    t.connection.receive(concat(t.peer(closeSpec(1000)), fromHex('ff ff ff ff')));
    t.connection.receive(fromHex('8100'));
    expect(t.calls()).toEqual(['end', 'timer on']);
    t.connection.proceed();
    expect(t.sent()).toBe(t.ours(closeSpec(1000)));
    expect(t.connection.closeReceived).toEqual({ code: 1000, reason: '' });
  });

  it('proceed() echoes the code: 0x88 0x02 0x03 0xe8 for 1000', () => {
    const t = open(role);
    t.connection.receive(t.peer(closeSpec(1000, 'bye')));
    t.calls();
    t.connection.proceed();
    const echo = t.ours(closeSpec(1000));
    expect(t.sent()).toBe(echo);
    if (role === 'server') expect(echo).toBe('880203e8');
    else expect(echo).toBe('888237fa213d3412');
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: '' });
  });

  it('proceed() echoes other codes without the reason', () => {
    const t = open(role);
    t.connection.receive(t.peer(closeSpec(4000, 'custom')));
    t.connection.proceed();
    const echo = t.ours(closeSpec(4000));
    expect(t.sent()).toBe(echo);
    if (role === 'server') expect(echo).toBe('88020fa0');
  });

  it('proceed() sends an empty close for a codeless close', () => {
    const t = open(role);
    t.connection.receive(t.peer(closeSpec()));
    t.connection.proceed();
    const echo = t.ours(closeSpec());
    expect(t.sent()).toBe(echo);
    if (role === 'server') expect(echo).toBe('8800');
    expect(t.connection.closeSent).toEqual({ code: 1005, reason: '' });
  });

  it('proceed() does nothing before a close arrived, or after our close was sent', () => {
    const t = open(role);
    t.connection.proceed();
    expect(t.sent()).toBe('');
    expect(t.calls()).toEqual([]);
    t.connection.close(1001);
    t.connection.receive(t.peer(closeSpec(1000)));
    t.connection.proceed();
    const close = t.ours(closeSpec(1001));
    expect(t.sent()).toBe(close);
    if (role === 'server') expect(close).toBe('880203e9');
  });

  it('a close payload of 1 byte: WS_ERR_INVALID_CLOSE_PAYLOAD, 1002', () => {
    const t = open(role);
    t.connection.receive(t.peer({ opcode: 8, payload: fromHex('03') }));
    expectFailedStream(t, 'WS_ERR_INVALID_CLOSE_PAYLOAD', 1002, 'close frame payload of 1 byte: a code takes 2');
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])(
    'a close frame with code %i: WS_ERR_INVALID_CLOSE_CODE, 1002 (7.4)',
    (code) => {
      const t = open(role);
      t.connection.receive(t.peer(closeSpec(code)));
      expectFailedStream(t, 'WS_ERR_INVALID_CLOSE_CODE', 1002, `invalid close code ${code}`);
    },
  );

  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])(
    'a close frame with code %i is accepted and echoed',
    (code) => {
      const t = open(role, { proceedOnEnd: true });
      t.connection.receive(t.peer(closeSpec(code, 'r')));
      expect(t.connection.closeReceived).toEqual({ code, reason: 'r' });
      expect(t.sent()).toBe(t.ours(closeSpec(code)));
    },
  );

  it('a close reason that is not UTF-8: WS_ERR_INVALID_UTF8, 1007', () => {
    const t = open(role);
    t.connection.receive(t.peer({ opcode: 8, payload: fromHex('03e8 48 ed a0 80') }));
    expectFailedStream(t, 'WS_ERR_INVALID_UTF8', 1007, 'close reason is not valid UTF-8');
  });

  it('stops parsing after a protocol error', () => {
    const t = open(role);
    t.connection.receive(t.peer({ opcode: 8, payload: fromHex('03') }));
    t.connection.receive(t.peer({ opcode: 1, payload: utf8('x') }));
    t.connection.receive(t.peer({ opcode: 9, payload: utf8('x') }));
    expectFailedStream(t, 'WS_ERR_INVALID_CLOSE_PAYLOAD', 1002, 'close frame payload of 1 byte: a code takes 2');
  });
});

describe.each(ROLES)('Connection (%s): sending a close (RFC 6455 5.5.1, 7.1.2)', (role) => {
  it('close(code, reason) writes the code and reason and waits for the answer', () => {
    const t = open(role);
    t.connection.close(1000, 'bye');
    const close = t.ours(closeSpec(1000, 'bye'));
    expect(t.sent()).toBe(close);
    if (role === 'server') expect(close).toBe('880503e8627965');
    expect(t.calls()).toEqual(['output', 'timer on']);
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: 'bye' });
    expect(t.connection.state).toBe('closing');
    expect(t.connection.canSend).toBe(false);
  });

  it('close() with no code writes an empty close', () => {
    const t = open(role);
    t.connection.close();
    const close = t.ours(closeSpec());
    expect(t.sent()).toBe(close);
    if (role === 'server') expect(close).toBe('8800');
    expect(t.connection.closeSent).toEqual({ code: 1005, reason: '' });
  });

  it('sends the close only once', () => {
    const t = open(role);
    t.connection.close(1000);
    t.connection.close(1001, 'again');
    t.connection.close();
    expect(t.sent()).toBe(t.ours(closeSpec(1000)));
    expect(t.calls()).toEqual(['output', 'timer on']);
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: '' });
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000.5])(
    'close(%s) throws WS_ERR_INVALID_ARGUMENT and sends nothing',
    (code) => {
      const t = open(role);
      expectWebSocketError(() => t.connection.close(code), 'WS_ERR_INVALID_ARGUMENT');
      expect(t.sent()).toBe('');
      expect(t.calls()).toEqual([]);
      expect(t.connection.closeSent).toBeNull();
      expect(t.connection.state).toBe('open');
      // The connection can still close properly afterwards.
      t.connection.close(1000);
      expect(t.sent()).toBe(t.ours(closeSpec(1000)));
    },
  );

  it('close with a 124-byte reason throws WS_ERR_INVALID_ARGUMENT; 123 bytes is fine', () => {
    const t = open(role);
    expectWebSocketError(() => t.connection.close(1000, 'x'.repeat(124)), 'WS_ERR_INVALID_ARGUMENT');
    expect(t.sent()).toBe('');
    t.connection.close(1000, 'x'.repeat(123));
    const close = t.ours(closeSpec(1000, 'x'.repeat(123)));
    expect(t.sent()).toBe(close);
    if (role === 'server') expect(close).toBe('887d03e8' + '78'.repeat(123));
  });

  it('close with a reason and no code throws WS_ERR_INVALID_ARGUMENT', () => {
    const t = open(role);
    expectWebSocketError(() => t.connection.close(undefined, 'why'), 'WS_ERR_INVALID_ARGUMENT');
    expect(t.connection.closeSent).toBeNull();
  });

  it('masks the close frame in the client role (RFC 6455 5.3)', () => {
    const t = open(role);
    t.connection.close(1000);
    expect(t.sent()).toBe(role === 'client' ? hex(frame({ opcode: 8, payload: fromHex('03e8'), mask: RFC_MASK })) : '880203e8');
  });
});

describe.each(ROLES)('Connection (%s): sends refused after our close (RFC 6455 5.5.1)', (role) => {
  function expectRefused(t: Setup, closeCode: number, reason: string): void {
    const prepared = prepareFrame(true, utf8('p'));
    const keys = t.keysDrawn();
    expect(t.connection.canSend).toBe(false);
    for (const send of [
      () => t.connection.sendText('x'),
      () => t.connection.sendBinary(Uint8Array.of(1)),
      () => t.connection.sendTextBytes(utf8('x')),
      () => t.connection.sendPing(new Uint8Array(0)),
      () => t.connection.sendPrepared(prepared.firstByte, prepared.payload, prepared.frame),
      () => t.connection.reserveCompressed(),
    ]) {
      const error = thrown(send);
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect(error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode, reason });
    }
    expect(t.sent()).toBe('');
    expect(t.connection.writer.reserved).toBe(0);
    expect(t.keysDrawn()).toBe(keys);
  }

  it('after close(4001, "done"): ConnectionClosedError WS_ERR_CLOSED, 4001, "done"', () => {
    const t = open(role);
    t.connection.close(4001, 'done');
    t.sent();
    expectRefused(t, 4001, 'done');
  });

  it('after a codeless close: close code 1005', () => {
    const t = open(role);
    t.connection.close();
    t.sent();
    expectRefused(t, 1005, '');
  });

  it('after the echo of the peer\'s close: the peer\'s code and reason', () => {
    const t = open(role, { proceedOnEnd: true });
    t.connection.receive(t.peer(closeSpec(1001, 'going away')));
    t.sent();
    expectRefused(t, 1001, 'going away');
  });

  it('after fail(): the failure\'s code and reason', () => {
    const t = open(role);
    t.connection.fail(1008, 'too slow', 'WS_ERR_BUFFER_FULL');
    t.sent();
    expectRefused(t, 1008, 'too slow');
  });

  it('after a protocol error was acted on: its close code and message', () => {
    const t = open(role, { proceedOnEnd: true });
    const bad = badFrame(role);
    t.connection.receive(bad.bytes);
    t.sent();
    expectRefused(t, 1002, bad.message);
  });

  it('once the transport closed without a closing handshake: 1006', () => {
    const t = open(role);
    t.connection.transportClosed();
    expectRefused(t, 1006, NO_HANDSHAKE);
  });
});

describe('Connection: options beyond the role are optional (rfc6455/protocol needs no buffer management)', () => {
  const recorder = (): Recorder => new Recorder();

  it('a server with only its role frames "Hello" unmasked, from a slab of its own (RFC 6455 5.7)', () => {
    const connection = new Connection(recorder(), { role: 'server' });
    expect(connection.takeOutput()).toEqual([]);
    connection.sendText('Hello');
    expect(hex(concat(...connection.takeOutput()))).toBe('810548656c6c6f');
    expect(connection.pendingBytes).toBe(0);
  });

  it('a client with only its role masks every frame with a fresh key from crypto.getRandomValues (RFC 6455 5.3)', () => {
    const connection = new Connection(recorder(), { role: 'client' });
    connection.sendText('Hello');
    connection.sendText('Hello');
    const bytes = concat(...connection.takeOutput());
    expect(bytes.length).toBe(22);
    const keys = [bytes.subarray(2, 6), bytes.subarray(13, 17)];
    for (const [i, key] of keys.entries()) {
      const start = 11 * i;
      expect([bytes[start], bytes[start + 1]]).toEqual([0x81, 0x85]);
      const payload = bytes.subarray(start + 6, start + 11).map((byte, j) => byte ^ key[j % 4]!);
      expect(hex(payload)).toBe(hex(utf8('Hello')));
    }
    // Two draws of 32 random bits are equal once in 2^32 runs.
    expect(hex(keys[0]!)).not.toBe(hex(keys[1]!));
  });

  it('the default limits: a message over 64 MiB fails with 1009, one at 64 MiB is read (its header is enough to tell)', () => {
    const over = new Recorder();
    const connection = new Connection(over, { role: 'client' });
    over.connection = connection;
    over.proceedOnEnd = true;
    // A binary frame header declaring 2^26 + 1 bytes (64-bit length): refused before any payload.
    connection.receive(fromHex('827f0000000004000001'));
    expect(over.calls()).toContain('endTransport');
    expect(connection.closeSent).toEqual({ code: 1009, reason: 'message exceeds maxPayload (67108864 bytes)' });
    expect(connection.state).toBe('closing');
    const within = new Recorder();
    const reader = new Connection(within, { role: 'client' });
    reader.receive(fromHex('827f0000000004000000'));
    expect(within.calls()).toEqual([]);
    expect(reader.state).toBe('open');
  });
});

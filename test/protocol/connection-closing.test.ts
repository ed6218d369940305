/**
 * The closing handshake of the core Connection, every path with the exact bytes, handler calls,
 * state and CloseResult (RFC 6455 5.5.1, 7.1.1-7.1.7, 7.4): who closes first, who ends TCP, the
 * peer's EOF, failing (ours, the peer's protocol errors, inflation failures), terminate, the close
 * timer in each state, compressed frames with a close queued behind them, and wasClean.
 */

import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import {
  NO_HANDSHAKE,
  PROCEED_TO_FAIL,
  ROLES,
  badFrame,
  closeSpec,
  expectFailedStream,
  expectResult,
  INFLATE_ERROR,
  keyAt,
  open,
  type Setup,
} from './connection-harness.js';
import { concat, expectWebSocketError, frame, fromHex, hex, masked, utf8 } from './helpers.js';

describe('Connection: the peer starts the closing handshake (RFC 6455 5.5.1, 7.1.1-7.1.3)', () => {
  it('server, application not reading: onEnd, proceed at once, echo, and the server ends TCP (7.1.1)', () => {
    const t = open('server', { proceedOnEnd: true });
    t.connection.receive(masked(closeSpec(1000, 'bye')));
    expect(t.calls()).toEqual(['end', 'timer off', 'output', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('880203e8');
    expect(t.connection.state).toBe('closing');
    expect(t.connection.closeReceived).toEqual({ code: 1000, reason: 'bye' });
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: '' });
    expect(t.connection.canSend).toBe(false);
    expectResult(t, { code: 1000, reason: 'bye', wasClean: true });
  });

  it('client, application not reading: echo, then wait for the server to end TCP (7.1.1), and end it then', () => {
    const t = open('client', { proceedOnEnd: true });
    t.connection.receive(frame(closeSpec(1000, 'bye')));
    expect(t.calls()).toEqual(['end', 'timer off', 'output', 'timer on']);
    expect(t.sent()).toBe('888237fa213d3412');
    t.connection.receiveEnd();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    expectResult(t, { code: 1000, reason: 'bye', wasClean: true });
  });

  it('client: a server that does not end TCP within closeTimeout: the client ends it, then destroys it', () => {
    const t = open('client', { proceedOnEnd: true });
    t.connection.receive(frame(closeSpec(1001, 'going away')));
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expect(t.sent()).toBe(t.ours(closeSpec(1001)));
    expectResult(t, { code: 1001, reason: 'going away', wasClean: true });
  });

  it.each(ROLES)('%s, application reading with messages unread: replies go out before the echo, which waits for proceed()', (role) => {
    const t = open(role);
    t.connection.receive(
      concat(t.peer({ opcode: 1, payload: utf8('one') }), t.peer({ opcode: 2, payload: Uint8Array.of(0, 255) }), t.peer(closeSpec(1001, 'going away'))),
    );
    expect(t.calls()).toEqual(['message text 6f6e65', 'message binary 00ff', 'end', 'timer on']);
    expect(t.sent()).toBe('');
    expect(t.connection.canSend).toBe(true);
    // The application reads "one" and answers it: allowed until our close (5.5.1).
    t.connection.sendText('reply');
    t.connection.sendPing(utf8('p'));
    t.connection.proceed();
    expect(t.calls()).toEqual(role === 'server' ? ['timer off', 'output', 'endTransport', 'timer on'] : ['timer off', 'output', 'timer on']);
    expect(t.sent()).toBe(t.ours({ opcode: 1, payload: utf8('reply') }) + t.ours({ opcode: 9, payload: utf8('p') }) + t.ours(closeSpec(1001)));
    t.connection.proceed();
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    if (role === 'client') {
      t.connection.receiveEnd();
      expect(t.calls()).toEqual(['endTransport', 'timer on']);
    }
    expectResult(t, { code: 1001, reason: 'going away', wasClean: true });
  });

  it.each(ROLES)('%s, application reading but not catching up within closeTimeout: timeout() proceeds', (role) => {
    const t = open(role);
    t.connection.receive(concat(t.peer({ opcode: 1, payload: utf8('unread') }), t.peer(closeSpec(1000))));
    expect(t.calls()).toEqual([`message text ${hex(utf8('unread'))}`, 'end', 'timer on']);
    t.connection.timeout();
    expect(t.calls()).toEqual(role === 'server' ? ['timer off', 'output', 'endTransport', 'timer on'] : ['timer off', 'output', 'timer on']);
    expect(t.sent()).toBe(t.ours(closeSpec(1000)));
  });

  it('sending is still allowed after the peer\'s close arrived, until ours is sent', () => {
    const t = open('server');
    t.connection.receive(masked(closeSpec(1000)));
    t.connection.sendText('last words');
    t.connection.proceed();
    expect(t.sent()).toBe('810a' + hex(utf8('last words')) + '880203e8');
  });

  it('close(code, reason) instead of proceed() answers with that code and reason; the result keeps the peer\'s code (7.1.5)', () => {
    const t = open('server');
    t.connection.receive(masked(closeSpec(1001, 'going away')));
    t.calls();
    t.connection.close(4000, 'done');
    expect(t.calls()).toEqual(['output', 'timer off', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('88060fa0646f6e65');
    expect(t.connection.closeSent).toEqual({ code: 4000, reason: 'done' });
    t.connection.proceed();
    expect(t.calls()).toEqual([]);
    expectResult(t, { code: 1001, reason: 'going away', wasClean: true });
  });

  it('the transport closing while the peer\'s close waits for the application: not clean, the peer\'s code', () => {
    const t = open('server');
    t.connection.receive(masked(closeSpec(1000, 'bye')));
    t.calls();
    expectResult(t, { code: 1000, reason: 'bye', wasClean: false });
    t.connection.proceed();
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
  });
});

describe('Connection: we start the closing handshake (RFC 6455 7.1.1, 7.1.2)', () => {
  it('server: messages keep arriving until the answer; on the answer the server ends TCP first (7.1.1)', () => {
    const t = open('server');
    t.connection.close(1000);
    expect(t.calls()).toEqual(['output', 'timer on']);
    expect(t.sent()).toBe('880203e8');
    t.connection.receive(masked({ opcode: 1, payload: utf8('late') }));
    expect(t.calls()).toEqual(['message text 6c617465']);
    t.connection.receive(masked(closeSpec(1000)));
    expect(t.calls()).toEqual(['timer off', 'endTransport', 'timer on']);
    expect(t.sent()).toBe(''); // no second close frame
    expect(t.connection.closeReceived).toEqual({ code: 1000, reason: '' });
    expect(t.connection.state).toBe('closing');
    expectResult(t, { code: 1000, reason: '', wasClean: true });
  });

  it('client: on the answer it waits for the server to end TCP, and ends its side then (7.1.1)', () => {
    const t = open('client');
    t.connection.close(1000);
    expect(t.calls()).toEqual(['output', 'timer on']);
    expect(t.sent()).toBe('888237fa213d3412');
    t.connection.receive(frame(closeSpec(1000)));
    expect(t.calls()).toEqual(['timer off', 'timer on']);
    t.connection.receiveEnd();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1000, reason: '', wasClean: true });
  });

  it('client: a server that does not end TCP after answering: the client ends it after closeTimeout, then destroys it', () => {
    const t = open('client');
    t.connection.close(1000);
    t.connection.receive(frame(closeSpec(1000)));
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1000, reason: '', wasClean: true });
  });

  it.each(ROLES)('%s: closes crossing: no second close frame, the result carries the peer\'s code (7.1.5)', (role) => {
    const t = open(role);
    t.connection.close(1000, 'bye');
    t.calls();
    expect(t.sent()).toBe(t.ours(closeSpec(1000, 'bye')));
    t.connection.receive(t.peer(closeSpec(1001, 'away')));
    expect(t.calls()).toEqual(role === 'server' ? ['timer off', 'endTransport', 'timer on'] : ['timer off', 'timer on']);
    expect(t.sent()).toBe('');
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: 'bye' });
    expect(t.connection.closeReceived).toEqual({ code: 1001, reason: 'away' });
    if (role === 'client') {
      t.connection.receiveEnd();
      expect(t.calls()).toEqual(['endTransport', 'timer on']);
    }
    expectResult(t, { code: 1001, reason: 'away', wasClean: true });
  });

  it.each(ROLES)('%s: no answer within closeTimeout: destroyed, 1006, WS_ERR_CLOSE_TIMEOUT', (role) => {
    const t = open(role);
    t.connection.close(1000);
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1006, reason: 'closing handshake timed out', wasClean: false, errorCode: 'WS_ERR_CLOSE_TIMEOUT' });
  });

  it.each(ROLES)('%s: a protocol error after our close fails at once, with no second close frame and no onEnd', (role) => {
    const t = open(role);
    t.connection.close(1000);
    t.calls();
    t.sent();
    const bad = badFrame(role);
    t.connection.receive(bad.bytes);
    expect(t.calls()).toEqual(['timer off', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('');
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: '' });
    // Nothing more is parsed.
    t.connection.receive(t.peer(closeSpec(1000)));
    expect(t.calls()).toEqual([]);
    expect(t.connection.closeReceived).toBeNull();
    expectResult(t, { code: 1002, reason: bad.message, wasClean: false, errorCode: bad.code });
  });

  it.each(ROLES)('%s: close() while a protocol error waits for the application fails with the error\'s code instead', (role) => {
    const t = open(role);
    const bad = badFrame(role);
    t.connection.receive(bad.bytes);
    expect(t.calls()).toEqual(['end', 'timer on']);
    t.connection.close(1000, 'bye');
    expect(t.calls()).toEqual(PROCEED_TO_FAIL);
    expect(t.sent()).toBe(t.ours(closeSpec(1002, bad.message)));
    expect(t.connection.closeSent).toEqual({ code: 1002, reason: bad.message });
    expectResult(t, { code: 1002, reason: bad.message, wasClean: false, errorCode: bad.code });
  });
});

describe('Connection: the peer ends TCP (receiveEnd)', () => {
  it.each(ROLES)('%s: before any close frame: we end our side, nothing more is parsed, 1006 (7.1.5)', (role) => {
    const t = open(role);
    t.connection.receive(t.peer({ opcode: 1, fin: false, payload: utf8('half') }));
    t.connection.receiveEnd();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    expect(t.connection.state).toBe('closing');
    t.connection.receive(t.peer({ opcode: 0, payload: utf8(' a message') }));
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1006, reason: NO_HANDSHAKE, wasClean: false });
  });

  it.each(ROLES)('%s: once our side is ended, sends are refused and close() queues nothing', (role) => {
    const t = open(role);
    t.connection.receiveEnd();
    t.calls();
    expect(t.connection.canSend).toBe(false);
    expect(() => t.connection.sendText('late')).toThrow(expect.objectContaining({ code: 'WS_ERR_CLOSED', closeCode: 1006 }));
    t.connection.close(1000);
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1006, reason: NO_HANDSHAKE, wasClean: false });
  });

  it.each(ROLES)('%s: after our close, before the answer: 1006, not clean', (role) => {
    const t = open(role);
    t.connection.close(1000);
    t.calls();
    t.connection.receiveEnd();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    expectResult(t, { code: 1006, reason: NO_HANDSHAKE, wasClean: false });
  });

  it.each(ROLES)('%s: after the peer\'s close, while the application reads: our side stays open for its replies and the echo', (role) => {
    const t = open(role);
    t.connection.receive(concat(t.peer({ opcode: 1, payload: utf8('q') }), t.peer(closeSpec(1000))));
    expect(t.calls()).toEqual(['message text 71', 'end', 'timer on']);
    t.connection.receiveEnd();
    expect(t.calls()).toEqual([]);
    t.connection.sendText('a');
    t.connection.proceed();
    // The server is gone, so the client has nothing to wait for either (7.1.1).
    expect(t.calls()).toEqual(['timer off', 'output', 'endTransport', 'timer on']);
    expect(t.sent()).toBe(t.ours({ opcode: 1, payload: utf8('a') }) + t.ours(closeSpec(1000)));
    expectResult(t, { code: 1000, reason: '', wasClean: true });
  });

  it.each(ROLES)('%s: after a protocol error that waits for the application: it still fails with its close frame', (role) => {
    const t = open(role);
    const bad = badFrame(role);
    t.connection.receive(bad.bytes);
    t.connection.receiveEnd();
    expectFailedStream(t, bad.code, 1002, bad.message);
  });

  it('server: after the closing handshake: the close timer still bounds the wait for the transport', () => {
    const t = open('server', { proceedOnEnd: true });
    t.connection.receive(masked(closeSpec(1000)));
    expect(t.calls()).toEqual(['end', 'timer off', 'output', 'endTransport', 'timer on']);
    t.connection.receiveEnd();
    expect(t.calls()).toEqual(['timer on']);
    expectResult(t, { code: 1000, reason: '', wasClean: true });
  });
});

describe('Connection: fail() (RFC 6455 7.1.7)', () => {
  it.each(ROLES)('%s: a close frame with the code, parsing stops, TCP is ended; the result carries the error code', (role) => {
    const t = open(role);
    t.connection.fail(1008, 'too slow', 'WS_ERR_BUFFER_FULL');
    expect(t.calls()).toEqual(['timer off', 'output', 'endTransport', 'timer on']);
    const close = t.ours(closeSpec(1008, 'too slow'));
    expect(t.sent()).toBe(close);
    if (role === 'server') expect(close).toBe('880a03f0746f6f20736c6f77');
    expect(t.connection.state).toBe('closing');
    expect(t.connection.canSend).toBe(false);
    expect(t.connection.closeSent).toEqual({ code: 1008, reason: 'too slow' });
    t.connection.receive(t.peer({ opcode: 9, payload: utf8('x') }));
    t.connection.receive(t.peer(closeSpec(1000)));
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expect(t.connection.closeReceived).toBeNull();
    expectResult(t, { code: 1008, reason: 'too slow', wasClean: false, errorCode: 'WS_ERR_BUFFER_FULL' });
  });

  it('cuts the reason to 123 bytes of whole UTF-8 characters (5.5), for 3- and 4-byte characters', () => {
    const cases: [string, string][] = [
      ['€'.repeat(50), '887d03f3' + 'e282ac'.repeat(41)],
      ['x'.repeat(122) + '€', '887c03f3' + '78'.repeat(122)],
      ['a' + '😀'.repeat(40), '887b03f3' + '61' + 'f09f9880'.repeat(30)],
      ['y'.repeat(123), '887d03f3' + '79'.repeat(123)],
    ];
    for (const [reason, bytes] of cases) {
      const t = open('server');
      t.connection.fail(1011, reason, 'WS_ERR_HANDLER_FAILED');
      expect(t.sent()).toBe(bytes);
      const sentReason = new TextDecoder().decode(fromHex(bytes).subarray(4));
      expect(reason.startsWith(sentReason)).toBe(true);
      // closeSent says what went out; the result keeps the whole explanation.
      expect(t.connection.closeSent).toEqual({ code: 1011, reason: sentReason });
      t.calls();
      expectResult(t, { code: 1011, reason, wasClean: false, errorCode: 'WS_ERR_HANDLER_FAILED' });
    }
  });

  it('a second fail(), and fail() after the transport closed, do nothing', () => {
    const t = open('server');
    t.connection.fail(1011, 'first', 'WS_ERR_HANDLER_FAILED');
    t.calls();
    t.sent();
    t.connection.fail(1008, 'second', 'WS_ERR_BUFFER_FULL');
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1011, reason: 'first', wasClean: false, errorCode: 'WS_ERR_HANDLER_FAILED' });
    t.connection.fail(1008, 'third');
    expect(t.calls()).toEqual([]);
    expect(t.connection.closeResult).toStrictEqual({ code: 1011, reason: 'first', wasClean: false, errorCode: 'WS_ERR_HANDLER_FAILED' });
  });

  it.each(ROLES)('%s: after our close (no answer yet): no second close frame, TCP ended, our error code', (role) => {
    const t = open(role);
    t.connection.close(1000);
    t.calls();
    t.sent();
    t.connection.fail(1011, 'handler failed', 'WS_ERR_HANDLER_FAILED');
    expect(t.calls()).toEqual(['timer off', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('');
    expect(t.connection.closeSent).toEqual({ code: 1000, reason: '' });
    expectResult(t, { code: 1011, reason: 'handler failed', wasClean: false, errorCode: 'WS_ERR_HANDLER_FAILED' });
  });

  it('while the peer\'s close waits for the application: our failure close replaces the echo', () => {
    const t = open('server');
    t.connection.receive(masked(closeSpec(1000, 'bye')));
    t.calls();
    t.connection.fail(1011, 'handler failed', 'WS_ERR_HANDLER_FAILED');
    expect(t.calls()).toEqual(['timer off', 'output', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('881003f3' + hex(utf8('handler failed')));
    t.connection.proceed();
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    // Close frames went both ways before TCP ended: clean by RFC 6455 7.1.4, though we failed it.
    expectResult(t, { code: 1011, reason: 'handler failed', wasClean: true, errorCode: 'WS_ERR_HANDLER_FAILED' });
  });

  it('after the server ended TCP: the close timer stays on, so a peer that never ends its side is still cut off', () => {
    const t = open('server', { proceedOnEnd: true });
    t.connection.receive(masked(closeSpec(1000)));
    expect(t.calls()).toEqual(['end', 'timer off', 'output', 'endTransport', 'timer on']);
    t.sent();
    t.connection.fail(1011, 'handler failed', 'WS_ERR_HANDLER_FAILED');
    expect(t.calls()).toEqual(['timer off', 'timer on']);
    expect(t.sent()).toBe('');
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
  });

  it('after the peer ended TCP: the close frame goes out and the close timer stays on', () => {
    const t = open('server');
    t.connection.receiveEnd();
    expect(t.calls()).toEqual(['endTransport', 'timer on']);
    t.connection.fail(1011, 'handler failed', 'WS_ERR_HANDLER_FAILED');
    expect(t.calls()).toEqual(['timer off', 'output', 'timer on']);
    expect(t.sent()).toBe('881003f3' + hex(utf8('handler failed')));
  });

  it('a code that may not be sent throws WS_ERR_INVALID_ARGUMENT before anything changes', () => {
    const t = open('server');
    expectWebSocketError(() => t.connection.fail(1006, 'nope'), 'WS_ERR_INVALID_ARGUMENT');
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expect(t.connection.state).toBe('open');
    expect(t.connection.canSend).toBe(true);
    t.connection.receive(masked({ opcode: 1, payload: utf8('still open') }));
    expect(t.calls()).toEqual([`message text ${hex(utf8('still open'))}`]);
  });

  it('without an error code, the result has none', () => {
    const t = open('server');
    t.connection.fail(1001, 'server shutting down');
    t.calls();
    expect(t.sent()).toBe('881603e9' + hex(utf8('server shutting down')));
    expectResult(t, { code: 1001, reason: 'server shutting down', wasClean: false });
  });
});

describe('Connection: failReceived() (a message that failed to inflate, RFC 7692 + RFC 6455 7.1.7)', () => {
  const compressed = (t: Setup) => t.peer({ opcode: 1, rsv1: true, payload: fromHex('f248cdc9c90700') });

  it.each(ROLES)('%s: nothing pending: ends the stream, stops parsing, and fails with 1007 once the application proceeds', (role) => {
    const t = open(role, { allowRsv1: true });
    t.connection.receive(compressed(t));
    expect(t.calls()).toEqual(['message text compressed f248cdc9c90700']);
    t.connection.failReceived(INFLATE_ERROR());
    t.connection.receive(t.peer({ opcode: 1, payload: utf8('after') }));
    expectFailedStream(t, 'WS_ERR_INVALID_COMPRESSED_DATA', 1007, 'invalid compressed data');
  });

  it.each(ROLES)('%s: replaces the peer\'s close that waits behind the message: a 1007 close goes out, not the echo', (role) => {
    const t = open(role, { allowRsv1: true });
    t.connection.receive(concat(compressed(t), t.peer(closeSpec(1000))));
    expect(t.calls()).toEqual(['message text compressed f248cdc9c90700', 'end', 'timer on']);
    t.connection.failReceived(INFLATE_ERROR());
    expect(t.calls()).toEqual([]); // the stream's end was reported already
    expect(t.sent()).toBe('');
    t.connection.proceed();
    expect(t.calls()).toEqual(PROCEED_TO_FAIL);
    expect(t.sent()).toBe(t.ours(closeSpec(1007, 'invalid compressed data')));
    expect(t.connection.closeReceived).toEqual({ code: 1000, reason: '' });
    // Close frames went both ways (7.1.4); the code is ours, the one we failed it with.
    expectResult(t, { code: 1007, reason: 'invalid compressed data', wasClean: true, errorCode: 'WS_ERR_INVALID_COMPRESSED_DATA' });
  });

  it.each(ROLES)('%s: replaces a protocol error that came after the message, without a second onEnd', (role) => {
    const t = open(role, { allowRsv1: true });
    t.connection.receive(concat(compressed(t), badFrame(role).bytes));
    expect(t.calls()).toEqual(['message text compressed f248cdc9c90700', 'end', 'timer on']);
    t.connection.failReceived(INFLATE_ERROR());
    expect(t.calls()).toEqual([]);
    t.connection.proceed();
    expect(t.calls()).toEqual(PROCEED_TO_FAIL);
    expect(t.sent()).toBe(t.ours(closeSpec(1007, 'invalid compressed data')));
    expectResult(t, { code: 1007, reason: 'invalid compressed data', wasClean: false, errorCode: 'WS_ERR_INVALID_COMPRESSED_DATA' });
  });

  it.each(ROLES)('%s: after our close: fails at once, no second close frame', (role) => {
    const t = open(role, { allowRsv1: true });
    t.connection.close(1000);
    t.connection.receive(compressed(t));
    expect(t.calls()).toEqual(['output', 'timer on', 'message text compressed f248cdc9c90700']);
    t.sent();
    t.connection.failReceived(new ProtocolError('WS_ERR_MESSAGE_TOO_BIG', 1009, 'message exceeds maxPayload (10 bytes)'));
    expect(t.calls()).toEqual(['timer off', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1009, reason: 'message exceeds maxPayload (10 bytes)', wasClean: false, errorCode: 'WS_ERR_MESSAGE_TOO_BIG' });
  });

  it('after fail() or once closed: ignored', () => {
    const t = open('server', { allowRsv1: true });
    t.connection.fail(1008, 'too slow', 'WS_ERR_BUFFER_FULL');
    t.calls();
    t.sent();
    t.connection.failReceived(INFLATE_ERROR());
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1008, reason: 'too slow', wasClean: false, errorCode: 'WS_ERR_BUFFER_FULL' });
    t.connection.failReceived(INFLATE_ERROR());
    expect(t.calls()).toEqual([]);
  });
});

describe('Connection: terminate()', () => {
  it.each(ROLES)('%s: destroys the transport at once, no close frame: 1006 with the reason and error code', (role) => {
    const t = open(role);
    t.connection.sendText('queued');
    t.connection.terminate('ping timeout: no answer within 100 ms', 'WS_ERR_PING_TIMEOUT');
    expect(t.calls()).toEqual(['destroyTransport']);
    expect(t.connection.closeSent).toBeNull();
    expectResult(t, { code: 1006, reason: 'ping timeout: no answer within 100 ms', wasClean: false, errorCode: 'WS_ERR_PING_TIMEOUT' });
  });

  it.each(ROLES)('%s: from onMessage: the rest of the chunk is not parsed, nothing is answered', (role) => {
    const t = open(role);
    const onMessage = t.handler.onMessage.bind(t.handler);
    t.handler.onMessage = (payload, isText, compressed) => {
      onMessage(payload, isText, compressed);
      t.connection.terminate('terminated');
    };
    t.connection.receive(
      concat(t.peer({ opcode: 1, payload: utf8('a') }), t.peer({ opcode: 1, payload: utf8('b') }), t.peer({ opcode: 9 }), t.peer(closeSpec(1000))),
    );
    expect(t.calls()).toEqual(['message text 61', 'destroyTransport']);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1006, reason: 'terminated', wasClean: false });
  });

  it('without an error code the result has none', () => {
    const t = open('server');
    t.connection.terminate('terminated');
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1006, reason: 'terminated', wasClean: false });
  });

  it('while the peer\'s close waits: the peer\'s code is kept, not clean (ours never went), and proceed() does nothing', () => {
    const t = open('server');
    t.connection.receive(masked(closeSpec(1000, 'bye')));
    t.calls();
    t.connection.terminate('terminated');
    expect(t.calls()).toEqual(['destroyTransport']);
    t.connection.proceed();
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expectResult(t, { code: 1000, reason: 'bye', wasClean: false });
  });

  it('after the closing handshake: still clean, with the peer\'s code (7.1.4)', () => {
    const t = open('client');
    t.connection.close(1000);
    t.connection.receive(frame(closeSpec(1001, 'away')));
    t.calls();
    t.connection.terminate('terminated');
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1001, reason: 'away', wasClean: true });
  });

  it('after fail(): the failure explains more than "terminated"', () => {
    const t = open('server');
    t.connection.fail(1008, 'too slow', 'WS_ERR_BUFFER_FULL');
    t.calls();
    t.connection.terminate('terminated', 'WS_ERR_PING_TIMEOUT');
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1008, reason: 'too slow', wasClean: false, errorCode: 'WS_ERR_BUFFER_FULL' });
  });

  it('once closed: nothing', () => {
    const t = open('server');
    t.connection.transportClosed();
    t.calls();
    t.connection.terminate('terminated');
    expect(t.calls()).toEqual([]);
  });
});

describe('Connection: timeout() in each state', () => {
  it('open (no timer should run then): destroys the transport, 1006', () => {
    const t = open('server');
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1006, reason: NO_HANDSHAKE, wasClean: false });
  });

  it('waiting for the application after the peer\'s close: proceeds (echo)', () => {
    const t = open('server');
    t.connection.receive(masked(closeSpec(1000)));
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['timer off', 'output', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('880203e8');
  });

  it.each(ROLES)('%s: waiting for the application after a protocol error: fails', (role) => {
    const t = open(role);
    const bad = badFrame(role);
    t.connection.receive(bad.bytes);
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(PROCEED_TO_FAIL);
    expect(t.sent()).toBe(t.ours(closeSpec(1002, bad.message)));
  });

  it('waiting for the answer to our close: destroyed, WS_ERR_CLOSE_TIMEOUT (see "we start the closing handshake")', () => {
    const t = open('server');
    t.connection.close(4000, 'bye');
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1006, reason: 'closing handshake timed out', wasClean: false, errorCode: 'WS_ERR_CLOSE_TIMEOUT' });
  });

  it('server, TCP ended after the handshake, the peer does not end its side: destroyed, still clean', () => {
    const t = open('server');
    t.connection.close(1000);
    t.connection.receive(masked(closeSpec(1000)));
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1000, reason: '', wasClean: true });
  });

  it('after fail(): destroyed; the result keeps the failure, not a close timeout', () => {
    const t = open('client');
    t.connection.fail(1011, 'handler failed', 'WS_ERR_HANDLER_FAILED');
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1011, reason: 'handler failed', wasClean: false, errorCode: 'WS_ERR_HANDLER_FAILED' });
  });

  it('after the peer ended TCP without a close frame: destroyed, 1006', () => {
    const t = open('client');
    t.connection.receiveEnd();
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual(['destroyTransport']);
    expectResult(t, { code: 1006, reason: NO_HANDSHAKE, wasClean: false });
  });

  it('closed: nothing', () => {
    const t = open('server');
    t.connection.close(1000);
    t.connection.transportClosed();
    t.calls();
    t.connection.timeout();
    expect(t.calls()).toEqual([]);
  });
});

describe('Connection: compressed messages and the close queued behind them (RFC 7692 7.2.1)', () => {
  it('server: the close frame comes out only after the compressed frame before it is filled', () => {
    const t = open('server');
    t.connection.sendText('a');
    const reserved = t.connection.reserveCompressed();
    t.connection.sendText('b');
    t.connection.close(1000);
    expect(t.calls()).toEqual(['output', 'timer on']);
    expect(t.sent()).toBe('810161');
    expect(t.connection.writer.reserved).toBe(1);
    // Filling is allowed after our close: the message was sent before it.
    expect(t.connection.completeCompressed(reserved, fromHex('f248cdc9c90700'), true)).toBe(true);
    expect(t.sent()).toBe('c107f248cdc9c90700' + '810162' + '880203e8');
    expect(t.connection.writer.idle).toBe(true);
  });

  it('client: the same order; keys are drawn as frames are written, the filled frame\'s last', () => {
    const t = open('client');
    t.connection.sendText('a'); // key 0
    const reserved = t.connection.reserveCompressed();
    t.connection.sendText('b'); // key 1
    t.connection.close(1000); // key 2
    expect(t.sent()).toBe(hex(frame({ opcode: 1, payload: utf8('a'), mask: keyAt(0) })));
    expect(t.connection.completeCompressed(reserved, fromHex('f248cdc9c90700'), false)).toBe(true); // key 3
    expect(t.sent()).toBe(
      hex(
        concat(
          frame({ opcode: 2, rsv1: true, payload: fromHex('f248cdc9c90700'), mask: keyAt(3) }),
          frame({ opcode: 1, payload: utf8('b'), mask: keyAt(1) }),
          frame({ ...closeSpec(1000), mask: keyAt(2) }),
        ),
      ),
    );
  });

  it('server: the peer\'s answer arrives while compressing: TCP end is requested, the bytes still wait in order', () => {
    const t = open('server');
    const reserved = t.connection.reserveCompressed();
    t.connection.close(1000);
    t.connection.receive(masked(closeSpec(1000)));
    expect(t.calls()).toEqual(['output', 'timer on', 'timer off', 'endTransport', 'timer on']);
    expect(t.sent()).toBe('');
    expect(t.connection.writer.idle).toBe(false);
    expect(t.connection.completeCompressed(reserved, fromHex('0300'), true)).toBe(true);
    expect(t.sent()).toBe('c1020300' + '880203e8');
  });

  it('pongs and echoes queue behind a message still compressing too', () => {
    const t = open('server');
    const reserved = t.connection.reserveCompressed();
    t.connection.receive(concat(masked({ opcode: 9, payload: utf8('p') }), masked(closeSpec(1000))));
    t.connection.proceed();
    expect(t.sent()).toBe('');
    t.connection.completeCompressed(reserved, fromHex('0300'), false);
    expect(t.sent()).toBe('c2020300' + '8a0170' + '880203e8');
  });

  it.each(ROLES)('%s: fail() drops the reserved frame and what follows it; the close frame goes out at once', (role) => {
    const t = open(role);
    t.connection.sendText('a');
    const reserved = t.connection.reserveCompressed();
    t.connection.sendText('b');
    t.connection.fail(1008, 'too slow', 'WS_ERR_BUFFER_FULL');
    expect(t.calls()).toEqual(['timer off', 'output', 'endTransport', 'timer on']);
    const a = t.ours({ opcode: 1, payload: utf8('a') });
    t.skipKey(); // "b": its key was drawn, the frame is gone
    expect(t.sent()).toBe(a + t.ours(closeSpec(1008, 'too slow')));
    expect(t.connection.writer.takeDropped()).toBe(true);
    expect(t.connection.completeCompressed(reserved, fromHex('0300'), true)).toBe(false);
    expect(t.sent()).toBe('');
    expect(t.connection.writer.idle).toBe(true);
  });

  it.each(ROLES)('%s: fail() while our close waits behind a reserved frame: the close is dropped with it, so the failure\'s close frame goes out', (role) => {
    const t = open(role);
    t.connection.sendText('a');
    const reserved = t.connection.reserveCompressed();
    t.connection.close(1000);
    expect(t.calls()).toEqual(['output', 'timer on']);
    const a = t.ours({ opcode: 1, payload: utf8('a') });
    t.skipKey(); // our close: dropped
    t.connection.fail(1011, 'compression failed', 'WS_ERR_COMPRESSION_FAILED');
    expect(t.calls()).toEqual(['timer off', 'output', 'endTransport', 'timer on']);
    expect(t.sent()).toBe(a + t.ours(closeSpec(1011, 'compression failed')));
    expect(t.connection.closeSent).toEqual({ code: 1011, reason: 'compression failed' });
    expect(t.connection.completeCompressed(reserved, fromHex('0300'), true)).toBe(false);
    expectResult(t, { code: 1011, reason: 'compression failed', wasClean: false, errorCode: 'WS_ERR_COMPRESSION_FAILED' });
  });

  it('fail() keeps a filled compressed frame before the first unfilled one', () => {
    const t = open('server');
    const first = t.connection.reserveCompressed();
    const second = t.connection.reserveCompressed();
    t.connection.completeCompressed(first, fromHex('0300'), true);
    t.connection.fail(1011, 'compression failed', 'WS_ERR_COMPRESSION_FAILED');
    expect(t.sent()).toBe('c1020300' + '881403f3' + hex(utf8('compression failed')));
    expect(t.connection.completeCompressed(second, fromHex('0300'), true)).toBe(false);
  });
});

describe('Connection: CloseResult and wasClean (RFC 6455 7.1.4, 7.1.5)', () => {
  it('transportClosed() is idempotent, and nothing acts on a closed connection', () => {
    const t = open('server');
    t.connection.close(1000);
    t.connection.receive(masked(closeSpec(1000)));
    t.calls();
    t.sent();
    const first = t.connection.transportClosed();
    expect(first).toStrictEqual({ code: 1000, reason: '', wasClean: true });
    expect(t.connection.transportClosed()).toBe(first);
    t.calls();
    t.connection.receive(masked({ opcode: 9 }));
    t.connection.receiveEnd();
    t.connection.close(1001);
    t.connection.proceed();
    t.connection.timeout();
    t.connection.fail(1011, 'late');
    t.connection.terminate('late');
    expect(t.calls()).toEqual([]);
    expect(t.sent()).toBe('');
    expect(t.connection.state).toBe('closed');
    expect(t.connection.closeResult).toBe(first);
  });

  it.each([
    ['both close frames, then TCP closed', true],
    ['only our close', false],
    ['only the peer\'s close', false],
    ['no close frame at all', false],
  ] as const)('%s: wasClean %s', (what, clean) => {
    const t = open('server');
    if (what !== 'only the peer\'s close' && what !== 'no close frame at all') t.connection.close(1000);
    if (what !== 'only our close' && what !== 'no close frame at all') t.connection.receive(masked(closeSpec(1000)));
    expect(t.connection.transportClosed().wasClean).toBe(clean);
  });
});

import { describe, expect, it } from 'vitest';
import type { CloseInfo } from '../../src/protocol/close.js';
import { Connection, type ConnectionHandler, type ConnectionOptions } from '../../src/protocol/connection.js';
import { ConnectionClosedError } from '../../src/protocol/errors.js';
import { Slab } from '../../src/protocol/writer.js';
import {
  RFC_MASK,
  concat,
  expectProtocolError,
  expectWebSocketError,
  frame,
  fromHex,
  hex,
  masked,
  patternBytes,
  thrown,
  utf8,
} from './helpers.js';

type ConnEvent =
  | { type: 'message'; isText: boolean; data: string }
  | { type: 'ping'; data: string }
  | { type: 'pong'; data: string }
  | { type: 'close'; info: CloseInfo };

class RecordingConnectionHandler implements ConnectionHandler {
  readonly events: ConnEvent[] = [];
  onMessage(payload: Uint8Array, isText: boolean): void {
    this.events.push({ type: 'message', isText, data: hex(payload) });
  }
  onPing(payload: Uint8Array): void {
    this.events.push({ type: 'ping', data: hex(payload) });
  }
  onPong(payload: Uint8Array): void {
    this.events.push({ type: 'pong', data: hex(payload) });
  }
  onClose(info: CloseInfo): void {
    this.events.push({ type: 'close', info });
  }
}

function connect(options: Partial<ConnectionOptions> = {}) {
  const handler = new RecordingConnectionHandler();
  const connection = new Connection(handler, {
    role: 'server',
    maxPayload: 1 << 20,
    maxFragments: 1000,
    slab: new Slab(),
    ...options,
  });
  const sent = () => hex(concat(...connection.writer.take()));
  return { connection, handler, sent, events: handler.events };
}

function closeFrame(code?: number, reason = ''): Uint8Array {
  const payload = code === undefined ? new Uint8Array(0) : concat(Uint8Array.of(code >>> 8, code & 0xff), utf8(reason));
  return masked({ opcode: 8, payload });
}

describe('Connection: ping and pong', () => {
  it('answers a ping with a pong carrying the same payload (exact bytes)', () => {
    const { connection, events, sent } = connect();
    connection.receive(fromHex('0x89 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58'));
    expect(sent()).toBe('8a0548656c6c6f');
    expect(events).toEqual([{ type: 'ping', data: '48656c6c6f' }]);
  });

  it('answers an empty ping with an empty pong, and a 125-byte ping with the same 125 bytes', () => {
    const { connection, sent } = connect();
    const payload = patternBytes(125, 1);
    connection.receive(concat(masked({ opcode: 9 }), masked({ opcode: 9, payload })));
    expect(sent()).toBe('8a00' + '8a7d' + hex(payload));
  });

  it('answers a ping whose payload arrives in pieces', () => {
    const { connection, sent } = connect();
    const bytes = masked({ opcode: 9, payload: utf8('Hello') });
    connection.receive(bytes.slice(0, 3));
    connection.receive(bytes.slice(3, 8));
    expect(sent()).toBe('');
    connection.receive(bytes.slice(8));
    expect(sent()).toBe('8a0548656c6c6f');
  });

  it('answers pings between the fragments of a message, before the message is delivered', () => {
    const { connection, events, sent } = connect();
    connection.receive(
      concat(
        masked({ opcode: 1, fin: false, payload: utf8('Hel') }),
        masked({ opcode: 9, payload: utf8('x') }),
        masked({ opcode: 0, payload: utf8('lo') }),
      ),
    );
    expect(sent()).toBe('8a0178');
    expect(events).toEqual([
      { type: 'ping', data: '78' },
      { type: 'message', isText: true, data: '48656c6c6f' },
    ]);
  });

  it('reports a pong and sends nothing in reply', () => {
    const { connection, events, sent } = connect();
    connection.receive(fromHex('0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58'));
    expect(events).toEqual([{ type: 'pong', data: '48656c6c6f' }]);
    expect(sent()).toBe('');
  });

  it('does not answer a ping once its own close is sent, but still reports it', () => {
    const { connection, events, sent } = connect();
    connection.sendClose(1000);
    expect(sent()).toBe('880203e8');
    connection.receive(masked({ opcode: 9, payload: utf8('late') }));
    expect(sent()).toBe('');
    expect(events).toEqual([{ type: 'ping', data: hex(utf8('late')) }]);
  });

  it('sendPing writes a ping and rejects payloads over 125 bytes: WS_ERR_INVALID_ARGUMENT', () => {
    const { connection, sent } = connect();
    connection.sendPing(utf8('hi'));
    connection.sendPing(patternBytes(125));
    expect(sent()).toBe('89026869' + '897d' + hex(patternBytes(125)));
    expectWebSocketError(() => connection.sendPing(patternBytes(126)), 'WS_ERR_INVALID_ARGUMENT');
    expect(sent()).toBe('');
  });
});

describe('Connection: messages', () => {
  it('delivers text and binary messages', () => {
    const { connection, events } = connect();
    connection.receive(concat(masked({ opcode: 1, payload: utf8('Hello') }), masked({ opcode: 2, payload: Uint8Array.of(0, 255) })));
    expect(events).toEqual([
      { type: 'message', isText: true, data: '48656c6c6f' },
      { type: 'message', isText: false, data: '00ff' },
    ]);
  });

  it('sendText and sendBinary write unmasked frames in the server role', () => {
    const { connection, sent } = connect();
    connection.sendText('Hello');
    connection.sendBinary(patternBytes(256, 1));
    expect(sent()).toBe('810548656c6c6f' + '827e0100' + hex(patternBytes(256, 1)));
  });

  it('the client role reads unmasked frames and masks what it sends with the injected key', () => {
    let keys = 0;
    const { connection, events, sent } = connect({
      role: 'client',
      randomMask: (key) => {
        key.set(keys++ === 0 ? RFC_MASK : [9, 8, 7, 6]);
      },
    });
    connection.receive(fromHex('810548656c6c6f' + '890548656c6c6f'));
    expect(events).toEqual([
      { type: 'message', isText: true, data: '48656c6c6f' },
      { type: 'ping', data: '48656c6c6f' },
    ]);
    // The pong answering the ping is masked with the first key: the RFC 6455 5.7 masked pong.
    expect(sent()).toBe('8a8537fa213d7f9f4d5158');
    connection.sendText('Hello');
    expect(sent()).toBe(hex(frame({ opcode: 1, payload: utf8('Hello'), mask: fromHex('09080706') })));
    expectProtocolError(() => connection.receive(masked({ opcode: 1 })), 'WS_ERR_MASKED_FRAME', 1002);
  });

  it('rejects an unmasked client frame in the server role: WS_ERR_UNMASKED_FRAME, 1002', () => {
    const { connection } = connect();
    expectProtocolError(() => connection.receive(fromHex('810548656c6c6f')), 'WS_ERR_UNMASKED_FRAME', 1002);
  });

  it('passes maxPayload and maxFragments on to the parser', () => {
    const a = connect({ maxPayload: 4 });
    expectProtocolError(() => a.connection.receive(masked({ opcode: 2, declaredLength: 5 })), 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    const b = connect({ maxFragments: 1 });
    b.connection.receive(masked({ opcode: 2, fin: false }));
    expectProtocolError(() => b.connection.receive(masked({ opcode: 0 })), 'WS_ERR_TOO_MANY_FRAGMENTS', 1008);
  });
});

describe('Connection: receiving a close', () => {
  it('reports the code and reason of a close frame', () => {
    const { connection, events } = connect();
    connection.receive(closeFrame(1001, 'going away'));
    expect(events).toEqual([{ type: 'close', info: { code: 1001, reason: 'going away' } }]);
    expect(connection.closeReceived).toEqual({ code: 1001, reason: 'going away' });
    expect(connection.closeSent).toBeNull();
  });

  it('reports a codeless close as 1005', () => {
    const { connection, events } = connect();
    connection.receive(closeFrame());
    expect(events).toEqual([{ type: 'close', info: { code: 1005, reason: '' } }]);
  });

  it('parses nothing after the close frame: a data frame after it in the same chunk is not delivered', () => {
    const { connection, events, sent } = connect();
    connection.receive(
      concat(
        masked({ opcode: 1, payload: utf8('before') }),
        closeFrame(1000),
        masked({ opcode: 1, payload: utf8('after') }),
        masked({ opcode: 9, payload: utf8('ping') }),
      ),
    );
    connection.receive(masked({ opcode: 1, payload: utf8('later') }));
    expect(events).toEqual([
      { type: 'message', isText: true, data: hex(utf8('before')) },
      { type: 'close', info: { code: 1000, reason: '' } },
    ]);
    expect(sent()).toBe(''); // the ping after the close was not answered
  });

  it('ignores garbage after the close frame, even bytes that would be a protocol error', () => {
    const { connection, events } = connect();
    connection.receive(concat(closeFrame(1000), fromHex('ff ff ff ff')));
    connection.receive(fromHex('8100'));
    expect(events).toEqual([{ type: 'close', info: { code: 1000, reason: '' } }]);
  });

  it('acknowledgeClose echoes the code: 0x88 0x02 0x03 0xe8 for 1000', () => {
    const { connection, sent } = connect();
    connection.receive(closeFrame(1000, 'bye'));
    connection.acknowledgeClose();
    expect(sent()).toBe('880203e8');
    expect(connection.closeSent).toEqual({ code: 1000, reason: '' });
  });

  it('acknowledgeClose echoes other codes without the reason', () => {
    const { connection, sent } = connect();
    connection.receive(closeFrame(4000, 'custom'));
    connection.acknowledgeClose();
    expect(sent()).toBe('88020fa0');
  });

  it('acknowledgeClose sends an empty close for a codeless close', () => {
    const { connection, sent } = connect();
    connection.receive(closeFrame());
    connection.acknowledgeClose();
    expect(sent()).toBe('8800');
    expect(connection.closeSent).toEqual({ code: 1005, reason: '' });
  });

  it('acknowledgeClose does nothing before a close arrived, or after our close was sent', () => {
    const { connection, sent } = connect();
    connection.acknowledgeClose();
    expect(sent()).toBe('');
    connection.sendClose(1001);
    connection.receive(closeFrame(1000));
    connection.acknowledgeClose();
    expect(sent()).toBe('880203e9');
  });

  it('a close payload of 1 byte: WS_ERR_INVALID_CLOSE_PAYLOAD, 1002', () => {
    const { connection, events } = connect();
    expectProtocolError(
      () => connection.receive(masked({ opcode: 8, payload: fromHex('03') })),
      'WS_ERR_INVALID_CLOSE_PAYLOAD',
      1002,
    );
    expect(events).toEqual([]);
    expect(connection.closeReceived).toBeNull();
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])(
    'a close frame with code %i: WS_ERR_INVALID_CLOSE_CODE, 1002',
    (code) => {
      const { connection, events } = connect();
      expectProtocolError(() => connection.receive(closeFrame(code)), 'WS_ERR_INVALID_CLOSE_CODE', 1002);
      expect(events).toEqual([]);
    },
  );

  it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])(
    'a close frame with code %i is accepted',
    (code) => {
      const { connection, events } = connect();
      connection.receive(closeFrame(code, 'r'));
      expect(events).toEqual([{ type: 'close', info: { code, reason: 'r' } }]);
    },
  );

  it('a close reason that is not UTF-8: WS_ERR_INVALID_UTF8, 1007', () => {
    const { connection } = connect();
    expectProtocolError(
      () => connection.receive(masked({ opcode: 8, payload: fromHex('03e8 48 ed a0 80') })),
      'WS_ERR_INVALID_UTF8',
      1007,
    );
  });

  it('stops parsing after a protocol error', () => {
    const { connection, events } = connect();
    expectProtocolError(() => connection.receive(masked({ opcode: 8, payload: fromHex('03') })), 'WS_ERR_INVALID_CLOSE_PAYLOAD', 1002);
    connection.receive(masked({ opcode: 1, payload: utf8('x') }));
    expect(events).toEqual([]);
  });
});

describe('Connection: sending a close', () => {
  it('sendClose writes the code and reason', () => {
    const { connection, sent } = connect();
    connection.sendClose(1000, 'bye');
    expect(sent()).toBe('880503e8627965');
    expect(connection.closeSent).toEqual({ code: 1000, reason: 'bye' });
  });

  it('sendClose with no code writes an empty close', () => {
    const { connection, sent } = connect();
    connection.sendClose();
    expect(sent()).toBe('8800');
    expect(connection.closeSent).toEqual({ code: 1005, reason: '' });
  });

  it('sends the close only once', () => {
    const { connection, sent } = connect();
    connection.sendClose(1000);
    connection.sendClose(1001, 'again');
    connection.sendClose();
    expect(sent()).toBe('880203e8');
    expect(connection.closeSent).toEqual({ code: 1000, reason: '' });
  });

  it('sending after the close throws ConnectionClosedError with code WS_ERR_CLOSED', () => {
    const { connection, sent } = connect();
    connection.sendClose(4001, 'done');
    sent();
    for (const send of [
      () => connection.sendText('x'),
      () => connection.sendBinary(Uint8Array.of(1)),
      () => connection.sendPing(new Uint8Array(0)),
    ]) {
      const error = thrown(send);
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect(error).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 4001, reason: 'done' });
    }
    expect(sent()).toBe('');
  });

  it('sending after a codeless close reports close code 1005', () => {
    const { connection } = connect();
    connection.sendClose();
    expect(thrown(() => connection.sendText('x'))).toMatchObject({ code: 'WS_ERR_CLOSED', closeCode: 1005, reason: '' });
  });

  it('sending is still allowed after the peer\'s close arrived, until ours is sent', () => {
    const { connection, sent } = connect();
    connection.receive(closeFrame(1000));
    connection.sendText('last words');
    connection.acknowledgeClose();
    expect(sent()).toBe('810a' + hex(utf8('last words')) + '880203e8');
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000.5])(
    'sendClose(%s) throws WS_ERR_INVALID_ARGUMENT and sends nothing',
    (code) => {
      const { connection, sent } = connect();
      expectWebSocketError(() => connection.sendClose(code), 'WS_ERR_INVALID_ARGUMENT');
      expect(sent()).toBe('');
      expect(connection.closeSent).toBeNull();
      // The connection can still close properly afterwards.
      connection.sendClose(1000);
      expect(sent()).toBe('880203e8');
    },
  );

  it('sendClose with a 124-byte reason throws WS_ERR_INVALID_ARGUMENT; 123 bytes is fine', () => {
    const { connection, sent } = connect();
    expectWebSocketError(() => connection.sendClose(1000, 'x'.repeat(124)), 'WS_ERR_INVALID_ARGUMENT');
    expect(sent()).toBe('');
    connection.sendClose(1000, 'x'.repeat(123));
    expect(sent()).toBe('887d03e8' + '78'.repeat(123));
  });

  it('sendClose with a reason and no code throws WS_ERR_INVALID_ARGUMENT', () => {
    const { connection } = connect();
    expectWebSocketError(() => connection.sendClose(undefined, 'why'), 'WS_ERR_INVALID_ARGUMENT');
  });

  it('masks the close frame in the client role', () => {
    const { connection, sent } = connect({ role: 'client', randomMask: (key) => key.set(RFC_MASK) });
    connection.sendClose(1000);
    expect(sent()).toBe(hex(frame({ opcode: 8, payload: fromHex('03e8'), mask: RFC_MASK })));
  });
});

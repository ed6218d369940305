/**
 * The harness of the Connection tests (connection*.test.ts): a handler that records every call, and
 * a connection in either role whose output is read back as exact bytes.
 *
 * Handler calls are recorded as short strings: `message text <hex>`, `message binary compressed
 * <hex>`, `ping <hex>`, `pong <hex>`, `end`, `output`, `endTransport`, `destroyTransport`,
 * `timer on`, `timer off`. The client role masks with injected keys (key 0 is the RFC 6455 5.7
 * key 37 fa 21 3d, key n is n, n+1, n+2, n+3), so its bytes are exact too.
 */

import { expect } from 'vitest';
import { Connection, type CloseResult, type ConnectionHost, type ConnectionOptions, type Role } from '../../src/protocol/connection.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { Slab } from '../../src/protocol/writer.js';
import { RFC_MASK, concat, frame, fromHex, hex, masked, utf8, type RawFrame } from './helpers.js';

export const ROLES = ['server', 'client'] as const;

export function keyAt(n: number): Uint8Array {
  return n === 0 ? RFC_MASK : Uint8Array.of(n & 0xff, (n + 1) & 0xff, (n + 2) & 0xff, (n + 3) & 0xff);
}

export class Recorder implements ConnectionHost {
  private log: string[] = [];
  /** The application does not read: it lets the connection proceed as soon as the stream ends. */
  proceedOnEnd = false;
  connection: Connection | null = null;

  onMessage(payload: Uint8Array, isText: boolean, compressed: boolean): void {
    this.log.push(`message ${isText ? 'text' : 'binary'}${compressed ? ' compressed' : ''} ${hex(payload)}`);
  }
  onPing(payload: Uint8Array): void {
    this.log.push(`ping ${hex(payload)}`);
  }
  onPong(payload: Uint8Array): void {
    this.log.push(`pong ${hex(payload)}`);
  }
  onEnd(): void {
    this.log.push('end');
    if (this.proceedOnEnd) this.connection!.proceed();
  }
  onOutput(): void {
    this.log.push('output');
  }
  endTransport(): void {
    this.log.push('endTransport');
  }
  destroyTransport(): void {
    this.log.push('destroyTransport');
  }
  setCloseTimer(on: boolean): void {
    this.log.push(on ? 'timer on' : 'timer off');
  }
  /** The calls since the last look. */
  calls(): string[] {
    return this.log.splice(0);
  }
}

export interface Setup {
  connection: Connection;
  handler: Recorder;
  /** Hex of everything written since the last look. */
  sent(): string;
  calls(): string[];
  /** A frame as the peer sends it: masked by a client (RFC 6455 5.3), unmasked by a server. */
  peer(spec: RawFrame): Uint8Array;
  /** Hex of the frame we must send for `spec`; in the client role masked with the next key. */
  ours(spec: RawFrame): string;
  /** Skips the key of a frame that was written but will never be seen (dropped). */
  skipKey(): void;
  /** How many masking keys the connection drew. */
  keysDrawn(): number;
}

export function open(role: Role, options: Partial<ConnectionOptions> & { proceedOnEnd?: boolean } = {}): Setup {
  const { proceedOnEnd = false, ...rest } = options;
  const handler = new Recorder();
  let keys = 0;
  const connection = new Connection(handler, {
    role,
    maxPayload: 1 << 20,
    maxFragments: 1000,
    slab: new Slab(),
    ...(role === 'client' ? { randomMask: (key: Uint8Array) => key.set(keyAt(keys++)) } : {}),
    ...rest,
  });
  handler.connection = connection;
  handler.proceedOnEnd = proceedOnEnd;
  let expectedKeys = 0;
  return {
    connection,
    handler,
    sent: () => hex(concat(...connection.writer.take())),
    calls: () => handler.calls(),
    peer: (spec) => (role === 'server' ? masked(spec) : frame(spec)),
    ours: (spec) => hex(frame(role === 'client' ? { ...spec, mask: keyAt(expectedKeys++) } : spec)),
    skipKey: () => {
      if (role === 'client') expectedKeys++;
    },
    keysDrawn: () => keys,
  };
}

export function closePayload(code?: number, reason = ''): Uint8Array {
  return code === undefined ? new Uint8Array(0) : concat(Uint8Array.of(code >>> 8, code & 0xff), utf8(reason));
}

export function closeSpec(code?: number, reason = ''): RawFrame {
  return { opcode: 8, payload: closePayload(code, reason) };
}

/** A frame the peer may not send: a server must get masked frames, a client unmasked ones (5.1). */
export function badFrame(role: Role): { bytes: Uint8Array; code: string; message: string } {
  return role === 'server'
    ? { bytes: fromHex('810178'), code: 'WS_ERR_UNMASKED_FRAME', message: 'client frame is not masked' }
    : { bytes: masked({ opcode: 1, payload: utf8('x') }), code: 'WS_ERR_MASKED_FRAME', message: 'server frame is masked' };
}

export const INFLATE_ERROR = (): ProtocolError =>
  new ProtocolError('WS_ERR_INVALID_COMPRESSED_DATA', 1007, 'invalid compressed data');

/** The calls of proceed() failing the connection for a protocol error that waited for the application. */
export const PROCEED_TO_FAIL = ['timer off', 'timer off', 'output', 'endTransport', 'timer on'];

/**
 * The peer's bytes ended the message stream with a protocol error, and the application is reading:
 * onEnd, then the connection waits; proceed() fails it (RFC 6455 7.1.7) with the exact close frame,
 * and the CloseResult carries our close code and the error's code.
 */
export function expectFailedStream(t: Setup, errorCode: string, closeCode: number, reason: string, before: string[] = []): void {
  expect(t.calls()).toEqual([...before, 'end', 'timer on']);
  expect(t.connection.state).toBe('closing');
  expect(t.connection.closeReceived).toBeNull();
  expect(t.sent()).toBe('');
  t.connection.proceed();
  expect(t.calls()).toEqual(PROCEED_TO_FAIL);
  expect(t.sent()).toBe(t.ours(closeSpec(closeCode, reason)));
  expect(t.connection.closeSent).toEqual({ code: closeCode, reason });
  expect(t.connection.canSend).toBe(false);
  expectResult(t, { code: closeCode, reason, wasClean: false, errorCode });
}

/** Ends the transport and checks the exact CloseResult. */
export function expectResult(t: Setup, result: Record<string, unknown>): void {
  const got: CloseResult = t.connection.transportClosed();
  expect(got).toStrictEqual(result);
  expect(t.connection.state).toBe('closed');
  expect(t.connection.closeResult).toBe(got);
  expect(t.calls()).toEqual(['timer off']);
}

export const NO_HANDSHAKE = 'connection ended without a closing handshake';


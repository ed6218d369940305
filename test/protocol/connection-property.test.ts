/**
 * Random lifecycles of the core Connection in both roles (property): whatever the peer, the
 * application and the timer do, in any order, the closing handshake's invariants hold.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/protocol/connection.js';
import { ConnectionClosedError } from '../../src/protocol/errors.js';
import { ROLES, badFrame, closePayload, closeSpec, INFLATE_ERROR, open } from './connection-harness.js';
import { concat, fromHex, hex, thrown, unicodeString, utf8 } from './helpers.js';

interface WireFrame {
  opcode: number;
  payload: Uint8Array;
}

/** Splits our output into frames (the writer's own code is not used to read it back). */
function splitFrames(bytes: Uint8Array): WireFrame[] {
  const frames: WireFrame[] = [];
  let at = 0;
  while (at < bytes.length) {
    const opcode = bytes[at]! & 0x0f;
    const isMasked = (bytes[at + 1]! & 0x80) !== 0;
    let length = bytes[at + 1]! & 0x7f;
    at += 2;
    if (length === 126) {
      length = (bytes[at]! << 8) | bytes[at + 1]!;
      at += 2;
    } else if (length === 127) {
      length = Number(new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigUint64(0));
      at += 8;
    }
    const key = isMasked ? bytes.subarray(at, at + 4) : null;
    if (isMasked) at += 4;
    const payload = bytes.slice(at, at + length);
    if (key !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
    frames.push({ opcode, payload });
    at += length;
  }
  return frames;
}

type Step =
  | { kind: 'peerText'; text: string }
  | { kind: 'peerCompressed' }
  | { kind: 'peerPing' }
  | { kind: 'peerClose'; code: number | undefined }
  | { kind: 'peerBad' }
  | { kind: 'receiveEnd' }
  | { kind: 'send'; text: string }
  | { kind: 'reserve' }
  | { kind: 'complete'; pick: number }
  | { kind: 'close'; code: number | undefined }
  | { kind: 'proceed' }
  | { kind: 'fail' }
  | { kind: 'failReceived' }
  | { kind: 'terminate' }
  | { kind: 'tick' }
  | { kind: 'take' }
  | { kind: 'transportClosed' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('peerText' as const), text: unicodeString({ maxLength: 8 }) }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'peerCompressed' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'peerPing' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('peerClose' as const), code: fc.constantFrom(undefined, 1000, 1001, 4000) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'peerBad' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'receiveEnd' as const }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('send' as const), text: unicodeString({ maxLength: 8 }) }), weight: 3 },
  { arbitrary: fc.constant({ kind: 'reserve' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('complete' as const), pick: fc.nat() }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('close' as const), code: fc.constantFrom(undefined, 1000, 4001) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'proceed' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'fail' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'failReceived' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'terminate' as const }), weight: 1 },
  { arbitrary: fc.constant({ kind: 'tick' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'take' as const }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'transportClosed' as const }), weight: 1 },
);

describe.each(ROLES)('Connection (%s): random lifecycles (property)', (role) => {
  it('keep the closing handshake\'s invariants: one close frame, last; the close timer bounds every wait; one onEnd', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), fc.boolean(), (steps, proceedOnEnd) => {
        const t = open(role, { allowRsv1: true, proceedOnEnd });
        const c = t.connection;
        const output: Uint8Array[] = [];
        const reserved: ReturnType<Connection['reserveCompressed']>[] = [];
        // The transport as the Node layer runs it: one timer, which is off once it has fired.
        let timer = false;
        let destroyed = false;
        let ends = 0;
        let endTransports = 0;
        const follow = (): string[] => {
          const calls = t.calls();
          for (const call of calls) {
            if (call === 'timer on') timer = true;
            else if (call === 'timer off') timer = false;
            else if (call === 'destroyTransport') destroyed = true;
            else if (call === 'end') ends++;
            else if (call === 'endTransport') endTransports++;
          }
          return calls;
        };
        const fromPeer = new Set(['peerText', 'peerCompressed', 'peerPing', 'peerClose', 'peerBad', 'receiveEnd']);
        for (const s of steps) {
          const wasClosed = c.state === 'closed';
          // A destroyed socket delivers nothing more.
          if (destroyed && fromPeer.has(s.kind)) continue;
          switch (s.kind) {
            case 'peerText':
              c.receive(t.peer({ opcode: 1, payload: utf8(s.text) }));
              break;
            case 'peerCompressed':
              c.receive(t.peer({ opcode: 2, rsv1: true, payload: fromHex('0300') }));
              break;
            case 'peerPing':
              c.receive(t.peer({ opcode: 9, payload: utf8('p') }));
              break;
            case 'peerClose':
              c.receive(t.peer(closeSpec(s.code)));
              break;
            case 'peerBad':
              c.receive(badFrame(role).bytes);
              break;
            case 'receiveEnd':
              c.receiveEnd();
              break;
            case 'send':
              if (c.canSend) c.sendText(s.text);
              else expect(thrown(() => c.sendText(s.text))).toBeInstanceOf(ConnectionClosedError);
              break;
            case 'reserve':
              if (c.canSend) reserved.push(c.reserveCompressed());
              break;
            case 'complete':
              if (reserved.length > 0) {
                const [r] = reserved.splice(s.pick % reserved.length, 1);
                c.completeCompressed(r!, fromHex('0300'), true);
              }
              break;
            case 'close':
              c.close(s.code);
              break;
            case 'proceed':
              c.proceed();
              break;
            case 'fail':
              c.fail(1011, 'handler failed', 'WS_ERR_HANDLER_FAILED');
              break;
            case 'failReceived':
              c.failReceived(INFLATE_ERROR());
              break;
            case 'terminate':
              c.terminate('terminated');
              break;
            case 'tick':
              if (timer) {
                timer = false;
                c.timeout();
              }
              break;
            case 'take':
              output.push(...c.writer.take());
              break;
            case 'transportClosed':
              c.transportClosed();
              break;
          }
          const calls = follow();
          if (wasClosed) expect(calls).toEqual([]);
          // Every wait after the closing handshake started has a deadline, until the transport is gone.
          if (c.state === 'closing' && !destroyed) expect(timer).toBe(true);
          expect(ends).toBeLessThanOrEqual(1);
          expect(endTransports).toBeLessThanOrEqual(1);
        }
        // The compressor finishes what it was given; then everything queued is written.
        for (const r of reserved) c.completeCompressed(r, fromHex('0300'), true);
        output.push(...c.writer.take());
        const frames = splitFrames(concat(...output));
        const closes = frames.filter((f) => f.opcode === 8);
        const sent = c.closeSent;
        if (sent === null) {
          expect(closes).toEqual([]);
        } else {
          // Exactly one close frame, the last frame (RFC 6455 5.5.1), saying what closeSent says.
          expect(closes.length).toBe(1);
          expect(frames[frames.length - 1]!.opcode).toBe(8);
          expect(hex(closes[0]!.payload)).toBe(hex(closePayload(sent.code === 1005 ? undefined : sent.code, sent.reason)));
        }
        const result = c.transportClosed();
        follow();
        expect(result.wasClean).toBe(closes.length === 1 && c.closeReceived !== null);
        if (!result.wasClean && result.errorCode === undefined && c.closeReceived === null) expect(result.code).toBe(1006);
      }),
      { seed: 42, numRuns: 400 },
    );
  });
});

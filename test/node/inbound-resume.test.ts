/**
 * Inbound backpressure with permessage-deflate (found by the Chromium interop test, issue 10): a
 * compressed message of receiveHighWaterMark bytes or more pauses reading while it waits to be
 * inflated. When the inflated message went straight to a reader already waiting in recv(),
 * nothing resumed reading, and the connection hung silently: the next message was never read.
 * Chromium hit it with a 1 MiB random binary message (about 1 MiB + 300 bytes compressed) followed
 * by any other message.
 */

import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { compressMessage } from '../../testkit/index.js';
import { cleanup, deadline, echoHandler, rawConnect, startServer } from './helpers.js';

afterEach(cleanup);

const HWM = 1024;
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

/** A message compressed from a fresh context, the 00 00 ff ff tail removed (RFC 7692 7.2.1). */
function compress(data: Buffer): Buffer {
  return compressMessage(data);
}

describe('reading resumes after a compressed message at or over receiveHighWaterMark', () => {
  it.each([
    ['one frame', 1],
    ['fragments, as Chromium sends it', 4],
  ])('%s: the message and the next one are both echoed', async (_name, fragments) => {
    const { port } = await startServer({ handler: echoHandler, perMessageDeflate: true, receiveHighWaterMark: HWM });
    const client = await rawConnect(port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate' } });
    expect(client.response?.headers['sec-websocket-extensions']).toBe('permessage-deflate');
    const big = randomBytes(4 * HWM); // incompressible: compressed, still over receiveHighWaterMark
    const payload = compress(big);
    expect(payload.length).toBeGreaterThan(HWM);
    const size = Math.ceil(payload.length / fragments);
    for (let i = 0; i < fragments; i++) {
      client.sendFrame({
        fin: i === fragments - 1,
        rsv1: i === 0,
        opcode: i === 0 ? 0x2 : 0x0,
        payload: payload.subarray(i * size, (i + 1) * size),
        mask: MASK,
      });
    }
    const echo = await deadline(client.nextFrame(), 5000, `the echo of the ${big.length}-byte message`);
    expect({ opcode: echo.opcode, rsv: echo.rsv, fin: echo.fin }).toEqual({ opcode: 0x2, rsv: 0b100, fin: true });

    client.sendFrame({ fin: true, opcode: 0x1, payload: Buffer.from('after'), mask: MASK });
    const after = await deadline(client.nextFrame(), 5000, 'the echo of the message after it (reading must resume)');
    expect({ opcode: after.opcode, rsv: after.rsv, payload: after.payload.toString() }).toEqual({ opcode: 0x1, rsv: 0, payload: 'after' });
  });
});


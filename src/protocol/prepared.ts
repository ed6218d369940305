/**
 * A message framed once for many connections (a broadcast): the same bytes go to every server
 * connection (server frames are not masked, RFC 6455 5.1), instead of being framed again for each.
 */

import { Opcode, firstHeaderByte, headerSizeFor, writeFrameHeader } from './frame.js';

export interface PreparedFrame {
  /** FIN | RSV1 | opcode. */
  readonly firstByte: number;
  /** The payload on the wire: compressed, without the 00 00 ff ff tail, when RSV1 is set (RFC 7692 7.2.1). */
  readonly payload: Uint8Array;
  /** The complete unmasked frame, header and payload, built once. */
  readonly frame: Uint8Array;
  /** Set when the payload was compressed (with a fresh context): the LZ77 window it used. */
  readonly deflateWindowBits?: number;
}

/** Frames one message; `deflateWindowBits` marks `payload` as compressed with that window. */
export function prepareFrame(isText: boolean, payload: Uint8Array, deflateWindowBits?: number): PreparedFrame {
  const compressed = deflateWindowBits !== undefined;
  const firstByte = firstHeaderByte(true, isText ? Opcode.TEXT : Opcode.BINARY, compressed);
  const headerSize = headerSizeFor(payload.length, false);
  const frame = new Uint8Array(headerSize + payload.length);
  writeFrameHeader(frame, 0, firstByte, payload.length);
  frame.set(payload, headerSize);
  const body = frame.subarray(headerSize);
  return compressed ? { firstByte, payload: body, frame, deflateWindowBits } : { firstByte, payload: body, frame };
}

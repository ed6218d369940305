/**
 * A frame built once and written to many connections (issue 11, "encode once"): the hub frames a
 * broadcast a single time per encoding and hands the same bytes to every recipient.
 *
 * Compression itself needs zlib, so it happens outside the core: a compressed frame is prepared
 * from a payload that is already deflated (fresh context, sync flush, tail removed).
 */

import { WebSocketError } from './errors.js';
import { Opcode, firstHeaderByte, headerSizeFor, writeFrameHeader } from './frame.js';

/**
 * A whole message framed once for any number of connections: what prepareFrame() returns and
 * `Ws.sendPrepared()` (or the hub) writes. The same bytes go to every connection, so none may be
 * modified.
 */
export interface PreparedFrame {
  /** FIN | RSV1 (set when compressed) | opcode: always a whole message, text or binary. */
  readonly firstByte: number;
  /**
   * The payload as it goes on the wire, unmasked: when RSV1 is set, the deflated message without
   * the trailing 00 00 ff ff (RFC 7692 7.2.1). A view into `frame`, not a copy.
   */
  readonly payload: Uint8Array;
  /** The complete unmasked frame, header and payload: the bytes a server writes to every socket. */
  readonly frame: Uint8Array;
  /**
   * Only on compressed frames: the LZ77 window (8-15 bits) the payload was compressed with. A
   * connection may send the frame only if its own compressor's agreed window (RFC 7692 7.1.2,
   * server_max_window_bits for a server) is at least this, since the peer's inflater is no bigger.
   */
  readonly deflateWindowBits?: number;
}

/**
 * Frames `payload` once as one unfragmented message (RFC 6455 5.2, FIN set). With
 * `deflateWindowBits`, `payload` must already be compressed (RFC 7692 7.2.1: deflated with that
 * window, no references to earlier messages, 00 00 ff ff removed) and RSV1 is set (7.2.3.1). For
 * text, `payload` must be UTF-8 (the hub encodes strings itself). The payload is copied, so the
 * caller may reuse its buffer.
 */
export function prepareFrame(isText: boolean, payload: Uint8Array, deflateWindowBits?: number): PreparedFrame {
  if (!(payload instanceof Uint8Array)) {
    throw new WebSocketError('WS_ERR_INVALID_ARGUMENT', 'prepareFrame: the payload must be a Uint8Array');
  }
  const compressed = deflateWindowBits !== undefined;
  if (compressed && !(Number.isInteger(deflateWindowBits) && deflateWindowBits >= 8 && deflateWindowBits <= 15)) {
    // RFC 7692 7.1.2.1: window bits are 8 to 15.
    throw new WebSocketError(
      'WS_ERR_INVALID_ARGUMENT',
      `prepareFrame: deflateWindowBits must be an integer from 8 to 15, got ${String(deflateWindowBits)}`,
    );
  }
  const firstByte = firstHeaderByte(true, isText ? Opcode.TEXT : Opcode.BINARY, compressed);
  const headerSize = headerSizeFor(payload.length, false);
  const frame = new Uint8Array(headerSize + payload.length);
  // Server-to-client frames are not masked (RFC 6455 5.1); a client role re-masks per send.
  writeFrameHeader(frame, 0, firstByte, payload.length);
  frame.set(payload, headerSize);
  const wirePayload = frame.subarray(headerSize);
  return compressed
    ? { firstByte, payload: wirePayload, frame, deflateWindowBits }
    : { firstByte, payload: wirePayload, frame };
}

/**
 * Encode once (issue 11): a message is UTF-8 encoded and framed once, and compressed at most once
 * per distinct window size among the recipients that can share a compressed frame, whatever their
 * number.
 *
 * A shared compressed frame uses a fresh deflate context (RFC 7692 7.2.1 with no context
 * takeover): it refers to nothing sent before, so the same bytes decode on every connection that
 * agreed a window at least as large, whatever that connection's own history. The connection
 * resets its own compressor after such a frame when it keeps context takeover (sendPrepared's
 * contract), because the peer's window now holds the broadcast.
 *
 * A connection that keeps context takeover is a group of its own: its compressor's window is its
 * history alone. Unless the topic accepts resetting it (`noContextTakeover`), such a connection
 * compresses the message itself, with its own context, as it compresses everything it sends.
 */

import { constants, deflateRawSync } from 'node:zlib';
import { WebSocketError } from '../protocol/errors.js';
import { asBuffer, toBytes } from '../node/util.js';
import { prepareFrame, type PreparedFrame } from '../protocol/prepared.js';
import type { DeflateAgreement } from '../protocol/permessage-deflate.js';
import type { BinaryData } from '../node/send-arguments.js';

export interface CompressionSettings {
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
}

/** The bytes of a message and its kind; text is encoded to UTF-8 here, once. */
export function encodePayload(data: string | BinaryData): { readonly payload: Uint8Array; readonly isText: boolean } {
  if (typeof data === 'string') return { payload: Buffer.from(data, 'utf8'), isText: true };
  const bytes = toBytes(data);
  if (bytes !== null) return { payload: bytes, isText: false };
  throw new WebSocketError(
    'WS_ERR_INVALID_ARGUMENT',
    `a message must be a string, a Uint8Array, an ArrayBuffer or a DataView, got ${typeof data}`,
  );
}

/** RFC 7692 7.2.1: the 4 octets a sync flush ends with, removed before sending. */
const TAIL_LENGTH = 4;

/**
 * `payload` deflated with a fresh context, sync-flushed, tail removed; null if zlib refuses the
 * parameters. Window bits 8: zlib >= 1.2.9 rejects a 256-byte window for raw deflate, and Node
 * turns 8 into 9 for DeflateRaw (nodejs/node#16511); zlib's deflate never emits a distance above
 * its window minus MIN_LOOKAHEAD (262), 250 bytes for a 512-byte window (madler/zlib#291, #171),
 * so the stream "effectively uses an 8-bit window only" (Node's zlib docs) and a peer that agreed
 * 8 decodes it. test/hub/encoder.test.ts checks that on the zlib Node ships.
 */
export function deflateFresh(payload: Uint8Array, windowBits: number, level: number, memLevel: number): Uint8Array | null {
  let out: Buffer;
  try {
    out = deflateRawSync(payload, { windowBits, level, memLevel, finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    // RFC 7692 allows any message to be sent uncompressed (RSV1 clear), so no group is stuck.
    return null;
  }
  const end = out.length - TAIL_LENGTH;
  if (end < 0 || out[end] !== 0x00 || out[end + 1] !== 0x00 || out[end + 2] !== 0xff || out[end + 3] !== 0xff) return null;
  return out.subarray(0, end);
}

/**
 * prepareFrame() with the frame's bytes as a Buffer (the same memory): a frame written alone is
 * handed to the socket as it is, and a socket given a Uint8Array that is not a Buffer makes a
 * Buffer view of it on every write (10,000 of them for a broadcast to 10,000).
 */
function prepareBufferFrame(isText: boolean, payload: Uint8Array, deflateWindowBits?: number): PreparedFrame {
  const prepared = prepareFrame(isText, payload, deflateWindowBits);
  return { ...prepared, frame: asBuffer(prepared.frame) };
}

/** What frameFor() returns for a connection that compresses the message with its own context (HubConnection.send). */
export const OWN_COMPRESSOR = null;

/** One message on its way to many connections: its frames, built lazily, at most one per encoding. */
export class OutgoingMessage {
  readonly payload: Uint8Array;
  readonly isText: boolean;
  /** The uncompressed frame; its payload is the hub's own immutable copy of the message. */
  readonly plain: PreparedFrame;
  private readonly settings: CompressionSettings;
  /** By window bits: the compressed frame, or `plain` when compression does not pay or failed. */
  private readonly deflated: (PreparedFrame | undefined)[] = [];

  constructor(payload: Uint8Array, isText: boolean, settings: CompressionSettings) {
    this.plain = prepareBufferFrame(isText, payload);
    this.payload = this.plain.payload;
    this.isText = isText;
    this.settings = settings;
  }

  /**
   * The frame for a connection, or OWN_COMPRESSOR when the connection must compress the message
   * itself. Uncompressed (RFC 7692 lets any message go so) without permessage-deflate or under
   * the threshold. Otherwise the shared fresh-context frame of the connection's window size when
   * the connection resets its compressor after every message anyway, or when the caller accepts
   * that it will reset it (`noContextTakeover`); and for a connection that keeps context takeover
   * otherwise, OWN_COMPRESSOR: its own context, as the user who turned compression on asked.
   */
  frameFor(deflate: DeflateAgreement | null, noContextTakeover: boolean): PreparedFrame | typeof OWN_COMPRESSOR {
    if (deflate === null || this.payload.length < this.settings.threshold) return this.plain;
    if (!deflate.ourNoContextTakeover && !noContextTakeover) return OWN_COMPRESSOR;
    const bits = deflate.ourMaxWindowBits;
    if (!Number.isInteger(bits) || bits < 8 || bits > 15) return this.plain;
    return (this.deflated[bits] ??= this.compress(bits));
  }

  private compress(bits: number): PreparedFrame {
    const { level, memLevel } = this.settings;
    const compressed = deflateFresh(this.payload, bits, level, memLevel);
    // Sending a compressed message no smaller than the original would only cost the peer work.
    if (compressed === null || compressed.length >= this.payload.length) return this.plain;
    return prepareBufferFrame(this.isText, compressed, bits);
  }
}

/**
 * Reads a WebSocket connection as recorded on the wire (by tap.ts): the HTTP head, then the frames
 * of RFC 6455 5.2, unmasked, and permessage-deflate messages inflated (RFC 7692 7.2.2). The
 * reading is testkit's, independent of src/protocol on purpose: it checks our server's bytes, so
 * it must not share the server's code.
 */

import { MessageInflater, parseClose, parseHead, readFrames, splitHead } from '../../testkit/index.js';

export interface WireFrame {
  readonly fin: boolean;
  readonly rsv1: boolean;
  readonly opcode: number;
  readonly masked: boolean;
  /** Unmasked. */
  readonly payload: Buffer;
}

export interface WireStream {
  /** The HTTP head, up to and without the blank line. */
  readonly head: string;
  readonly frames: readonly WireFrame[];
}

/** Splits a recorded direction of a connection into its HTTP head and its complete frames. */
export function readWireStream(chunks: readonly Buffer[]): WireStream {
  const split = splitHead(Buffer.concat(chunks));
  if (split === null) throw new Error('no complete HTTP head in the recorded bytes');
  // A recording that ends inside a frame gives the frames before it.
  const frames = readFrames(split.rest).frames.map(({ fin, rsv, opcode, masked, payload }) => ({
    fin,
    rsv1: (rsv & 4) !== 0,
    opcode,
    masked,
    payload,
  }));
  return { head: split.head, frames };
}

/** A header's value in an HTTP head (name case-insensitive; repeated headers joined with ', '), or undefined. */
export function headerValue(head: string, name: string): string | undefined {
  return parseHead(head).headers[name.toLowerCase()];
}

export interface WireMessage {
  readonly opcode: number;
  /** Whether the first frame had RSV1: the message was compressed. */
  readonly compressed: boolean;
  readonly frames: number;
  /** The message as the application sees it: reassembled and inflated. */
  readonly data: Buffer;
}

/**
 * The data messages of one direction, in order, reassembled from their fragments; compressed ones
 * are inflated with one context for the whole direction (context takeover; with no context
 * takeover negotiated each message is self-contained, and this reads it too). Control frames are
 * left out: they are in `frames`.
 */
export async function readMessages(frames: readonly WireFrame[]): Promise<WireMessage[]> {
  const inflater = new MessageInflater();
  const messages: WireMessage[] = [];
  let current: { opcode: number; compressed: boolean; parts: Buffer[] } | null = null;
  try {
    for (const frame of frames) {
      if (frame.opcode >= 0x8) continue;
      if (frame.opcode !== 0) current = { opcode: frame.opcode, compressed: frame.rsv1, parts: [] };
      if (current === null) throw new Error('a continuation frame with no message');
      current.parts.push(frame.payload);
      if (!frame.fin) continue;
      const payload = Buffer.concat(current.parts);
      const data = current.compressed ? await inflater.inflate(payload) : payload;
      messages.push({ opcode: current.opcode, compressed: current.compressed, frames: current.parts.length, data });
      current = null;
    }
  } finally {
    inflater.close();
  }
  return messages;
}

/** A close frame's payload as code and reason (1005 with no code, RFC 6455 7.1.5). */
export function closeOf(frame: WireFrame): { code: number; reason: string } {
  return parseClose(frame.payload);
}

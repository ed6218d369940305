/**
 * Reads a WebSocket connection as recorded on the wire (by tap.ts): the HTTP head, then the frames
 * of RFC 6455 5.2, unmasked, and permessage-deflate messages inflated (RFC 7692 7.2.2). Written
 * independently of src/protocol on purpose: it checks our server's bytes, so it must not share
 * the server's code.
 */

import { constants, createInflateRaw, type InflateRaw } from 'node:zlib';

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
  const bytes = Buffer.concat(chunks);
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) throw new Error('no complete HTTP head in the recorded bytes');
  const frames: WireFrame[] = [];
  let pos = end + 4;
  while (pos + 2 <= bytes.length) {
    const b0 = bytes[pos]!;
    const b1 = bytes[pos + 1]!;
    let length = b1 & 0x7f;
    let at = pos + 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(bytes.readBigUInt64BE(at));
      at += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(at, at + 4) : null;
    if (masked) at += 4;
    if (at + length > bytes.length) break; // the recording ends inside a frame
    const payload = Buffer.from(bytes.subarray(at, at + length));
    if (key !== null) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
    frames.push({ fin: (b0 & 0x80) !== 0, rsv1: (b0 & 0x40) !== 0, opcode: b0 & 0x0f, masked, payload });
    pos = at + length;
  }
  return { head: bytes.subarray(0, end).toString('latin1'), frames };
}

/** A header's value in an HTTP head (first occurrence, name case-insensitive), or undefined. */
export function headerValue(head: string, name: string): string | undefined {
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === name.toLowerCase()) return line.slice(colon + 1).trim();
  }
  return undefined;
}

export interface WireMessage {
  readonly opcode: number;
  /** Whether the first frame had RSV1: the message was compressed. */
  readonly compressed: boolean;
  readonly frames: number;
  /** The message as the application sees it: reassembled and inflated. */
  readonly data: Buffer;
}

const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * The data messages of one direction, in order, reassembled from their fragments; compressed ones
 * are inflated with one context for the whole direction (context takeover; with no context
 * takeover negotiated each message is self-contained, and this reads it too). Control frames are
 * left out: they are in `frames`.
 */
export async function readMessages(frames: readonly WireFrame[]): Promise<WireMessage[]> {
  const inflater = createInflateRaw();
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
      const data = current.compressed ? await inflate(inflater, payload) : payload;
      messages.push({ opcode: current.opcode, compressed: current.compressed, frames: current.parts.length, data });
      current = null;
    }
  } finally {
    inflater.close();
  }
  return messages;
}

function inflate(inflater: InflateRaw, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer): void => void chunks.push(chunk);
    inflater.on('data', onData);
    inflater.once('error', reject);
    inflater.write(Buffer.concat([payload, TAIL]));
    inflater.flush(constants.Z_SYNC_FLUSH, () => {
      inflater.off('data', onData);
      inflater.off('error', reject);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A close frame's payload as code and reason (1005 with no payload, RFC 6455 7.1.5). */
export function closeOf(frame: WireFrame): { code: number; reason: string } {
  if (frame.payload.length === 0) return { code: 1005, reason: '' };
  return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') };
}

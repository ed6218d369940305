/**
 * A client's permessage-deflate inflater that keeps its window between messages (RFC 7692 7.2.2
 * with context takeover), for tests that read compressed server frames off a raw socket: each
 * message is inflated in order with everything before it, as a browser does.
 */

import { constants, createInflateRaw, type InflateRaw } from 'node:zlib';
import { defer } from '../node/helpers.js';

// RFC 7692 7.2.2: the sender removed these 4 octets; the receiver appends them before inflating.
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export class ContextInflater {
  private readonly stream: InflateRaw;
  private chunks: Buffer[] = [];
  private failure: Error | null = null;

  constructor(windowBits = 15) {
    this.stream = createInflateRaw({ windowBits });
    this.stream.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    this.stream.on('error', (error: Error) => (this.failure = error));
    defer(() => this.stream.close());
  }

  /** The message a compressed payload (RSV1 set, tail removed) carries. Call in arrival order. */
  inflate(payload: Uint8Array): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.stream.write(Buffer.concat([payload, TAIL]));
      this.stream.flush(constants.Z_SYNC_FLUSH, () => {
        if (this.failure !== null) return reject(this.failure);
        const out = Buffer.concat(this.chunks);
        this.chunks = [];
        resolve(out);
      });
    });
  }
}

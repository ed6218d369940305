/**
 * The start of the body of a refused handshake, for the error that reports it: what came with the
 * head, and what follows for a moment, decoded by the core's rules (http-body.ts).
 */

import type { Duplex } from 'node:stream';
import { bodyFraming, readBodyPrefix } from '../../protocol/http-body.js';
import type { ResponseHead } from '../../protocol/http-response.js';

// How much of a refused handshake's body is kept for the error (issue 9: "the first KiB").
export const BODY_BYTES = 1024;
// How long to wait for that body once the head is in: servers send it with the head, and the
// error should not wait for a body that trickles or never ends.
const BODY_WAIT_MS = 1000;

/**
 * The first KiB of a refused handshake's body, from what came with the head and what follows
 * for a moment. Never rejects: a body that cannot be read is reported as what was read.
 */
export async function readBody(socket: Duplex, head: ResponseHead, rest: Uint8Array): Promise<Buffer> {
  let framing;
  try {
    framing = bodyFraming(head);
  } catch {
    return Buffer.from(rest.subarray(0, BODY_BYTES));
  }
  let received = Buffer.from(rest);
  const prefix = (): Buffer => {
    try {
      return Buffer.from(readBodyPrefix(framing, received, BODY_BYTES).body);
    } catch {
      return received.subarray(0, BODY_BYTES);
    }
  };
  const done = (): boolean => {
    try {
      const result = readBodyPrefix(framing, received, BODY_BYTES);
      // Not `truncated`: for a Content-Length over BODY_BYTES it is set before any byte has
      // arrived; what counts is that the first KiB is here.
      return result.complete || result.body.length >= BODY_BYTES;
    } catch {
      return true;
    }
  };
  if (done() || socket.destroyed) return prefix();
  await readUntil(socket, (chunk) => {
    received = Buffer.concat([received, chunk]);
    return done() || received.length > BODY_BYTES * 64;
  });
  return prefix();
}

/**
 * The first KiB of the body of an HTTP/2 response that refused the WebSocket (its DATA frames up
 * to END_STREAM), waiting no longer than for an HTTP/1.1 body. Never rejects.
 */
export async function readStreamBody(stream: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  if (stream.destroyed || stream.readableEnded) return Buffer.alloc(0);
  await readUntil(stream, (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
    return size >= BODY_BYTES;
  });
  return Buffer.concat(chunks, size).subarray(0, BODY_BYTES);
}

/**
 * Hands each chunk of `stream` to `take` until it says it has enough, the stream ends, closes or
 * fails, or BODY_WAIT_MS pass; then stops listening. Never rejects.
 */
function readUntil(stream: Duplex, take: (chunk: Buffer) => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', finish);
      stream.off('close', finish);
      stream.off('error', finish);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      if (take(chunk)) finish();
    };
    const timer = setTimeout(finish, BODY_WAIT_MS);
    stream.on('data', onData);
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    stream.resume();
  });
}

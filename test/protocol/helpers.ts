/**
 * Shared helpers for the protocol tests. The frame builder is testkit's, written independently of
 * src/protocol/frame.ts (byte by byte, the obvious way), so parser tests do not depend on the
 * serializer they would otherwise share bugs with.
 */

import fc from 'fast-check';
import { expect } from 'vitest';
import { ProtocolError, WebSocketError } from '../../src/protocol/errors.js';
import { FrameParser, type ParserHandler, type ParserOptions } from '../../src/protocol/parser.js';
import { buildFrame, type FrameFields } from '../../testkit/index.js';

/** Lower-case hex with no separators: "810548656c6c6f". */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Bytes from hex; spaces, "0x" prefixes and commas are ignored: "0x81 0x05" or "81 05". */
export function fromHex(text: string): Uint8Array {
  const clean = text.replace(/0x/gi, '').replace(/[\s,]/g, '');
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error(`bad hex: ${text}`);
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** `length` bytes of a recognisable pattern (seeded), without paying for random generation. */
export function patternBytes(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export const RFC_MASK = fromHex('37 fa 21 3d');

/**
 * A frame to build: testkit's fields (any bits, forced length forms, a declared length other than
 * the payload's), masked only with a given key: protocol tests know every byte.
 */
export type RawFrame = Omit<FrameFields, 'mask'> & { readonly mask?: Uint8Array };

/** Builds one frame, byte by byte, independently of the code under test (testkit's builder). */
export function frame(spec: RawFrame): Uint8Array {
  return new Uint8Array(buildFrame(spec));
}

/** A masked client-to-server frame (the key defaults to the RFC 6455 5.7 one). */
export function masked(spec: RawFrame): Uint8Array {
  return frame({ ...spec, mask: spec.mask ?? RFC_MASK });
}

export type ParserEvent =
  | { type: 'message'; isText: boolean; data: string }
  | { type: 'control'; opcode: number; data: string };

/** A ParserHandler that records every event, payloads as hex copies. */
export class RecordingHandler implements ParserHandler {
  readonly events: ParserEvent[] = [];
  /** The payload objects exactly as the parser passed them. */
  readonly payloads: Uint8Array[] = [];

  onMessage(payload: Uint8Array, isText: boolean): void {
    this.payloads.push(payload);
    this.events.push({ type: 'message', isText, data: hex(payload) });
  }

  onControlFrame(opcode: number, payload: Uint8Array): void {
    this.payloads.push(payload);
    this.events.push({ type: 'control', opcode, data: hex(payload) });
  }
}

export function textEvent(text: string): ParserEvent {
  return { type: 'message', isText: true, data: hex(utf8(text)) };
}

export function binaryEvent(bytes: Uint8Array): ParserEvent {
  return { type: 'message', isText: false, data: hex(bytes) };
}

export function controlEvent(opcode: number, bytes: Uint8Array = new Uint8Array(0)): ParserEvent {
  return { type: 'control', opcode, data: hex(bytes) };
}

export function makeParser(
  options: Partial<ParserOptions> = {},
): { parser: FrameParser; handler: RecordingHandler } {
  const handler = new RecordingHandler();
  const parser = new FrameParser(handler, {
    role: 'server',
    maxPayload: 1 << 24,
    maxFragments: 1 << 16,
    ...options,
  });
  return { parser, handler };
}

/** Runs `fn` and returns what it threw; fails the test when it does not throw. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw, it returned normally');
}

/** Asserts that `fn` throws a ProtocolError with exactly this code and close code. */
export function expectProtocolError(fn: () => unknown, code: string, closeCode: number): ProtocolError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(ProtocolError);
  const pe = error as ProtocolError;
  expect({ code: pe.code, closeCode: pe.closeCode }).toEqual({ code, closeCode });
  return pe;
}

/** Asserts that `fn` throws a WebSocketError (any subclass) with exactly this code. */
export function expectWebSocketError(fn: () => unknown, code: string): WebSocketError {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(WebSocketError);
  expect((error as WebSocketError).code).toBe(code);
  return error as WebSocketError;
}

/** Splits `bytes` into copies at the given cut points (any order, duplicates and ends ignored). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.filter((c) => c > 0 && c < bytes.length))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    chunks.push(bytes.slice(start, p));
    start = p;
  }
  chunks.push(bytes.slice(start));
  return chunks;
}

/** Every byte as its own chunk (copies). */
export function byteChunks(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.slice(i, i + 1));
  return out;
}

/**
 * Strings of well-formed Unicode, biased so that 1-, 2-, 3- and 4-byte UTF-8 characters and the
 * boundaries between them all appear. (fc.string's 'binary' unit costs ~0.7 s to warm up.)
 */
export function unicodeString(constraints: { minLength?: number; maxLength: number }): fc.Arbitrary<string> {
  const codePoint = fc.oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0x7ff }),
    fc.integer({ min: 0x800, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff),
    fc.integer({ min: 0x10000, max: 0x10ffff }),
    fc.constantFrom(0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x10ffff),
  );
  return fc.array(codePoint, constraints).map((cps) => String.fromCodePoint(...cps));
}

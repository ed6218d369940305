/**
 * In-process microbenchmark of the receive path of large messages: the frame parser fed masked
 * binary frames in the chunks a socket delivers (64 KiB), each chunk a fresh buffer as Node's
 * reads are, with each masking kernel. Prints ns per payload byte, the median of interleaved
 * rounds (the machine may be busy: only the medians of interleaved runs compare).
 *
 *   npx tsx bench/mask-micro.ts                    # parser and kernel tables, 9 rounds
 *   npx tsx bench/mask-micro.ts --rounds 15
 *   npx tsx bench/mask-micro.ts --only parser-1m --kernel simd --mib 32 --rounds 1
 *
 * The last form runs one case once, for instruction counts that do not depend on the load:
 *
 *   valgrind --tool=callgrind --callgrind-out-file=/dev/null node --import tsx/esm bench/mask-micro.ts \
 *     --only parser-1m --kernel simd --mib 16 --rounds 1
 *
 * (the same with --mib 48: the difference of the two totals, divided by 32, is per MiB; `--kernel
 * none` counts the harness alone, to subtract). `node --predictable` makes the counts repeatable
 * (no concurrent compiler or collector threads).
 */

import { parseArgs } from 'node:util';
import { type ParserHandler, FrameParser } from '../src/protocol/parser.js';
import * as mask from '../src/protocol/mask.js';
import { allocBuffer, isUtf8Buffer } from '../src/node/runtime.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    mib: { type: 'string', default: '64' },
    only: { type: 'string' },
    kernel: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const mib = Number(values.mib);

const CHUNK = 64 * 1024;
const KEY = [0x37, 0xfa, 0x21, 0x3d];

/** `count` masked binary frames of `size` bytes, back to back, as a client sends them. */
function stream(size: number, count: number): Buffer {
  const header = size < 126 ? 6 : size < 65536 ? 8 : 14;
  const frame = Buffer.alloc(header + size);
  frame[0] = 0x82;
  if (size < 126) frame[1] = 0x80 | size;
  else if (size < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(size, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(size), 2);
  }
  frame.set(KEY, header - 4);
  for (let i = 0; i < size; i++) frame[header + i] = ((i * 31) & 0xff) ^ KEY[i & 3]!;
  return Buffer.concat(Array.from({ length: count }, () => frame));
}

interface ParserCase {
  readonly size: number;
  readonly chunks: Buffer[];
  readonly bytes: number;
}

function parserCase(size: number): ParserCase {
  const count = Math.max(1, Math.round((mib * 1024 * 1024) / size));
  const all = stream(size, count);
  const chunks: Buffer[] = [];
  for (let at = 0; at < all.length; at += CHUNK) chunks.push(all.subarray(at, Math.min(all.length, at + CHUNK)));
  return { size, chunks, bytes: size * count };
}

/** Feeds the case once; returns ns per payload byte, counting only the time in push(). */
function runParser(c: ParserCase, push = true): number {
  let received = 0;
  const handler: ParserHandler = {
    onMessage(payload) {
      received += payload.length;
    },
    onControlFrame() {},
  };
  const parser = new FrameParser(handler, { role: 'server', alloc: allocBuffer, isUtf8: isUtf8Buffer });
  let ns = 0n;
  for (const source of c.chunks) {
    // A fresh buffer per read, filled by "the kernel", as Node's socket reads are.
    const chunk = Buffer.allocUnsafeSlow(source.length);
    chunk.set(source);
    const t0 = process.hrtime.bigint();
    if (push) parser.push(chunk);
    ns += process.hrtime.bigint() - t0;
  }
  if (push && received !== c.bytes) throw new Error(`received ${received} of ${c.bytes}`);
  return Number(ns) / c.bytes;
}

// Kernel-level variants on 64 KiB pieces: a source chunk into a 1 MiB message buffer.
const maskBytes = new Uint8Array(4);
const maskWord = new Int32Array(maskBytes.buffer);
function rotatedWord(phase: number): number {
  for (let i = 0; i < 4; i++) maskBytes[i] = KEY[(phase + i) & 3]!;
  return maskWord[0]!;
}

/**
 * The fused TypeScript kernel that was measured against the others: one pass, Int32Array views
 * of source and target when their addresses agree modulo 4 (else copy, then XOR).
 */
function fusedTypeScript(source: Uint8Array, start: number, end: number, target: Uint8Array, at: number): void {
  const n = end - start;
  if (((source.byteOffset + start - target.byteOffset - at) & 3) !== 0) {
    target.set(source.subarray(start, end), at);
    inPlaceTypeScript(target, at, at + n);
    return;
  }
  let i = 0;
  while (((target.byteOffset + at + i) & 3) !== 0) {
    target[at + i] = source[start + i]! ^ KEY[i & 3]!;
    i++;
  }
  const words = (n - i) >>> 2;
  const m = rotatedWord(i);
  const from = new Int32Array(source.buffer, source.byteOffset + start + i, words);
  const to = new Int32Array(target.buffer, target.byteOffset + at + i, words);
  let w = 0;
  const unrolled = words & ~7;
  while (w < unrolled) {
    to[w] = from[w]! ^ m;
    to[w + 1] = from[w + 1]! ^ m;
    to[w + 2] = from[w + 2]! ^ m;
    to[w + 3] = from[w + 3]! ^ m;
    to[w + 4] = from[w + 4]! ^ m;
    to[w + 5] = from[w + 5]! ^ m;
    to[w + 6] = from[w + 6]! ^ m;
    to[w + 7] = from[w + 7]! ^ m;
    w += 8;
  }
  while (w < words) {
    to[w] = from[w]! ^ m;
    w++;
  }
  for (i += words << 2; i < n; i++) target[at + i] = source[start + i]! ^ KEY[i & 3]!;
}

/**
 * In place, as mask.ts's TypeScript kernel does (aligned middle by Int32Array, 8 per iteration).
 * A copy, not an import: that kernel is private, and the variants here must stay the same code
 * whichever tree's mask.ts the parser cases measure.
 */
function inPlaceTypeScript(data: Uint8Array, start: number, end: number): void {
  let i = start;
  while (((data.byteOffset + i) & 3) !== 0 && i < end) {
    data[i] = data[i]! ^ KEY[(i - start) & 3]!;
    i++;
  }
  const words = (end - i) >>> 2;
  const m = rotatedWord(i - start);
  const view = new Int32Array(data.buffer, data.byteOffset + i, words);
  let w = 0;
  const unrolled = words & ~7;
  while (w < unrolled) {
    view[w] = view[w]! ^ m;
    view[w + 1] = view[w + 1]! ^ m;
    view[w + 2] = view[w + 2]! ^ m;
    view[w + 3] = view[w + 3]! ^ m;
    view[w + 4] = view[w + 4]! ^ m;
    view[w + 5] = view[w + 5]! ^ m;
    view[w + 6] = view[w + 6]! ^ m;
    view[w + 7] = view[w + 7]! ^ m;
    w += 8;
  }
  while (w < words) {
    view[w] = view[w]! ^ m;
    w++;
  }
  for (i += words << 2; i < end; i++) data[i] = data[i]! ^ KEY[(i - start) & 3]!;
}

type Kernel = (source: Uint8Array, start: number, end: number, target: Uint8Array, at: number) => void;

function kernelVariants(): Record<string, Kernel> {
  const { copyMaskKey, packMask } = mask;
  const key = packMask(Uint8Array.from(KEY));
  return {
    'copy, then XOR (TypeScript)': (s, a, b, t, at) => {
      t.set(s.subarray(a, b), at);
      inPlaceTypeScript(t, at, at + b - a);
    },
    'fused (TypeScript)': fusedTypeScript,
    'SIMD (copy in, XOR, copy out)': (s, a, b, t, at) => copyMaskKey(s, a, b, t, at, key, 0),
  };
}

/** 1 MiB of payload from 64 KiB chunks (the first piece after a 14-byte header) into one buffer. */
function runKernel(kernel: Kernel, sources: Buffer[], target: Buffer): number {
  const t0 = process.hrtime.bigint();
  let at = 0;
  let start = 14;
  for (const source of sources) {
    const end = Math.min(source.length, start + target.length - at);
    kernel(source, start, end, target, at);
    at += end - start;
    start = 0;
  }
  return Number(process.hrtime.bigint() - t0) / at;
}

/** The kernel switch (a tree from before it had one has only its TypeScript kernel). */
function setMaskKernel(kind: 'auto' | 'typescript'): boolean {
  const set = (mask as { setMaskKernel?: (kind: 'auto' | 'typescript') => boolean }).setMaskKernel;
  return set === undefined ? false : set(kind);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

async function main(): Promise<void> {
  const kernels = values.kernel === undefined ? ['typescript', 'simd'] : [values.kernel];
  const cases = { 'parser-1m': 1024 * 1024, 'parser-16k': 16 * 1024, 'parser-4k': 4 * 1024 };
  const selected = Object.entries(cases).filter(([name]) => values.only === undefined || values.only === name);
  const results = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const [name, size] of selected) {
      const c = parserCase(size);
      for (const kernel of kernels) {
        const simd = setMaskKernel(kernel === 'simd' ? 'auto' : 'typescript');
        if (kernel === 'simd' && !simd) throw new Error('no WebAssembly SIMD here');
        // 'none': the harness alone (chunks made and filled, nothing parsed), for instruction counts.
        const ns = runParser(c, kernel !== 'none');
        const key = `${name} ${kernel}`;
        results.set(key, [...(results.get(key) ?? []), ns]);
      }
    }
  }
  // (A tree from before the SIMD kernel has none of these variants.)
  if ((values.only === undefined || values.only === 'kernel') && setMaskKernel('auto')) {
    const variants = kernelVariants();
    const sources = Array.from({ length: 17 }, (_, i) => Buffer.allocUnsafeSlow(CHUNK).fill(i));
    const targets = [Buffer.allocUnsafe(1024 * 1024), Buffer.allocUnsafe(1024 * 1024)];
    for (let round = 0; round < rounds; round++) {
      for (const [name, kernel] of Object.entries(variants)) {
        let sum = 0;
        for (let k = 0; k < 16; k++) sum += runKernel(kernel, sources, targets[k & 1]!);
        const key = `kernel 64 KiB pieces: ${name}`;
        results.set(key, [...(results.get(key) ?? []), sum / 16]);
      }
    }
  }
  if (rounds === 1 && values.only !== undefined) return; // a callgrind run: no table
  console.log(`| case | kernel | ns/byte (median of ${rounds}) | min | max | GB/s |`);
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const [key, list] of results) {
    const [name, ...rest] = key.startsWith('kernel') ? ['kernel 64 KiB pieces', key.slice(22)] : key.split(' ');
    const m = median(list);
    console.log(
      `| ${name} | ${rest.join(' ')} | ${m.toFixed(4)} | ${Math.min(...list).toFixed(4)} | ${Math.max(...list).toFixed(4)} | ${(1 / m).toFixed(1)} |`,
    );
  }
}

await main();

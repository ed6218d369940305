/**
 * What every mode of the load generator (bench/load.ts) shares: talking to the parent over IPC,
 * the measurement window, the CPU it used, opening connections (with the handshake, or none for a
 * raw server) onto one shared read buffer, and the payloads.
 */

import { connect, type Socket } from 'node:net';
import { readUpgradeResponse, upgradeRequest, type HandshakeKey } from '../../testkit/index.js';
import type { FromGenerator, LoadSpec } from './ipc.js';

export const send = process.send?.bind(process);

export function emit(message: FromGenerator, then?: () => void): void {
  if (send === undefined) {
    if (message.type === 'result') console.log(JSON.stringify(message.result, null, 2));
    else if (message.type === 'error') console.error(message.message);
    then?.();
    return;
  }
  send(message, undefined, {}, () => then?.());
}

let resumeParent: (() => void) | null = null;

/** The parent's { type: 'continue' }: the step waiting in phase() goes on. */
export function resumeFromParent(): void {
  const resume = resumeParent;
  resumeParent = null;
  resume?.();
}

/** Tells the parent where the run is and waits for it to answer (immediately when standalone). */
export function phase(name: 'baseline' | 'opened' | 'subscribed', connections: number): Promise<void> {
  if (send === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    resumeParent = resolve;
    emit({ type: 'phase', name, connections });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A run fails as a whole at its first error: a server that misbehaves gives no number. */
export class Failure {
  readonly promise: Promise<never>;
  error: Error | null = null;
  private rejectPromise!: (error: Error) => void;

  constructor() {
    this.promise = new Promise<never>((_, reject) => {
      this.rejectPromise = reject;
    });
    this.promise.catch(() => {});
  }

  fail(error: unknown): void {
    if (this.error !== null) return;
    this.error = error instanceof Error ? error : new Error(String(error));
    this.rejectPromise(this.error);
  }

  /** Waits ms, or rejects as soon as the run fails. */
  wait(ms: number): Promise<void> {
    return Promise.race([sleep(ms), this.promise]);
  }
}

export interface Snapshot {
  readonly at: number;
  readonly cpu: NodeJS.CpuUsage;
}

export function snapshot(): Snapshot {
  return { at: performance.now(), cpu: process.cpuUsage() };
}

/** CPU used between two snapshots, in % of one core. */
export function cpuPercent(from: Snapshot, to: Snapshot): number {
  const used = to.cpu.user - from.cpu.user + (to.cpu.system - from.cpu.system);
  return (used / 1000 / (to.at - from.at)) * 100;
}

export interface Window {
  readonly count: number;
  readonly windowMs: number;
  readonly generatorCpu: number;
}

/**
 * Warms up for spec.warmupMs, then measures for spec.durationMs between a 'start' and an 'end'
 * mark (the harness reads the server's CPU at each). `counter` reads the running total of what is
 * counted; `setMeasuring` tells the load whether to record latencies. `atLeast`: the window goes
 * on past spec.durationMs (at most `maxExtraMs` more) until `done()` holds, so that a server
 * starved on a busy machine still completes one unit of work in it (fan-out: one message at every
 * subscriber, without which there is no latency); the rates are per the window's real length.
 */
export async function measureWindow(
  spec: { readonly warmupMs: number; readonly durationMs: number },
  failure: Failure,
  counter: () => number,
  setMeasuring: (on: boolean) => void,
  atLeast?: { readonly done: () => boolean; readonly maxExtraMs: number },
): Promise<Window> {
  await failure.wait(spec.warmupMs);
  const before = counter();
  const start = snapshot();
  setMeasuring(true);
  emit({ type: 'mark', phase: 'start' });
  await failure.wait(spec.durationMs);
  if (atLeast !== undefined) {
    const deadline = performance.now() + atLeast.maxExtraMs;
    while (!atLeast.done() && performance.now() < deadline) await failure.wait(5);
  }
  setMeasuring(false);
  const end = snapshot();
  emit({ type: 'mark', phase: 'end' });
  return { count: counter() - before, windowMs: end.at - start.at, generatorCpu: cpuPercent(start, end) };
}

// --- Connecting --------------------------------------------------------------------------------

/**
 * Every socket of the generator reads into this one buffer (net's `onread`): no allocation per
 * read, and reads of up to 1 MiB. A chunk is only valid until the callback handling it returns;
 * whatever must outlive it (handshake bytes, sampled payloads) is copied.
 */
export const READ_BUFFER = Buffer.allocUnsafe(1024 * 1024);

export interface Opened {
  readonly socket: Socket;
  readonly extensions: string | undefined;
  /**
   * Hands the connection's bytes to `handler` from now on, starting with those that came with or
   * after the 101 (the first frames, if any).
   */
  attach(handler: (chunk: Buffer) => void): void;
}

/** Connects and, for a WebSocket server, performs the opening handshake (a GET of `path`). */
export function open(spec: LoadSpec, key: HandshakeKey, extensions?: string, path = '/'): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let received: Buffer = Buffer.alloc(0);
    // Bytes after the handshake, until the caller attaches its handler.
    const early: Buffer[] = [];
    let handler: (chunk: Buffer) => void = (chunk) => onHandshakeData(chunk);
    const socket = connect({
      host: spec.host,
      port: spec.port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array): boolean => {
          handler((buffer as Buffer).subarray(0, length));
          return true;
        },
      },
    });
    const cleanup = (): void => {
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onError = (error: Error): void => {
      cleanup();
      socket.destroy();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('the server closed the connection during the handshake'));
    };
    const opened = (responseExtensions: string | undefined): void => {
      cleanup();
      handler = (chunk) => early.push(Buffer.from(chunk));
      resolve({
        socket,
        extensions: responseExtensions,
        attach(next) {
          handler = next;
          for (const chunk of early.splice(0)) next(chunk);
        },
      });
    };
    const onHandshakeData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      let response;
      try {
        response = readUpgradeResponse(received, key.accept);
      } catch (error) {
        onError(error as Error);
        return;
      }
      if (response === null) return;
      if (response.rest.length > 0) early.push(response.rest);
      opened(response.extensions);
    };
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once('connect', () => {
      if (spec.protocol === 'raw') opened(undefined);
      else {
        const headers = extensions === undefined ? {} : { 'Sec-WebSocket-Extensions': extensions };
        socket.write(upgradeRequest({ host: `${spec.host}:${spec.port}`, key: key.key, path, headers }), 'latin1');
      }
    });
  });
}

/** Runs `task(i)` for i in [0, count) with at most `parallel` in progress. */
export async function pool(count: number, parallel: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
}

// --- Payloads ----------------------------------------------------------------------------------

/** Realistic compressible text: a JSON array of records, padded with whitespace to `size` bytes. */
export function jsonLike(size: number): Buffer {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
  const tags = ['admin', 'beta', 'premium', 'trial', 'staff', 'partner'];
  let seed = 42;
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  let out = '[';
  for (let i = 0; ; i++) {
    const name = names[Math.floor(random() * names.length)]!;
    const record = JSON.stringify({
      id: 100_000 + Math.floor(random() * 900_000),
      name,
      email: `${name}.${i}@example.com`,
      active: random() < 0.7,
      score: Math.round(random() * 10_000) / 100,
      tags: tags.filter(() => random() < 0.3),
      createdAt: new Date(Date.UTC(2024, Math.floor(random() * 12), 1 + Math.floor(random() * 28))).toISOString(),
    });
    if (out.length + record.length + 2 > size) break;
    out += (i === 0 ? '' : ',') + record;
  }
  out += ']';
  return Buffer.from(out.padEnd(size, ' '), 'latin1');
}

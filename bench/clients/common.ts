/**
 * The client benchmarks (issue 9): a client library drives the load itself, in the load
 * generator's place (same IPC, same measurement window, pinned to the other core), against one
 * server both libraries share (our echo server). What is measured is the client: messages per
 * second with `inflight` messages outstanding per connection, and connects per second (connect,
 * handshake, close, until TCP is gone).
 *
 * Each library is used the way its README shows: ours with `await connect()` and for-await, ws
 * with its events. bench/clients/ours.ts and ws.ts only adapt the library to ClientLibrary.
 */

import { emit, Failure, measureWindow, resumeFromParent, send } from '../lib/generator.js';
import { Histogram } from '../lib/histogram.js';
import type { EchoResult, EchoSpec, HandshakeResult, HandshakeSpec, LoadSpec, ToGenerator } from '../lib/ipc.js';

export interface EchoConnection {
  /** Sends one text message. */
  send(text: string): void;
  close(): Promise<void>;
}

export interface ClientLibrary {
  readonly name: string;
  /** Opens a connection; `onMessage` gets every text message that arrives. */
  echo(url: string, onMessage: (text: string) => void, onError: (error: unknown) => void): Promise<EchoConnection>;
  /** One full cycle: connect, handshake, close, TCP gone. */
  connectAndClose(url: string): Promise<void>;
}

async function runEcho(library: ClientLibrary, spec: EchoSpec): Promise<EchoResult> {
  if (spec.deflate || spec.opcode !== 'text') throw new Error('the client cases echo plain text only');
  const url = `ws://${spec.host}:${spec.port}/`;
  const failure = new Failure();
  const payload = 'x'.repeat(spec.size);
  const histogram = new Histogram();
  let measuring = false;
  let stopping = false;
  let messages = 0;
  const connections = await Promise.all(
    Array.from({ length: spec.connections }, async () => {
      // Send times of the messages in flight, oldest first (a server echoes in order).
      const sentAt: number[] = [];
      let connection!: EchoConnection;
      const onMessage = (text: string): void => {
        if (text.length !== spec.size) failure.fail(new Error(`an echo of ${text.length} characters`));
        const at = sentAt.shift()!;
        messages++;
        if (measuring) histogram.record(performance.now() - at);
        if (stopping) return;
        sentAt.push(performance.now());
        connection.send(payload);
      };
      connection = await library.echo(url, onMessage, (error) => {
        if (!stopping) failure.fail(error);
      });
      return { connection, sentAt };
    }),
  );
  for (const { connection, sentAt } of connections) {
    for (let i = 0; i < spec.inflight; i++) {
      sentAt.push(performance.now());
      connection.send(payload);
    }
  }
  const window = await measureWindow(spec, failure, () => messages, (on) => (measuring = on));
  stopping = true;
  await Promise.all(connections.map(({ connection }) => connection.close()));
  return {
    mode: 'echo',
    windowMs: window.windowMs,
    messages: window.count,
    messagesPerSec: (window.count / window.windowMs) * 1000,
    mbPerSec: (window.count * spec.size) / window.windowMs / 1000,
    p50Us: histogram.quantileUs(0.5),
    p99Us: histogram.quantileUs(0.99),
    maxUs: histogram.quantileUs(1),
    generatorCpu: window.generatorCpu,
    verified: window.count,
    compressedEchoes: 0,
    extensions: null,
  };
}

async function runConnects(library: ClientLibrary, spec: HandshakeSpec): Promise<HandshakeResult> {
  const url = `ws://${spec.host}:${spec.port}/`;
  const failure = new Failure();
  const histogram = new Histogram();
  let measuring = false;
  let stopping = false;
  let cycles = 0;
  const loop = async (): Promise<void> => {
    while (!stopping) {
      const started = performance.now();
      await library.connectAndClose(url);
      cycles++;
      if (measuring) histogram.record(performance.now() - started);
    }
  };
  const loops = Array.from({ length: spec.loops }, () => loop().catch((error: unknown) => failure.fail(error)));
  const window = await measureWindow(spec, failure, () => cycles, (on) => (measuring = on));
  stopping = true;
  await Promise.all(loops);
  return {
    mode: 'handshake',
    windowMs: window.windowMs,
    handshakes: window.count,
    handshakesPerSec: (window.count / window.windowMs) * 1000,
    p50Us: histogram.quantileUs(0.5),
    p99Us: histogram.quantileUs(0.99),
    generatorCpu: window.generatorCpu,
  };
}

function run(library: ClientLibrary, spec: LoadSpec): Promise<EchoResult | HandshakeResult> {
  if (spec.mode === 'echo') return runEcho(library, spec);
  if (spec.mode === 'handshake') return runConnects(library, spec);
  return Promise.reject(new Error(`the client benchmark has no ${spec.mode} mode`));
}

/** The entry point of a client process: the load generator's protocol (see bench/load.ts). */
export function serveClient(library: ClientLibrary): void {
  if (send === undefined) {
    console.error(`usage: run by bench/run.ts (client ${library.name})`);
    process.exit(2);
  }
  process.on('message', (message: ToGenerator) => {
    if (message.type === 'continue') resumeFromParent();
    if (message.type !== 'run') return;
    run(library, message.spec).then(
      (result) => emit({ type: 'result', result }, () => process.exit(0)),
      (error: unknown) =>
        emit({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () =>
          process.exit(1),
        ),
    );
  });
  process.on('disconnect', () => process.exit(0));
  emit({ type: 'ready' });
}

/**
 * The load generator over HTTP/2 (RFC 8441): the WebSockets of a run are streams of ONE HTTP/2
 * session (h2c, prior knowledge), opened with Node's own `http2` client and an extended CONNECT
 * written here; their frames are testkit's, as bench/load.ts's on TCP. Same IPC, same modes' specs
 * and results (lib/ipc.ts), so that a case compares ours over HTTP/2 with ours over HTTP/1.1:
 *
 *   echo  N streams x K frames in flight; each echo received sends one more frame.
 *   idle  a warm-up of WebSockets opened and closed, then N opened (`parallel` at a time) and
 *         left idle; the parent measures the server's memory before and after.
 *
 * Run by bench/run.ts, pinned to its own core.
 */

import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { OP, closePayload, maskedFrame, repeatFrame } from '../testkit/index.js';
import { FrameParser } from './lib/frames.js';
import { Failure, emit, measureWindow, phase, pool, resumeFromParent, send } from './lib/generator.js';
import { Histogram } from './lib/histogram.js';
import { InFlight, echoResult, idleParser, pushCounting } from './lib/reading.js';
import type { EchoResult, EchoSpec, IdleResult, IdleSpec, LoadResult, LoadSpec, ToGenerator } from './lib/ipc.js';

/** One session for the whole run; resolves once the server has said it takes the extended CONNECT. */
async function session(spec: LoadSpec): Promise<ClientHttp2Session> {
  const client = http2Connect(`http://${spec.host}:${spec.port}`, { settings: { enablePush: false } });
  await new Promise<void>((resolve, reject) => {
    client.once('remoteSettings', (settings) => {
      if (settings.enableConnectProtocol === true) resolve();
      else reject(new Error('the server does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL'));
    });
    client.once('error', reject);
  });
  return client;
}

/** Opens a WebSocket as a stream (RFC 8441 4, 5): resolves once the server's 200 is in. */
function openStream(client: ClientHttp2Session, spec: LoadSpec): Promise<ClientHttp2Stream> {
  const stream = client.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'http',
      ':authority': `${spec.host}:${spec.port}`,
      ':path': '/',
      'sec-websocket-version': '13',
    },
    { endStream: false },
  );
  return new Promise((resolve, reject) => {
    stream.once('response', (headers) => {
      if (headers[':status'] === 200) resolve(stream);
      else reject(new Error(`the server answered ${String(headers[':status'])}`));
    });
    stream.once('error', reject);
  });
}

const CLOSE_FRAME = maskedFrame(OP.CLOSE, closePayload(1000));

/** A WebSocket opened, closed by its closing handshake, its stream ended both ways. */
async function cycle(client: ClientHttp2Session, spec: LoadSpec): Promise<void> {
  const stream = await openStream(client, spec);
  await new Promise<void>((resolve, reject) => {
    stream.on('data', () => {});
    stream.once('end', () => stream.end());
    stream.once('close', () => (stream.rstCode === constants.NGHTTP2_NO_ERROR ? resolve() : reject(new Error(`reset ${stream.rstCode}`))));
    stream.write(CLOSE_FRAME);
  });
}

async function runEcho(spec: EchoSpec): Promise<EchoResult> {
  if (spec.deflate || spec.opcode !== 'text') throw new Error('the HTTP/2 echo sends plain text');
  const failure = new Failure();
  const client = await session(spec);
  client.on('error', (error) => failure.fail(error));
  const payload = Buffer.from('x'.repeat(spec.size), 'latin1');
  const K = spec.inflight;
  const frame = maskedFrame(OP.TEXT, payload);
  const batch = repeatFrame(frame, K);
  const histogram = new Histogram();
  let measuring = false;
  let stopping = false;
  let messages = 0;
  let verified = 0;
  const streams = await Promise.all(Array.from({ length: spec.connections }, () => openStream(client, spec)));
  for (const stream of streams) {
    const parser = new FrameParser(
      {
        control(code) {
          if (code === OP.CLOSE && !stopping) failure.fail(new Error('the server sent a close frame'));
        },
        sample(echo) {
          if (!echo.equals(payload)) failure.fail(new Error('an echo differs from the message sent'));
          verified++;
        },
      },
      OP.TEXT,
      payload.length,
    );
    parser.sampleNext = true;
    const inFlight = new InFlight(K);
    inFlight.start();
    stream.on('data', (chunk: Buffer) => {
      const n = pushCounting(parser, chunk, failure);
      if (n === 0) return;
      messages += n;
      inFlight.echoed(n, measuring ? histogram : null);
      if (!stopping) stream.write(n === K ? batch : batch.subarray(0, n * frame.length));
    });
    stream.on('error', (error) => {
      if (!stopping) failure.fail(error);
    });
    stream.write(batch);
  }
  try {
    const measured = await measureWindow(spec, failure, () => messages, (on) => (measuring = on));
    if (verified < spec.connections) throw new Error(`only ${verified} of ${spec.connections} streams had an echo verified`);
    return echoResult(spec, measured, histogram, { verified, compressedEchoes: 0, extensions: null });
  } finally {
    stopping = true;
    client.destroy();
  }
}

async function runIdle(spec: IdleSpec): Promise<IdleResult> {
  const failure = new Failure();
  const client = await session(spec);
  client.on('error', (error) => failure.fail(error));
  // Warm-up: the server's path compiled before the baseline (as bench/load.ts's handshakes).
  await Promise.race([pool(spec.warmupHandshakes, 8, () => cycle(client, spec)), failure.promise]);
  await phase('baseline', 0);
  const streams: ClientHttp2Stream[] = [];
  let stopping = false;
  const started = performance.now();
  const opening = pool(spec.connections, spec.parallel, async () => {
    const stream = await openStream(client, spec);
    streams.push(stream);
    // Idle, but alive: pings (rfc6455's keepalive) are answered.
    const parser = idleParser(
      (frame) => stream.write(frame),
      () => {
        if (!stopping) failure.fail(new Error('the server closed an idle WebSocket'));
      },
    );
    stream.on('data', (chunk: Buffer) => parser.push(chunk));
    stream.on('close', () => {
      if (!stopping) failure.fail(new Error('the server dropped an idle WebSocket'));
    });
  });
  try {
    await Promise.race([opening, failure.promise]);
    const openMs = performance.now() - started;
    await Promise.race([phase('opened', streams.length), failure.promise]);
    return { mode: 'idle', opened: streams.length, openMs };
  } finally {
    stopping = true;
    client.destroy();
  }
}

function run(spec: LoadSpec): Promise<LoadResult> {
  if (spec.mode === 'echo') return runEcho(spec);
  if (spec.mode === 'idle') return runIdle(spec);
  return Promise.reject(new Error(`the HTTP/2 generator has no ${spec.mode} mode`));
}

if (send === undefined) {
  console.error('usage: run by bench/run.ts (the HTTP/2 load generator)');
  process.exit(2);
}
process.on('message', (message: ToGenerator) => {
  if (message.type === 'continue') resumeFromParent();
  if (message.type !== 'run') return;
  run(message.spec).then(
    (result) => emit({ type: 'result', result }, () => process.exit(0)),
    (error: unknown) =>
      emit({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.exit(1)),
  );
});
process.on('disconnect', () => process.exit(0));
emit({ type: 'ready' });

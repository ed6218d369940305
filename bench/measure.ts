/**
 * One run: one case against one server kind. Starts the case's two processes on their cores,
 * hands the generator its spec, answers its steps (the server's connection count, its memory),
 * samples the server's and the machine's CPU over the window, and turns it all into the run's
 * figures (the case's own, from its `figures`, plus the CPU ones every windowed run has).
 */

import { redisPerMessage, runTimeoutMs, type CaseDef, type Metrics, type Scale, type ServerSamples } from './cases.js';
import { createWriteStream, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, type Pinning } from './child.js';
import type {
  CpuSample,
  FromGenerator,
  FromServer,
  LoadResult,
  LoadSpec,
  MemorySample,
  ServerKind,
  ToGenerator,
  ToServer,
} from './lib/ipc.js';
import { machinePercent, sampleMachine, type MachineSample } from './machine.js';

const HOST = '127.0.0.1';
/** A generator using this much of its core (%) may be the limit of the run, not the server. */
export const SATURATED = 95;

export interface RunSettings {
  readonly scale: Scale;
  /** Where the processes write CPU profiles, or null. */
  readonly profile: string | null;
  /**
   * Node flags given to every server process, ours and the peers alike (`--server-flags`), e.g. a
   * young-generation size to see what the collector costs (bench/README.md, 16 KiB echo).
   */
  readonly serverFlags: readonly string[];
}

type ServerChild = Child<ToServer, FromServer>;
type GeneratorChild = Child<ToGenerator, FromGenerator>;

/** One run as results.json keeps it. */
export interface RunRecord {
  readonly server: ServerKind;
  readonly round: number;
  readonly ok: boolean;
  /** Runs made for this one: more than 1 when other processes disturbed the earlier ones. */
  readonly attempts?: number;
  /** Other processes used more than DISTURBED% of a core during the kept run's window. */
  readonly disturbed?: boolean;
  readonly metrics: Metrics;
  readonly generatorSaturated: boolean;
  readonly detail: Record<string, unknown>;
  readonly error?: string;
}

function cpuPercent(from: CpuSample, to: CpuSample): number {
  // A server of several processes reports them all (tree): its own process is among them.
  const used = to.tree !== undefined && from.tree !== undefined ? to.tree - from.tree : to.user - from.user + (to.system - from.system);
  return (used / 1000 / (to.at - from.at)) * 100;
}

/** Runs `def` against `kind` once; a failure is a record with `ok: false`, never a throw. */
export async function runOne(
  def: CaseDef,
  kind: ServerKind,
  round: number,
  options: RunSettings,
  pinning: Pinning,
  serverInfo: Map<ServerKind, Record<string, string | boolean>>,
): Promise<RunRecord> {
  const processes = def.processes(kind);
  const server: ServerChild = new Child(
    processes.server,
    pinning.server,
    options.profile === null
      ? ['--expose-gc', ...options.serverFlags]
      : // A directory per run: tsx's loader thread writes a profile too, under Node's own file names.
        ['--expose-gc', ...options.serverFlags, '--cpu-prof', `--cpu-prof-dir=${options.profile}/${def.id}-${kind}-r${round}`],
  );
  if (options.serverFlags.length > 0) {
    // What the flags make the server print (--trace-gc and the like) goes to a file per run.
    const dir = join(tmpdir(), 'rfc6455-bench-server-output');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${def.id}-${kind}-r${round}.log`);
    server.process.stdout!.pipe(createWriteStream(file));
    console.error(`bench: the ${kind} server's output (${options.serverFlags.join(' ')}) in ${file}`);
  }
  const generator: GeneratorChild = new Child(
    processes.generator,
    pinning.generator,
    options.profile === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profile}/${def.id}-${kind}-r${round}-generator`],
  );
  try {
    const [ready] = await Promise.all([
      server.next<Extract<FromServer, { type: 'ready' }>>((m) => m.type === 'ready', 30_000, 'the server to listen'),
      generator.next((m) => m.type === 'ready', 30_000, 'the generator to start'),
    ]);
    serverInfo.set(kind, ready.info);
    const body = def.spec(options.scale);
    const spec = { ...body, host: HOST, port: ready.port, protocol: processes.protocol } as LoadSpec;

    // Per window (a chat run has one per rate): the server's CPU and the machine's at its marks.
    const marks = new Map<number, WindowMarks>();
    const marksOf = (step: number): WindowMarks => {
      let entry = marks.get(step);
      if (entry === undefined) marks.set(step, (entry = { server: {}, machine: {}, at: {} }));
      return entry;
    };
    let baseline: MemorySample | null = null;
    let loaded: MemorySample | null = null;
    let idleConnections = 0;
    // A failed idle-case step ends the run at once (the generator would wait for it forever).
    let failStep!: (error: unknown) => void;
    const stepFailed = new Promise<never>((_, reject) => {
      failStep = reject;
    });
    stepFailed.catch(() => {});
    const stop = generator.on((message) => {
      if (message.type === 'mark') {
        const window = marksOf(message.step ?? 0);
        window.machine[message.phase] = sampleMachine();
        window.at[message.phase] = performance.now();
        const sample = server.request<Extract<FromServer, { type: 'cpu' }>>({ type: 'cpu' });
        sample.catch(() => {});
        window.server[message.phase] = sample;
      } else if (message.type === 'phase') {
        void (async () => {
          if (message.name === 'subscribed') {
            await waitForConnections(server, message.connections);
          } else if (message.name === 'baseline') {
            await waitForConnections(server, 0);
            baseline = (await server.request<Extract<FromServer, { type: 'measure' }>>({ type: 'measure' })).memory;
          } else {
            idleConnections = message.connections;
            await waitForConnections(server, message.connections);
            loaded = (await server.request<Extract<FromServer, { type: 'measure' }>>({ type: 'measure' })).memory;
          }
          generator.send({ type: 'continue' });
        })().catch(failStep);
      }
    });
    const timeout = runTimeoutMs(body, options.scale);
    const outcome = generator.next<Extract<FromGenerator, { type: 'result' | 'error' }>>(
      (m) => m.type === 'result' || m.type === 'error',
      timeout,
      'the result',
    );
    generator.send({ type: 'run', spec });
    const answer = await Promise.race([outcome, stepFailed]).finally(stop);
    if (answer.type === 'error') throw new Error(`load generator: ${answer.message}`);
    const result: LoadResult = answer.result;
    if (result.mode !== spec.mode) throw new Error(`the generator answered a ${spec.mode} run with a ${result.mode} result`);

    // A windowed result (every mode but idle's) gets the CPU figures of its window first: the
    // reported one, for a run of several (the chat's rate search: the last rate under its bound).
    const shownWindow = 'windowStep' in result ? Math.max(0, result.windowStep) : 0;
    const metrics: Metrics =
      'generatorCpu' in result ? await windowFigures(result.generatorCpu, marks.get(shownWindow) ?? { server: {}, machine: {}, at: {} }) : {};
    // The check above makes the result the mode the case's figures take.
    const figures = def.figures as (result: LoadResult, server: ServerSamples) => Metrics;
    Object.assign(metrics, figures(result, { baseline, loaded, connections: idleConnections }));
    // On Redis: its cost per message posted (the chat's offered rate: rate per user x users).
    if (result.mode === 'chat') Object.assign(metrics, redisPerMessage(metrics, result.rate * result.users));
    // Throughput per core-second of server CPU: what the server does with the CPU it gets,
    // steadier than the throughput itself when a run stalls with the server partly idle.
    const rate = metrics.messagesPerSec ?? metrics.handshakesPerSec;
    if (rate !== undefined && metrics.serverCpu !== undefined && metrics.serverCpu > 0) {
      metrics.perServerCore = rate / (metrics.serverCpu / 100);
    }
    const detail: Record<string, unknown> = { ...result };
    if (marks.size > 1) {
      // Every window's server CPU, for the rate search's report.
      const cpu: (number | null)[] = [];
      for (const [step, window] of marks) cpu[step] = (await windowFigures(0, window)).serverCpu ?? null;
      detail['stepServerCpu'] = Array.from(cpu, (value) => value ?? null);
    }
    if (baseline !== null) detail['baseline'] = baseline;
    if (loaded !== null) detail['loaded'] = loaded;
    return {
      server: kind,
      round,
      ok: true,
      metrics,
      generatorSaturated: (metrics.generatorCpu ?? 0) >= SATURATED,
      detail,
    };
  } catch (error) {
    return {
      server: kind,
      round,
      ok: false,
      metrics: {},
      generatorSaturated: false,
      detail: {},
      error: error instanceof Error ? error.message : String(error),
    };
  } finally {
    // The server gently (its IPC closed: it exits by itself, and a server of several processes
    // stops its workers and redis-server on the way), then killed if it lingers.
    await Promise.all([server.kill(true), generator.kill(options.profile !== null)]);
  }
}

/** The samples taken at a window's start and end marks. */
export interface WindowMarks {
  readonly server: Partial<Record<'start' | 'end', Promise<Extract<FromServer, { type: 'cpu' }>>>>;
  readonly machine: Partial<Record<'start' | 'end', MachineSample | null>>;
  /** When the harness got each mark (performance.now(), ms). */
  readonly at: Partial<Record<'start' | 'end', number>>;
}

/**
 * The server's and the generator's CPU over the window, and what the rest of the machine used.
 * The server's samples are its answers to the harness's requests at the marks, timed by its own
 * clock. A server whose event loop is seconds behind answers both together at the end: its CPU
 * over the milliseconds between the two answers is noise (Socket.IO past its limit in chat-1k-1ps
 * showed 2,062% and 227%). Its figures count only when its answers are at least half the
 * harness's window apart; otherwise the window has none ("—").
 */
export async function windowFigures(generatorCpu: number, marks: WindowMarks): Promise<Metrics> {
  const metrics: Metrics = {};
  const start = await marks.server.start;
  const end = await marks.server.end;
  const harnessMs = (marks.at.end ?? NaN) - (marks.at.start ?? NaN);
  if (start !== undefined && end !== undefined && end.cpu.at - start.cpu.at >= harnessMs / 2) {
    metrics.serverCpu = cpuPercent(start.cpu, end.cpu);
    // On Redis: redis-server's own CPU and commands over the window (INFO), the cost of Redis.
    const seconds = (end.cpu.at - start.cpu.at) / 1000;
    if (start.cpu.redisCpuUs !== undefined && end.cpu.redisCpuUs !== undefined && seconds > 0) {
      metrics.redisCpu = ((end.cpu.redisCpuUs - start.cpu.redisCpuUs) / 1e6 / seconds) * 100;
    }
    if (start.cpu.redisCommands !== undefined && end.cpu.redisCommands !== undefined && seconds > 0) {
      metrics.redisCommandsPerSec = (end.cpu.redisCommands - start.cpu.redisCommands) / seconds;
    }
    // The server's write system calls: how many messages each one carries is the batching.
    if (start.cpu.writes !== undefined && end.cpu.writes !== undefined && end.cpu.at > start.cpu.at) {
      metrics.writesPerSec = (end.cpu.writes - start.cpu.writes) / ((end.cpu.at - start.cpu.at) / 1000);
    }
  }
  metrics.generatorCpu = generatorCpu;
  const from = marks.machine.start;
  const to = marks.machine.end;
  if (from && to && metrics.serverCpu !== undefined) {
    const machine = machinePercent(from, to);
    // What the server and the generator did not use: other processes (run.ts included, idle),
    // kernel threads; interrupts and softirqs (the loopback path) apart, charged to no process.
    metrics.otherCpu = Math.max(0, machine.processes - metrics.serverCpu - metrics.generatorCpu);
    metrics.irqCpu = machine.irq;
    metrics.stealCpu = machine.steal;
  }
  return metrics;
}

async function waitForConnections(server: ServerChild, count: number): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const stats = await server.request<Extract<FromServer, { type: 'stats' }>>({ type: 'stats' });
    if (stats.connections === count) return;
    if (performance.now() > deadline) {
      throw new Error(`the server holds ${stats.connections} connections, expected ${count}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * One run: one case against one server kind. Starts the case's two processes on their cores,
 * hands the generator its spec, answers its steps (the server's connection count, its memory),
 * samples the server's and the machine's CPU over the window, and turns it all into the run's
 * figures (the case's own, from its `figures`, plus the CPU ones every windowed run has).
 */

import { heldConnections, type CaseDef, type Metrics, type Scale, type ServerSamples } from './cases.js';
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
  const used = to.user - from.user + (to.system - from.system);
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
      ? ['--expose-gc']
      : // A directory per run: tsx's loader thread writes a profile too, under Node's own file names.
        ['--expose-gc', '--cpu-prof', `--cpu-prof-dir=${options.profile}/${def.id}-${kind}-r${round}`],
  );
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

    const marks: Partial<Record<'start' | 'end', Promise<Extract<FromServer, { type: 'cpu' }>>>> = {};
    const machineMarks: Partial<Record<'start' | 'end', MachineSample | null>> = {};
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
        machineMarks[message.phase] = sampleMachine();
        marks[message.phase] = server.request({ type: 'cpu' });
        marks[message.phase]!.catch(() => {});
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
    // Opening 10,000 connections (idle, fan-out) takes a while on a busy machine.
    const timeout =
      heldConnections(body) > 0 ? 180_000 + options.scale.warmupMs + options.scale.durationMs
        : options.scale.warmupMs + options.scale.durationMs + 60_000;
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

    // A windowed result (every mode but idle's) gets the CPU figures of its window first.
    const metrics: Metrics = 'generatorCpu' in result ? await windowFigures(result.generatorCpu, marks, machineMarks) : {};
    // The check above makes the result the mode the case's figures take.
    const figures = def.figures as (result: LoadResult, server: ServerSamples) => Metrics;
    Object.assign(metrics, figures(result, { baseline, loaded, connections: idleConnections }));
    // Throughput per core-second of server CPU: what the server does with the CPU it gets,
    // steadier than the throughput itself when a run stalls with the server partly idle.
    const rate = metrics.messagesPerSec ?? metrics.handshakesPerSec;
    if (rate !== undefined && metrics.serverCpu !== undefined && metrics.serverCpu > 0) {
      metrics.perServerCore = rate / (metrics.serverCpu / 100);
    }
    const detail: Record<string, unknown> = { ...result };
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
    await Promise.all([server.kill(options.profile !== null), generator.kill(options.profile !== null)]);
  }
}

/** The server's and the generator's CPU over the window, and what the rest of the machine used. */
async function windowFigures(
  generatorCpu: number,
  marks: Partial<Record<'start' | 'end', Promise<Extract<FromServer, { type: 'cpu' }>>>>,
  machineMarks: Partial<Record<'start' | 'end', MachineSample | null>>,
): Promise<Metrics> {
  const metrics: Metrics = {};
  const start = await marks.start;
  const end = await marks.end;
  if (start !== undefined && end !== undefined) {
    metrics.serverCpu = cpuPercent(start.cpu, end.cpu);
    // The server's write system calls: how many messages each one carries is the batching.
    if (start.cpu.writes !== undefined && end.cpu.writes !== undefined && end.cpu.at > start.cpu.at) {
      metrics.writesPerSec = (end.cpu.writes - start.cpu.writes) / ((end.cpu.at - start.cpu.at) / 1000);
    }
  }
  metrics.generatorCpu = generatorCpu;
  const from = machineMarks.start;
  const to = machineMarks.end;
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

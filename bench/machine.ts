/**
 * The machine the harness runs on: what it is (for the report), how busy it is (/proc/stat), and
 * waiting until it is quiet before a run, since other work on it skews every figure.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { Pinning } from './child.js';
import { formatNumber } from './lib/stats.js';

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly ws: string;
  readonly bufferutil: string;
  readonly pinning: string;
}

export function describeMachine(pinning: Pinning): Machine {
  const require = createRequire(import.meta.url);
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1];
    if (model !== undefined) cpu = model.trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  const version = (name: string): string => {
    try {
      return (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  return {
    cpu,
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    ws: version('ws'),
    bufferutil: version('bufferutil'),
    pinning: pinning.description,
  };
}

export interface MachineSample {
  /** Jiffies spent running processes and kernel threads (user, nice, system), all CPUs. */
  readonly processes: number;
  /** Jiffies in interrupts and softirqs (the loopback network path), charged to no process. */
  readonly irq: number;
  /** Jiffies taken by the hypervisor. */
  readonly steal: number;
  /** All jiffies, all CPUs. */
  readonly total: number;
  readonly cpus: number;
}

/** The machine's CPU counters from /proc/stat, or null off Linux. */
export function sampleMachine(): MachineSample | null {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return null;
  }
  const line = /^cpu\s+(.+)$/m.exec(text)?.[1];
  if (line === undefined) return null;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .map(Number);
  const cpus = (text.match(/^cpu\d+\s/gm) ?? []).length || 1;
  const processes = user + nice + system;
  return { processes, irq: irq + softirq, steal, total: processes + irq + softirq + idle + iowait + steal, cpus };
}

export interface MachineLoad {
  /** CPU used by every process and kernel thread, % of one core. */
  readonly processes: number;
  /** Interrupts and softirqs, % of one core. */
  readonly irq: number;
  readonly steal: number;
}

export function machinePercent(from: MachineSample, to: MachineSample): MachineLoad {
  const perCore = (to.total - from.total) / to.cpus;
  const percent = (jiffies: number): number => (perCore > 0 ? (jiffies / perCore) * 100 : NaN);
  return {
    processes: percent(to.processes - from.processes),
    irq: percent(to.irq - from.irq),
    steal: percent(to.steal - from.steal),
  };
}

/** The machine's load over `ms` (run.ts itself idle meanwhile), or null off Linux. */
export async function measureBackground(ms: number): Promise<MachineLoad | null> {
  const from = sampleMachine();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const to = sampleMachine();
  return from && to ? machinePercent(from, to) : null;
}

/** Other processes using more than this (% of one core) make a machine "busy". */
export const BUSY = 10;
/** A run during whose window other processes used more than this (% of one core) is run again. */
export const DISTURBED = 15;
export const MAX_ATTEMPTS = 3;
export const QUIET_WAIT_MS = 2 * 60_000;

export function describeLoad(load: MachineLoad): string {
  return (
    `other processes ${formatNumber(load.processes)}% of a core, interrupts/softirqs ${formatNumber(load.irq)}%, ` +
    `steal ${formatNumber(load.steal)}%`
  );
}

/**
 * Waits, up to `maxMs`, for a half second in which other processes use less than BUSY% of a core.
 * Returns the milliseconds waited, or -1 when the machine stayed busy.
 */
export async function waitForQuiet(maxMs: number, log: (line: string) => void): Promise<number> {
  const started = performance.now();
  let said = false;
  for (;;) {
    const load = await measureBackground(500);
    if (load === null || load.processes < BUSY) return Math.round(performance.now() - started);
    if (performance.now() - started > maxMs) return -1;
    if (!said) {
      log(`bench: other processes use ${formatNumber(load.processes)}% of a core; waiting for a quiet machine`);
      said = true;
    }
  }
}

/**
 * Node raises its soft open-file limit to the hard one by itself: the hard one must fit the
 * largest case (10,000 idle connections, 10,000 subscribers) in each process. A warning, or null.
 */
export function checkFileLimit(connections: number): string | null {
  if (connections <= 0) return null;
  const needed = connections + 512;
  const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout?.trim();
  if (hard !== undefined && hard !== 'unlimited' && Number(hard) < needed) {
    return `the hard open-file limit is ${hard}, the largest case needs about ${needed} per process`;
  }
  return null;
}

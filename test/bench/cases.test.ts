/**
 * The benchmark's case table (bench/cases.ts), imported without running anything: the invariants
 * a new case has to keep. The smoke tests run the cases; this checks how they are declared.
 */

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CASES,
  METRIC_KEYS,
  PEERS,
  SERVER_LABEL,
  peersOf,
  rateLadder,
  type CaseDef,
  type ResultOf,
  type Scale,
} from '../../bench/cases.js';
import type { ChatStep } from '../../bench/lib/ipc.js';

const ROOT = new URL('../../', import.meta.url);
const FULL: Scale = { smoke: false, warmupMs: 1500, durationMs: 5000 };
const SMOKE: Scale = { smoke: true, warmupMs: 100, durationMs: 250 };
const byId = CASES.map((def) => [def.id, def] as const);

describe('the case table', () => {
  it('imports types, and constants of modules that import nothing, so that importing it runs nothing', () => {
    const importsOf = (path: string): string[] => readFileSync(new URL(path, ROOT), 'utf8').split('\n').filter((line) => /^\s*import\b/.test(line));
    // The chat's Node flags (chat/src/node-flags.ts: one constant), which its servers run with.
    const constants: Record<string, string> = { '@rfc6455/chat/node-flags': 'chat/src/node-flags.ts' };
    const imports = importsOf('bench/cases.ts');
    expect(imports.length).toBeGreaterThan(0);
    for (const line of imports) {
      if (line.startsWith('import type ')) continue;
      const from = /from '([^']+)';$/.exec(line)?.[1];
      expect(from !== undefined && from in constants, line).toBe(true);
      expect(importsOf(constants[from!]!)).toEqual([]);
    }
  });

  it('names every case once', () => {
    const ids = CASES.map((def) => def.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*$/);
  });

  it.each(byId)('%s: every server it runs and what drives it are files', (_, def) => {
    expect(def.servers.length).toBeGreaterThan(0);
    for (const kind of def.servers) {
      expect(Object.keys(SERVER_LABEL)).toContain(kind);
      const { server, generator } = def.processes(kind);
      expect(existsSync(new URL(server.path, ROOT)), `${kind}: ${server.path}`).toBe(true);
      expect(existsSync(new URL(generator.path, ROOT)), `${kind}: ${generator.path}`).toBe(true);
    }
  });

  it.each(byId)('%s: a smoke run starts some of its servers, ours among them', (_, def) => {
    const smoke = def.smokeServers ?? def.servers;
    expect(smoke).toContain('ours');
    for (const kind of smoke) expect(def.servers).toContain(kind);
  });

  it.each(byId)('%s: the same generator mode at full and smoke scale', (_, def) => {
    expect(def.spec(SMOKE).mode).toBe(def.spec(FULL).mode);
  });

  it.each(byId)('%s: its targets compare a figure it shows with a peer it runs', (_, def) => {
    expect(def.metrics.length).toBeGreaterThan(0);
    for (const metric of def.metrics) expect(METRIC_KEYS).toContain(metric.key);
    for (const target of def.targets) {
      expect(def.metrics.map((metric) => metric.key)).toContain(target.metric);
      expect(peersOf(def)).toContain(target.against);
      expect(def.servers).toContain(target.against);
      expect(def.servers).toContain('ours');
    }
  });

  it.each(byId)('%s: every server it runs has a column in its table (its subject, then its peers)', (_, def) => {
    const subject = def.subject ?? 'ours';
    expect(peersOf(def)).not.toContain(subject);
    for (const kind of def.servers) if (kind !== subject) expect(peersOf(def)).toContain(kind);
    // The cases of before issues 15, 16 and 17 keep the one table they had: ours, ws, raw.
    if (!def.id.startsWith('chat-') && !def.id.startsWith('h2-') && def.id !== 'echo-64b-workers') expect(peersOf(def)).toBe(PEERS);
  });

  it("types a case's figures by its spec's mode (checked by npm run typecheck)", () => {
    // @ts-expect-error: the spec is a handshake load, the figures read an echo result
    const mismatched: CaseDef = {
      id: 'mismatched',
      title: 'a handshake load whose figures read an echo result',
      servers: ['ours'],
      processes: CASES[0]!.processes,
      spec: (s) => ({ mode: 'handshake', loops: 1, warmupMs: s.warmupMs, durationMs: s.durationMs }),
      figures: (result: ResultOf<'echo'>) => ({ messagesPerSec: result.messagesPerSec }),
      metrics: [],
      targets: [],
    };
    expect(mismatched.id).toBe('mismatched');
  });
});

describe('the chat cases', () => {
  const max = CASES.find((def) => def.id === 'chat-1k-max')! as Extract<CaseDef, { spec: (s: Scale) => { mode: 'chat' } }>;

  it('offer 1,000 users in 10 rooms against Socket.IO, 99,000 deliveries/s at 1 message/s each', () => {
    for (const id of ['chat-1k-1ps', 'chat-1k-max']) {
      const def = CASES.find((c) => c.id === id)!;
      const spec = def.spec(FULL);
      if (spec.mode !== 'chat') throw new Error(`${id} is not a chat case`);
      expect([spec.users, spec.rooms]).toEqual([1000, 10]);
      expect(def.servers).toEqual(['ours', 'socketio']);
      expect(peersOf(def)).toEqual(['socketio']);
      expect(def.processes('socketio').protocol).toBe('socketio');
      expect(def.processes('ours').protocol).toBe('ws');
      const perMember = spec.users / spec.rooms - 1;
      if (id === 'chat-1k-1ps') expect([spec.rates, spec.p99BoundMs, spec.users * perMember]).toEqual([[1], null, 99_000]);
      else expect(spec.p99BoundMs).toBe(100);
    }
  });

  it('measure memory only where a case reports it, and settle after it below the lowest rate searched', () => {
    const chatSpecs = CASES.flatMap((def) => {
      const spec = def.spec(FULL);
      return spec.mode === 'chat' ? [[def, spec] as const] : [];
    });
    expect(chatSpecs.map(([def]) => def.id).sort()).toEqual(
      ['chat-1k-1ps', 'chat-1k-1ps-same-flags', 'chat-1k-max', 'chat-redis-1k-1ps', 'chat-redis-1k-max'].sort(),
    );
    for (const [def, spec] of chatSpecs) {
      const reportsMemory = def.metrics.some((metric) => metric.key === 'rssPerConnKiB');
      if (!reportsMemory) {
        expect(spec.memory, def.id).toBeNull();
        continue;
      }
      // A settle long enough to recompile, at a rate under every rate any chat case measures.
      expect(spec.memory, def.id).toEqual({ settleRate: 0.25, settleMs: 6000 });
      const smoke = def.spec(SMOKE);
      if (smoke.mode !== 'chat') throw new Error(`${def.id} is not a chat case`);
      expect(smoke.memory, def.id).toEqual({ settleRate: 0.25, settleMs: SMOKE.warmupMs });
    }
    const lowest = Math.min(...chatSpecs.flatMap(([, spec]) => spec.rates));
    expect(lowest).toBe(0.5);
  });

  it('search the same rates on every server: four per doubling, on a grid through 1 msg/s', () => {
    expect(rateLadder(0.5, 8, 4)).toEqual([0.5, 0.595, 0.707, 0.841, 1, 1.189, 1.414, 1.682, 2, 2.378, 2.828, 3.364, 4, 4.757, 5.657, 6.727, 8]);
    const spec = max.spec(FULL);
    if (spec.mode !== 'chat') throw new Error('not a chat case');
    expect(spec.rates).toEqual(rateLadder(0.5, 8, 4));
  });

  it("compare p99 at equal rates: the worst ratio over the rates Socket.IO sustained, ours's last step where it stopped below one", () => {
    const step = (rate: number, p99Ms: number, sustained = p99Ms <= 100): ChatStep => ({
      rate,
      windowMs: 5000,
      sent: 1,
      deliveries: 1,
      deliveriesPerSec: 1,
      p50Us: 1,
      p99Us: p99Ms * 1000,
      maxUs: 1,
      lateP99Us: 1,
      generatorCpu: 1,
      sustained,
    });
    const result = (steps: ChatStep[]): ResultOf<'chat'> => ({
      mode: 'chat',
      users: 1000,
      rooms: 10,
      steps,
      windowStep: steps.length - 2,
      rate: 1,
      deliveriesPerSec: 1,
      p50Us: 1,
      p99Us: 1,
      generatorCpu: 1,
      acknowledgments: 0,
      deliveries: 0,
      connectMs: 0,
      generatorUsPerDelivery: 1,
    });
    const socketio = result([step(0.5, 40), step(0.595, 80), step(0.707, 250)]);
    expect(max.pairedRatios!(result([step(0.5, 10), step(0.595, 40), step(0.707, 20), step(0.841, 300)]), socketio)).toEqual({ p99Us: 0.5 });
    expect(max.pairedRatios!(result([step(0.5, 60), step(0.595, 150)]), socketio)).toEqual({ p99Us: 150 / 80 });
    expect(max.pairedRatios!(result([step(0.5, 120)]), socketio)).toEqual({ p99Us: 120 / 40 });
    expect(max.pairedRatios!(result([step(0.5, 10)]), result([step(0.5, 120)]))).toEqual({});
  });
});

describe('bench/README.md', () => {
  const readme = readFileSync(new URL('bench/README.md', ROOT), 'utf8');
  const ids = CASES.map((def) => def.id);

  it('lists every case under --cases, in the table order', () => {
    const list = /`--cases a,b` \(([^)]*)\)/.exec(readme)?.[1];
    if (list === undefined) return; // The README does not list them: nothing to keep in step.
    expect([...list.matchAll(/`([^`]+)`/g)].map((m) => m[1])).toEqual(ids);
  });

  it('describes every case in the table of "What runs"', () => {
    const lines = readme.slice(readme.indexOf('## What runs')).split('\n');
    const header = lines.findIndex((line) => line.startsWith('| case |'));
    const end = lines.findIndex((line, index) => index > header && !line.startsWith('|'));
    const rows = lines.slice(header + 2, end);
    const described = rows.flatMap((row) => [...row.split('|')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]));
    expect(described.sort()).toEqual([...ids].sort());
  });
});

/**
 * The benchmark's case table (bench/cases.ts), imported without running anything: the invariants
 * a new case has to keep. The smoke tests run the cases; this checks how they are declared.
 */

import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CASES, METRIC_KEYS, PEERS, SERVER_LABEL, type CaseDef, type ResultOf, type Scale } from '../../bench/cases.js';

const ROOT = new URL('../../', import.meta.url);
const FULL: Scale = { smoke: false, warmupMs: 1500, durationMs: 5000 };
const SMOKE: Scale = { smoke: true, warmupMs: 100, durationMs: 250 };
const byId = CASES.map((def) => [def.id, def] as const);

describe('the case table', () => {
  it('imports types only, so that importing it runs nothing', () => {
    const source = readFileSync(new URL('bench/cases.ts', ROOT), 'utf8');
    const imports = source.split('\n').filter((line) => /^\s*import\b/.test(line));
    expect(imports.length).toBeGreaterThan(0);
    for (const line of imports) expect(line).toMatch(/^import type /);
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

  it.each(byId)('%s: its targets compare a figure it shows with a server it runs', (_, def) => {
    expect(def.metrics.length).toBeGreaterThan(0);
    for (const metric of def.metrics) expect(METRIC_KEYS).toContain(metric.key);
    for (const target of def.targets) {
      expect(def.metrics.map((metric) => metric.key)).toContain(target.metric);
      expect(PEERS).toContain(target.against);
      expect(def.servers).toContain(target.against);
      expect(def.servers).toContain('ours');
    }
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

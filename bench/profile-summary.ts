/**
 * Prints where a V8 CPU profile (`--cpu-prof`, or `npm run bench -- --profile DIR`) spent its
 * time: self time per function, largest first, as a share of the samples that were not idle.
 *
 *   tsx bench/profile-summary.ts DIR/echo-16k-ours-r1/CPU.*.cpuprofile [--top 20]
 *
 * Given a directory, it reads the largest profile in it (the main thread's; tsx's loader thread
 * writes a small one beside it).
 */

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function largestProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => join(path, name))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${path}`);
  return files[0]!;
}

function label(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url === '' ? '' : ` ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  return `${functionName === '' ? '(anonymous)' : functionName}${where}`;
}

const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '20' } }, allowPositionals: true });
if (positionals.length !== 1) {
  console.error('usage: tsx bench/profile-summary.ts PROFILE_OR_DIR [--top N]');
  process.exit(2);
}
const file = largestProfile(positionals[0]!);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map<string, number>();
let total = 0;
let idle = 0;
profile.samples.forEach((id, i) => {
  const micros = profile.timeDeltas[i] ?? 0;
  const name = label(byId.get(id)!);
  total += micros;
  if (name === '(idle)') idle += micros;
  else self.set(name, (self.get(name) ?? 0) + micros);
});
const busy = total - idle;
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled, ${(busy / 1000).toFixed(0)} ms busy (${((100 * busy) / total).toFixed(1)}%)`);
console.log('| self ms | % of busy | function |\n| ---: | ---: | --- |');
for (const [name, micros] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) {
  console.log(`| ${(micros / 1000).toFixed(0)} | ${((100 * micros) / busy).toFixed(1)}% | \`${name}\` |`);
}

/**
 * The public API as the README lists it (issue 14): the names each entry point exports, computed by
 * the TypeScript checker from src/, equal the README's "Entry points" tables exactly (and their
 * counts), so the README cannot go stale; no name is exported by two entry points; and no module
 * in src/ uses `export *` (every entry point lists its names).
 */

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

const ENTRY_POINTS = {
  rfc6455: 'src/index.ts',
  'rfc6455/protocol': 'src/protocol/index.ts',
  'rfc6455/hub': 'src/hub/index.ts',
} as const;
type EntryPoint = keyof typeof ENTRY_POINTS;
const NAMES = Object.keys(ENTRY_POINTS) as EntryPoint[];

/** What each entry point exports, by the checker (values and types alike), sorted. */
function exportedNames(): Record<EntryPoint, string[]> {
  const files = NAMES.map((name) => join(ROOT, ENTRY_POINTS[name]));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const out = {} as Record<EntryPoint, string[]>;
  for (const [i, name] of NAMES.entries()) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(files[i]!)!)!;
    out[name] = checker.getExportsOfModule(module).map((symbol) => symbol.name).sort();
  }
  return out;
}

interface Listed {
  readonly count: number;
  readonly names: string[];
}

/**
 * The README's list for an entry point: the names in the table rows of its section
 * (`### \`rfc6455/hub\`: 19 names`, up to the next heading or paragraph after the table).
 */
function listed(entry: EntryPoint): Listed {
  const heading = new RegExp(`^### \`${entry.replace('/', '\\/')}\`: (\\d+) names$`, 'm');
  const match = heading.exec(readme);
  if (match === null) throw new Error(`the README has no "### \`${entry}\`: N names" heading`);
  const rest = readme.slice(match.index + match[0].length);
  const end = rest.search(/^#{2,3} /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| for ') && !line.startsWith('| ---'));
  const names = rows.flatMap((row) => [...row.split('|')[2]!.matchAll(/`([A-Za-z_$][\w$]*)`/g)].map((m) => m[1]!));
  return { count: Number(match[1]), names };
}

const actual = exportedNames();

describe('the README lists every exported name of each entry point', () => {
  it('finds names to compare (the checker saw the entry points)', () => {
    for (const entry of NAMES) expect(actual[entry].length, entry).toBeGreaterThan(10);
  });

  it.each(NAMES)('%s: the README table holds exactly its exports, each once, and its heading counts them', (entry) => {
    const { count, names } = listed(entry);
    expect(names.length, 'a name listed twice').toBe(new Set(names).size);
    expect([...names].sort()).toEqual(actual[entry]);
    expect(count).toBe(actual[entry].length);
  });

  it('states the counts before and after (68 / 75 / 25 = 168 before)', () => {
    const after = NAMES.map((entry) => actual[entry].length);
    const total = after.reduce((a, b) => a + b, 0);
    expect(readme).toContain('168 names before (68 in `rfc6455`, 75 in `rfc6455/protocol`, 25 in `rfc6455/hub`)');
    expect(readme).toContain(`it has ${total} (${after.join(', ')})`);
  });
});

describe('each name is exported by exactly one entry point', () => {
  it('no name is in two entry points', () => {
    const seen = new Map<string, EntryPoint>();
    const twice: string[] = [];
    for (const entry of NAMES) {
      for (const name of actual[entry]) {
        const first = seen.get(name);
        if (first !== undefined) twice.push(`${name}: ${first} and ${entry}`);
        seen.set(name, entry);
      }
    }
    expect(twice).toEqual([]);
  });
});

describe('no export * in src/', () => {
  const files = readdirSync(join(ROOT, 'src'), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));

  it('has files to check', () => {
    expect(files.length).toBeGreaterThan(30);
  });

  it('no module re-exports everything of another', () => {
    const offenders = files.filter((file) => {
      const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
      return /\bexport\s*(?:type\s*)?\*/.test(code);
    });
    expect(offenders).toEqual([]);
  });
});

/**
 * testkit is the oracle the library is compared against (issue 9): it must not share code with
 * src/, and it is not published.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../testkit/', import.meta.url);

function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const withFrom = [...code.matchAll(/\b(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  const sideEffect = [...code.matchAll(/\bimport\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return [...withFrom, ...sideEffect];
}

describe('testkit', () => {
  const files = readdirSync(dir).filter((name) => name.endsWith('.ts'));

  it('has source files to check', () => {
    expect(files).toEqual(expect.arrayContaining(['index.ts', 'frames.ts', 'reader.ts', 'handshake.ts', 'deflate.ts', 'socket.ts']));
  });

  it.each(files)('%s imports only node: built-ins and other testkit modules', (name) => {
    const source = readFileSync(new URL(name, dir), 'utf8');
    for (const specifier of importsOf(source)) expect(specifier).toMatch(/^(node:[\w/]+|\.\/[\w-]+\.js)$/);
    expect(source).not.toMatch(/\bimport\(|\brequire\(/);
  });

  it('is type-checked and not published', () => {
    const root = new URL('../../', import.meta.url);
    const tsconfig = JSON.parse(readFileSync(new URL('tsconfig.json', root), 'utf8')) as { include: string[] };
    const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { files: string[] };
    expect(tsconfig.include).toContain('testkit');
    expect(pkg.files).not.toContain('testkit');
  });
});

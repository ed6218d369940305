import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../src/protocol/', import.meta.url);

/** Comments may name Node things; code may not use them. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/**
 * Every module specifier a source imports or re-exports: `import x from 'a'`, `import type {...}
 * from 'a'`, `export * from 'a'`, and side-effect imports `import 'a'` (which have no `from`).
 */
function importsOf(source: string): string[] {
  const code = stripComments(source);
  const withFrom = [...code.matchAll(/\b(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  const sideEffect = [...code.matchAll(/\bimport\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return [...withFrom, ...sideEffect];
}

describe('the import check itself', () => {
  it('finds every form of import, side-effect imports included', () => {
    const source = [
      "import 'node:fs';",
      'import "node:net"',
      "import{x}from'./a.js';",
      "import type { Y } from './b.js';",
      "import {\n  z,\n  w,\n} from 'node:zlib';",
      "export * from './c.js';",
      "export { v } from 'node:buffer';",
      "// import 'node:commented-out';",
      "/* import 'node:also-commented' */",
    ].join('\n');
    expect(importsOf(source).sort()).toEqual(['./a.js', './b.js', './c.js', 'node:buffer', 'node:fs', 'node:net', 'node:zlib']);
  });
});

describe('the protocol core', () => {
  const files = readdirSync(dir).filter((name) => name.endsWith('.ts'));

  it('has source files to check', () => {
    expect(files).toContain('parser.ts');
    expect(files).toContain('client-handshake.ts');
  });

  it.each(files)('%s imports nothing but other core modules', (name) => {
    const source = readFileSync(new URL(name, dir), 'utf8');
    for (const specifier of importsOf(source)) expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    expect(stripComments(source)).not.toMatch(/\brequire\(|\bimport\(|\bprocess\.|\bBuffer\.|\bglobalThis\b/);
  });
});

import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const dir = new URL('../../src/protocol/', import.meta.url);

describe('the protocol core', () => {
  const files = readdirSync(dir).filter((name) => name.endsWith('.ts'));

  it('has source files to check', () => {
    expect(files).toContain('parser.ts');
  });

  it.each(files)('%s imports nothing but other core modules', (name) => {
    // Comments may name Node things; code may not use them.
    const source = readFileSync(new URL(name, dir), 'utf8')
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/\/\/.*$/gm, '');
    const imports = [...source.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]);
    for (const specifier of imports) expect(specifier).toMatch(/^\.\/[\w-]+\.js$/);
    expect(source).not.toMatch(/\brequire\(|\bimport\(|\bprocess\.|\bBuffer\.|\bglobalThis\b/);
  });
});

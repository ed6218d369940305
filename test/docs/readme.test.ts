/**
 * The README documents what exists (issue 9: "the README's errors table lists every code that
 * exists"; ARCHITECTURE: "every public option has ... a line in the README").
 */

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFLATE_BOUNDS, OPTION_BOUNDS } from '../../src/node/options.js';

const ROOT = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', ROOT), 'utf8');

function sourceFiles(dir: URL): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const url = new URL(entry.name + (entry.isDirectory() ? '/' : ''), dir);
    if (entry.isDirectory()) out.push(...sourceFiles(url));
    else if (entry.name.endsWith('.ts')) out.push(readFileSync(url, 'utf8'));
  }
  return out;
}

/** Every stable error code the library can raise: the string literals `'WS_ERR_...'` in src/. */
const codesInSource = new Set(sourceFiles(new URL('src/', ROOT)).flatMap((text) => [...text.matchAll(/'(WS_ERR_[A-Z0-9_]+)'/g)].map((m) => m[1]!)));
const errorsSection = readme.slice(readme.indexOf('### Errors'), readme.indexOf('## How connections close'));

describe('README', () => {
  it('finds error codes to check', () => {
    expect(codesInSource.size).toBeGreaterThan(40);
  });

  it.each([...codesInSource].sort())('the errors table lists %s', (code) => {
    expect(errorsSection).toContain(`\`${code}\``);
  });

  it('lists no error code that does not exist', () => {
    const documented = new Set([...errorsSection.matchAll(/`(WS_ERR_[A-Z0-9_]+)`/g)].map((m) => m[1]!));
    expect([...documented].filter((code) => !codesInSource.has(code))).toEqual([]);
  });

  it.each(Object.keys(OPTION_BOUNDS))('documents the option %s', (name) => {
    expect(readme).toMatch(new RegExp(`\\| \`${name}\` \\|`));
  });

  it.each(Object.keys(DEFLATE_BOUNDS))('documents the permessage-deflate setting %s', (name) => {
    expect(readme).toMatch(new RegExp(`\\| \`${name}\` \\|`));
  });
});

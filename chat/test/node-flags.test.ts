/**
 * The chat's Node flags (src/node-flags.ts): the scripts that start it give exactly those, and
 * they bound V8's young generation as the flags' comment says, on the Node this runs on (CI runs
 * it on 20, 22 and 24: a V8 that renamed or rescaled the flag fails here, not in production).
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CHAT_NODE_FLAGS } from '../src/node-flags.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function scripts(path: string): Record<string, string> {
  return (JSON.parse(readFileSync(`${ROOT}${path}`, 'utf8')) as { scripts: Record<string, string> }).scripts;
}

/**
 * A process that keeps a window of 40 MiB of young objects that survive a few scavenges each (as
 * users' state does on its way to the old generation), then answers the largest size its new space
 * reached, in MiB.
 */
function newSpaceMiB(flags: readonly string[]): number {
  const program = `
    const { getHeapSpaceStatistics } = require('node:v8');
    const size = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size;
    let most = 0;
    const window = new Array(40 * 1024);
    for (let i = 0; i < 400 * 1024; i++) {
      window[i % window.length] = { i, text: 'x'.repeat(1000) + i };
      if (i % 4096 === 0) most = Math.max(most, size());
    }
    process.stdout.write(String(Math.max(most, size()) / 1048576));
  `;
  return Number(execFileSync(process.execPath, [...flags, '-e', program], { encoding: 'utf8', timeout: 60_000 }));
}

describe('the chat’s Node flags', () => {
  it('are the ones `npm run chat` and the chat package’s `start` give, in that order, before the loader', () => {
    const flags = CHAT_NODE_FLAGS.join(' ');
    expect(scripts('package.json')['chat']).toBe(`node ${flags} --import tsx/esm chat/src/cli.ts`);
    expect(scripts('chat/package.json')['start']).toBe(`node ${flags} --import tsx/esm src/cli.ts`);
  });

  // Measured here: with the flag, 8 MiB on Node 20 and 22, 8 to 17 MiB on Node 24 (V8 13.6 keeps
  // a few more pages through a scavenge); without it 32 MiB on Node 20 and 22, 128 MiB on Node 24.
  it('hold the young generation to 2 × 4 MiB and a few pages, under half of what Node’s default lets it grow to', () => {
    expect(CHAT_NODE_FLAGS).toEqual(['--max-semi-space-size=4']);
    const bounded = newSpaceMiB(CHAT_NODE_FLAGS);
    const unbounded = newSpaceMiB([]);
    expect(bounded).toBeGreaterThanOrEqual(2);
    expect(bounded).toBeLessThanOrEqual(24);
    expect(bounded).toBeLessThanOrEqual(unbounded / 2);
  }, 120_000);
});

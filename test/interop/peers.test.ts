/** The interop peer rules: found on PATH or by path; skipped locally, failed in CI when missing. */

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { executablePeer, findExecutable, peerStatus } from './peers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rfc6455-peers-'));
  dirs.push(dir);
  return dir;
}

describe('findExecutable', () => {
  it('finds an absolute path, and a name on PATH', () => {
    const dir = scratch();
    const tool = join(dir, 'some-peer');
    writeFileSync(tool, '#!/bin/sh\n');
    chmodSync(tool, 0o755);
    expect(findExecutable([tool])).toBe(tool);
    expect(findExecutable(['some-peer'], `/nonexistent:${dir}`)).toBe(tool);
    expect(findExecutable([undefined, '', '/nonexistent/x', tool])).toBe(tool);
  });

  it('skips files that are not executable, and returns null when nothing is found', () => {
    const dir = scratch();
    const file = join(dir, 'not-executable');
    writeFileSync(file, '');
    chmodSync(file, 0o644);
    expect(findExecutable([file])).toBeNull();
    expect(findExecutable(['not-executable'], dir)).toBeNull();
    expect(findExecutable(['rfc6455-no-such-peer'])).toBeNull();
  });
});

describe('peerStatus', () => {
  const missing = executablePeer('tinyproxy', 'apt-get install tinyproxy', ['/nonexistent/tinyproxy']);
  const present = executablePeer('node', 'install Node.js', [process.execPath]);

  it('an installed peer runs, in CI or not', () => {
    expect(present.path).toBe(process.execPath);
    expect(peerStatus(present, {})).toEqual({ run: true });
    expect(peerStatus(present, { CI: 'true' })).toEqual({ run: true });
  });

  it('a missing peer is skipped locally, with how to install it', () => {
    expect(peerStatus(missing, {})).toEqual({
      run: false,
      fail: false,
      message: 'tinyproxy is not installed; to run this test: apt-get install tinyproxy',
    });
  });

  it('a missing peer fails the run when CI=true', () => {
    expect(peerStatus(missing, { CI: 'true' })).toEqual({
      run: false,
      fail: true,
      message: 'tinyproxy is not installed, and CI must run every interop test: .ci/run should have run `apt-get install tinyproxy`',
    });
  });
});

/**
 * Interop peers (issue 10): another implementation a test talks to (Chromium, python-websockets,
 * tinyproxy...). A peer that is not installed skips its tests locally, with a message that says how
 * to install it; in CI (`CI=true`) it fails the run instead, since .ci/run installs every peer and a
 * skipped interop test there would hide a missing install step.
 */

import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { describe, it } from 'vitest';

export interface Peer {
  /** What it is, as the messages say it: `chromium`. */
  readonly name: string;
  /** The command that installs it: `apt-get install chromium`. */
  readonly install: string;
  /** Where it was found (an executable's path, a module's location), or null when it is missing. */
  readonly path: string | null;
}

/** The first of `candidates` that is an executable file: absolute paths as given, names on PATH. */
export function findExecutable(candidates: readonly (string | undefined)[], path = process.env['PATH'] ?? ''): string | null {
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '') continue;
    const places = isAbsolute(candidate) ? [candidate] : path.split(delimiter).filter((dir) => dir !== '').map((dir) => join(dir, candidate));
    for (const place of places) {
      try {
        accessSync(place, constants.X_OK);
        return place;
      } catch {
        // not there, or not executable: try the next place
      }
    }
  }
  return null;
}

/** A peer that is one executable. */
export function executablePeer(name: string, install: string, candidates: readonly (string | undefined)[]): Peer {
  return { name, install, path: findExecutable(candidates) };
}

/** Debian's chromium (never a downloaded browser); CHROMIUM_PATH points elsewhere if needed. */
export function chromiumPeer(): Peer {
  return executablePeer('chromium', 'apt-get install chromium', [process.env['CHROMIUM_PATH'], '/usr/bin/chromium']);
}

export type PeerStatus = { readonly run: true } | { readonly run: false; readonly fail: boolean; readonly message: string };

/** Whether a suite that needs `peer` runs, is skipped (locally) or fails (in CI). */
export function peerStatus(peer: Peer, env: NodeJS.ProcessEnv = process.env): PeerStatus {
  if (peer.path !== null) return { run: true };
  const ci = env['CI'] === 'true';
  const message = ci
    ? `${peer.name} is not installed, and CI must run every interop test: .ci/run should have run \`${peer.install}\``
    : `${peer.name} is not installed; to run this test: ${peer.install}`;
  return { run: false, fail: ci, message };
}

/**
 * `describe` for a suite that needs `peer`: runs it when the peer is there; otherwise one test that
 * fails with the reason in CI, or the suite skipped with the reason in its title (and on stderr).
 */
export function describeWithPeer(peer: Peer, title: string, body: (path: string) => void): void {
  const status = peerStatus(peer);
  if (status.run) {
    const path = peer.path!;
    describe(title, () => body(path));
  } else if (status.fail) {
    describe(title, () => {
      it(`needs ${peer.name}`, () => {
        throw new Error(status.message);
      });
    });
  } else {
    console.warn(`skipped "${title}": ${status.message}`);
    // The suite's own tests are listed as skipped; their hooks and bodies never run.
    describe.skip(`${title} (skipped: ${status.message})`, () => body(''));
  }
}

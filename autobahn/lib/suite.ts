/**
 * Where the Autobahn cases come from: the official Docker image when an engine answers, otherwise
 * kosoku (PyPI, pinned in autobahn/requirements.txt), installed into autobahn/.venv on first use
 * (lib/venv.ts, shared with the python-websockets interop tests).
 */

import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { die, log } from './log.js';
import { ensureVenv, VENV } from './venv.js';

/** The autobahn/ directory. */
export const autobahnDir = join(dirname(fileURLToPath(import.meta.url)), '..');

export type Runner = 'docker' | 'kosoku';

export const DOCKER_IMAGE = 'crossbario/autobahn-testsuite';

export function dockerEngineAvailable(): boolean {
  const probe = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 15_000,
  });
  return probe.status === 0 && probe.stdout.toString().trim() !== '';
}

/** `--runner` if given (checked), else docker when an engine answers, else kosoku. */
export function chooseRunner(option: string | undefined): Runner {
  const runner = option ?? (dockerEngineAvailable() ? 'docker' : 'kosoku');
  if (runner !== 'docker' && runner !== 'kosoku') die(`unknown runner ${runner}`);
  return runner;
}

/** Path of the kosoku executable, installing autobahn/requirements.txt into autobahn/.venv if needed. */
export function ensureKosoku(): string {
  try {
    ensureVenv(log);
  } catch (error) {
    die(error instanceof Error ? error.message : String(error));
  }
  return join(VENV, 'bin', 'kosoku');
}

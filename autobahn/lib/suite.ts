/**
 * Where the Autobahn cases come from: the official Docker image when an engine answers, otherwise
 * kosoku (PyPI, pinned in autobahn/requirements.txt), installed into autobahn/.venv on first use.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { die, log } from './log.js';

/** The autobahn/ directory. */
export const autobahnDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const venv = join(autobahnDir, '.venv');

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

/** Path of the kosoku executable, installing the pinned version into autobahn/.venv if needed. */
export function ensureKosoku(): string {
  const bin = join(venv, 'bin', 'kosoku');
  const requirements = join(autobahnDir, 'requirements.txt');
  const wanted = readFileSync(requirements, 'utf8').match(/^kosoku==(\S+)/m)?.[1];
  const installed = existsSync(bin)
    ? spawnSync(join(venv, 'bin', 'python'), ['-m', 'pip', 'show', 'kosoku'], { encoding: 'utf8' })
        .stdout.match(/^Version: (\S+)/m)?.[1]
    : undefined;
  if (installed !== undefined && installed === wanted) return bin;
  log(`autobahn: installing kosoku ${wanted} into ${venv}`);
  if (!existsSync(join(venv, 'bin', 'python'))) {
    const made = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    if (made.status !== 0) die('python3 -m venv failed (on Debian: apt-get install python3-venv)');
  }
  const pip = spawnSync(
    join(venv, 'bin', 'python'),
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements],
    { stdio: 'inherit' },
  );
  if (pip.status !== 0) die('pip install -r autobahn/requirements.txt failed');
  return bin;
}

/**
 * The project's Python environment, autobahn/.venv: every package pinned in requirements.txt
 * (kosoku, the Autobahn runner; websockets, an interop peer of test/interop). One place creates it,
 * for `npm run autobahn` and for `npm run venv` (which .ci/run calls before `npm test`).
 *
 * `tsx autobahn/lib/venv.ts` (npm run venv) creates or updates it and exits non-zero if it cannot.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const autobahnDir = join(dirname(fileURLToPath(import.meta.url)), '..');
export const VENV = join(autobahnDir, '.venv');
export const VENV_PYTHON = join(VENV, 'bin', 'python');
const REQUIREMENTS = join(autobahnDir, 'requirements.txt');

/** name -> version of every `name==version` line of requirements.txt (names lower-cased). */
export function pinnedVersions(): Map<string, string> {
  const pins = new Map<string, string>();
  for (const match of readFileSync(REQUIREMENTS, 'utf8').matchAll(/^([A-Za-z0-9._-]+)==(\S+)/gm)) {
    pins.set(match[1]!.toLowerCase(), match[2]!);
  }
  return pins;
}

/** The versions installed in the venv of `names` (absent ones left out); empty without a venv. */
export function installedVersions(names: readonly string[]): Map<string, string> {
  const found = new Map<string, string>();
  if (!existsSync(VENV_PYTHON)) return found;
  // importlib.metadata answers in one process start; `pip show` takes a second per call.
  const script =
    'import importlib.metadata as m, sys\n' +
    'for name in sys.argv[1:]:\n' +
    '    try: print(name, m.version(name))\n' +
    '    except m.PackageNotFoundError: pass\n';
  const probe = spawnSync(VENV_PYTHON, ['-c', script, ...names], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status !== 0) return found;
  for (const line of probe.stdout.split('\n')) {
    const [name, version] = line.trim().split(' ');
    if (name !== undefined && version !== undefined) found.set(name.toLowerCase(), version);
  }
  return found;
}

/** Whether the venv has `name` at the version requirements.txt pins. */
export function hasPinned(name: string): boolean {
  const wanted = pinnedVersions().get(name.toLowerCase());
  return wanted !== undefined && installedVersions([name]).get(name.toLowerCase()) === wanted;
}

/**
 * Creates the venv if needed and installs requirements.txt into it unless every pin is already
 * installed. Throws an Error that says what failed.
 */
export function ensureVenv(log: (line: string) => void = () => {}): void {
  const pins = pinnedVersions();
  const installed = installedVersions([...pins.keys()]);
  const missing = [...pins].filter(([name, version]) => installed.get(name) !== version);
  if (missing.length === 0) return;
  log(`venv: installing ${missing.map(([name, version]) => `${name} ${version}`).join(', ')} into ${VENV}`);
  if (!existsSync(VENV_PYTHON)) {
    const made = spawnSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
    if (made.status !== 0) throw new Error('python3 -m venv failed (on Debian: apt-get install python3-venv)');
  }
  const pip = spawnSync(
    VENV_PYTHON,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', REQUIREMENTS],
    { stdio: 'inherit' },
  );
  if (pip.status !== 0) throw new Error('pip install -r autobahn/requirements.txt failed');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    ensureVenv((line) => process.stdout.write(`${line}\n`));
    const pins = pinnedVersions();
    const installed = installedVersions([...pins.keys()]);
    process.stdout.write(`venv: ${[...installed].map(([name, version]) => `${name} ${version}`).join(', ')} in ${VENV}\n`);
  } catch (error) {
    process.stderr.write(`venv: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
}

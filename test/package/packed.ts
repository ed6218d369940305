/**
 * The package as npm ships it: `npm pack` of the repository (dist/ as `npm test`'s `pretest` built
 * it), installed from the tarball into a fresh project under os.tmpdir(), so the tests see exactly
 * what a user's `npm install rfc6455` gets (package.json `exports`, `bin`, `files`), not src/.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment for child processes: no NODE_OPTIONS from vitest, node itself first on PATH. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env['NODE_OPTIONS'];
  env['PATH'] = `${dirname(process.execPath)}:${env['PATH'] ?? ''}`;
  env['npm_config_update_notifier'] = 'false';
  return env;
}

/** Runs a command to its end (the caller's test timeout bounds it). */
export function run(command: string, args: readonly string[], cwd: string): Promise<RunResult> {
  const child = spawn(command, args, { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

export interface PackedProject {
  /** The project the tarball is installed in: node_modules/rfc6455 lives here. */
  readonly dir: string;
  /** Writes a file (relative to `dir`), creating its directories. */
  write(path: string, content: string): string;
  /** Removes the whole temporary tree. */
  remove(): void;
}

/**
 * Packs the repository once and installs the tarball into a new temporary project. Subprojects
 * (directories with their own package.json "type") resolve the same node_modules by walking up.
 */
export async function installPacked(): Promise<PackedProject> {
  for (const built of ['dist/index.js', 'dist/protocol/index.js', 'dist/cli.js']) {
    if (!existsSync(join(ROOT, built))) throw new Error(`${built} is missing: run \`npm run build\` first`);
  }
  const root = mkdtempSync(join(tmpdir(), 'rfc6455-packed-'));
  const remove = (): void => rmSync(root, { recursive: true, force: true });
  try {
    // --ignore-scripts: `prepare` would rebuild dist/ while other test files import it.
    const pack = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], ROOT);
    if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}): ${pack.stderr}`);
    const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }];
    const dir = join(root, 'project');
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'packed-consumer', private: true }));
    // A tarball with no dependencies installs without the network.
    const install = await run(
      'npm',
      ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', join(root, filename)],
      dir,
    );
    if (install.code !== 0) throw new Error(`npm install of the tarball failed (${install.code}): ${install.stderr}`);
    const write = (path: string, content: string): string => {
      const file = join(dir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
      return file;
    };
    return { dir, write, remove };
  } catch (error) {
    remove();
    throw error;
  }
}

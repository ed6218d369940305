/**
 * `npm run autobahn`: runs the Autobahn fuzzing client against the echo server and grades it.
 *
 * 1. Starts the echo server (src/cli.ts) on the address in fuzzingclient.json.
 * 2. Runs the suite: the official crossbario/autobahn-testsuite image when a Docker engine answers,
 *    otherwise kosoku (PyPI, pinned in requirements.txt), which runs Autobahn's own case files,
 *    installed into autobahn/.venv on first use.
 * 3. Reads the report's index.json, prints a table per section and a last line "N passed, M failed",
 *    and exits non-zero when a case is worse than OK / NON-STRICT / INFORMATIONAL (UNIMPLEMENTED is
 *    tolerated in sections 12 and 13, compression), or worse than expected-results.json.
 *
 * Options:
 *   --runner docker|kosoku   force a runner
 *   --cases 1.*,9.1.*        run only these cases (comparison with the baseline is limited to them)
 *   --parallel N             cases kosoku runs at once (default 4; see PARALLEL_CASES)
 *   --update-baseline        write the results to expected-results.json
 *   --markdown               also print the table as Markdown (for the README)
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');
const reportsDir = join(here, 'reports');
const baselinePath = join(here, 'expected-results.json');
const venv = join(here, '.venv');
// Sections 12 and 13 echo 1,000 compressed messages of up to 128 KiB per case, one at a time: each
// case waits on zlib at both ends in turn, and one case at a time leaves both cores mostly idle
// (measured: 640 s for the suite). Cases are independent connections, so kosoku runs several at once.
const PARALLEL_CASES = 4;

interface CaseResult {
  behavior: string;
  behaviorClose: string;
}
type Results = Record<string, CaseResult>;

interface FuzzingClientConfig {
  servers: { agent: string; url: string }[];
  cases: string[];
  'exclude-cases': string[];
}

// How good a grade is: lower is better. INFORMATIONAL cases have no right answer.
const RANK: Record<string, number> = {
  OK: 0,
  INFORMATIONAL: 0,
  'NON-STRICT': 1,
  UNIMPLEMENTED: 2,
  'WRONG CODE': 3,
  UNCLEAN: 3,
  FAILED: 4,
};
const rank = (grade: string): number => RANK[grade] ?? 5;
const COMPRESSION_SECTIONS = new Set(['12', '13']);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function die(message: string): never {
  process.stderr.write(`autobahn: ${message}\n`);
  process.exit(2);
}

function compareCaseIds(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? -1) - (pb[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

function dockerEngineAvailable(): boolean {
  const probe = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 15_000,
  });
  return probe.status === 0 && probe.stdout.toString().trim() !== '';
}

function ensureKosoku(): string {
  const bin = join(venv, 'bin', 'kosoku');
  const wanted = readFileSync(join(here, 'requirements.txt'), 'utf8').match(/^kosoku==(\S+)/m)?.[1];
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
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', join(here, 'requirements.txt')],
    { stdio: 'inherit' },
  );
  if (pip.status !== 0) die('pip install -r autobahn/requirements.txt failed');
  return bin;
}

/** Starts the echo server and resolves once it has logged its URL. */
function startEchoServer(host: string, port: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src', 'cli.ts'), '--port', port, '--host', host], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolvePromise, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error('the echo server did not start within 30 s')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening on')) {
        clearTimeout(timer);
        log(`autobahn: ${output.trim()}`);
        resolvePromise(child);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the echo server exited with code ${code} before listening`));
    });
  });
}

function stopEchoServer(child: ChildProcess): Promise<number | null> {
  return new Promise((resolvePromise) => {
    if (child.exitCode !== null) return resolvePromise(child.exitCode);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolvePromise(code);
    });
    child.kill('SIGTERM');
  });
}

function run(command: string, args: string[]): Promise<number> {
  log(`autobahn: ${command} ${args.join(' ')}`);
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const logFile: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => logFile.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => logFile.push(chunk));
  return new Promise((resolvePromise) => {
    child.once('close', (code) => {
      writeFileSync(join(reportsDir, 'runner.log'), Buffer.concat(logFile));
      resolvePromise(code ?? 1);
    });
  });
}

function readResults(): Results {
  const indexPath = join(reportsDir, 'servers', 'index.json');
  if (!existsSync(indexPath)) die(`no report at ${indexPath} (see ${join(reportsDir, 'runner.log')})`);
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, Record<string, CaseResult>>;
  const agents = Object.values(index);
  if (agents.length !== 1) die(`expected one agent in index.json, found ${agents.length}`);
  const results: Results = {};
  for (const [id, result] of Object.entries(agents[0]!)) {
    results[id] = { behavior: result.behavior, behaviorClose: result.behaviorClose };
  }
  return results;
}

function matches(id: string, patterns: string[]): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('*') ? id.startsWith(pattern.slice(0, -1)) : id === pattern,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runner: { type: 'string' },
      cases: { type: 'string' },
      'update-baseline': { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
      parallel: { type: 'string', default: String(PARALLEL_CASES) },
    },
  });
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) die(`--parallel takes a whole number >= 1, not ${values.parallel}`);
  const config = JSON.parse(readFileSync(join(here, 'fuzzingclient.json'), 'utf8')) as FuzzingClientConfig;
  const target = new URL(config.servers[0]!.url);
  const include = values.cases?.split(',').filter(Boolean) ?? config.cases;
  const exclude = config['exclude-cases'];

  const runner = values.runner ?? (dockerEngineAvailable() ? 'docker' : 'kosoku');
  if (runner !== 'docker' && runner !== 'kosoku') die(`unknown runner ${runner}`);
  if (runner === 'docker' && values.cases !== undefined) die('--cases works with the kosoku runner only');
  const kosoku = runner === 'kosoku' ? ensureKosoku() : '';

  rmSync(reportsDir, { recursive: true, force: true });
  mkdirSync(join(reportsDir, 'servers'), { recursive: true });

  const server = await startEchoServer(target.hostname, target.port);
  let status: number;
  const started = Date.now();
  try {
    if (runner === 'docker') {
      status = await run('docker', [
        'run', '--rm', '--net=host',
        '-v', `${here}:/config`,
        '-v', `${reportsDir}:/reports`,
        'crossbario/autobahn-testsuite',
        'wstest', '-m', 'fuzzingclient', '-s', '/config/fuzzingclient.json',
      ]);
    } else {
      const args = ['-o', join(reportsDir, 'servers'), '-p', String(parallel)];
      for (const pattern of include) args.push('-i', pattern);
      for (const pattern of exclude) args.push('-x', pattern);
      args.push(`${target.hostname}:${target.port}`);
      status = await run(kosoku, args);
    }
  } finally {
    const exit = await stopEchoServer(server);
    if (exit !== 0) log(`autobahn: the echo server exited with code ${exit} on SIGTERM (expected 0)`);
  }
  log(`autobahn: ${runner} finished in ${((Date.now() - started) / 1000).toFixed(1)} s (exit ${status})`);

  const results = readResults();
  const ids = Object.keys(results).sort(compareCaseIds);
  const baseline: Results = existsSync(baselinePath)
    ? (JSON.parse(readFileSync(baselinePath, 'utf8')) as Results)
    : {};

  const failures: string[] = [];
  const sections = new Map<string, Record<string, number>>();
  let passed = 0;
  let unimplemented = 0;
  for (const id of ids) {
    const { behavior, behaviorClose } = results[id]!;
    const section = id.split('.')[0]!;
    const row = sections.get(section) ?? {};
    row[behavior] = (row[behavior] ?? 0) + 1;
    sections.set(section, row);

    const tolerated = behavior === 'UNIMPLEMENTED' && COMPRESSION_SECTIONS.has(section);
    const acceptable = (rank(behavior) <= 1 || tolerated) && rank(behaviorClose) <= 1;
    const expected = baseline[id];
    const regressed =
      expected !== undefined &&
      (rank(behavior) > rank(expected.behavior) || rank(behaviorClose) > rank(expected.behaviorClose));
    if (!acceptable || regressed) {
      failures.push(
        `${id}: ${behavior} / close ${behaviorClose}` +
          (regressed ? ` (baseline: ${expected.behavior} / close ${expected.behaviorClose})` : ''),
      );
    } else if (tolerated) unimplemented++;
    else passed++;
  }
  // A case of the baseline that did not run at all is a failure too (unless filtered out).
  for (const id of Object.keys(baseline)) {
    if (results[id] === undefined && matches(id, include) && !matches(id, exclude)) {
      failures.push(`${id}: did not run (baseline: ${baseline[id]!.behavior})`);
    }
  }

  const grades = ['OK', 'NON-STRICT', 'INFORMATIONAL', 'UNIMPLEMENTED', 'WRONG CODE', 'FAILED'];
  const others = (row: Record<string, number>): number =>
    Object.entries(row).reduce((sum, [grade, n]) => (grades.includes(grade) ? sum : sum + n), 0);
  const header = ['section', 'cases', ...grades, 'other'];
  const rows = [...sections.entries()].map(([section, row]) => [
    section,
    String(Object.values(row).reduce((a, b) => a + b, 0)),
    ...grades.map((grade) => String(row[grade] ?? 0)),
    String(others(row)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  log('');
  log(line(header));
  for (const row of rows) log(line(row));
  if (values.markdown) {
    log('');
    log(`| ${header.join(' | ')} |`);
    log(`| ${header.map(() => '---').join(' | ')} |`);
    for (const row of rows) log(`| ${row.join(' | ')} |`);
  }
  log('');
  for (const failure of failures) log(`FAILED ${failure}`);
  if (unimplemented > 0) log(`${unimplemented} UNIMPLEMENTED in sections 12-13 (permessage-deflate), tolerated`);

  if (values['update-baseline']) {
    // One line per case, so that a diff of the baseline reads as a list of changed cases.
    const lines = ids.map((id) => `  ${JSON.stringify(id)}: ${JSON.stringify(results[id])}`);
    writeFileSync(baselinePath, `{\n${lines.join(',\n')}\n}\n`);
    log(`autobahn: wrote ${ids.length} results to ${baselinePath}`);
  }
  log(`${passed} passed, ${failures.length} failed`);
  // The runner's own exit status is not the verdict (kosoku exits non-zero for UNIMPLEMENTED).
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error: unknown) => die(error instanceof Error ? error.message : String(error)));

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

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { SERVER_POLICY, conclude, grade, readBaseline, readResults } from './lib/grading.js';
import { die, log } from './lib/log.js';
import { runLogged, stopChild, waitForOutput } from './lib/process.js';
import { DOCKER_IMAGE, autobahnDir as here, chooseRunner, ensureKosoku } from './lib/suite.js';

const root = resolve(here, '..');
const reportsDir = join(here, 'reports');
const baselinePath = join(here, 'expected-results.json');
// Sections 12 and 13 echo 1,000 compressed messages of up to 128 KiB per case, one at a time: each
// case waits on zlib at both ends in turn, and one case at a time leaves both cores mostly idle
// (measured: 640 s for the suite). Cases are independent connections, so kosoku runs several at once.
const PARALLEL_CASES = 4;

interface FuzzingClientConfig {
  servers: { agent: string; url: string }[];
  cases: string[];
  'exclude-cases': string[];
}

/** Starts the echo server and resolves once it has logged its URL. */
async function startEchoServer(host: string, port: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx/esm', join(root, 'src', 'cli.ts'), '--port', port, '--host', host], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [line] = await waitForOutput(child, 'stdout', /^.*listening on.*$/m, 30_000, 'the echo server');
  log(`autobahn: ${line.trim()}`);
  return child;
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

  const runner = chooseRunner(values.runner);
  if (runner === 'docker' && values.cases !== undefined) die('--cases works with the kosoku runner only');
  const kosoku = runner === 'kosoku' ? ensureKosoku() : '';

  rmSync(reportsDir, { recursive: true, force: true });
  mkdirSync(join(reportsDir, 'servers'), { recursive: true });
  const runnerLog = join(reportsDir, 'runner.log');

  const server = await startEchoServer(target.hostname, target.port);
  let status: number;
  const started = Date.now();
  try {
    if (runner === 'docker') {
      status = await runLogged('docker', [
        'run', '--rm', '--net=host',
        '-v', `${here}:/config`,
        '-v', `${reportsDir}:/reports`,
        DOCKER_IMAGE,
        'wstest', '-m', 'fuzzingclient', '-s', '/config/fuzzingclient.json',
      ], root, runnerLog);
    } else {
      const args = ['-o', join(reportsDir, 'servers'), '-p', String(parallel)];
      for (const pattern of include) args.push('-i', pattern);
      for (const pattern of exclude) args.push('-x', pattern);
      args.push(`${target.hostname}:${target.port}`);
      status = await runLogged(kosoku, args, root, runnerLog);
    }
  } finally {
    const exit = await stopChild(server, 15_000);
    if (exit !== 0) log(`autobahn: the echo server exited with code ${exit} on SIGTERM (expected 0)`);
  }
  log(`autobahn: ${runner} finished in ${((Date.now() - started) / 1000).toFixed(1)} s (exit ${status})`);

  const results = readResults(join(reportsDir, 'servers', 'index.json'), runnerLog);
  const verdict = grade(results, readBaseline(baselinePath), SERVER_POLICY, include, exclude);
  conclude(verdict, {
    policy: SERVER_POLICY,
    markdown: values.markdown,
    writeBaselineTo: values['update-baseline'] ? baselinePath : undefined,
  });
}

main().catch((error: unknown) => die(error instanceof Error ? error.message : String(error)));

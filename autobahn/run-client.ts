/**
 * `npm run autobahn:client`: Autobahn's fuzzing server drives our WebSocket client through every
 * case, and the report is graded.
 *
 * 1. Starts the fuzzing server from fuzzingserver.json (its host, cases and outdir; the port is
 *    picked at run time): kosoku (PyPI, pinned in requirements.txt, installed into autobahn/.venv on
 *    first use) on port 0, or `wstest -m fuzzingserver` in crossbario/autobahn-testsuite when a
 *    Docker engine answers, on a free port (the spec is copied into the outdir with it).
 * 2. Runs client-driver.ts, our connect() behind Autobahn's URL protocol (lib/driver.ts), with a
 *    deadline per case.
 * 3. Reads the report's index.json, prints a table per section and a last line "N passed, M failed",
 *    and exits non-zero when a case is worse than OK / INFORMATIONAL (NON-STRICT fails here, unlike
 *    the server run), worse than expected-client-results.json, or hung in the driver.
 *
 * Options:
 *   --runner docker|kosoku   force a runner
 *   --cases 1.*,9.1.*        run only these cases (comparison with the baseline is limited to them)
 *   --parallel N             cases the driver runs at once (default 4; see PARALLEL_CASES)
 *   --case-timeout SECONDS   a case with no message for this long is cut off and fails (default 60)
 *   --budget SECONDS         no case starts after this; the rest fail as not run (default 900)
 *   --driver ours|ws         `ws`: the same run with the ws package's client, for comparison
 *                            (graded by the same rules; no baseline)
 *   --update-baseline        write the results to expected-client-results.json
 *   --markdown               also print the table as Markdown (for the README)
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { DriverSummary } from './lib/driver.js';
import {
  clientPolicy,
  compareCaseIds,
  conclude,
  grade,
  matches,
  readBaseline,
  readCaseNumbers,
  readResults,
  type Policy,
  type Verdict,
} from './lib/grading.js';
import { die, log } from './lib/log.js';
import { stopChild, waitForExit, waitForOutput } from './lib/process.js';
import {
  DOCKER_IMAGE,
  autobahnDir as here,
  chooseRunner,
  ensureKosoku,
  type Runner,
} from './lib/suite.js';

const root = resolve(here, '..');
const baselinePath = join(here, 'expected-client-results.json');
const DRIVERS = { ours: 'client-driver.ts', ws: 'client-driver-ws.ts' } as const;
// Cases are independent connections, and the fuzzing server serves several at once. Nearly all the
// time goes to sections 12 and 13 (1,000 compressed messages per case, one at a time, each waiting
// on both ends in turn). Measured with the ws client on 2 shared cores: 582 s one at a time, 366 s
// four at a time (with more load from elsewhere).
const PARALLEL_CASES = 4;

interface FuzzingServerSpec {
  url: string;
  outdir: string;
  cases: string[];
  'exclude-cases': string[];
}

interface FuzzingServer {
  readonly url: string;
  /**
   * Ends the server once the driver is done (kosoku exits by itself after /updateReports);
   * `now`: the driver did not finish, no report will come.
   */
  stop(now: boolean): Promise<void>;
}

/** A port nobody listens on right now, for a server that cannot be told to pick its own. */
function freePort(host: string): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolvePromise(port));
    });
  });
}

/** Resolves once host:port accepts a TCP connection, polling every 250 ms up to `timeoutMs`. */
async function waitForPort(host: string, port: number, timeoutMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the fuzzing server exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((resolvePromise) => {
      const socket = createConnection({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolvePromise(true);
      });
      socket.once('error', () => resolvePromise(false));
    });
    if (open) return;
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 250));
  }
  throw new Error(`the fuzzing server did not listen on ${host}:${port} within ${timeoutMs / 1000} s`);
}

/** Spawns a child whose stdout and stderr both go to `logPath`. */
function spawnLogged(command: string, args: string[], logPath: string): ChildProcess {
  log(`autobahn: ${command} ${args.join(' ')}`);
  const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const file = createWriteStream(logPath);
  child.stdout!.on('data', (chunk: Buffer) => file.write(chunk));
  child.stderr!.on('data', (chunk: Buffer) => file.write(chunk));
  child.once('close', () => file.end());
  return child;
}

type StartServer = (spec: FuzzingServerSpec, include: string[], outdir: string, logPath: string) => Promise<FuzzingServer>;

const startKosoku: StartServer = async (spec, include, outdir, logPath) => {
  const args = ['-m', 'fuzzingserver', '-o', outdir];
  for (const pattern of include) args.push('-i', pattern);
  for (const pattern of spec['exclude-cases']) args.push('-x', pattern);
  // Port 0: kosoku binds a free port and prints it, so nothing can take it in between.
  args.push(`${new URL(spec.url).hostname}:0`);
  const child = spawnLogged(ensureKosoku(), args, logPath);
  let url: string | undefined;
  try {
    [, url] = await waitForOutput(child, 'stderr', /fuzzingserver listening on (ws:\/\/\S+)/, 60_000, 'kosoku');
  } catch (error) {
    await stopChild(child, 10_000);
    throw error;
  }
  return {
    url: url!,
    async stop(now) {
      // It writes the report after /updateReports, then exits (1 if a case failed).
      if (now) await stopChild(child, 10_000);
      else if ((await waitForExit(child, 120_000)) === null) {
        log('autobahn: kosoku did not exit within 120 s of the last case; stopping it');
        await stopChild(child, 10_000);
      }
    },
  };
};

const startWstest: StartServer = async (spec, include, outdir, logPath) => {
  const host = new URL(spec.url).hostname;
  const port = await freePort(host);
  const url = `ws://${host}:${port}`;
  // wstest reads everything from its spec: the copy names the port, the cases and the mount point.
  writeFileSync(
    join(outdir, 'fuzzingserver.json'),
    `${JSON.stringify({ ...spec, url, outdir: '/report', cases: include }, null, 2)}\n`,
  );
  const name = `rfc6455-autobahn-client-${process.pid}`;
  const child = spawnLogged(
    'docker',
    ['run', '--rm', '--name', name, '--net=host', '-v', `${outdir}:/report`, DOCKER_IMAGE,
      'wstest', '-m', 'fuzzingserver', '-s', '/report/fuzzingserver.json'],
    logPath,
  );
  try {
    // Generous: the first run pulls the image.
    await waitForPort(host, port, 600_000, child);
  } catch (error) {
    await runQuiet('docker', ['stop', '--time', '5', name]);
    await stopChild(child, 15_000);
    throw error;
  }
  return {
    url,
    async stop() {
      // wstest serves until stopped; it wrote the report when /updateReports came.
      await runQuiet('docker', ['stop', '--time', '5', name]);
      await stopChild(child, 15_000);
    },
  };
};

function runQuiet(command: string, args: string[]): Promise<void> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.once('close', () => resolvePromise());
    child.once('error', () => resolvePromise());
  });
}

/** Runs the driver to its end; lines about its progress and its problems are shown, all are logged. */
function runDriver(script: string, args: string[], logPath: string): Promise<number> {
  const child = spawnLogged(process.execPath, ['--import', 'tsx/esm', join(here, script), ...args], logPath);
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('client driver:') || /TIMED OUT|ERROR/.test(line)) log(`autobahn: ${line}`);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  return new Promise((resolvePromise) => child.once('close', (code) => resolvePromise(code ?? 1)));
}

/**
 * The driver's own findings on top of the grades: a case that hung or broke fails even if the
 * server graded it OK, and so does a case the server served that is missing from the report.
 */
function withDriverFindings(
  verdict: Verdict,
  summary: DriverSummary,
  caseNumbers: Map<number, string>,
  driverExit: number,
  policy: Policy,
): Verdict {
  const failures = [...verdict.failures];
  let { passed, tolerated } = verdict;
  const blame = (id: string, finding: string): void => {
    const at = failures.findIndex((failure) => failure.startsWith(`${id}: `));
    if (at >= 0) {
      failures[at] += `; ${finding}`;
      return;
    }
    failures.push(`${id}: ${finding}`);
    // It was counted as passed or tolerated; now it is neither.
    const result = verdict.results[id];
    if (result !== undefined) {
      if (policy.judge(id, result) === 'tolerated') tolerated--;
      else passed--;
    }
  };
  const idOf = (n: number): string => caseNumbers.get(n) ?? `case #${n}`;
  for (const { case: n, reason } of summary.timedOut) blame(idOf(n), `hung in the client driver (${reason})`);
  for (const { case: n, message } of summary.errors) blame(idOf(n), `client driver error: ${message}`);
  if (summary.notRun.length > 0) {
    failures.push(`client driver: ${summary.notRun.length} cases not run, its time budget was spent`);
  }
  if (verdict.ids.length !== summary.caseCount) {
    failures.push(`report: ${verdict.ids.length} cases, the fuzzing server served ${summary.caseCount}`);
  }
  if (driverExit !== 0 && summary.timedOut.length + summary.errors.length + summary.notRun.length === 0) {
    failures.push(`client driver: exited with code ${driverExit} (see its log)`);
  }
  return { ...verdict, failures, passed, tolerated };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runner: { type: 'string' },
      cases: { type: 'string' },
      parallel: { type: 'string', default: String(PARALLEL_CASES) },
      'case-timeout': { type: 'string' },
      budget: { type: 'string' },
      driver: { type: 'string', default: 'ours' },
      'update-baseline': { type: 'boolean', default: false },
      markdown: { type: 'boolean', default: false },
    },
  });
  const parallel = Number(values.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) die(`--parallel takes a whole number >= 1, not ${values.parallel}`);
  const driver = values.driver;
  if (driver !== 'ours' && driver !== 'ws') die(`--driver takes ours or ws, not ${driver}`);
  // The baseline is our client's; ws's grades are for comparison only.
  if (driver === 'ws' && values['update-baseline']) die('--update-baseline records our client; not with --driver ws');

  const spec = JSON.parse(readFileSync(join(here, 'fuzzingserver.json'), 'utf8')) as FuzzingServerSpec;
  const include = values.cases?.split(',').filter(Boolean) ?? spec.cases;
  const exclude = spec['exclude-cases'];
  const outdir = resolve(root, spec.outdir);
  const runner: Runner = chooseRunner(values.runner);

  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const serverLog = join(outdir, 'fuzzingserver.log');
  const driverLog = join(outdir, 'driver.log');
  const summaryPath = join(outdir, 'driver-summary.json');

  const started = Date.now();
  const server = await (runner === 'docker' ? startWstest : startKosoku)(spec, include, outdir, serverLog);
  log(`autobahn: ${runner} fuzzing server listening on ${server.url}`);
  // The case ids in the order the fuzzing server numbers them (every suite's order: numeric, by
  // component), from the server run's baseline, which lists all of them: the driver needs them to
  // make a case's own offer (see client-driver.ts).
  const caseIdsPath = join(outdir, 'case-ids.json');
  const allIds = Object.keys(readBaseline(join(here, 'expected-results.json'))).sort(compareCaseIds);
  writeFileSync(caseIdsPath, JSON.stringify(allIds.filter((id) => matches(id, include) && !matches(id, exclude))));
  const driverArgs = ['--url', server.url, '--parallel', String(parallel), '--summary', summaryPath, '--case-ids', caseIdsPath];
  // The driver owns these defaults and checks the values.
  if (values['case-timeout'] !== undefined) driverArgs.push('--case-timeout', values['case-timeout']);
  if (values.budget !== undefined) driverArgs.push('--budget', values.budget);
  let driverExit = 2;
  try {
    driverExit = await runDriver(DRIVERS[driver], driverArgs, driverLog);
  } finally {
    await server.stop(!existsSync(summaryPath));
  }
  if (!existsSync(summaryPath)) {
    die(`the client driver exited with code ${driverExit} before it finished (see ${driverLog})`);
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  log(`autobahn: ${runner} fuzzing server and ${driver} client finished in ${seconds} s (driver exit ${driverExit})`);

  const summary = JSON.parse(readFileSync(summaryPath, 'utf8')) as DriverSummary;
  const indexPath = join(outdir, 'index.json');
  const results = readResults(indexPath, serverLog);
  const baseline = driver === 'ours' ? readBaseline(baselinePath) : {};
  const policy = clientPolicy();
  const graded = grade(results, baseline, policy, include, exclude);
  const verdict = withDriverFindings(graded, summary, readCaseNumbers(indexPath), driverExit, policy);
  conclude(verdict, {
    policy,
    markdown: values.markdown,
    writeBaselineTo: values['update-baseline'] ? baselinePath : undefined,
  });
}

main().catch((error: unknown) => die(error instanceof Error ? error.message : String(error)));

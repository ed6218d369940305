/**
 * The client side of Autobahn's fuzzing-server URL protocol, for a WebSocket client under test:
 *
 *   /getCaseCount                     one text message: how many cases the server serves
 *   /runCase?case=N&agent=A           case N (1-based): echo every message until the server closes
 *   /updateReports?agent=A            the server writes its report and closes
 *
 * A hung case must not hang the run. A case times out when no message has arrived for
 * --case-timeout seconds (a case that is slow but moving, like the 1,000 messages of 128 KiB of
 * 12.2.15, is not cut off), or after CASE_CAP_MS in all; then the client is told to tear the
 * connection down, and if it has not let go a few seconds later the connection is abandoned and the
 * driver moves on. The server grades the case however it ended; the driver records it as timed out
 * in the summary the runner reads, and exits 1. Once --budget seconds have passed no new case
 * starts (a client that hangs in every case fails in bounded time); those are listed as not run.
 *
 * Usage: tsx autobahn/client-driver.ts --url ws://127.0.0.1:PORT [--agent NAME] [--parallel N]
 *        [--case-timeout SECONDS] [--budget SECONDS] [--summary FILE]
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** What one connection amounts to: its text messages (for getCaseCount) and its close code. */
export interface Visit {
  readonly texts: string[];
  readonly code: number;
}

/**
 * One connection of the client under test to `url`. With `echo`, every message goes back as it
 * came (text as text, binary as binary) until the server closes; without, text messages are
 * collected. Calls `received` for every message (it keeps the case's idle timer from firing).
 * Resolves once the connection is closed; rejects when it could not be opened. When `signal`
 * aborts, the connection must be torn down.
 */
/** `caseId`: the Autobahn id of the case being run (e.g. "13.2.1"), when the runner gave the list. */
export type VisitFn = (
  url: string,
  echo: boolean,
  received: () => void,
  signal: AbortSignal,
  caseId: string | undefined,
) => Promise<Visit>;

/** What the driver writes to --summary for the runner. */
export interface DriverSummary {
  readonly agent: string;
  /** What /getCaseCount answered. */
  readonly caseCount: number;
  /** Cases (1-based, as in /runCase) that were cut off, and why. */
  readonly timedOut: { readonly case: number; readonly reason: string }[];
  /** Cases whose connection failed to open or whose echo threw. */
  readonly errors: { readonly case: number; readonly message: string }[];
  /** Cases not started because --budget ran out. */
  readonly notRun: number[];
  /** Milliseconds each case took, by case number - 1. */
  readonly durations: number[];
  readonly elapsed: number;
}

// No message for this long: the case is taken as hung. The longest silence a case means to cause
// is a few seconds (the server sending 16 MiB in section 9, its own 1-2 s timers in section 7).
const DEFAULT_CASE_TIMEOUT_S = 60;
// A cap for a case that keeps moving: above the longest deadline the cases set themselves (480 s,
// 12.x and 13.x with large messages), so that the server, not the driver, fails a slow case.
const CASE_CAP_MS = 600_000;
// The whole run: ws's client needs about 6 minutes (4 at a time, 2 cores); this is 2.5 times that.
const DEFAULT_BUDGET_S = 900;
// getCaseCount and updateReports (which writes ~500 reports) get their own deadline.
const CONTROL_TIMEOUT_MS = 120_000;
// After a deadline, how long the client may take to let go before the connection is abandoned.
const LET_GO_MS = 10_000;

type Outcome = { readonly visit: Visit } | { readonly timedOut: string } | { readonly error: string };

function fail(message: string): never {
  process.stderr.write(`client driver: ${message}\n`);
  process.exit(2);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** One connection, cut off after `idleMs` without a message or `capMs` in all. */
async function bounded(
  visit: VisitFn,
  url: string,
  echo: boolean,
  idleMs: number,
  capMs: number,
  caseId?: string,
): Promise<Outcome> {
  const controller = new AbortController();
  let idle: NodeJS.Timeout | undefined;
  let cap: NodeJS.Timeout | undefined;
  let live = true;
  const deadline = new Promise<{ readonly timedOut: string }>((resolvePromise) => {
    idle = setTimeout(() => resolvePromise({ timedOut: `no message for ${idleMs / 1000} s` }), idleMs);
    cap = setTimeout(() => resolvePromise({ timedOut: `still open after ${capMs / 1000} s` }), capMs);
  });
  // refresh() would re-arm a cleared timer: only while the connection is ours.
  const received = (): void => {
    if (live) idle?.refresh();
  };
  const attempt: Promise<Outcome> = visit(url, echo, received, controller.signal, caseId).then(
    (result) => ({ visit: result }),
    (error: unknown) => ({ error: describe(error) }),
  );
  const first = await Promise.race([attempt, deadline]);
  live = false;
  clearTimeout(idle);
  clearTimeout(cap);
  if (!('timedOut' in first)) return first;
  controller.abort();
  let letGo: NodeJS.Timeout | undefined;
  await Promise.race([attempt, new Promise((resolvePromise) => (letGo = setTimeout(resolvePromise, LET_GO_MS)))]);
  clearTimeout(letGo);
  return first;
}

function positiveNumber(name: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    fail(`--${name} takes a ${integer ? 'whole ' : ''}number > 0, not ${JSON.stringify(value)}`);
  }
  return n;
}

/** Runs every case the fuzzing server serves with `visit`, then exits: 0, or 1 if any case hung or broke. */
export async function drive(defaultAgent: string, visit: VisitFn): Promise<never> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        url: { type: 'string' },
        agent: { type: 'string', default: defaultAgent },
        parallel: { type: 'string', default: '1' },
        'case-timeout': { type: 'string', default: String(DEFAULT_CASE_TIMEOUT_S) },
        budget: { type: 'string', default: String(DEFAULT_BUDGET_S) },
        summary: { type: 'string' },
        'case-ids': { type: 'string' },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.url === undefined) fail('--url ws://HOST:PORT (the fuzzing server) is required');
  const base = values.url.replace(/\/+$/, '');
  const agent = encodeURIComponent(values.agent);
  const parallel = positiveNumber('parallel', values.parallel, true);
  const caseTimeoutMs = positiveNumber('case-timeout', values['case-timeout'], false) * 1000;
  const budgetMs = positiveNumber('budget', values.budget, false) * 1000;
  const started = Date.now();

  const counted = await bounded(visit, `${base}/getCaseCount`, false, CONTROL_TIMEOUT_MS, CONTROL_TIMEOUT_MS);
  if (!('visit' in counted)) fail(`/getCaseCount: ${'error' in counted ? counted.error : 'timed out'}`);
  const caseCount = Number(counted.visit.texts[0]);
  if (!Number.isInteger(caseCount) || caseCount < 0) {
    fail(`/getCaseCount answered ${JSON.stringify(counted.visit.texts)}, not a case count`);
  }
  let caseIds: string[] | undefined;
  if (values['case-ids'] !== undefined) {
    caseIds = JSON.parse(readFileSync(values['case-ids'], 'utf8')) as string[];
    // The ids are only as good as the ordering they assume: a mismatch stops the run.
    if (caseIds.length !== caseCount) fail(`--case-ids lists ${caseIds.length} cases, the fuzzing server serves ${caseCount}`);
  }
  process.stdout.write(`client driver: ${caseCount} cases, ${parallel} at a time, agent ${values.agent}\n`);

  const timedOut: { case: number; reason: string }[] = [];
  const errors: { case: number; message: string }[] = [];
  const notRun: number[] = [];
  const durations: number[] = new Array<number>(caseCount).fill(0);
  let next = 1;
  const worker = async (): Promise<void> => {
    while (next <= caseCount) {
      const n = next++;
      if (Date.now() - started > budgetMs) {
        notRun.push(n);
        continue;
      }
      const caseStarted = Date.now();
      const url = `${base}/runCase?case=${n}&agent=${agent}`;
      const outcome = await bounded(visit, url, true, caseTimeoutMs, CASE_CAP_MS, caseIds?.[n - 1]);
      const ms = Date.now() - caseStarted;
      durations[n - 1] = ms;
      let line: string;
      if ('visit' in outcome) line = `closed ${outcome.visit.code}`;
      else if ('timedOut' in outcome) {
        timedOut.push({ case: n, reason: outcome.timedOut });
        line = `TIMED OUT: ${outcome.timedOut}`;
      } else {
        errors.push({ case: n, message: outcome.error });
        line = `ERROR ${outcome.error}`;
      }
      process.stdout.write(`case ${n}/${caseCount}: ${line} in ${ms} ms\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, Math.max(caseCount, 1)) }, worker));

  // Always asked for, so that the cases that did run are reported even when some hung.
  if (notRun.length > 0) {
    const budget = budgetMs / 1000;
    process.stdout.write(`client driver: NOT RUN: ${notRun.length} cases, the --budget of ${budget} s was spent\n`);
  }
  const reportsUrl = `${base}/updateReports?agent=${agent}`;
  const updated = await bounded(visit, reportsUrl, false, CONTROL_TIMEOUT_MS, CONTROL_TIMEOUT_MS);
  if (!('visit' in updated)) {
    process.stdout.write(`client driver: /updateReports: ${'error' in updated ? updated.error : 'timed out'}\n`);
  }
  const summary: DriverSummary = {
    agent: values.agent,
    caseCount,
    timedOut: timedOut.sort((a, b) => a.case - b.case),
    errors: errors.sort((a, b) => a.case - b.case),
    notRun: notRun.sort((a, b) => a - b),
    durations,
    elapsed: Date.now() - started,
  };
  if (values.summary !== undefined) writeFileSync(values.summary, `${JSON.stringify(summary)}\n`);
  process.stdout.write(
    `client driver: ${caseCount} cases in ${(summary.elapsed / 1000).toFixed(1)} s, ` +
      `${timedOut.length} timed out, ${errors.length} errors, ${notRun.length} not run\n`,
  );
  const clean = timedOut.length === 0 && errors.length === 0 && notRun.length === 0 && 'visit' in updated;
  // exit, not return: an abandoned connection must not keep the process alive.
  process.exit(clean ? 0 : 1);
}
